//! The part map: one small cell per part, drawn as a single mesh per transfer so that
//! 10,000 parts cost one paint call, not 10,000 widgets.
//!
//! Built like egui's custom widgets: allocate the area, read the pointer, then paint.

use egui::{Color32, Mesh, Pos2, Rect, Response, Sense, Ui, Vec2};

use crate::engine::event::PartState;

/// Tallest a part map may grow; cells shrink until the map fits.
const MAX_HEIGHT_PX: f32 = 64.0;
/// Candidate cell sizes (side, gap), largest first.
const CELL_SIZES_PX: [(f32, f32); 6] = [
    (12.0, 2.0),
    (8.0, 2.0),
    (5.0, 1.0),
    (3.0, 1.0),
    (2.0, 0.0),
    (1.0, 0.0),
];

pub const QUEUED_COLOR: Color32 = Color32::from_rgb(72, 76, 86);
pub const IN_FLIGHT_COLOR: Color32 = Color32::from_rgb(66, 150, 250);
pub const DONE_COLOR: Color32 = Color32::from_rgb(72, 190, 110);
pub const RETRYING_COLOR: Color32 = Color32::from_rgb(240, 170, 50);
pub const FAILED_COLOR: Color32 = Color32::from_rgb(225, 70, 70);

/// Where the cells go inside the allocated rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartMapLayout {
    pub columns: usize,
    pub rows: usize,
    pub cell_px: f32,
    pub gap_px: f32,
}

impl PartMapLayout {
    /// Picks the largest cell size that fits `part_count` cells in `width_px` within the
    /// height limit (the smallest size otherwise).
    pub fn for_parts(part_count: usize, width_px: f32) -> Self {
        let count = part_count.max(1);
        let mut layout = None;
        for (cell_px, gap_px) in CELL_SIZES_PX {
            let columns = (((width_px + gap_px) / (cell_px + gap_px)).floor() as usize).max(1);
            let rows = count.div_ceil(columns);
            let candidate = Self {
                columns,
                rows,
                cell_px,
                gap_px,
            };
            layout = Some(candidate);
            if candidate.height_px() <= MAX_HEIGHT_PX {
                break;
            }
        }
        layout.unwrap_or(Self {
            columns: 1,
            rows: count,
            cell_px: 1.0,
            gap_px: 0.0,
        })
    }

    pub fn height_px(&self) -> f32 {
        self.rows as f32 * (self.cell_px + self.gap_px) - self.gap_px
    }

    fn pitch_px(&self) -> f32 {
        self.cell_px + self.gap_px
    }

    /// Rectangle of the cell at `index`, relative to `origin`.
    pub fn cell_rect(&self, origin: Pos2, index: usize) -> Rect {
        let column = index % self.columns;
        let row = index / self.columns;
        let min = origin + Vec2::new(column as f32, row as f32) * self.pitch_px();
        Rect::from_min_size(min, Vec2::splat(self.cell_px))
    }

    /// Index of the cell under `pointer`, if any (gaps count as the cell before them).
    pub fn cell_at(&self, origin: Pos2, pointer: Pos2, part_count: usize) -> Option<usize> {
        let offset = pointer - origin;
        if offset.x < 0.0 || offset.y < 0.0 {
            return None;
        }
        let column = (offset.x / self.pitch_px()) as usize;
        let row = (offset.y / self.pitch_px()) as usize;
        if column >= self.columns {
            return None;
        }
        let index = row * self.columns + column;
        (index < part_count).then_some(index)
    }
}

/// Colour and fill fraction of one cell.
pub fn cell_look(part: &PartState, part_len_bytes: u64) -> (Color32, f32) {
    match part {
        PartState::Queued => (QUEUED_COLOR, 0.0),
        PartState::InFlight { bytes_sent } => {
            let fill = if part_len_bytes == 0 {
                0.0
            } else {
                (*bytes_sent as f64 / part_len_bytes as f64).clamp(0.0, 1.0) as f32
            };
            (IN_FLIGHT_COLOR, fill)
        }
        PartState::Done => (DONE_COLOR, 1.0),
        PartState::Retrying { .. } => (RETRYING_COLOR, 1.0),
        PartState::Failed { .. } => (FAILED_COLOR, 1.0),
    }
}

/// Byte range `start..end` of part `index` (0-based) in a file of `size_bytes`.
pub fn part_byte_range(index: usize, part_size_bytes: u64, size_bytes: u64) -> (u64, u64) {
    let start = (index as u64)
        .saturating_mul(part_size_bytes)
        .min(size_bytes);
    let end = start.saturating_add(part_size_bytes).min(size_bytes);
    (start, end)
}

