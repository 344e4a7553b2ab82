//! The settings view's questions to the server about the profile being edited (see
//! [`crate::ui::profile_probe`]): the Bucket row with its "List buckets" button and the
//! picker that fills, and "Test connection" with its report.

use egui::{RichText, Ui};

use crate::ui::command::UiCommand;
use crate::ui::profile_probe::{ConnectionReport, Finding};
use crate::ui::widgets::part_map;

use super::settings::field_error_ui;
use super::settings_check::{Field, FieldErrors};

/// What the checks of the profile being edited found so far.
#[derive(Debug, Default)]
pub struct ProbeState {
    /// Bumped whenever the form starts describing another profile, so that answers about
    /// the one before are dropped when they arrive.
    pub generation: u64,
    pub testing: bool,
    /// The last test's findings, or why it could not run; cleared when the profile
    /// changes, so it never describes values no longer in the form.
    pub report: Option<Result<ConnectionReport, String>>,
    pub listing: bool,
    /// The buckets the key can list (sorted), or why they could not be listed.
    pub buckets: Option<Result<Vec<String>, String>>,
}

impl ProbeState {
    /// The form now describes another profile: forget what was found about the last one.
    pub fn reset(&mut self) {
        *self = Self {
            generation: self.generation + 1,
            ..Self::default()
        };
    }
}

/// The Bucket row of the profile grid: the field, "List buckets", and once listed a
/// picker of the key's buckets (or why there is none).
pub fn bucket_row_ui(
    ui: &mut Ui,
    bucket: &mut String,
    probe: &ProbeState,
    errors: &FieldErrors,
    commands: &mut Vec<UiCommand>,
) {
    let label = ui.label(Field::Bucket.label());
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(bucket)
                .hint_text("my-bucket")
                .desired_width(220.0),
        )
        .labelled_by(label.id);
        let list = ui.add_enabled(!probe.listing, egui::Button::new("List buckets"));
        if list.clicked() {
            commands.push(UiCommand::ListBuckets);
        }
        if probe.listing {
            ui.spinner();
        }
        if let Some(Ok(names)) = &probe.buckets {
            let picker_label = ui.label("Pick:");
            let shown = if names.is_empty() {
                "(no buckets)"
            } else {
                "a bucket of this key"
            };
            egui::ComboBox::from_id_salt("bucket_picker")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for name in names {
                        ui.selectable_value(bucket, name.clone(), name);
                    }
                })
                .response
                .labelled_by(picker_label.id);
        }
    });
    ui.end_row();
    if let Some(Err(message)) = &probe.buckets {
        ui.label("");
        ui.colored_label(part_map::FAILED_COLOR, message);
        ui.end_row();
    }
    field_error_ui(ui, Field::Bucket, errors);
}

/// "Test connection" and the findings of the last test.
pub fn connection_test_ui(ui: &mut Ui, probe: &ProbeState, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        let test = ui.add_enabled(!probe.testing, egui::Button::new("Test connection"));
        if test.clicked() {
            commands.push(UiCommand::TestConnection);
        }
        if probe.testing {
            ui.spinner();
            ui.label("Testing…");
        } else {
            ui.label(RichText::new("with the values above, saved or not; uploads nothing").weak());
        }
    });
    match &probe.report {
        None => {}
        Some(Err(message)) => {
            ui.colored_label(part_map::FAILED_COLOR, message);
        }
        Some(Ok(report)) => report_ui(ui, report),
    }
}

/// Four lines: the endpoint, the key, the bucket, and what the key may do.
fn report_ui(ui: &mut Ui, report: &ConnectionReport) {
    finding_ui(ui, "Endpoint", &report.endpoint);
    finding_ui(ui, "Key", &report.credentials);
    finding_ui(ui, "Bucket", &report.bucket);
    ui.horizontal_wrapped(|ui| {
        ui.label("Key may:");
        finding_ui(ui, "list uploads", &report.list_uploads);
        finding_ui(ui, "upload", &report.upload);
        finding_ui(ui, "abort", &report.abort);
    });
}

/// `Endpoint: answers`, `Key: not valid: …` or `Bucket: not checked`, in green, red or
/// grey (the words carry the meaning; the colour only helps).
fn finding_ui(ui: &mut Ui, what: &str, finding: &Finding) {
    let color = match finding {
        Finding::Yes(_) => part_map::DONE_COLOR,
        Finding::No(_) => part_map::FAILED_COLOR,
        Finding::Unknown(_) => ui.visuals().weak_text_color(),
    };
    let text = format!("{what}: {}", finding.text());
    ui.add(egui::Label::new(RichText::new(text).color(color)).wrap());
}
