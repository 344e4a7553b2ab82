//! The in-progress uploads view: multipart uploads still open on the server, page by page,
//! told apart as ours (resumable) or orphans, with selection, age filter, part totals and
//! abort or resume, and the bucket's lifecycle rule that aborts stale uploads by itself.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use egui::{RichText, Ui};

use crate::config::units::format_duration;
use crate::engine::lifecycle::AbortProtection;
use crate::engine::remote_uploads::{
    self, AbortOutcome, AbortResult, ClassifiedUpload, UploadClass, UploadParts,
};
use crate::protocol::error::code;
use crate::ui::command::UiCommand;
use crate::ui::format::bytes_label;
use crate::ui::remote_page::UploadsPage;
use crate::ui::widgets::part_map;

/// Parts and bytes of one upload, once asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartsInfo {
    Loading,
    Loaded { part_count: usize, total_bytes: u64 },
    Failed(String),
}

/// One listed upload and what the user did with it.
#[derive(Debug, Clone)]
pub struct RemoteUploadRow {
    pub upload: ClassifiedUpload,
    pub selected: bool,
    pub parts: Option<PartsInfo>,
}

impl RemoteUploadRow {
    pub fn is_orphan(&self) -> bool {
        matches!(self.upload.class, UploadClass::Orphan)
    }

    fn key_and_id(&self) -> (String, String) {
        (
            self.upload.upload.key.clone(),
            self.upload.upload.upload_id.clone(),
        )
    }
}

/// Whether a lifecycle rule aborts stale uploads under the view's bucket and prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AutoAbortStatus {
    #[default]
    NotChecked,
    Checking,
    Known(Option<AbortProtection>),
    Failed(String),
}

/// The cleanup view's model: filled by listing jobs, edited by the user.
#[derive(Debug, Default)]
pub struct RemoteUploadsModel {
    pub bucket: String,
    pub prefix: String,
    pub rows: Vec<RemoteUploadRow>,
    /// Markers of the next page, when the server said there are more.
    pub next_page: Option<(String, String)>,
    /// A listing or abort is running.
    pub busy: bool,
    /// At least one listing finished since the bucket was chosen.
    pub listed: bool,
    pub error: Option<String>,
    /// Typed into "select older than N days".
    pub older_than_days: String,
    /// Per-item results of the last abort.
    pub report: Vec<String>,
    /// Selected uploads wait for this confirmation before they are aborted.
    pub confirm_abort: Option<Vec<(String, String)>>,
    /// The rule that aborts stale uploads here, as last read.
    pub auto_abort: AutoAbortStatus,
    /// Typed into "abort uploads older than N days automatically".
    pub auto_abort_days: String,
}

impl RemoteUploadsModel {
    pub fn apply_page(&mut self, page: Result<UploadsPage, String>) {
        self.busy = false;
        match page {
            Ok(page) => {
                if page.first {
                    self.rows.clear();
                }
                self.listed = true;
                self.error = None;
                self.next_page = page.next;
                self.rows
                    .extend(page.uploads.into_iter().map(|upload| RemoteUploadRow {
                        upload,
                        selected: false,
                        parts: None,
                    }));
            }
            Err(error) => self.error = Some(error),
        }
    }

    pub fn apply_auto_abort(&mut self, result: Result<Option<AbortProtection>, String>) {
        self.auto_abort = match result {
            Ok(protection) => AutoAbortStatus::Known(protection),
            Err(error) => AutoAbortStatus::Failed(error),
        };
    }

    /// The line telling whether the bucket aborts stale uploads itself.
    pub fn auto_abort_line(&self) -> Option<String> {
        match &self.auto_abort {
            AutoAbortStatus::NotChecked | AutoAbortStatus::Checking => None,
            AutoAbortStatus::Known(Some(protection)) => Some(protection.describe()),
            AutoAbortStatus::Known(None) => {
                Some("no lifecycle rule aborts stale uploads here".to_owned())
            }
            AutoAbortStatus::Failed(error) => Some(error.clone()),
        }
    }

    pub fn apply_parts(&mut self, upload_id: &str, result: Result<UploadParts, String>) {
        let info = match result {
            Ok(parts) => PartsInfo::Loaded {
                part_count: parts.parts.len(),
                total_bytes: parts.total_bytes,
            },
            Err(error) => PartsInfo::Failed(error),
        };
        for row in &mut self.rows {
            if row.upload.upload.upload_id == upload_id {
                row.parts = Some(info.clone());
            }
        }
    }

