//! The transfers view against the real engine and the embedded local endpoint: dropped
//! files upload and land in the history, pause/resume, abort, and restart with sessions.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::engine::event::{PartState, TransferState};
use ossup::server;
use support::engine::saved_sessions;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

#[test]
fn first_run_targets_the_embedded_endpoint_and_dropped_files_complete() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let small = dirs.file("small.txt", 5_000);
    let large = dirs.file("large.bin", 550 * 1024);
    let mut harness = harness(setup(&dirs, None));

    let target = harness.state().target().expect("connected").clone();
    assert!(target.is_embedded());
    assert!(target.endpoint.starts_with("http://127.0.0.1:"));
    harness.get_by_label_contains("built-in local endpoint at");

    drop_files(&mut harness, &[small.clone(), large.clone()]);
    wait_until(&mut harness, GENEROUS, "both uploads done", |app| {
        let rows = app.transfers().rows();
        rows.len() == 2 && rows.iter().all(|r| r.snapshot.state == TransferState::Done)
    });
    let large_row = harness
        .state()
        .transfers()
        .rows()
        .iter()
        .find(|r| r.file_name == "large.bin")
        .expect("large row")
        .clone();
    assert_eq!(
        large_row.snapshot.parts.len(),
        6,
        "550 KiB in 100 KiB parts"
    );
    assert!(
        large_row
            .snapshot
            .parts
            .iter()
            .all(|p| *p == PartState::Done)
    );
    assert_eq!(large_row.snapshot.bucket, server::DEFAULT_BUCKET);
    assert_eq!(large_row.snapshot.key, "large.bin");
    click(&mut harness, "History");
    wait_until(&mut harness, GENEROUS, "both in the history", |app| {
        app.history().total() == 2
    });
    harness.run_steps(2);
    assert_eq!(
        harness.get_all_by_label("CRC-64 verified").count(),
        2,
        "both rows in the history say their CRC-64 was checked"
    );

    let client = other_client(&target.endpoint);
    let stored = block_on(client.get_object(server::DEFAULT_BUCKET, "large.bin", None))
        .expect("object readable");
    assert_eq!(
        stored.as_ref(),
        std::fs::read(&large).expect("local file").as_slice()
    );
}

#[test]
fn pause_stops_the_transfer_and_resume_completes_it() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("movie.bin", 2 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));

    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "a part done", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.parts.contains(&PartState::Done))
    });
    click(&mut harness, "Pause");
    wait_until(&mut harness, GENEROUS, "paused", |app| {
        app.transfers().rows()[0].snapshot.state == TransferState::Paused
    });
    let paused = harness.state().transfers().rows()[0].clone();
    assert!(
        paused.snapshot.parts.iter().any(|p| *p != PartState::Done),
        "paused before the end"
    );
    assert!(
        !paused
            .snapshot
            .parts
            .iter()
            .any(|p| matches!(p, PartState::InFlight { .. })),
        "nothing in flight while paused"
    );

    click(&mut harness, "Resume");
    wait_until(&mut harness, GENEROUS, "done after resume", |app| {
        app.transfers().rows()[0].snapshot.state == TransferState::Done
    });
}

#[test]
fn abort_after_confirmation_removes_the_transfer_and_its_server_upload() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("abort-me.bin", 2 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    let endpoint = connected_endpoint(&harness);

    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "upload started", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.upload_id.is_some())
    });
    click(&mut harness, "Abort…");
    harness.get_by_label_contains("Abort the upload of abort-me.bin");
    click(&mut harness, "Abort upload");
    wait_until(&mut harness, GENEROUS, "transfer removed", |app| {
        app.transfers().rows().is_empty()
    });

    let client = other_client(&endpoint);
    let left = open_uploads(&client);
    assert!(left.is_empty(), "left behind: {left:?}");
    let sessions = saved_sessions(&dirs.paths.queue_dir, &dirs.paths.sessions_dir);
    assert!(sessions.is_empty(), "no session left: {sessions:?}");
}

