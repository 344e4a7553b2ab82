//! The transfers view: one row per transfer (name, destination, size, state, speed, ETA,
//! overall bar, part map, buttons), and the files that were skipped below; finished
//! uploads are in the history view.

use std::collections::HashSet;

use egui::{Color32, RichText, Ui};

use crate::engine::event::{TransferId, TransferState};
use crate::engine::store::JobState;
use crate::engine::{EngineCommand, JobSnapshot};
use crate::ui::command::UiCommand;
use crate::ui::format::{bytes_label, eta_label, rate_label};
use crate::ui::state::{TransferRow, TransfersModel, state_label};
use crate::ui::widgets::part_map::{self, part_map_ui};

/// What the transfers view remembers between frames.
#[derive(Debug, Default)]
pub struct TransfersViewState {
    /// Rows whose details (error, request id, upload id) are unfolded.
    pub details_open: HashSet<TransferId>,
    /// The transfer whose abort waits for confirmation.
    pub abort_pending: Option<TransferId>,
}

/// Draws the jobs and active transfers, then the skipped files.
pub fn transfers_ui(
    ui: &mut Ui,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    for notice in &model.notices {
        ui.colored_label(part_map::RETRYING_COLOR, notice);
    }
    let active_count = model.active_rows().count();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // A finished job stays in view while it has failures to retry.
            for job in model
                .jobs
                .values()
                .filter(|j| !j.is_finished() || j.counts.failed > 0)
            {
                job_row_ui(ui, job, model.target_name(&job.target), commands);
            }
            if active_count == 0 && model.jobs.values().all(|j| j.is_finished()) {
                ui.add_space(24.0);
                ui.vertical_centered(|ui| {
                    ui.label(RichText::new("No uploads in progress").size(18.0));
                    ui.label(
                        "Drop files or folders anywhere on this window, or use Add files… above.",
                    );
                });
            }
            if active_count > 0 {
                part_legend_ui(ui);
            }
            for row in model.active_rows() {
                transfer_row_ui(
                    ui,
                    row,
                    model.target_name(&row.snapshot.target),
                    view,
                    commands,
                );
            }
            // Finished uploads are in the History view; files that were not sent only here.
            let skipped: Vec<&TransferRow> = model
                .history_rows()
                .into_iter()
                .filter(|row| row.snapshot.state == TransferState::Skipped)
                .collect();
            if !skipped.is_empty() {
                ui.add_space(8.0);
                egui::CollapsingHeader::new(format!("Skipped ({})", skipped.len()))
                    .default_open(true)
                    .show(ui, |ui| {
                        for row in skipped {
                            skipped_row_ui(ui, row, commands);
                        }
                    });
            }
        });
    abort_confirmation_ui(ui.ctx(), model, view, commands);
}

/// One folder job: its folders and destination, files done of all found so far, bytes,
/// failures, and pause or resume.
fn job_row_ui(ui: &mut Ui, job: &JobSnapshot, target: &str, commands: &mut Vec<UiCommand>) {
    let c = &job.counts;
    let total = c.done + c.skipped + c.failed + c.pending + c.in_flight;
    egui::Frame::group(ui.style())
        .inner_margin(8.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let names: Vec<String> = job
                    .roots
                    .iter()
                    .map(|r| {
                        r.file_name()
                            .map_or_else(|| r.display().to_string(), |n| n.to_string_lossy().into())
                    })
                    .collect();
                ui.label(RichText::new(names.join(", ")).strong().size(15.0));
                ui.label(
                    RichText::new(format!(
                        "to oss://{}/{} on {target}",
                        job.bucket, job.prefix
                    ))
                    .weak(),
                );
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if job.locked_by.is_some() {
                        ui.label("in use by another process");
                        return;
                    }
                    if c.failed > 0 && ui.button(format!("Retry failed ({})", c.failed)).clicked() {
                        commands.push(UiCommand::Engine(EngineCommand::RetryJob(job.id)));
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
            ui.label(line);
            if let Some(problem) = &job.problem {
                ui.colored_label(part_map::FAILED_COLOR, problem);
            }
            let fraction = if c.bytes_total == 0 {
                0.0
            } else {
                c.bytes_done as f32 / c.bytes_total as f32
            };
            ui.add(egui::ProgressBar::new(fraction).show_percentage());
        });
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
    egui::Frame::group(ui.style())
        .inner_margin(8.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(RichText::new(&row.file_name).strong().size(15.0));
                ui.label(RichText::new(format!("{} on {target}", row.destination_label())).weak());
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    row_buttons_ui(ui, row, view, commands);
                });
            });
            ui.horizontal(|ui| {
                ui.label(bytes_label(row.snapshot.size));
                ui.separator();
                ui.label(RichText::new(row.state_text()).color(state_color(&row.snapshot.state)));
                ui.separator();
                ui.label(rate_label(row.snapshot.bytes_per_sec));
                ui.separator();
                ui.label(format!("ETA {}", eta_label(row.snapshot.eta_secs)));
                let counts = row.part_counts();
                ui.separator();
                if row.snapshot.parts.is_empty() {
                    ui.label("not planned yet");
                } else {
                    ui.label(format!(
                        "{} of {} parts",
                        counts.done,
                        row.snapshot.parts.len()
                    ));
                }
                if counts.retrying > 0 {
                    ui.colored_label(
                        part_map::RETRYING_COLOR,
                        format!("{} retrying", counts.retrying),
                    );
                }
            });
            ui.add(
                egui::ProgressBar::new(row.snapshot.fraction_done() as f32)
                    .desired_height(10.0)
                    .show_percentage(),
            );
            if !row.snapshot.parts.is_empty() {
                let counts = row.part_counts();
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
        });
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
    let controllable = row.snapshot.state != TransferState::LockedElsewhere;
    if ui
        .add_enabled(controllable, egui::Button::new("Abort…"))
        .clicked()
    {
        view.abort_pending = Some(row.snapshot.id.clone());
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

fn skipped_row_ui(ui: &mut Ui, row: &TransferRow, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        if ui
            .small_button("Remove")
            .on_hover_text("Remove from the list")
            .clicked()
        {
            commands.push(UiCommand::Engine(EngineCommand::Forget(
                row.snapshot.id.clone(),
            )));
        }
        ui.label(RichText::new(&row.file_name).strong());
        ui.label(RichText::new(row.destination_label()).weak());
        ui.label(bytes_label(row.snapshot.size));
        ui.label(state_label(&row.snapshot.state));
    });
}

fn abort_confirmation_ui(
    ctx: &egui::Context,
    model: &TransfersModel,
    view: &mut TransfersViewState,
    commands: &mut Vec<UiCommand>,
) {
    let Some(id) = view.abort_pending.clone() else {
        return;
    };
    let Some(row) = model.row(&id) else {
        view.abort_pending = None;
        return;
    };
    let modal = egui::Modal::new(egui::Id::unique("abort_confirmation")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading(format!("Abort the upload of {}?", row.file_name));
        ui.label(format!(
            "The parts already sent to {} are deleted on the server and the local session is \
             forgotten. The local file is not touched.",
            row.destination_label()
        ));
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Abort upload").clicked() {
                commands.push(UiCommand::Engine(EngineCommand::Abort(id.clone())));
                view.abort_pending = None;
            }
            if ui.button("Keep uploading").clicked() {
                view.abort_pending = None;
            }
        });
    });
    if modal.should_close() {
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
