//! The history view: every finished upload the queue store remembers, newest first, with
//! a search and "Clear history". Rows have one fixed height so only the visible ones are
//! laid out, and their pages are asked of the engine as they scroll into view.

use egui::{RichText, Ui};

use crate::engine::EngineCommand;
use crate::engine::store::HistoryEntry;
use crate::ui::command::UiCommand;
use crate::ui::format::{bytes_label, duration_ms_label, rate_label, utc_time_label};
use crate::ui::history::HistoryModel;
use crate::ui::widgets::part_map;

/// Height of one row (two lines of text), so the scroll area can place rows unseen.
const ROW_HEIGHT: f32 = 40.0;

/// Draws the search, the rows on screen and the clear confirmation.
pub fn history_ui(ui: &mut Ui, model: &mut HistoryModel, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        let search_label = ui.label("Search history");
        let search = ui
            .add(
                egui::TextEdit::singleline(&mut model.search)
                    .desired_width(280.0)
                    .hint_text("part of an oss:// URL or a local path (Ctrl+F)"),
            )
            .labelled_by(search_label.id);
        if std::mem::take(&mut model.focus_search) {
            search.request_focus();
        }
        model.search_changed();
        if model.is_loaded() {
            ui.label(RichText::new(format!("{} entries", model.total())).weak());
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let any = model.total() > 0 || !model.search.is_empty();
            if ui
                .add_enabled(any, egui::Button::new("Clear history"))
                .clicked()
            {
                model.confirm_clear = true;
            }
        });
    });
    ui.separator();
    let total = model.total();
    if model.is_loaded() && total == 0 {
        let loads = model.loads_for(0..0);
        commands.extend(loads.into_iter().map(UiCommand::Engine));
        ui.add_space(24.0);
        ui.vertical_centered(|ui| {
            if model.search.is_empty() {
                ui.label(RichText::new("No finished uploads yet").size(18.0));
            } else {
                ui.label(format!(
                    "Nothing in the history matches \"{}\".",
                    model.search
                ));
            }
        });
    } else {
        let rows = usize::try_from(total).unwrap_or(usize::MAX);
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(ui, ROW_HEIGHT, rows, |ui, visible| {
                let visible = visible.start as u64..visible.end as u64;
                let loads = model.loads_for(visible.clone());
                commands.extend(loads.into_iter().map(UiCommand::Engine));
                for index in visible {
                    row_ui(ui, model.entry(index));
                }
            });
    }
    clear_confirmation_ui(ui.ctx(), model, commands);
}

/// One entry in exactly [`ROW_HEIGHT`], or a placeholder while its page loads.
fn row_ui(ui: &mut Ui, entry: Option<&HistoryEntry>) {
    let size = egui::vec2(ui.available_width(), ROW_HEIGHT);
    ui.allocate_ui_with_layout(size, egui::Layout::top_down(egui::Align::Min), |ui| {
        ui.set_min_size(size);
        let Some(HistoryEntry { entry, .. }) = entry else {
            ui.label(RichText::new("Loading…").weak());
            return;
        };
        ui.horizontal(|ui| {
            if ui
                .small_button("Copy oss:// URL")
                .on_hover_text(entry.url.as_str())
                .clicked()
            {
                ui.ctx().copy_text(entry.url.clone());
            }
            ui.label(RichText::new(&entry.url).strong());
            ui.label(RichText::new(format!("from {}", entry.local_path.display())).weak());
        });
        ui.horizontal(|ui| {
            ui.label(utc_time_label(entry.finished_unix_secs));
            ui.separator();
            ui.label(format!("took {}", duration_ms_label(entry.duration_ms)));
            ui.separator();
            let secs = entry.duration_ms as f64 / 1000.0;
            let average = if secs > 0.0 {
                entry.bytes as f64 / secs
            } else {
                0.0
            };
            ui.label(format!("average {}", rate_label(average)));
            ui.separator();
            ui.label(bytes_label(entry.bytes));
            if !entry.etag.is_empty() {
                ui.separator();
                ui.label(
                    RichText::new(format!("ETag {}", entry.etag.trim_matches('"'))).monospace(),
                );
            }
            if entry.crc64_verified {
                ui.separator();
                ui.colored_label(part_map::DONE_COLOR, "CRC-64 verified");
            }
        });
    });
}

fn clear_confirmation_ui(
    ctx: &egui::Context,
    model: &mut HistoryModel,
    commands: &mut Vec<UiCommand>,
) {
    if !model.confirm_clear {
        return;
    }
    let modal = egui::Modal::new(egui::Id::unique("confirm_clear_history")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading("Clear the whole history?");
        ui.label(
            "Every entry is forgotten, not only the ones the search shows. The uploaded \
             objects stay in their buckets.",
        );
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Clear all entries").clicked() {
                commands.push(UiCommand::Engine(EngineCommand::ClearHistory));
                model.confirm_clear = false;
            }
            if ui.button("Keep history").clicked() {
                model.confirm_clear = false;
            }
        });
    });
    if modal.should_close() {
        model.confirm_clear = false;
    }
}
