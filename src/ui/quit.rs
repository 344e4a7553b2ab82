//! Closing the window while uploads run: the window asks "Pause and quit" or stay, so a
//! close never looks like it cancelled work. Paused uploads resume on the next start as
//! any paused upload does. With nothing running the window closes at once.

use egui::{Context, RichText, ViewportCommand};

use super::command::UiCommand;

/// Whether the window may close, and whether it is asking.
#[derive(Debug, Default)]
pub struct QuitGuard {
    /// The question is on screen.
    pub asking: bool,
    /// The user chose to quit (or nothing ran): the next close goes through.
    pub allowed: bool,
}

impl QuitGuard {
    /// A close was asked for (the window's close button, or Ctrl+Q when `from_key`) while
    /// `running` uploads move. Returns true when the window should close now.
    pub fn request(&mut self, ctx: &Context, running: usize, from_key: bool) -> bool {
        if self.allowed {
            return true;
        }
        if running == 0 {
            self.allowed = true;
            if from_key {
                ctx.send_viewport_cmd(ViewportCommand::Close);
            }
            return true;
        }
        if !from_key {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
        }
        self.asking = true;
        false
    }

    /// The question, while it is asked.
    pub fn dialog_ui(&mut self, ctx: &Context, running: usize, commands: &mut Vec<UiCommand>) {
        if !self.asking {
            return;
        }
        let modal = egui::Modal::new(egui::Id::unique("quit_question")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.heading("Quit while uploading?");
            ui.label(format!(
                "{running} uploads are still running. They will be paused, and continue \
                 when ossup starts again."
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui
                    .button(RichText::new("Pause and quit").strong())
                    .clicked()
                {
                    commands.push(UiCommand::PauseAndQuit);
                    self.asking = false;
                }
                if ui.button("Cancel").clicked() {
                    self.asking = false;
                }
            });
        });
        if modal.should_close() {
            self.asking = false;
        }
    }
}