#[test]
fn after_a_restart_sessions_come_back_paused_with_their_part_maps() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("resume-me.bin", 2 * 1024 * 1024);
    let delay = Some(Duration::from_millis(150));

    let done_before = {
        let mut harness = harness(setup(&dirs, delay));
        drop_files(&mut harness, &[file]);
        wait_until(&mut harness, GENEROUS, "three parts done", |app| {
            app.transfers().rows().first().is_some_and(|r| {
                r.snapshot
                    .parts
                    .iter()
                    .filter(|p| **p == PartState::Done)
                    .count()
                    >= 3
            })
        });
        click(&mut harness, "Pause");
        wait_until(&mut harness, GENEROUS, "paused", |app| {
            app.transfers().rows()[0].snapshot.state == TransferState::Paused
        });
        let done = harness.state().transfers().rows()[0]
            .snapshot
            .parts
            .iter()
            .filter(|p| **p == PartState::Done)
            .count();
        harness.state_mut().shutdown();
        done
    };

    let mut harness = harness(setup(&dirs, None));
    wait_until(&mut harness, GENEROUS, "the session reloaded", |app| {
        !app.transfers().rows().is_empty()
    });
    let row = harness.state().transfers().rows()[0].clone();
    assert_eq!(row.snapshot.state, TransferState::Paused);
    assert_eq!(row.file_name, "resume-me.bin");
    let done_after = row
        .snapshot
        .parts
        .iter()
        .filter(|p| **p == PartState::Done)
        .count();
    assert_eq!(
        done_after, done_before,
        "the part map is filled from the session"
    );

    click(&mut harness, "Resume");
    wait_until(&mut harness, GENEROUS, "done after restart", |app| {
        app.transfers().rows()[0].snapshot.state == TransferState::Done
    });
}

#[test]
fn hovering_a_part_shows_its_number_range_and_state() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("hover.bin", 2 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "the first part done", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.parts.first() == Some(&PartState::Done))
    });
    click(&mut harness, "Pause");
    wait_until(&mut harness, GENEROUS, "paused", |app| {
        app.transfers().rows()[0].snapshot.state == TransferState::Paused
    });

    let map = harness
        .get_by_label_contains("Part map of hover.bin")
        .rect();
    harness.hover_at(map.left_top() + egui::vec2(4.0, 4.0));
    // Tooltips wait until the pointer rests (half a second by default).
    harness.run_steps(60);
    harness.get_by_label("Part 1");
    harness.get_by_label("Bytes 0–102399 (100KiB)");
    harness.get_by_label("Done");
}

#[test]
fn a_failed_transfer_keeps_its_reason_code_and_a_retry_button() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("nowhere.bin", 300 * 1024);
    let mut harness = harness(setup(&dirs, None));

    type_into(&mut harness, "Bucket", "no-such-bucket");
    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "the failure", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.state == TransferState::Failed)
    });
    let row = harness.state().transfers().rows()[0].clone();
    assert_eq!(row.snapshot.bucket, "no-such-bucket");
    let error = row.snapshot.error.expect("a reason");
    assert_eq!(error.code.as_deref(), Some("NoSuchBucket"));
    harness.run_steps(2);
    harness.get_by_label(&error.message);
    harness.get_by_label("Retry");

    click(&mut harness, "Details");
    harness.get_by_label("OSS code");
    harness.get_by_label("NoSuchBucket");
    if let Some(request_id) = &error.request_id {
        harness.get_by_label(request_id);
    }
}

