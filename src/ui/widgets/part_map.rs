//! The part map: one small cell per part, drawn as a single mesh per transfer so that
//! 10,000 parts cost one paint call, not 10,000 widgets. The mesh is kept between frames
//! in chunks of [`PARTS_PER_CHUNK`] parts; a chunk is rebuilt only when one of its parts
//! changed (a new snapshot or layout rebuilds them all), so a window of idle maps walks
//! no parts at all and a map whose one part moved walks that part's chunk, not 10,000.
//!
//! Built like egui's custom widgets: allocate the area, read the pointer, then paint.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, Id, Mesh, Pos2, Rect, Response, Sense, Ui, Vec2};

use crate::engine::event::PartState;
use crate::engine::plan::part_range;
use crate::ui::state::{PARTS_PER_CHUNK, TransferRow};

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

    /// Whether cells touch, so that a run of one colour can be drawn as a few quads.
    fn merges_runs(&self) -> bool {
        self.gap_px == 0.0
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

/// What a stretch of cells looks like before it becomes quads: a chunk of the map keeps
/// these between frames, and the map's mesh is made from the chunks' pieces in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    /// Cells `first..end` (row-major) in one solid colour.
    Run {
        first: usize,
        end: usize,
        color: Color32,
    },
    /// A partly filled cell: a queued background with `fill` of it in `color`, from the
    /// left.
    Partial {
        index: usize,
        color: Color32,
        fill: f32,
    },
}

/// Builds the mesh for all cells: in-flight cells get a queued background and a partial
/// fill from the left. When cells touch (no gap, the layout for thousands of parts), a run
/// of same-coloured full cells becomes at most three quads whatever its length (the end
/// of its first row, the whole rows between, the start of its last row), so a mostly
/// finished or mostly queued map of 10,000 parts costs a handful of quads, not 10,000.
pub fn part_map_mesh(
    parts: &[PartState],
    layout: &PartMapLayout,
    origin: Pos2,
    part_size_bytes: u64,
    size_bytes: u64,
) -> Mesh {
    let pieces = pieces_of(parts, 0..parts.len(), layout, (part_size_bytes, size_bytes));
    let mut mesh = Mesh::default();
    add_pieces(&mut mesh, &pieces, layout, origin);
    mesh
}

/// The pieces of the cells `cells` of `parts`; `sizes` is the part size and the file
/// size in bytes. Touching cells of one colour make one run.
fn pieces_of(
    parts: &[PartState],
    cells: std::ops::Range<usize>,
    layout: &PartMapLayout,
    (part_size_bytes, size_bytes): (u64, u64),
) -> Vec<Piece> {
    let merge_runs = layout.merges_runs();
    let end = cells.end.min(parts.len());
    let start = cells.start.min(end);
    let mut pieces = Vec::new();
    // A run of solid cells not pushed yet: its first cell and colour.
    let mut run: Option<(usize, Color32)> = None;
    for (index, part) in parts[start..end].iter().enumerate() {
        let index = start + index;
        let part_len_bytes = match part {
            PartState::InFlight { .. } => {
                let bytes = part_range(size_bytes, part_size_bytes, part_number(index));
                bytes.end - bytes.start
            }
            _ => 0,
        };
        let (color, fill) = cell_look(part, part_len_bytes);
        // A cell is one solid colour unless it is partly filled.
        let solid = match fill {
            f if f >= 1.0 => Some(color),
            f if f <= 0.0 => Some(QUEUED_COLOR),
            _ => None,
        };
        match (solid, run) {
            (Some(solid), Some((_, run_color))) if merge_runs && run_color == solid => {}
            (Some(solid), _) => {
                if let Some((first, color)) = run {
                    pieces.push(Piece::Run {
                        first,
                        end: index,
                        color,
                    });
                }
                run = Some((index, solid));
            }
            (None, _) => {
                if let Some((first, color)) = run.take() {
                    pieces.push(Piece::Run {
                        first,
                        end: index,
                        color,
                    });
                }
                pieces.push(Piece::Partial { index, color, fill });
            }
        }
    }
    if let Some((first, color)) = run {
        pieces.push(Piece::Run { first, end, color });
    }
    pieces
}

