//! The transfers view: a list of folder jobs and transfers (name, destination and
//! target, size, state, speed, ETA, overall bar, part map, buttons) that can be sorted,
//! filtered and multi-selected for bulk actions. Finished files stay as one-line rows
//! until Clear finished (the History view keeps them for good). Rows outside the
//! scrolled view are not laid out, only their remembered height is allocated.

use std::collections::{HashMap, HashSet};

use egui::{Color32, RichText, Ui};

use crate::engine::event::{TransferId, TransferState};
use crate::engine::store::{JobId, JobState};
use crate::engine::{EngineCommand, JobSnapshot};
use crate::ui::command::UiCommand;
use crate::ui::format::{bytes_label, eta_label, rate_label};
use crate::ui::job_failures::JobFailures;
use crate::ui::selection::Selection;
use crate::ui::state::{TransferRow, TransfersModel, state_label};
use crate::ui::totals::Totals;
use crate::ui::transfer_list::{
    ListAction, ListEntry, ListOptions, RowKey, SortKey, StateFilter, abortable_selection,
    bulk_commands, can_abort, clear_finished_commands, clearable_jobs, files_per_job, job_name,
    visible_entries,
};
use crate::ui::widgets::choice::choice_ui;
use crate::ui::widgets::overall_bar::overall_bar_ui;
use crate::ui::widgets::part_map::{self, part_map_ui};
use crate::ui::widgets::status_line::{StatusLine, title_ui};

/// Height given to a row that has not been laid out yet (it is measured once drawn).
const UNMEASURED_ROW_HEIGHT: f32 = 110.0;

/// What the transfers view remembers between frames.
#[derive(Debug, Default)]
pub struct TransfersViewState {
    /// Rows whose details (error, request id, upload id) are unfolded.
    pub details_open: HashSet<TransferId>,
    /// The transfers whose abort waits for confirmation.
    pub abort_pending: Option<Vec<TransferId>>,
    /// The rows bulk actions and the Delete and Space keys apply to.
    pub selection: Selection<RowKey>,
    /// Sort order and filters of the list.
    pub list: ListOptions,
    /// Put the keyboard into the name filter on the next frame (Ctrl+F).
    pub focus_filter: bool,
    /// Each row's height when last drawn, allocated for it while it is scrolled away.
    row_heights: HashMap<RowKey, f32>,
    /// Jobs whose failed files are unfolded.
    pub failures_open: HashSet<JobId>,
    /// The failed files read for them.
    pub job_failures: JobFailures,
}

impl TransfersViewState {
    /// Carries out a bulk action on the selection, returning what to send the engine;
    /// an abort only asks here.
    pub fn act(&mut self, action: ListAction, model: &TransfersModel) -> Vec<EngineCommand> {
        match action {
            ListAction::Abort => {
                let ids = abortable_selection(model, &self.selection);
                if !ids.is_empty() {
                    self.abort_pending = Some(ids);
                }
                Vec::new()
            }
            ListAction::ClearFinished => {
                self.list.cleared_jobs.extend(clearable_jobs(model));
                clear_finished_commands(model)
            }
            ListAction::FocusFilter => {
                self.focus_filter = true;
                Vec::new()
            }
            ListAction::Pause
            | ListAction::Resume
            | ListAction::PauseOrResume
            | ListAction::Retry => bulk_commands(action, model, &self.selection),
        }
    }

    /// The abort question is on screen.
    pub fn is_asking(&self) -> bool {
        self.abort_pending.is_some()
    }

    /// Drops selected rows that are gone or filtered out, and heights of rows that are gone.
    fn forget_vanished(&mut self, model: &TransfersModel, shown: &[RowKey]) {
        if !self.selection.is_empty() {
            let shown: HashSet<&RowKey> = shown.iter().collect();
            self.selection.retain(|key| shown.contains(key));
        }
        if self.row_heights.len() > model.rows().len() + model.jobs.len() {
            self.row_heights.retain(|key, _| match key {
                RowKey::Job(id) => model.jobs.contains_key(id),
                RowKey::Transfer(id) => model.row(id).is_some(),
            });
        }
    }
}

