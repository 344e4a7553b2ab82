//! A row's overall progress bar with its percentage: two plain quads in one mesh, where
//! egui's rounded, anti-aliased bar costs a path to tessellate for each of its two
//! rectangles; with fifty rows on screen that was a fifth of the frame.

use egui::{Mesh, Rect, Response, Sense, Shape, TextStyle, TextWrapMode, Ui, Vec2, WidgetText};

/// Draws the bar at least `height_px` tall across the available width, `fraction` (0..=1) filled.
pub fn overall_bar_ui(ui: &mut Ui, fraction: f32, height_px: f32) -> Response {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let percent = (fraction * 100.0).floor();
    let galley = WidgetText::from(format!("{percent}%")).into_galley(
        ui,
        Some(TextWrapMode::Extend),
        f32::INFINITY,
        TextStyle::Button,
    );
    // Never thinner than its percentage, which would otherwise spill over the line above.
    let height = height_px.max(galley.size().y);
    let width = ui.available_size_before_wrap().x.max(96.0);
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    response.widget_info(|| {
        let mut info = egui::WidgetInfo::new(egui::Role::ProgressIndicator);
        info.value = Some(f64::from(percent));
        info
    });
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let visuals = ui.visuals();
    let mut mesh = Mesh::default();
    mesh.add_colored_rect(rect, visuals.extreme_bg_color);
    let filled = Rect::from_min_size(rect.min, Vec2::new(rect.width() * fraction, rect.height()));
    mesh.add_colored_rect(filled, visuals.selection.bg_fill);
    let text_color = visuals
        .override_text_color
        .unwrap_or(visuals.selection.stroke.color);
    ui.painter().add(Shape::mesh(mesh));
    let position = rect.left_center() - Vec2::new(0.0, galley.size().y * 0.5)
        + Vec2::new(ui.spacing().item_spacing.x, 0.0);
    ui.painter()
        .with_clip_rect(rect)
        .galley(position, galley, text_color);
    response
}
