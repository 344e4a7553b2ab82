//! SIGTERM (a logout, `kill`) closes the window the way "Pause and quit" does: every part
//! shown as done is saved, so after a restart the upload shows no fewer. This file holds
//! one test because the signal goes to the whole test process.

mod support;

use std::time::Duration;

use ossup::engine::event::{PartState, TransferState};
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

fn done_parts(app: &ossup::ui::OssupApp) -> usize {
    app.transfers().rows().first().map_or(0, |row| {
        row.snapshot
            .parts
            .iter()
            .filter(|p| **p == PartState::Done)
            .count()
    })
}

#[test]
fn sigterm_pauses_and_the_restarted_window_shows_every_part_that_was_done() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("movie.bin", 3 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(80))));
    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "a few parts done", |app| {
        done_parts(app) >= 3
    });

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    wait_until(&mut harness, GENEROUS, "paused by the signal", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.state == TransferState::Paused)
    });
    let shown = done_parts(harness.state());
    drop(harness);

    let mut restarted = support::ui::harness(setup(&dirs, None));
    wait_until(&mut restarted, GENEROUS, "the session back", |app| {
        !app.transfers().rows().is_empty()
    });
    let after = done_parts(restarted.state());
    assert!(
        after >= shown,
        "{shown} parts were shown done before the signal, {after} after the restart"
    );
}