    /// Records an abort report and drops the uploads that are gone.
    pub fn apply_aborted(&mut self, outcomes: Vec<AbortOutcome>) {
        self.busy = false;
        self.report = outcomes.iter().map(describe_outcome).collect();
        let gone: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| o.result.is_gone())
            .map(|o| o.upload.upload_id.clone())
            .collect();
        self.rows
            .retain(|row| !gone.contains(&row.upload.upload.upload_id));
    }

    /// Sum of the known sizes of orphan uploads, and how many orphans are not counted yet.
    pub fn orphan_bytes(&self) -> (u64, usize) {
        known_bytes(self.rows.iter().filter(|r| r.is_orphan()))
    }

    /// What aborting `selected` removes, in one phrase: "2 uploads (1 orphans) holding
    /// 3MiB (+1 not counted yet)".
    pub fn selection_summary(&self, selected: &[(String, String)]) -> String {
        let chosen: Vec<&RemoteUploadRow> = self
            .rows
            .iter()
            .filter(|row| {
                selected
                    .iter()
                    .any(|(_, id)| *id == row.upload.upload.upload_id)
            })
            .collect();
        let orphans = chosen.iter().filter(|row| row.is_orphan()).count();
        let (bytes, uncounted) = known_bytes(chosen.iter().copied());
        format!(
            "{} uploads ({orphans} orphans) {}",
            chosen.len(),
            holding_label(bytes, uncounted)
        )
    }

    /// Selects the uploads started more than `days` days before `now` (unknown dates never).
    pub fn select_older_than(&mut self, days: u64, now: SystemTime) {
        let limit = Duration::from_secs(days.saturating_mul(86_400));
        for row in &mut self.rows {
            row.selected = row.upload.upload.age(now).is_some_and(|age| age > limit);
        }
    }

    pub fn selected(&self) -> Vec<(String, String)> {
        self.rows
            .iter()
            .filter(|r| r.selected)
            .map(RemoteUploadRow::key_and_id)
            .collect()
    }

    /// Upload ids that a local session points to.
    fn owned_by_local_sessions(&self) -> HashMap<String, String> {
        self.rows
            .iter()
            .filter_map(|row| {
                row.upload.class.session().map(|s| {
                    (
                        row.upload.upload.upload_id.clone(),
                        s.local_path.display().to_string(),
                    )
                })
            })
            .collect()
    }
}

/// Sum of the known sizes of `rows`, and how many are not counted yet.
fn known_bytes<'a>(rows: impl Iterator<Item = &'a RemoteUploadRow>) -> (u64, usize) {
    let mut bytes = 0;
    let mut unknown = 0;
    for row in rows {
        match row.parts {
            Some(PartsInfo::Loaded { total_bytes, .. }) => bytes += total_bytes,
            _ => unknown += 1,
        }
    }
    (bytes, unknown)
}

/// "holding 3MiB", with "(+2 not counted yet)" while some sizes are unknown.
fn holding_label(bytes: u64, uncounted: usize) -> String {
    let mut label = format!("holding {}", bytes_label(bytes));
    if uncounted > 0 {
        label.push_str(&format!(" (+{uncounted} not counted yet)"));
    }
    label
}

fn describe_outcome(outcome: &AbortOutcome) -> String {
    let name = &outcome.upload.key;
    match &outcome.result {
        AbortResult::Aborted { .. } => format!("Aborted {name}."),
        AbortResult::AlreadyGone { .. } => format!("{name} was already gone."),
        AbortResult::NeedsConfirmation(session) => format!(
            "{name} was left alone: the local upload of {} points to it.",
            session.local_path.display()
        ),
        AbortResult::SessionNotRemoved { id, error } => {
            format!("Aborted {name}, but its saved session {id} could not be removed: {error}")
        }
        AbortResult::Failed(error) if error.is_code(code::ACCESS_DENIED) => format!(
            "Could not abort {name}: {}; its saved session is kept",
            remote_uploads::DENIED_ABORT
        ),
        AbortResult::Failed(error) => format!("Could not abort {name}: {error}"),
    }
}