/// Draws the list's controls, the selection bar, then the list.
pub fn transfers_ui(
    ui: &mut Ui,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    for notice in &model.notices {
        ui.colored_label(part_map::RETRYING_COLOR, notice);
    }
    let entries = visible_entries(model, &view.list);
    let shown: Vec<RowKey> = entries.iter().map(ListEntry::key).collect();
    view.forget_vanished(model, &shown);
    list_controls_ui(ui, model, view, commands);
    if !view.selection.is_empty() {
        selection_bar_ui(ui, model, view, commands);
    }
    let active_count = model.active_rows().count();
    let files_per_job = files_per_job(model);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_viewport(ui, |ui, viewport| {
            if active_count == 0 && model.jobs.values().all(|j| j.is_finished()) {
                ui.add_space(24.0);
                ui.vertical_centered(|ui| {
                    ui.label(RichText::new("No uploads in progress").size(18.0));
                    ui.label(
                        "Drop files or folders anywhere on this window, or use Add files… above.",
                    );
                });
            }
            if entries.is_empty() && (!model.rows().is_empty() || !model.jobs.is_empty()) {
                ui.add_space(8.0);
                ui.label(RichText::new("No transfers match the filter.").weak());
            }
            if entries
                .iter()
                .any(|e| matches!(e, ListEntry::Transfer(_) | ListEntry::JobFile(_)))
            {
                part_legend_ui(ui);
            }
            let content_top = ui.max_rect().top();
            for entry in &entries {
                let key = entry.key();
                let top = ui.cursor().top() - content_top;
                let height = view
                    .row_heights
                    .get(&key)
                    .copied()
                    .unwrap_or(UNMEASURED_ROW_HEIGHT);
                if top > viewport.bottom() || top + height < viewport.top() {
                    ui.allocate_space(egui::vec2(ui.available_width(), height));
                    continue;
                }
                let selected = view.selection.contains(&key);
                let response = match entry {
                    ListEntry::Job(job) => {
                        let target = model.target_name(&job.target);
                        let pace = Totals::of_job(model, job.id).pace_label();
                        let files = files_per_job.get(&job.id).copied().unwrap_or(0);
                        selectable_row_ui(ui, &key, selected, &job_name(job), |ui| {
                            job_row_ui(ui, job, target, pace, files, view, commands)
                        })
                    }
                    ListEntry::JobFile(row) => {
                        let target = model.target_name(&row.snapshot.target);
                        ui.indent(&key, |ui| {
                            selectable_row_ui(ui, &key, selected, &row.file_name, |ui| {
                                transfer_row_ui(ui, row, target, view, commands)
                            })
                        })
                        .inner
                    }
                    ListEntry::Transfer(row) => {
                        let target = model.target_name(&row.snapshot.target);
                        selectable_row_ui(ui, &key, selected, &row.file_name, |ui| {
                            if row.is_history() {
                                finished_row_ui(ui, row, target, commands)
                            } else {
                                transfer_row_ui(ui, row, target, view, commands)
                            }
                        })
                    }
                };
                view.row_heights.insert(key.clone(), response.rect.height());
                if response.clicked() {
                    // The modifiers held at the release, which may differ from the
                    // state at the end of this frame's events.
                    let modifiers = ui.input(|input| {
                        input
                            .events
                            .iter()
                            .rev()
                            .find_map(|event| match event {
                                egui::Event::PointerButton {
                                    button: egui::PointerButton::Primary,
                                    pressed: false,
                                    modifiers,
                                    ..
                                } => Some(*modifiers),
                                _ => None,
                            })
                            .unwrap_or(input.modifiers)
                    });
                    view.selection.click(&key, modifiers, &shown);
                }
            }
        });
    abort_confirmation_ui(ui.ctx(), model, view, commands);
}

