//! CPU cost of one window frame with 50 transfers of 10,000 parts each: the transfers view
//! laid out by `egui::Context::run` and tessellated into triangles, as eframe does before
//! handing them to the GPU (no GPU here). Prints milliseconds per frame.
//!
//! Cases: a normal window; all 50 part maps on screen with their parts unchanged between
//! frames (the kept meshes are drawn again), and with one part of every map changed before
//! each frame (every map made again from its chunks, the changed part's chunk rebuilt, as
//! while all 50 upload); a folder job of 1,000,000
//! files beside the transfers (its files live in the queue store, the window holds counts);
//! and the History tab over 1,000,000 finished uploads (the window holds the pages in view).
//!
//! `cargo bench --bench ui_frame`; `OSSUP_FRAME_CASE=<part of a label>` runs that case alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ossup::engine::event::{
    EngineEvent, JobSnapshot, PartState, SourceKind, TransferId, TransferSnapshot, TransferState,
};
use ossup::engine::store::{HistoryEntry, HistoryId, JobCounts, JobId, JobState, NewHistory};
use ossup::ui::history::{HISTORY_PAGE_ROWS, HistoryModel};
use ossup::ui::state::TransfersModel;
use ossup::ui::views::history::history_ui;
use ossup::ui::views::transfers::{TransfersViewState, transfers_ui};

const TRANSFERS: usize = 50;
const PARTS_PER_TRANSFER: usize = 10_000;
const PART_SIZE: u64 = 8 << 20;
const FRAMES: usize = 30;
const JOB_FILES: u64 = 1_000_000;
const HISTORY_ROWS: u64 = 1_000_000;

/// Where the in-flight band of transfer `t` starts.
fn done_parts(t: usize) -> usize {
    (t * 197) % PARTS_PER_TRANSFER
}

/// A realistic mix: a done prefix, a band of parts in flight, one retrying, the rest queued.
fn model() -> TransfersModel {
    let mut model = TransfersModel::default();
    for t in 0..TRANSFERS {
        let done = done_parts(t);
        let parts = (0..PARTS_PER_TRANSFER)
            .map(|i| match i {
                i if i < done => PartState::Done,
                i if i < done + 8 => PartState::InFlight {
                    bytes_sent: (i as u64 * 997_331) % PART_SIZE,
                },
                i if i == done + 8 => PartState::Retrying {
                    attempt: 2,
                    last_error: "503 ServiceUnavailable".into(),
                },
                _ => PartState::Queued,
            })
            .collect();
        model.apply(EngineEvent::Snapshot(TransferSnapshot {
            id: TransferId(format!("t{t:02}")),
            target: "local".into(),
            source: PathBuf::from(format!("/data/video-{t:02}.mkv")),
            source_kind: SourceKind::File,
            bucket: "demo".into(),
            key: format!("videos/video-{t:02}.mkv"),
            size: PART_SIZE * PARTS_PER_TRANSFER as u64,
            part_size: PART_SIZE,
            state: TransferState::Uploading,
            parts,
            bytes_done: PART_SIZE * done as u64,
            bytes_per_sec: 48.0 * 1024.0 * 1024.0,
            eta_secs: Some(3600.0),
            upload_id: Some(format!("UPLOAD{t:02}")),
            error: None,
            result: None,
            resumable_after_restart: true,
            job: None,
        }));
    }
    model
}

/// Moves the first in-flight part of every transfer on, as the engine's progress events do.
fn send_a_little_more(model: &mut TransfersModel, frame: usize) {
    for t in 0..TRANSFERS {
        let number = done_parts(t) as u32 + 1;
        model.apply(EngineEvent::Progress {
            id: TransferId(format!("t{t:02}")),
            state: TransferState::Uploading,
            bytes_done: PART_SIZE * done_parts(t) as u64,
            bytes_per_sec: 48.0 * 1024.0 * 1024.0,
            eta_secs: Some(3600.0),
            changed_parts: vec![(
                number,
                PartState::InFlight {
                    bytes_sent: (frame as u64 + 1) * 65_536 % PART_SIZE,
                },
            )],
        });
    }
}

/// A folder job of `JOB_FILES` files, a tenth of them done.
fn add_big_job(model: &mut TransfersModel) {
    let file_bytes = 1 << 20;
    model.apply(EngineEvent::Job(JobSnapshot {
        id: JobId(1),
        target: "local".into(),
        roots: vec![PathBuf::from("/data/photos")],
        bucket: "demo".into(),
        prefix: "backup/".into(),
        state: JobState::Active,
        walking: false,
        counts: JobCounts {
            pending: JOB_FILES * 9 / 10 - 16,
            in_flight: 16,
            done: JOB_FILES / 10,
            skipped: 0,
            failed: 0,
            bytes_total: JOB_FILES * file_bytes,
            bytes_done: JOB_FILES / 10 * file_bytes,
        },
        excluded: 0,
        locked_by: None,
        problem: None,
    }));
}