/// The quads of `pieces` (in cell order, possibly from several chunks): a run that goes
/// on in the next chunk's first run is drawn as one, so chunks add no quads.
fn add_pieces<'a>(
    mesh: &mut Mesh,
    pieces: impl IntoIterator<Item = &'a Piece>,
    layout: &PartMapLayout,
    origin: Pos2,
) {
    let merge_runs = layout.merges_runs();
    let mut pending: Option<(usize, usize, Color32)> = None;
    for piece in pieces {
        match *piece {
            Piece::Run { first, end, color } => {
                if let Some((_, pending_end, pending_color)) = &mut pending
                    && merge_runs
                    && *pending_color == color
                    && *pending_end == first
                {
                    *pending_end = end;
                    continue;
                }
                if let Some((first, end, color)) = pending.replace((first, end, color)) {
                    add_run(mesh, layout, origin, first..end, color);
                }
            }
            Piece::Partial { index, color, fill } => {
                if let Some((first, end, color)) = pending.take() {
                    add_run(mesh, layout, origin, first..end, color);
                }
                let rect = layout.cell_rect(origin, index);
                mesh.add_colored_rect(rect, QUEUED_COLOR);
                let mut filled = rect;
                filled.set_width(rect.width() * fill);
                mesh.add_colored_rect(filled, color);
            }
        }
    }
    if let Some((first, end, color)) = pending {
        add_run(mesh, layout, origin, first..end, color);
    }
}

/// The pieces of chunk `n` (parts `n * PARTS_PER_CHUNK ..`).
fn chunk_pieces(
    parts: &[PartState],
    n: usize,
    layout: &PartMapLayout,
    sizes: (u64, u64),
) -> Vec<Piece> {
    let first = n * PARTS_PER_CHUNK;
    pieces_of(parts, first..first + PARTS_PER_CHUNK, layout, sizes)
}

/// The quads over the touching cells `cells` (row-major) in one colour: the rest of the
/// first row, the whole rows between, the start of the last row.
fn add_run(
    mesh: &mut Mesh,
    layout: &PartMapLayout,
    origin: Pos2,
    cells: std::ops::Range<usize>,
    color: Color32,
) {
    let Some(last) = cells.end.checked_sub(1) else {
        return;
    };
    let columns = layout.columns.max(1);
    let span = |first: usize, last: usize| {
        Rect::from_min_max(
            layout.cell_rect(origin, first).min,
            layout.cell_rect(origin, last).max,
        )
    };
    let (first_row, last_row) = (cells.start / columns, last / columns);
    if first_row == last_row {
        mesh.add_colored_rect(span(cells.start, last), color);
        return;
    }
    // Whole rows from `top` to `bottom` inclusive, once the partial ends are drawn.
    let mut top = first_row;
    if !cells.start.is_multiple_of(columns) {
        mesh.add_colored_rect(span(cells.start, (first_row + 1) * columns - 1), color);
        top += 1;
    }
    let mut bottom = last_row + 1;
    if last % columns != columns - 1 {
        mesh.add_colored_rect(span(last_row * columns, last), color);
        bottom -= 1;
    }
    if top < bottom {
        mesh.add_colored_rect(span(top * columns, bottom * columns - 1), color);
    }
}

/// The key a row's map is kept under: one per transfer.
fn map_id(row: &TransferRow) -> Id {
    Id::unique(("part_map", &row.snapshot.id))
}

/// What a kept mesh was built from: the same row (`arrival` tells a row apart from a
/// later one with the same transfer id), the same version of its parts, the same layout.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MeshStamp {
    arrival: u64,
    parts_version: u64,
    layout: PartMapLayout,
}

impl MeshStamp {
    fn of(row: &TransferRow, layout: PartMapLayout) -> Self {
        Self {
            arrival: row.arrival,
            parts_version: row.parts_version,
            layout,
        }
    }
}

/// A map's mesh as last drawn.
#[derive(Debug, Clone)]
struct KeptMesh {
    stamp: MeshStamp,
    /// Each chunk's pieces, with the version of the chunk's parts they were made from.
    chunks: Vec<(u64, Vec<Piece>)>,
    /// Where the mesh's cells start; a map that only moved (scrolling) is shifted there.
    origin: Pos2,
    /// The chunks' pieces as quads at `origin`: what is painted.
    mesh: Arc<Mesh>,
    /// The egui pass that last drew it, to drop maps that went out of view.
    drawn_pass: u64,
}