/// Sort order, state and name filters, and Clear finished.
fn list_controls_ui(
    ui: &mut Ui,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    ui.horizontal(|ui| {
        let sort_label = ui.label("Sort by");
        choice_ui(
            ui,
            "list_sort",
            sort_label.id,
            &mut view.list.sort,
            &SortKey::ALL,
            SortKey::label,
        );
        ui.checkbox(&mut view.list.descending, "Descending");
        ui.separator();
        let show_label = ui.label("Show");
        choice_ui(
            ui,
            "list_state_filter",
            show_label.id,
            &mut view.list.state,
            &StateFilter::ALL,
            StateFilter::label,
        );
        let filter_label = ui.label("Filter");
        let filter = ui
            .add(
                egui::TextEdit::singleline(&mut view.list.name_filter)
                    .desired_width(160.0)
                    .hint_text("name contains (Ctrl+F)"),
            )
            .labelled_by(filter_label.id);
        if std::mem::take(&mut view.focus_filter) {
            filter.request_focus();
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let finished = model.rows().iter().any(TransferRow::is_history)
                || clearable_jobs(model).any(|id| !view.list.cleared_jobs.contains(&id));
            if ui
                .add_enabled(finished, egui::Button::new("Clear finished"))
                .on_hover_text("Remove done and skipped rows and finished folders (the objects stay in the bucket)")
                .clicked()
            {
                commands.push(UiCommand::List(ListAction::ClearFinished));
            }
        });
    });
}

/// How many rows are selected, and what can be done to all of them at once.
fn selection_bar_ui(
    ui: &mut Ui,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    egui::Frame::new()
        .fill(ui.visuals().selection.bg_fill.gamma_multiply(0.3))
        .corner_radius(4.0)
        .inner_margin(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("{} selected", view.selection.len())).strong());
                for (label, action) in [
                    ("Pause selected", ListAction::Pause),
                    ("Resume selected", ListAction::Resume),
                    ("Retry selected", ListAction::Retry),
                ] {
                    let applies = !bulk_commands(action, model, &view.selection).is_empty();
                    if ui.add_enabled(applies, egui::Button::new(label)).clicked() {
                        commands.push(UiCommand::List(action));
                    }
                }
                let abortable = !abortable_selection(model, &view.selection).is_empty();
                if ui
                    .add_enabled(abortable, egui::Button::new("Abort selected…"))
                    .clicked()
                {
                    // Asked in this frame, as the row's Abort… does: a question that
                    // appeared a frame later would take this click for one outside it.
                    view.act(ListAction::Abort, model);
                }
                if ui.button("Clear selection").clicked() {
                    view.selection.clear();
                }
            });
        });
}

/// A row that a click selects: its background takes the click, the buttons on it keep
/// theirs. Labels inside are not selectable text, so a click on them reaches the row.
fn selectable_row_ui(
    ui: &mut Ui,
    key: &RowKey,
    selected: bool,
    name: &str,
    row_ui: impl FnOnce(&mut Ui),
) -> egui::Response {
    let response = ui
        .scope_builder(
            egui::UiBuilder::new()
                .id_salt(key)
                .sense(egui::Sense::click()),
            |ui| {
                ui.style_mut().interaction.selectable_labels = false;
                let mut frame = egui::Frame::group(ui.style()).inner_margin(8.0);
                if selected {
                    frame = frame
                        .fill(ui.visuals().selection.bg_fill.gamma_multiply(0.25))
                        .stroke(ui.visuals().selection.stroke);
                }
                frame.show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    row_ui(ui);
                });
            },
        )
        .response;
    response.widget_info(|| {
        egui::WidgetInfo::selected(
            egui::Role::ListItem,
            true,
            selected,
            format!("Select {name}"),
        )
    });
    response
}

