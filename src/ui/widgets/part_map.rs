//! The part map: one small cell per part, drawn as a single mesh per transfer so that
//! 10,000 parts cost one paint call, not 10,000 widgets.
//!
//! Built like egui's custom widgets: allocate the area, read the pointer, then paint.

use egui::{Color32, Mesh, Pos2, Rect, Response, Sense, Ui, Vec2};

use crate::engine::event::PartState;
use crate::engine::plan::part_range;

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

/// The part number (1-based) drawn in cell `index`.
fn part_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Builds the mesh for all cells: in-flight cells get a queued background and a partial
/// fill from the left. When cells touch (no gap, the layout for thousands of parts), a run
/// of same-coloured full cells in one row becomes a single quad, so a mostly finished or
/// mostly queued map of 10,000 parts costs a few dozen quads, not 10,000.
pub fn part_map_mesh(
    parts: &[PartState],
    layout: &PartMapLayout,
    origin: Pos2,
    part_size_bytes: u64,
    size_bytes: u64,
) -> Mesh {
    let mut mesh = Mesh::default();
    let merge_runs = layout.gap_px == 0.0;
    // A run of full cells waiting to be emitted: its rectangle, colour and row.
    let mut run: Option<(Rect, Color32, usize)> = None;
    for (index, part) in parts.iter().enumerate() {
        let rect = layout.cell_rect(origin, index);
        let row = index / layout.columns;
        let bytes = part_range(size_bytes, part_size_bytes, part_number(index));
        let (color, fill) = cell_look(part, bytes.end - bytes.start);
        // A cell is one solid colour unless it is partly filled.
        let solid = match fill {
            f if f >= 1.0 => Some(color),
            f if f <= 0.0 => Some(QUEUED_COLOR),
            _ => None,
        };
        if let Some(solid) = solid {
            match &mut run {
                Some((run_rect, run_color, run_row))
                    if merge_runs && *run_color == solid && *run_row == row =>
                {
                    run_rect.max.x = rect.max.x;
                }
                _ => {
                    if let Some((run_rect, run_color, _)) = run.take() {
                        mesh.add_colored_rect(run_rect, run_color);
                    }
                    run = Some((rect, solid, row));
                }
            }
            continue;
        }
        if let Some((run_rect, run_color, _)) = run.take() {
            mesh.add_colored_rect(run_rect, run_color);
        }
        mesh.add_colored_rect(rect, QUEUED_COLOR);
        let mut filled = rect;
        filled.set_width(rect.width() * fill);
        mesh.add_colored_rect(filled, color);
    }
    if let Some((run_rect, run_color, _)) = run {
        mesh.add_colored_rect(run_rect, run_color);
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
    let number = part_number(index);
    let std::ops::Range { start, end } = part_range(size_bytes, part_size_bytes, number);
    ui.strong(format!("Part {number}"));
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
    fn touching_cells_of_one_colour_merge_into_one_quad_per_row() {
        let mut parts = vec![PartState::Done; 6_000];
        parts.extend(vec![PartState::Queued; 4_000]);
        parts[7_000] = PartState::InFlight { bytes_sent: 10 };
        let layout = PartMapLayout::for_parts(parts.len(), 1000.0);
        assert_eq!(layout.gap_px, 0.0, "10,000 parts use touching cells");
        let mesh = part_map_mesh(&parts, &layout, Pos2::ZERO, 100, 1_000_000);
        let quads = mesh.indices.len() / 6;
        // At most one run per colour per row, plus the in-flight cell's two quads and the
        // queued runs it splits.
        assert!(
            quads <= 2 * layout.rows + 4,
            "{quads} quads for {} rows",
            layout.rows
        );
        // Every cell is still covered: the merged quads span the same area as the cells.
        let area: f32 = mesh
            .indices
            .chunks(6)
            .map(|quad| {
                let a = mesh.vertices[quad[0] as usize].pos;
                let b = mesh.vertices[quad[1] as usize].pos;
                let c = mesh.vertices[quad[2] as usize].pos;
                let xs = [a.x, b.x, c.x];
                let ys = [a.y, b.y, c.y];
                let width = xs.iter().cloned().fold(f32::MIN, f32::max)
                    - xs.iter().cloned().fold(f32::MAX, f32::min);
                let height = ys.iter().cloned().fold(f32::MIN, f32::max)
                    - ys.iter().cloned().fold(f32::MAX, f32::min);
                width * height
            })
            .sum();
        let cell_area = layout.cell_px * layout.cell_px;
        // The in-flight cell adds its partial fill on top of its queued background.
        let fill_area = cell_area * (10.0 / 100.0);
        let expected = cell_area * parts.len() as f32 + fill_area;
        assert!(
            (area - expected).abs() < 0.5,
            "area {area}, expected {expected}"
        );
    }

    #[test]
    fn the_last_part_range_stops_at_the_file_end() {
        assert_eq!(part_range(250, 100, part_number(0)), 0..100);
        assert_eq!(part_range(250, 100, part_number(2)), 200..250);
    }
}
