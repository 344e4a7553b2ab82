//! The throughput graph: the total speed of the last few minutes as a small line in the
//! status bar, so a stall or a slow stretch shows at a glance. It only draws what
//! [`ThroughputHistory`] kept and never asks for a repaint itself.

use egui::{Color32, Response, Ui, Vec2};
use egui_plot::{Line, Plot, PlotPoints};

use crate::ui::format::rate_label;
use crate::ui::totals::{THROUGHPUT_SAMPLES, ThroughputHistory};

/// Small enough for the status bar's line.
pub const GRAPH_SIZE: Vec2 = Vec2::new(180.0, 18.0);

const LINE_COLOR: Color32 = super::part_map::IN_FLIGHT_COLOR;

/// Draws the graph, newest on the right; nothing when nothing moved in the whole span.
pub fn throughput_graph_ui(ui: &mut Ui, history: &ThroughputHistory) -> Option<Response> {
    let peak = history.peak_bytes_per_sec();
    if peak <= 0.0 {
        return None;
    }
    let newest = history.samples().len() as f64;
    let points: PlotPoints = history
        .samples()
        .enumerate()
        .map(|(index, bytes_per_sec)| [index as f64 - newest + 1.0, bytes_per_sec])
        .collect();
    let minutes = THROUGHPUT_SAMPLES / 60;
    let response = Plot::new("throughput_graph")
        .width(GRAPH_SIZE.x)
        .height(GRAPH_SIZE.y)
        .show_axes(false)
        .show_grid(false)
        .show_x(false)
        .show_y(false)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_x(-(THROUGHPUT_SAMPLES as f64) + 1.0)
        .include_x(0.0)
        .include_y(0.0)
        .include_y(peak)
        .show(ui, |plot| {
            plot.line(
                Line::new("throughput", points)
                    .color(LINE_COLOR)
                    .fill(0.0)
                    .width(1.0),
            );
        })
        .response
        .on_hover_text(format!(
            "Upload speed over the last {minutes} minutes; peak {}",
            rate_label(peak)
        ));
    Some(response)
}