/// One folder job: its folders and destination, files done of all found so far, bytes,
/// failures, and pause or resume.
fn job_row_ui(
    ui: &mut Ui,
    job: &JobSnapshot,
    target: &str,
    pace: Option<String>,
    files_listed: usize,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    let c = &job.counts;
    let total = c.done + c.skipped + c.failed + c.pending + c.in_flight;
    ui.horizontal(|ui| {
        title_ui(
            ui,
            &job_name(job),
            &format!("to oss://{}/{} on {target}", job.bucket, job.prefix),
        );
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let open = view.list.open_jobs.contains(&job.id);
            if open || files_listed > 0 {
                let label = if open {
                    "Hide files".to_string()
                } else {
                    format!("Show files ({files_listed})")
                };
                if ui.button(label).clicked() && !view.list.open_jobs.remove(&job.id) {
                    view.list.open_jobs.insert(job.id);
                }
            }
            if job.locked_by.is_some() {
                ui.label("in use by another process");
                return;
            }
            if c.failed > 0 && ui.button(format!("Retry failed ({})", c.failed)).clicked() {
                commands.push(UiCommand::Engine(EngineCommand::RetryJob {
                    job: job.id,
                    file: None,
                }));
            }
            let open = view.failures_open.contains(&job.id);
            if c.failed > 0 || open {
                let label = if open {
                    "Hide failures"
                } else {
                    "Show failures"
                };
                if ui.button(label).clicked() {
                    if open {
                        view.failures_open.remove(&job.id);
                        view.job_failures.close(job.id);
                    } else {
                        view.failures_open.insert(job.id);
                    }
                }
            }
            if job.is_finished() {
                return;
            }
            if job.state == JobState::Paused {
                if ui.button("Resume").clicked() {
                    commands.push(UiCommand::Engine(EngineCommand::ResumeJob(job.id)));
                }
            } else if ui.button("Pause").clicked() {
                commands.push(UiCommand::Engine(EngineCommand::PauseJob(job.id)));
            }
        });
    });
    let walking = if job.walking { " (still counting)" } else { "" };
    let mut line = format!(
        "{} of {total} files{walking}, {} of {}",
        c.done,
        bytes_label(c.bytes_done),
        bytes_label(c.bytes_total)
    );
    if c.skipped > 0 {
        line.push_str(&format!(", {} skipped", c.skipped));
    }
    if c.failed > 0 {
        line.push_str(&format!(", {} failed", c.failed));
    }
    if let Some(pace) = pace {
        line.push_str(&format!(" · {pace}"));
    }
    ui.label(line);
    if let Some(problem) = &job.problem {
        ui.colored_label(part_map::FAILED_COLOR, problem);
    }
    let fraction = if c.bytes_total == 0 {
        0.0
    } else {
        c.bytes_done as f32 / c.bytes_total as f32
    };
    overall_bar_ui(ui, fraction, ui.spacing().interact_size.y);
    if view.failures_open.contains(&job.id) {
        failed_files_ui(ui, job, view, commands);
    }
}

/// A job's failed files with the reason of each, a page at a time.
fn failed_files_ui(
    ui: &mut Ui,
    job: &JobSnapshot,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    let mut requests = Vec::new();
    let held = view
        .job_failures
        .shown(job.id, job.counts.failed, &mut requests);
    let mut more = false;
    let mut retry = None;
    if held.is_loading() {
        ui.label(RichText::new("Reading the failed files…").weak());
    } else if held.rows.is_empty() {
        ui.label(RichText::new("No failed files.").weak());
    }
    egui::ScrollArea::vertical()
        .id_salt(("job_failures", job.id))
        .max_height(180.0)
        .show(ui, |ui| {
            ui.style_mut().interaction.selectable_labels = true;
            egui::Grid::new(("job_failures_grid", job.id))
                .num_columns(3)
                .spacing([12.0, 2.0])
                .show(ui, |ui| {
                    for row in &held.rows {
                        // A name the walk could not turn into a key would fail again the
                        // same way: it gets no Retry.
                        let retryable = job.locked_by.is_none() && !row.file.key.is_empty();
                        let path = row.file.relative_path.display().to_string();
                        if retryable {
                            // Named after its file, for screen readers among many Retries.
                            let button = ui.small_button("Retry");
                            button.widget_info(|| {
                                egui::WidgetInfo::labeled(
                                    egui::Role::Button,
                                    true,
                                    format!("Retry {path}"),
                                )
                            });
                            if button.clicked() {
                                retry = Some(row.id);
                            }
                        } else {
                            ui.label("");
                        }
                        ui.label(path);
                        ui.colored_label(
                            part_map::FAILED_COLOR,
                            row.file.reason.as_deref().unwrap_or("failed"),
                        );
                        ui.end_row();
                    }
                });
        });
    if held.has_more() && !held.rows.is_empty() {
        more = ui.button("Show more").clicked();
    }
    if more {
        view.job_failures.more(job.id, &mut requests);
    }
    if let Some(file) = retry {
        requests.push(EngineCommand::RetryJob {
            job: job.id,
            file: Some(file),
        });
    }
    commands.extend(requests.into_iter().map(UiCommand::Engine));
}