impl KeptMesh {
    /// The quads of every chunk's pieces, at `origin`.
    fn join(chunks: &[(u64, Vec<Piece>)], layout: &PartMapLayout, origin: Pos2) -> Arc<Mesh> {
        let mut mesh = Mesh::default();
        add_pieces(
            &mut mesh,
            chunks.iter().flat_map(|(_, pieces)| pieces),
            layout,
            origin,
        );
        Arc::new(mesh)
    }
}

/// The meshes of the part maps drawn recently, kept in egui's memory between frames.
#[derive(Debug, Clone, Default)]
struct PartMapMeshes {
    by_map: HashMap<Id, KeptMesh>,
    /// The pass in which maps not drawn recently were last dropped.
    swept_pass: u64,
}

impl PartMapMeshes {
    /// A map not drawn for this many egui passes (scrolled away, finished) is dropped.
    const KEEP_PASSES: u64 = 120;
    /// At most this many maps are kept, however fast the user scrolls.
    const MAX_MAPS: usize = 256;

    /// The mesh for map `id` at `origin`: the kept one when its stamp and chunk versions
    /// match (shifted if the map moved); otherwise one made from the kept chunks, those
    /// whose version changed made again by `build_chunk` (every chunk when the stamp
    /// changed).
    fn mesh(
        &mut self,
        id: Id,
        stamp: MeshStamp,
        chunk_versions: &[u64],
        origin: Pos2,
        pass: u64,
        mut build_chunk: impl FnMut(usize) -> Vec<Piece>,
    ) -> Arc<Mesh> {
        if pass != self.swept_pass {
            self.swept_pass = pass;
            self.by_map
                .retain(|_, kept| pass.saturating_sub(kept.drawn_pass) <= Self::KEEP_PASSES);
        }
        if let Some(kept) = self.by_map.get_mut(&id)
            && kept.stamp == stamp
            && kept.chunks.len() == chunk_versions.len()
        {
            let mut rebuilt = false;
            for (n, (&version, (kept_version, chunk))) in chunk_versions
                .iter()
                .zip(kept.chunks.iter_mut())
                .enumerate()
            {
                if *kept_version != version {
                    *chunk = build_chunk(n);
                    *kept_version = version;
                    rebuilt = true;
                }
            }
            if rebuilt {
                kept.mesh = KeptMesh::join(&kept.chunks, &stamp.layout, origin);
            } else if kept.origin != origin {
                Arc::make_mut(&mut kept.mesh).translate(origin - kept.origin);
            }
            kept.origin = origin;
            kept.drawn_pass = pass;
            return Arc::clone(&kept.mesh);
        }
        let chunks: Vec<(u64, Vec<Piece>)> = chunk_versions
            .iter()
            .enumerate()
            .map(|(n, &version)| (version, build_chunk(n)))
            .collect();
        let mesh = KeptMesh::join(&chunks, &stamp.layout, origin);
        if self.by_map.len() >= Self::MAX_MAPS && !self.by_map.contains_key(&id) {
            self.drop_least_recently_drawn();
        }
        self.by_map.insert(
            id,
            KeptMesh {
                stamp,
                chunks,
                origin,
                mesh: Arc::clone(&mesh),
                drawn_pass: pass,
            },
        );
        mesh
    }

    fn drop_least_recently_drawn(&mut self) {
        let oldest = self
            .by_map
            .iter()
            .min_by_key(|(_, kept)| kept.drawn_pass)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.by_map.remove(&id);
        }
    }
}