/// Builds the mesh for all cells: in-flight cells get a queued background and a partial
/// fill from the left.
pub fn part_map_mesh(
    parts: &[PartState],
    layout: &PartMapLayout,
    origin: Pos2,
    part_size_bytes: u64,
    size_bytes: u64,
) -> Mesh {
    let mut mesh = Mesh::default();
    // Two quads at most per cell: 4 vertices and 6 indices each.
    mesh.reserve_vertices(parts.len() * 8);
    mesh.reserve_triangles(parts.len() * 4);
    for (index, part) in parts.iter().enumerate() {
        let rect = layout.cell_rect(origin, index);
        let (start, end) = part_byte_range(index, part_size_bytes, size_bytes);
        let (color, fill) = cell_look(part, end - start);
        if fill >= 1.0 {
            mesh.add_colored_rect(rect, color);
            continue;
        }
        mesh.add_colored_rect(rect, QUEUED_COLOR);
        if fill > 0.0 {
            let mut filled = rect;
            filled.set_width(rect.width() * fill);
            mesh.add_colored_rect(filled, color);
        }
    }
    mesh
}

/// Draws the part map and shows details of the hovered part.
pub fn part_map_ui(
    ui: &mut Ui,
    parts: &[PartState],
    part_size_bytes: u64,
    size_bytes: u64,
    accessible_label: &str,
) -> Response {
    // Allocate.
    let width_px = ui.available_width().max(16.0);
    let layout = PartMapLayout::for_parts(parts.len(), width_px);
    let desired = Vec2::new(width_px, layout.height_px().max(layout.cell_px));
    let (rect, response) = ui.allocate_exact_size(desired, Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, accessible_label));

    // Interact.
    let hovered = response
        .hover_pos()
        .and_then(|pointer| layout.cell_at(rect.min, pointer, parts.len()));

    // Paint.
    if ui.is_rect_visible(rect) {
        let mesh = part_map_mesh(parts, &layout, rect.min, part_size_bytes, size_bytes);
        ui.painter().add(egui::Shape::mesh(mesh));
        if let Some(index) = hovered {
            let cell = layout.cell_rect(rect.min, index).expand(1.0);
            ui.painter().rect_stroke(
                cell,
                0.0,
                egui::Stroke::new(1.0, ui.visuals().strong_text_color()),
                egui::StrokeKind::Outside,
            );
        }
    }

    match hovered {
        Some(index) => response.on_hover_ui_at_pointer(|ui| {
            part_details_ui(ui, index, &parts[index], part_size_bytes, size_bytes);
        }),
        None => response,
    }
}

fn part_details_ui(
    ui: &mut Ui,
    index: usize,
    part: &PartState,
    part_size_bytes: u64,
    size_bytes: u64,
) {
    use crate::ui::format::bytes_label;
    let (start, end) = part_byte_range(index, part_size_bytes, size_bytes);
    ui.strong(format!("Part {}", index + 1));
    ui.label(format!(
        "Bytes {start}–{} ({})",
        end.saturating_sub(1),
        bytes_label(end - start)
    ));
    match part {
        PartState::Queued => {
            ui.label("Queued");
        }
        PartState::InFlight { bytes_sent } => {
            ui.label(format!("Sending: {} sent", bytes_label(*bytes_sent)));
        }
        PartState::Done => {
            ui.label("Done");
        }
        PartState::Retrying {
            attempt,
            last_error,
        } => {
            ui.label(format!("Retrying (attempt {attempt})"));
            ui.label(format!("Last error: {last_error}"));
        }
        PartState::Failed { error } => {
            ui.colored_label(FAILED_COLOR, format!("Failed: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_parts_fit_the_height_limit_in_a_normal_window() {
        let layout = PartMapLayout::for_parts(10_000, 900.0);
        assert!(layout.height_px() <= MAX_HEIGHT_PX, "{layout:?}");
        assert!(layout.columns * layout.rows >= 10_000);
    }

    #[test]
    fn few_parts_get_big_cells() {
        let layout = PartMapLayout::for_parts(8, 600.0);
        assert_eq!(layout.cell_px, 12.0);
        assert_eq!(layout.rows, 1);
    }

    #[test]
    fn pointer_maps_back_to_the_cell_it_is_over() {
        let layout = PartMapLayout::for_parts(100, 200.0);
        let origin = Pos2::new(10.0, 20.0);
        for index in [0, 1, 17, 99] {
            let center = layout.cell_rect(origin, index).center();
            assert_eq!(layout.cell_at(origin, center, 100), Some(index));
        }
        assert_eq!(layout.cell_at(origin, Pos2::new(0.0, 0.0), 100), None);
        let beyond = layout.cell_rect(origin, 100).center();
        assert_eq!(layout.cell_at(origin, beyond, 100), None);
    }

    #[test]
    fn mesh_has_one_quad_per_finished_cell_and_two_for_partial_ones() {
        let parts = vec![
            PartState::Done,
            PartState::Queued,
            PartState::InFlight { bytes_sent: 50 },
            PartState::Failed { error: "x".into() },
        ];
        let layout = PartMapLayout::for_parts(parts.len(), 300.0);
        let mesh = part_map_mesh(&parts, &layout, Pos2::ZERO, 100, 400);
        // done 1 + queued 1 + in flight 2 + failed 1 quads, 6 indices each.
        assert_eq!(mesh.indices.len(), 5 * 6);
        let (_, fill) = cell_look(&parts[2], 100);
        assert_eq!(fill, 0.5);
    }

    #[test]
    fn the_last_part_range_stops_at_the_file_end() {
        assert_eq!(part_byte_range(0, 100, 250), (0, 100));
        assert_eq!(part_byte_range(2, 100, 250), (200, 250));
    }
}