/// What the part map colours mean.
fn part_legend_ui(ui: &mut Ui) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Parts:").weak());
        for (color, meaning) in [
            (part_map::DONE_COLOR, "done"),
            (part_map::IN_FLIGHT_COLOR, "sending"),
            (part_map::RETRYING_COLOR, "retrying"),
            (part_map::FAILED_COLOR, "failed"),
            (part_map::QUEUED_COLOR, "queued"),
        ] {
            let (swatch, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
            ui.painter().rect_filled(swatch, 1.0, color);
            ui.label(RichText::new(meaning).weak());
        }
    });
}

fn transfer_row_ui(
    ui: &mut Ui,
    row: &TransferRow,
    target: &str,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    ui.horizontal(|ui| {
        title_ui(
            ui,
            &row.file_name,
            &format!("{} on {target}", row.destination_label()),
        );
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            row_buttons_ui(ui, row, view, commands);
        });
    });
    let counts = row.part_counts();
    let mut line = StatusLine::new(ui);
    line.fact(&bytes_label(row.snapshot.size))
        .colored(&row.state_text(), state_color(&row.snapshot.state))
        .fact(&rate_label(row.snapshot.bytes_per_sec))
        .fact(&format!("ETA {}", eta_label(row.snapshot.eta_secs)));
    if row.snapshot.parts.is_empty() {
        line.fact("not planned yet");
    } else {
        line.fact(&format!(
            "{} of {} parts",
            counts.done,
            row.snapshot.parts.len()
        ));
    }
    if counts.retrying > 0 {
        line.colored(
            &format!("{} retrying", counts.retrying),
            part_map::RETRYING_COLOR,
        );
    }
    line.show(ui);
    overall_bar_ui(ui, row.snapshot.fraction_done() as f32, 10.0);
    if !row.snapshot.parts.is_empty() {
        let label = format!(
            "Part map of {}: {} done, {} sending, {} queued, {} failed",
            row.file_name,
            counts.done,
            counts.in_flight + counts.retrying,
            counts.queued,
            counts.failed
        );
        part_map_ui(ui, row, &label);
    }
    if let Some(error) = &row.snapshot.error
        && !view.details_open.contains(&row.snapshot.id)
    {
        ui.colored_label(part_map::FAILED_COLOR, &error.message);
    }
    if view.details_open.contains(&row.snapshot.id) {
        details_ui(ui, row);
    }
}

fn row_buttons_ui(
    ui: &mut Ui,
    row: &TransferRow,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    let details_open = view.details_open.contains(&row.snapshot.id);
    if ui.selectable_label(details_open, "Details").clicked() {
        if details_open {
            view.details_open.remove(&row.snapshot.id);
        } else {
            view.details_open.insert(row.snapshot.id.clone());
        }
    }
    if !row.is_history()
        && ui
            .add_enabled(can_abort(row), egui::Button::new("Abort…"))
            .clicked()
    {
        view.abort_pending = Some(vec![row.snapshot.id.clone()]);
    }
    if row.can_retry() && ui.button("Retry").clicked() {
        commands.push(UiCommand::Engine(EngineCommand::Retry(
            row.snapshot.id.clone(),
        )));
    }
    if row
        .snapshot
        .error
        .as_ref()
        .is_some_and(|e| e.restart_suggested)
        && ui.button("Start over").clicked()
    {
        commands.push(UiCommand::Engine(EngineCommand::Restart(
            row.snapshot.id.clone(),
        )));
    }
    if row.can_resume() && ui.button("Resume").clicked() {
        commands.push(UiCommand::Engine(EngineCommand::Resume(
            row.snapshot.id.clone(),
        )));
    }
    if row.can_pause() && ui.button("Pause").clicked() {
        commands.push(UiCommand::Engine(EngineCommand::Pause(
            row.snapshot.id.clone(),
        )));
    }
}