/// Draws the part map of `row` and shows details of the hovered part.
pub fn part_map_ui(ui: &mut Ui, row: &TransferRow, accessible_label: &str) -> Response {
    let parts = &row.snapshot.parts;
    let part_size_bytes = row.snapshot.part_size;
    let size_bytes = row.snapshot.size;

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
        let pass = ui.ctx().cumulative_pass_nr();
        let mesh = ui.ctx().data_mut(|data| {
            data.get_temp_mut_or_default::<PartMapMeshes>(Id::unique("part_map_meshes"))
                .mesh(
                    map_id(row),
                    MeshStamp::of(row, layout),
                    row.chunk_versions(),
                    rect.min,
                    pass,
                    |n| chunk_pieces(parts, n, &layout, (part_size_bytes, size_bytes)),
                )
        });
        ui.painter().add(egui::Shape::Mesh(mesh));
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
    use crate::engine::event::{
        EngineEvent, SourceKind, TransferId, TransferSnapshot, TransferState,
    };
    use crate::ui::state::TransfersModel;

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
    fn touching_cells_of_one_colour_merge_into_a_few_quads_across_rows() {
        let mut parts = vec![PartState::Done; 6_000];
        parts.extend(vec![PartState::Queued; 4_000]);
        parts[7_000] = PartState::InFlight { bytes_sent: 10 };
        let layout = PartMapLayout::for_parts(parts.len(), 1000.0);
        assert_eq!(layout.gap_px, 0.0, "10,000 parts use touching cells");
        let mesh = part_map_mesh(&parts, &layout, Pos2::ZERO, 100, 1_000_000);
        let quads = mesh.indices.len() / 6;
        // Three runs (done, queued, queued) of at most three quads each, and the in-flight
        // cell's two.
        assert!(quads <= 3 * 3 + 2, "{quads} quads for {} rows", layout.rows);
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

    /// A model with one uploading transfer of `parts` queued parts of 100 bytes.
    fn model_with(id: &str, parts: usize) -> TransfersModel {
        let mut model = TransfersModel::default();
        model.apply(EngineEvent::Snapshot(snapshot(id, parts)));
        model
    }

    fn snapshot(id: &str, parts: usize) -> TransferSnapshot {
        TransferSnapshot {
            part_size: 100,
            state: TransferState::Uploading,
            parts: vec![PartState::Queued; parts],
            ..TransferSnapshot::queued(
                TransferId(id.into()),
                format!("/data/{id}.bin").into(),
                SourceKind::File,
                "demo".into(),
                format!("in/{id}.bin"),
                parts as u64 * 100,
            )
        }
    }

    fn progress(id: &str, changed_parts: Vec<(u32, PartState)>) -> EngineEvent {
        EngineEvent::Progress {
            id: TransferId(id.into()),
            state: TransferState::Uploading,
            bytes_done: 0,
            bytes_per_sec: 0.0,
            eta_secs: None,
            changed_parts,
        }
    }

    /// Draws maps through a `PartMapMeshes` the way `part_map_ui` does, counting the
    /// chunk meshes it had to build.
    #[derive(Default)]
    struct CountingDrawer {
        meshes: PartMapMeshes,
        builds: usize,
    }

    impl CountingDrawer {
        fn draw(&mut self, row: &TransferRow, origin: Pos2, width_px: f32, pass: u64) -> Arc<Mesh> {
            let layout = PartMapLayout::for_parts(row.snapshot.parts.len(), width_px);
            let builds = &mut self.builds;
            self.meshes.mesh(
                map_id(row),
                MeshStamp::of(row, layout),
                row.chunk_versions(),
                origin,
                pass,
                |n| {
                    *builds += 1;
                    chunk_pieces(
                        &row.snapshot.parts,
                        n,
                        &layout,
                        (row.snapshot.part_size, row.snapshot.size),
                    )
                },
            )
        }
    }

    fn row<'a>(model: &'a TransfersModel, id: &str) -> &'a TransferRow {
        model.row(&TransferId(id.into())).expect("the row exists")
    }

    const CHUNKS_OF_10_000: usize = 10_000usize.div_ceil(PARTS_PER_CHUNK);

    #[test]
    fn a_map_whose_parts_did_not_change_reuses_its_mesh() {
        let mut model = model_with("a", 10_000);
        let mut drawer = CountingDrawer::default();
        let first = drawer.draw(row(&model, "a"), Pos2::ZERO, 900.0, 1);
        // Progress that moves only the byte counts leaves the parts as they were.
        model.apply(progress("a", Vec::new()));
        let second = drawer.draw(row(&model, "a"), Pos2::ZERO, 900.0, 2);
        assert_eq!(drawer.builds, CHUNKS_OF_10_000);
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn one_changed_part_rebuilds_only_its_chunk() {
        let mut model = model_with("a", 10_000);
        let mut drawer = CountingDrawer::default();
        let origin = Pos2::new(3.0, 40.0);
        let before = drawer.draw(row(&model, "a"), origin, 900.0, 1);
        model.apply(progress(
            "a",
            vec![
                (5_000, PartState::Done),
                (5_001, PartState::InFlight { bytes_sent: 30 }),
            ],
        ));
        let after = drawer.draw(row(&model, "a"), origin, 900.0, 2);
        assert_eq!(drawer.builds, CHUNKS_OF_10_000 + 1);
        assert!(*before != *after, "the done part shows");
        // The chunks make the very quads one pass over the whole map makes: a run that
        // crosses a chunk's edge is still one run.
        let whole = part_map_mesh(
            &row(&model, "a").snapshot.parts,
            &PartMapLayout::for_parts(10_000, 900.0),
            origin,
            100,
            1_000_000,
        );
        assert!(*after == whole);
    }

    #[test]
    fn a_new_snapshot_of_the_transfer_rebuilds_the_mesh() {
        let mut model = model_with("a", 10_000);
        let mut drawer = CountingDrawer::default();
        let before = drawer.draw(row(&model, "a"), Pos2::ZERO, 900.0, 1);
        let mut replaced = snapshot("a", 10_000);
        replaced.parts[5_000] = PartState::Done;
        model.apply(EngineEvent::Snapshot(replaced));
        let after = drawer.draw(row(&model, "a"), Pos2::ZERO, 900.0, 2);
        assert_eq!(drawer.builds, 2 * CHUNKS_OF_10_000);
        assert!(*before != *after, "the done part shows");
    }

    #[test]
    fn a_map_that_only_moved_is_shifted_not_rebuilt() {
        let mut model = model_with("a", 100);
        model.apply(progress("a", vec![(3, PartState::Done)]));
        let mut drawer = CountingDrawer::default();
        let here = drawer.draw(row(&model, "a"), Pos2::ZERO, 300.0, 1);
        let here: Mesh = (*here).clone();
        let moved_to = Pos2::new(7.0, 250.0);
        let there = drawer.draw(row(&model, "a"), moved_to, 300.0, 2);
        assert_eq!(drawer.builds, 1);
        let fresh = part_map_mesh(
            &row(&model, "a").snapshot.parts,
            &PartMapLayout::for_parts(100, 300.0),
            moved_to,
            100,
            10_000,
        );
        assert!(
            *there == fresh,
            "the kept mesh is shifted to where the map is now"
        );
        assert!(*there != here);
    }

    #[test]
    fn a_new_layout_or_a_new_row_with_the_same_id_rebuilds_the_mesh() {
        let mut model = model_with("a", 100);
        let mut drawer = CountingDrawer::default();
        drawer.draw(row(&model, "a"), Pos2::ZERO, 300.0, 1);
        drawer.draw(row(&model, "a"), Pos2::ZERO, 600.0, 2);
        assert_eq!(drawer.builds, 2, "a wider window lays the cells out again");
        model.apply(EngineEvent::Removed(TransferId("a".into())));
        model.apply(EngineEvent::Snapshot(snapshot("a", 100)));
        drawer.draw(row(&model, "a"), Pos2::ZERO, 600.0, 3);
        assert_eq!(drawer.builds, 3, "the transfer added again is a new row");
    }

    #[test]
    fn maps_not_drawn_recently_are_dropped_and_the_count_is_bounded() {
        let mut drawer = CountingDrawer::default();
        let mut model = TransfersModel::default();
        let count = PartMapMeshes::MAX_MAPS + 10;
        for n in 0..count {
            model.apply(EngineEvent::Snapshot(snapshot(&format!("t{n}"), 4)));
        }
        // A few maps a pass, as when scrolling through a long list.
        let pass_of = |n: usize| 1 + n as u64 / 4;
        for (n, row) in model.rows().iter().enumerate() {
            drawer.draw(row, Pos2::ZERO, 300.0, pass_of(n));
        }
        assert_eq!(drawer.meshes.by_map.len(), PartMapMeshes::MAX_MAPS);
        // The first rows were drawn longest ago: they are the ones that went.
        let first = map_id(&model.rows()[0]);
        let last = map_id(&model.rows()[count - 1]);
        assert!(!drawer.meshes.by_map.contains_key(&first));
        assert!(drawer.meshes.by_map.contains_key(&last));

        let later = pass_of(count) + PartMapMeshes::KEEP_PASSES + 1;
        drawer.draw(&model.rows()[0], Pos2::ZERO, 300.0, later);
        assert_eq!(
            drawer.meshes.by_map.len(),
            1,
            "only the map drawn lately is kept"
        );
    }

    #[test]
    fn the_last_part_range_stops_at_the_file_end() {
        assert_eq!(part_range(250, 100, part_number(0)), 0..100);
        assert_eq!(part_range(250, 100, part_number(2)), 200..250);
    }
}