/// A history of `HISTORY_ROWS` finished uploads, its first page fetched, as the store
/// answers the History tab when it opens.
fn big_history() -> HistoryModel {
    let mut history = HistoryModel::default();
    let entries = (0..u64::from(HISTORY_PAGE_ROWS))
        .map(|i| HistoryEntry {
            id: HistoryId((HISTORY_ROWS - i) as i64),
            entry: NewHistory {
                finished_unix_secs: 1_767_000_000 - i * 60,
                duration_ms: 1_500 + i,
                bytes: (i + 1) << 20,
                etag: format!("\"{i:032X}\""),
                crc64_verified: true,
                url: format!("oss://demo/photos/2026/IMG_{i:05}.jpg"),
                target_label: "local".into(),
                local_path: PathBuf::from(format!("/data/photos/2026/IMG_{i:05}.jpg")),
            },
        })
        .collect();
    history.apply(EngineEvent::HistoryPage {
        search: String::new(),
        offset: 0,
        total: HISTORY_ROWS,
        entries,
    });
    history
}

/// CPU time this thread has used (Linux schedstat), or wall time elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

struct Measured {
    cpu_ms: f64,
    wall_ms: f64,
    triangles: usize,
}

/// What a case does to the model before each frame (the frame's number).
type BeforeFrame = dyn Fn(&mut TransfersModel, usize);

/// Runs `FRAMES` frames of a `height_px` tall window drawing `state` with `draw`, calling
/// `before_frame` (with the frame's number) ahead of each.
fn measure<S>(
    height_px: f32,
    state: &mut S,
    mut before_frame: impl FnMut(&mut S, usize),
    mut draw: impl FnMut(&mut egui::Ui, &mut S),
) -> Measured {
    let ctx = egui::Context::default();
    let raw = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1100.0, height_px),
        )),
        ..Default::default()
    };
    let mut frame = |ctx: &egui::Context, state: &mut S| {
        let mut output = ctx.run_ui(raw(), |ui| {
            egui::CentralPanel::default().show(ui, |ui| draw(ui, state));
        });
        // No GPU takes the font atlas; debug builds insist it is handled.
        output.textures_delta.clear();
        ctx.tessellate(output.shapes, output.pixels_per_point)
    };
    // Warm up: fonts, galley caches, layout memory.
    for _ in 0..3 {
        frame(&ctx, state);
    }
    let cpu_start = thread_cpu_time();
    let wall_start = Instant::now();
    let mut triangles = 0;
    for n in 0..FRAMES {
        before_frame(state, n);
        let primitives = frame(&ctx, state);
        triangles = primitives
            .iter()
            .map(|p| match &p.primitive {
                egui::epaint::Primitive::Mesh(mesh) => mesh.indices.len() / 3,
                egui::epaint::Primitive::Callback(_) => 0,
            })
            .sum();
    }
    let wall_ms = wall_start.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64;
    let cpu_ms = match (cpu_start, thread_cpu_time()) {
        (Some(start), Some(end)) => (end - start).as_secs_f64() * 1000.0 / FRAMES as f64,
        _ => wall_ms,
    };
    Measured {
        cpu_ms,
        wall_ms,
        triangles,
    }
}

fn main() {
    let mut model = model();
    println!(
        "ui_frame: {TRANSFERS} transfers x {PARTS_PER_TRANSFER} parts, {FRAMES} frames each, layout + tessellation, no GPU"
    );
    let unchanged = |_: &mut TransfersModel, _: usize| {};
    let cases: [(&str, f32, &BeforeFrame); 3] = [
        (
            "window 1100x720 (rows outside the view are clipped)",
            720.0,
            &unchanged,
        ),
        (
            "all 50 part maps on screen (1100x9000), parts unchanged",
            9000.0,
            &unchanged,
        ),
        (
            "all 50 part maps on screen, one part of each changed every frame",
            9000.0,
            &send_a_little_more,
        ),
    ];
    // One case alone (say, under a profiler): OSSUP_FRAME_CASE=<part of its label>.
    let only = std::env::var("OSSUP_FRAME_CASE").unwrap_or_default();
    // Each case draws with a view state of its own, as a new window would.
    let transfers = || {
        let mut view = TransfersViewState::default();
        move |ui: &mut egui::Ui, model: &mut TransfersModel| {
            transfers_ui(ui, model, &mut view, &mut Vec::new());
        }
    };
    for (label, height, before_frame) in cases {
        if label.contains(&only) {
            report(
                label,
                &measure(height, &mut model, before_frame, transfers()),
            );
        }
    }
    let label = "window 1100x720 with a folder job of 1,000,000 files";
    if label.contains(&only) {
        add_big_job(&mut model);
        report(label, &measure(720.0, &mut model, unchanged, transfers()));
    }
    let label = "History tab 1100x720, 1,000,000 entries";
    if label.contains(&only) {
        let mut history = big_history();
        let draw = |ui: &mut egui::Ui, history: &mut HistoryModel| {
            history_ui(ui, history, &mut Vec::new());
        };
        report(label, &measure(720.0, &mut history, |_, _| {}, draw));
    }
}

fn report(label: &str, m: &Measured) {
    println!(
        "  {label}: {:.2} ms CPU per frame ({:.2} ms wall), {} triangles",
        m.cpu_ms, m.wall_ms, m.triangles
    );
}