/// Draws the cleanup view.
pub fn remote_uploads_ui(
    ui: &mut Ui,
    model: &mut RemoteUploadsModel,
    profile_label: &str,
    commands: &mut Vec<UiCommand>,
) {
    ui.horizontal(|ui| {
        ui.label(format!("Target: {profile_label}"));
        let bucket_label = ui.label("Bucket");
        ui.add(egui::TextEdit::singleline(&mut model.bucket).desired_width(140.0))
            .labelled_by(bucket_label.id);
        let prefix_label = ui.label("Prefix");
        ui.add(
            egui::TextEdit::singleline(&mut model.prefix)
                .desired_width(160.0)
                .hint_text("(whole bucket)"),
        )
        .labelled_by(prefix_label.id);
        let list = ui.add_enabled(!model.busy, egui::Button::new("List uploads"));
        if list.clicked() {
            commands.push(UiCommand::ListRemoteUploads);
        }
        if model.busy {
            ui.spinner();
        }
    });
    if let Some(error) = &model.error {
        ui.colored_label(part_map::FAILED_COLOR, error);
    }
    if !model.listed {
        ui.add_space(12.0);
        ui.label(
            "Multipart uploads that were started but never completed or aborted keep their \
             parts on the server, and the parts cost storage. List them here to resume ours or \
             abort the ones nobody will finish.",
        );
        return;
    }

    let (orphan_bytes, uncounted) = model.orphan_bytes();
    let orphan_count = model.rows.iter().filter(|r| r.is_orphan()).count();
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} uploads, {orphan_count} orphans {}",
            model.rows.len(),
            holding_label(orphan_bytes, uncounted)
        ));
        if uncounted > 0 && ui.button("Count orphan bytes").clicked() {
            for row in model
                .rows
                .iter_mut()
                .filter(|r| r.is_orphan() && r.parts.is_none())
            {
                row.parts = Some(PartsInfo::Loading);
                let (key, upload_id) = row.key_and_id();
                commands.push(UiCommand::LoadRemoteParts { key, upload_id });
            }
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Select all").clicked() {
            model.rows.iter_mut().for_each(|r| r.selected = true);
        }
        if ui.button("Select orphans").clicked() {
            model
                .rows
                .iter_mut()
                .for_each(|r| r.selected = r.is_orphan());
        }
        if ui.button("Select none").clicked() {
            model.rows.iter_mut().for_each(|r| r.selected = false);
        }
        ui.separator();
        let days_label = ui.label("Older than (days)");
        ui.add(egui::TextEdit::singleline(&mut model.older_than_days).desired_width(40.0))
            .labelled_by(days_label.id);
        if ui.button("Select older").clicked() {
            match model.older_than_days.trim().parse::<u64>() {
                Ok(days) => {
                    model.error = None;
                    model.select_older_than(days, SystemTime::now());
                }
                Err(_) => {
                    model.error = Some(format!(
                        "\"{}\" is not a whole number of days",
                        model.older_than_days.trim()
                    ))
                }
            }
        }
        ui.separator();
        let selected = model.selected();
        let abort = ui.add_enabled(
            !selected.is_empty() && !model.busy,
            egui::Button::new(format!("Abort selected ({})", selected.len())),
        );
        if abort.clicked() {
            model.confirm_abort = Some(selected);
        }
    });
    for line in &model.report {
        ui.label(line);
    }
    auto_abort_ui(ui, model, commands);
    ui.separator();
    uploads_table_ui(ui, model, commands);
    if model.next_page.is_some() {
        let more = ui.add_enabled(!model.busy, egui::Button::new("Load more"));
        if more.clicked() {
            commands.push(UiCommand::ListMoreRemoteUploads);
        }
    }
    confirm_abort_ui(ui.ctx(), model, commands);
}

/// Whether the bucket aborts stale uploads itself, and setting or removing our rule.
fn auto_abort_ui(ui: &mut Ui, model: &mut RemoteUploadsModel, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        match model.auto_abort_line() {
            Some(line) => {
                let failed = matches!(model.auto_abort, AutoAbortStatus::Failed(_));
                if failed {
                    ui.colored_label(part_map::FAILED_COLOR, line);
                } else {
                    ui.label(line);
                }
            }
            None if model.auto_abort == AutoAbortStatus::Checking => {
                ui.spinner();
            }
            None => {}
        }
        ui.separator();
        let days_label = ui.label("Auto-abort after (days)");
        ui.add(egui::TextEdit::singleline(&mut model.auto_abort_days).desired_width(40.0))
            .labelled_by(days_label.id);
        let checking = model.auto_abort == AutoAbortStatus::Checking;
        if ui
            .add_enabled(!checking, egui::Button::new("Set auto-abort rule"))
            .clicked()
        {
            match model.auto_abort_days.trim().parse::<i64>() {
                Ok(days) if days > 0 => commands.push(UiCommand::SetAutoAbort(Some(days))),
                _ => {
                    model.error = Some(format!(
                        "\"{}\" is not a whole number of days",
                        model.auto_abort_days.trim()
                    ))
                }
            }
        }
        let ours_here = matches!(
            &model.auto_abort,
            AutoAbortStatus::Known(Some(p)) if p.ours && p.rule_prefix == model.prefix.trim()
        );
        if ours_here
            && ui
                .add_enabled(!checking, egui::Button::new("Remove auto-abort rule"))
                .clicked()
        {
            commands.push(UiCommand::SetAutoAbort(None));
        }
    });
}