/// Texts painted in the last frame (shapes, not widgets: the overlay is painted).
fn painted_texts(harness: &egui_kittest::Harness<'_, ossup::ui::OssupApp>) -> Vec<String> {
    harness
        .output()
        .shapes
        .iter()
        .filter_map(|clipped| match &clipped.shape {
            egui::Shape::Text(text) => Some(text.galley.text().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn files_dragged_over_the_window_show_where_they_will_go() {
    let dirs = TestDirs::new();
    let file = dirs.file("hovering.bin", 10);
    let mut harness = harness(setup(&dirs, None));
    type_into(&mut harness, "Prefix", "inbox");
    assert!(
        !painted_texts(&harness)
            .iter()
            .any(|t| t.ends_with(" to upload")),
        "no overlay without a drag"
    );

    harness.input_mut().hovered_files = vec![egui::HoveredFile {
        path: Some(file),
        mime: String::new(),
    }];
    // Files hovering keep the harness from settling: step a fixed number of frames.
    harness.run_steps(2);
    let texts = painted_texts(&harness);
    assert!(
        texts.iter().any(|t| t == "Drop 1 item to upload"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "to oss://demo/inbox/"),
        "{texts:?}"
    );

    harness.input_mut().hovered_files.clear();
    harness.run_steps(2);
    assert!(
        !painted_texts(&harness)
            .iter()
            .any(|t| t.ends_with(" to upload")),
        "the overlay goes away with the drag"
    );
}

#[test]
fn a_folder_job_lists_its_files_in_flight_under_it_only_while_opened() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let folder = dirs.root.path().join("files").join("album");
    std::fs::create_dir_all(&folder).unwrap();
    let body: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(folder.join("big.bin"), &body).unwrap();
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    drop_files(&mut harness, std::slice::from_ref(&folder));
    wait_until(
        &mut harness,
        GENEROUS,
        "the job and its file in flight",
        |app| {
            !app.transfers().jobs.is_empty()
                && app
                    .transfers()
                    .rows()
                    .iter()
                    .any(|row| row.file_name == "big.bin" && row.snapshot.job.is_some())
        },
    );
    harness.run_steps(2);
    let part_map = "Part map of big.bin";
    assert!(
        harness.query_by_label_contains(part_map).is_none(),
        "a closed job shows one row"
    );

    harness.get_by_label("Show files (1)").click();
    harness.run_steps(2);
    harness.get_by_label_contains(part_map);

    click(&mut harness, "Hide files");
    assert!(harness.query_by_label_contains(part_map).is_none());
    click(&mut harness, "Pause");
}

/// A folder of 100,000 files is one row that counts them all, and opening it lists only
/// its files in flight, never the whole folder.
#[test]
fn a_job_of_100_000_files_is_one_row_and_opens_to_its_files_in_flight() {
    const FOLDERS: usize = 100;
    const FILES_PER_FOLDER: usize = 1_000;
    let dirs = TestDirs::new();
    let folder = dirs.root.path().join("files").join("archive");
    for f in 0..FOLDERS {
        let sub = folder.join(format!("d{f:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for n in 0..FILES_PER_FOLDER {
            std::fs::write(sub.join(format!("f{n:04}.txt")), b"x").unwrap();
        }
    }
    let total = (FOLDERS * FILES_PER_FOLDER) as u64;
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(200))));
    drop_files(&mut harness, std::slice::from_ref(&folder));
    wait_until(
        &mut harness,
        Duration::from_secs(180),
        "the whole folder counted",
        |app| {
            app.transfers().jobs.values().next().is_some_and(|job| {
                let c = &job.counts;
                !job.walking && c.done + c.skipped + c.failed + c.pending + c.in_flight == total
            }) && app
                .transfers()
                .rows()
                .iter()
                .any(|r| r.snapshot.job.is_some())
        },
    );
    harness.run_steps(2);
    assert_eq!(harness.state().transfers().jobs.len(), 1, "one job row");
    harness.get_by_label_contains(&format!("of {total} files"));

    let in_flight = harness.state().transfers().rows().len();
    assert!(
        in_flight < 256,
        "{in_flight} rows held: the window holds files in flight, not the folder"
    );
    harness
        .query_all_by_label_contains("Show files (")
        .next()
        .expect("the job can be opened")
        .click();
    harness.run_steps(2);
    let listed = harness
        .query_all_by_label_contains(" on local endpoint")
        .count();
    assert!(
        (2..=257).contains(&listed),
        "the job row and its files in flight are listed: {listed} rows"
    );
    click(&mut harness, "Hide files");
    assert_eq!(
        harness
            .query_all_by_label_contains(" on local endpoint")
            .count(),
        1,
        "a closed job is one row"
    );
}