fn details_ui(ui: &mut Ui, row: &TransferRow) {
    // Ids and messages here are worth copying.
    ui.style_mut().interaction.selectable_labels = true;
    egui::Grid::new(("transfer_details", &row.snapshot.id.0))
        .num_columns(2)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            ui.label("Local file");
            ui.label(row.snapshot.source.display().to_string());
            ui.end_row();
            ui.label("Part size");
            ui.label(bytes_label(row.snapshot.part_size));
            ui.end_row();
            if let Some(upload_id) = &row.snapshot.upload_id {
                ui.label("Upload id");
                ui.label(RichText::new(upload_id).monospace());
                ui.end_row();
            }
            if let Some(error) = &row.snapshot.error {
                ui.label("Error");
                ui.colored_label(part_map::FAILED_COLOR, &error.message);
                ui.end_row();
                if let Some(code) = &error.code {
                    ui.label("OSS code");
                    ui.label(RichText::new(code).monospace());
                    ui.end_row();
                }
                if let Some(request_id) = &error.request_id {
                    ui.label("Request id");
                    ui.label(RichText::new(request_id).monospace());
                    ui.end_row();
                }
            }
        });
}

/// A file that is done or was skipped: one line, removable from the list.
fn finished_row_ui(ui: &mut Ui, row: &TransferRow, target: &str, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        if ui
            .small_button("Remove")
            .on_hover_text("Remove from the list (the object stays in the bucket)")
            .clicked()
        {
            commands.push(UiCommand::Engine(EngineCommand::Forget(
                row.snapshot.id.clone(),
            )));
        }
        ui.label(RichText::new(&row.file_name).strong());
        ui.label(RichText::new(format!("{} on {target}", row.destination_label())).weak());
        ui.label(bytes_label(row.snapshot.size));
        ui.label(state_label(&row.snapshot.state));
        if let Some(result) = &row.snapshot.result {
            ui.label(RichText::new(format!("ETag {}", result.etag.trim_matches('"'))).monospace());
            if result.verified {
                ui.colored_label(part_map::DONE_COLOR, "CRC-64 verified");
            } else {
                ui.colored_label(part_map::FAILED_COLOR, "CRC-64 not verified");
            }
        }
    });
}

/// Asks before aborting one upload or a selection of them, naming what is lost.
fn abort_confirmation_ui(
    ctx: &egui::Context,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    let Some(ids) = view.abort_pending.as_ref() else {
        return;
    };
    // Rows may have finished or gone since the question was asked.
    let rows: Vec<&TransferRow> = ids
        .iter()
        .filter_map(|id| model.row(id))
        .filter(|row| can_abort(row))
        .collect();
    let (heading, explanation, button) = match rows.as_slice() {
        [] => {
            view.abort_pending = None;
            return;
        }
        [row] => (
            format!("Abort the upload of {}?", row.file_name),
            format!(
                "The parts already sent to {} are deleted on the server and the local \
                 session is forgotten. The local file is not touched.",
                row.destination_label()
            ),
            String::from("Abort upload"),
        ),
        many => {
            let bytes: u64 = many.iter().map(|row| row.snapshot.size).sum();
            (
                format!(
                    "Abort {} uploads of {} in all?",
                    many.len(),
                    bytes_label(bytes)
                ),
                String::from(
                    "The parts already sent are deleted on the server and the local sessions \
                     are forgotten. The local files are not touched.",
                ),
                format!("Abort {} uploads", many.len()),
            )
        }
    };
    let mut answered = false;
    let modal =
        egui::Modal::new(egui::Id::unique("abort_confirmation")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.heading(heading);
            ui.label(explanation);
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button(button).clicked() {
                    commands.extend(rows.iter().map(|row| {
                        UiCommand::Engine(EngineCommand::Abort(row.snapshot.id.clone()))
                    }));
                    answered = true;
                }
                if ui.button("Keep uploading").clicked() {
                    answered = true;
                }
            });
        });
    if answered || modal.should_close() {
        view.abort_pending = None;
    }
}

fn state_color(state: &TransferState) -> Color32 {
    match state {
        TransferState::Uploading | TransferState::Verifying | TransferState::Preparing => {
            part_map::IN_FLIGHT_COLOR
        }
        TransferState::Done => part_map::DONE_COLOR,
        TransferState::Failed => part_map::FAILED_COLOR,
        TransferState::WaitingForNetwork => part_map::RETRYING_COLOR,
        TransferState::Queued
        | TransferState::Paused
        | TransferState::Skipped
        | TransferState::LockedElsewhere => Color32::from_gray(170),
    }
}
