//! Quitting while uploads run asks first: Cancel keeps everything moving, "Pause and quit"
//! pauses them (they resume on the next start). With nothing running it just quits.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::engine::event::TransferState;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(30);

fn press_quit(harness: &mut egui_kittest::Harness<'_, ossup::ui::OssupApp>) {
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Q);
    harness.step();
    harness.step();
}

#[test]
fn quitting_while_uploading_asks_and_pauses() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let file = dirs.file("big.bin", 3 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(200))));
    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "the upload to run", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.state == TransferState::Uploading)
    });

    press_quit(&mut harness);
    harness.get_by_label_contains("uploads are still running");
    assert!(!harness.state().is_quitting());
    click(&mut harness, "Cancel");
    assert!(harness.query_by_label("Pause and quit").is_none());
    assert!(!harness.state().is_quitting());
    assert_eq!(
        harness.state().transfers().rows()[0].snapshot.state,
        TransferState::Uploading
    );

    press_quit(&mut harness);
    click(&mut harness, "Pause and quit");
    assert!(harness.state().is_quitting());
    wait_until(&mut harness, GENEROUS, "the upload paused", |app| {
        app.transfers().rows()[0].snapshot.state == TransferState::Paused
    });
}

#[test]
fn quitting_with_nothing_running_does_not_ask() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    press_quit(&mut harness);
    assert!(harness.query_by_label("Pause and quit").is_none());
    assert!(harness.state().is_quitting());
}