fn uploads_table_ui(ui: &mut Ui, model: &mut RemoteUploadsModel, commands: &mut Vec<UiCommand>) {
    if model.rows.is_empty() {
        ui.label("No in-progress uploads here.");
        return;
    }
    let now = SystemTime::now();
    egui::ScrollArea::vertical()
        .auto_shrink([false, true])
        .max_height(ui.available_height() - 32.0)
        .show(ui, |ui| {
            egui::Grid::new("remote_uploads")
                .striped(true)
                .num_columns(7)
                .spacing([14.0, 4.0])
                .show(ui, |ui| {
                    for header in ["", "Key", "Upload id", "Started", "Parts", "Kind", ""] {
                        ui.strong(header);
                    }
                    ui.end_row();
                    for row in &mut model.rows {
                        let upload = &row.upload.upload;
                        ui.checkbox(&mut row.selected, "").widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::CheckBox,
                                true,
                                format!("Select {}", upload.key),
                            )
                        });
                        ui.label(&upload.key);
                        ui.label(RichText::new(short_id(&upload.upload_id)).monospace())
                            .on_hover_text(&upload.upload_id);
                        let age = upload
                            .age(now)
                            .map(|age| format!("{} ago", format_duration(age)))
                            .unwrap_or_else(|| upload.initiated.clone());
                        ui.label(age).on_hover_text(&upload.initiated);
                        match &row.parts {
                            None => {
                                if ui.small_button("Count").clicked() {
                                    row.parts = Some(PartsInfo::Loading);
                                    commands.push(UiCommand::LoadRemoteParts {
                                        key: upload.key.clone(),
                                        upload_id: upload.upload_id.clone(),
                                    });
                                }
                            }
                            Some(PartsInfo::Loading) => {
                                ui.spinner();
                            }
                            Some(PartsInfo::Loaded {
                                part_count,
                                total_bytes,
                            }) => {
                                ui.label(format!("{part_count}, {}", bytes_label(*total_bytes)));
                            }
                            Some(PartsInfo::Failed(error)) => {
                                ui.colored_label(part_map::FAILED_COLOR, "error")
                                    .on_hover_text(error);
                            }
                        }
                        match &row.upload.class {
                            UploadClass::Resumable(session) => {
                                ui.colored_label(part_map::DONE_COLOR, "ours, resumable")
                                    .on_hover_text(session.local_path.display().to_string());
                                if ui.small_button("Resume").clicked() {
                                    commands.push(UiCommand::ResumeRemoteUpload {
                                        upload_id: upload.upload_id.clone(),
                                    });
                                }
                            }
                            UploadClass::LocalFileMissing(session) => {
                                ui.colored_label(part_map::RETRYING_COLOR, "ours, file missing")
                                    .on_hover_text(session.local_path.display().to_string());
                                ui.label("");
                            }
                            UploadClass::Orphan => {
                                ui.label("orphan");
                                ui.label("");
                            }
                        }
                        ui.end_row();
                    }
                });
        });
}

fn confirm_abort_ui(
    ctx: &egui::Context,
    model: &mut RemoteUploadsModel,
    commands: &mut Vec<UiCommand>,
) {
    let Some(selected) = model.confirm_abort.clone() else {
        return;
    };
    let owned = model.owned_by_local_sessions();
    let local_files: Vec<&String> = selected
        .iter()
        .filter_map(|(_, id)| owned.get(id))
        .collect();
    let modal = egui::Modal::new(egui::Id::unique("confirm_remote_abort")).show(ctx, |ui| {
        ui.set_max_width(460.0);
        ui.heading(format!("Abort {} uploads?", selected.len()));
        ui.label(format!(
            "This aborts {} on the server; their parts are deleted and cannot be recovered.",
            model.selection_summary(&selected)
        ));
        if !local_files.is_empty() {
            ui.label(format!(
                "{} of them belong to uploads from this computer; aborting deletes their \
                 progress and they would have to start over:",
                local_files.len()
            ));
            for file in &local_files {
                ui.label(RichText::new(file.as_str()).monospace());
            }
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Abort them").clicked() {
                model.busy = true;
                commands.push(UiCommand::AbortRemoteUploads(selected.clone()));
                model.confirm_abort = None;
            }
            if ui.button("Cancel").clicked() {
                model.confirm_abort = None;
            }
        });
    });
    if modal.should_close() {
        model.confirm_abort = None;
    }
}

fn short_id(upload_id: &str) -> String {
    if upload_id.chars().count() <= 14 {
        upload_id.to_owned()
    } else {
        let head: String = upload_id.chars().take(12).collect();
        format!("{head}…")
    }
}
