//! A row's title (its name, then where it goes) and its facts on one line (size · state ·
//! speed · ETA · parts), some in their own colour, each laid out as one text: one widget
//! where separate labels and separators would cost a dozen, which matters when fifty
//! rows are on screen.

use egui::text::{LayoutJob, TextFormat};
use egui::{Align, Color32, FontSelection, RichText, TextStyle, Ui};

/// A row's name in large strong text followed by a weak note, as one label.
pub fn title_ui(ui: &mut Ui, name: &str, note: &str) -> egui::Response {
    let mut job = LayoutJob::default();
    let style = ui.style().clone();
    RichText::new(name).strong().size(15.0).append_to(
        &mut job,
        &style,
        FontSelection::Default,
        Align::Center,
    );
    RichText::new(format!("   {note}")).weak().append_to(
        &mut job,
        &style,
        FontSelection::Default,
        Align::Center,
    );
    ui.label(job)
}

/// Between two facts.
const SEPARATOR: &str = "  ·  ";

/// The facts of one line, in order.
pub struct StatusLine {
    job: LayoutJob,
    format: TextFormat,
}

impl StatusLine {
    /// An empty line in `ui`'s body text.
    pub fn new(ui: &Ui) -> Self {
        let format = TextFormat {
            font_id: TextStyle::Body.resolve(ui.style()),
            color: ui.visuals().text_color(),
            ..TextFormat::default()
        };
        Self {
            job: LayoutJob::default(),
            format,
        }
    }

    /// Adds a fact in the body colour.
    pub fn fact(&mut self, text: &str) -> &mut Self {
        let color = self.format.color;
        self.colored(text, color)
    }

    /// Adds a fact in `color`.
    pub fn colored(&mut self, text: &str, color: Color32) -> &mut Self {
        if !self.job.text.is_empty() {
            self.job.append(SEPARATOR, 0.0, self.format.clone());
        }
        self.job.append(
            text,
            0.0,
            TextFormat {
                color,
                ..self.format.clone()
            },
        );
        self
    }

    /// Shows the line as one label; its accessible name is the whole text.
    pub fn show(self, ui: &mut Ui) -> egui::Response {
        ui.label(self.job)
    }
}
