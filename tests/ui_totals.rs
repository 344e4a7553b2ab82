//! The window's totals against the real engine and the embedded local endpoint: the status
//! bar and the title add up every running upload, and the notifications setting is kept in
//! the config file.

mod support;

use std::time::Duration;

use egui_kittest::kittest::{NodeT, Queryable};
use ossup::config::ConfigFile;
use ossup::engine::event::TransferState;
use ossup::ui::format::bytes_label;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

const NOTIFICATIONS: &str = "Tell the desktop when an upload finishes or fails";

#[test]
fn the_status_bar_and_the_title_add_up_two_running_uploads() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let first = dirs.file("first.bin", 2 * 1024 * 1024);
    let second = dirs.file("second.bin", 3 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    harness.run_steps(2);
    assert_eq!(harness.state().window_title(), "ossup");

    drop_files(&mut harness, &[first, second]);
    wait_until(&mut harness, GENEROUS, "both running, bytes sent", |app| {
        let rows = app.transfers().rows();
        rows.len() == 2
            && rows.iter().all(|r| !r.snapshot.state.is_terminal())
            && rows.iter().any(|r| r.snapshot.bytes_done > 0)
    });
    let sent: u64 = harness
        .state()
        .transfers()
        .rows()
        .iter()
        .map(|r| r.snapshot.bytes_done)
        .sum();
    let expected = format!("{} of 5MiB", bytes_label(sent));
    let label = harness.get_by_label_contains(" of 5MiB");
    let node = label.accesskit_node();
    // egui gives a label's text as its accessible value.
    let text = node.value().or_else(|| node.label()).unwrap_or_default();
    assert!(
        text.starts_with(&expected),
        "{text:?} starts with {expected:?}"
    );
    let title = harness.state().window_title().to_owned();
    assert!(
        title.starts_with("ossup — ") && title.contains('%'),
        "{title}"
    );

    wait_until(
        &mut harness,
        GENEROUS,
        "both done and their job finished",
        |app| {
            app.transfers()
                .rows()
                .iter()
                .all(|r| r.snapshot.state == TransferState::Done)
                && app.transfers().jobs.values().all(|job| job.is_finished())
        },
    );
    harness.run_steps(2);
    assert!(harness.query_by_label_contains(" of 5MiB").is_none());
    assert_eq!(harness.state().window_title(), "ossup");
}

#[test]
fn turning_notifications_off_is_saved_in_the_window_table() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    harness.run_steps(2);
    assert!(
        harness.state().config().window.notifications,
        "on by default"
    );
    click(&mut harness, "Settings");
    click(&mut harness, NOTIFICATIONS);
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the save", |app| {
        matches!(app.settings().message, Some(Ok(_)))
    });
    assert!(!harness.state().config().window.notifications);
    let text = std::fs::read_to_string(&dirs.paths.config_file).expect("saved");
    assert!(
        text.contains("[window]") && text.contains("notifications = false"),
        "{text}"
    );
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("loads");
    assert!(!saved.window.notifications);
    drop(harness);

    // A new window starts with the box unticked.
    let again = support::ui::harness(setup(&dirs, None));
    assert!(!again.state().settings().window.notifications);
}

#[test]
fn a_paused_upload_is_counted_apart_from_the_active_ones() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let files = [
        dirs.file("first.bin", 2 * 1024 * 1024),
        dirs.file("second.bin", 2 * 1024 * 1024),
    ];
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    drop_files(&mut harness, &files);
    wait_until(&mut harness, GENEROUS, "both running", |app| {
        let rows = app.transfers().rows();
        rows.len() == 2
            && rows
                .iter()
                .all(|r| r.snapshot.state == TransferState::Uploading)
    });
    harness.run_steps(2);
    harness
        .query_all_by_label("Pause")
        .next()
        .expect("a row's Pause")
        .click();
    wait_until(&mut harness, GENEROUS, "one paused", |app| {
        app.transfers()
            .rows()
            .iter()
            .any(|r| r.snapshot.state == TransferState::Paused)
    });
    harness.run_steps(2);
    harness.get_by_label_contains("1 active · 1 paused");
}
