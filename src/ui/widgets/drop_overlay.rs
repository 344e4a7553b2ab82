//! The overlay shown while files are dragged over the window, saying where they will go,
//! and the collection of what was dropped.

use std::path::PathBuf;

use egui::{Align2, Color32, FontId, Id, LayerId, Order};

/// Paths dropped on the window this frame (files and folders alike).
pub fn dropped_paths(ctx: &egui::Context) -> Vec<PathBuf> {
    ctx.input(|input| {
        input
            .raw
            .dropped_files
            .iter()
            .map(|file| file.path().to_path_buf())
            .collect()
    })
}

/// Dims the window and names the destination while files hover over it.
pub fn drop_overlay_ui(ctx: &egui::Context, destination_label: &str) {
    let hovered_count = ctx.input(|input| input.raw.hovered_files.len());
    if hovered_count == 0 {
        return;
    }
    let painter = ctx.layer_painter(LayerId::new(Order::Foreground, Id::unique("drop_overlay")));
    let screen = ctx.content_rect();
    painter.rect_filled(screen, 0.0, Color32::from_black_alpha(190));
    painter.rect_stroke(
        screen.shrink(12.0),
        12.0,
        egui::Stroke::new(3.0, Color32::from_rgb(66, 150, 250)),
        egui::StrokeKind::Inside,
    );
    let what = if hovered_count == 1 {
        String::from("1 item")
    } else {
        format!("{hovered_count} items")
    };
    painter.text(
        screen.center() - egui::vec2(0.0, 16.0),
        Align2::CENTER_CENTER,
        format!("Drop {what} to upload"),
        FontId::proportional(28.0),
        Color32::WHITE,
    );
    painter.text(
        screen.center() + egui::vec2(0.0, 20.0),
        Align2::CENTER_CENTER,
        format!("to {destination_label}"),
        FontId::proportional(18.0),
        Color32::from_gray(220),
    );
}
