//! The history view against the real engine and the embedded local endpoint: finished
//! uploads are still listed after the window is opened again on the same folders, the
//! search narrows them, a row's URL is copied, and Clear history asks before it clears.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::engine::event::TransferState;
use ossup::server;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

fn url_of(key: &str) -> String {
    format!("oss://{}/{key}", server::DEFAULT_BUCKET)
}

/// Drops `names` (small files), waits until they are sent, opens the History tab and
/// waits until it lists `expected` entries.
fn upload_and_open_history(
    harness: &mut egui_kittest::Harness<'static, ossup::ui::OssupApp>,
    dirs: &TestDirs,
    names: &[&str],
    expected: u64,
) {
    let files: Vec<_> = names.iter().map(|name| dirs.file(name, 2_000)).collect();
    drop_files(harness, &files);
    wait_until(harness, GENEROUS, "the uploads done", |app| {
        let rows = app.transfers().rows();
        rows.len() == names.len() && rows.iter().all(|r| r.snapshot.state == TransferState::Done)
    });
    click(harness, "History");
    wait_until(harness, GENEROUS, "the history listed", |app| {
        app.history().total() == expected
    });
    harness.run_steps(2);
}

#[test]
fn the_history_is_still_there_after_the_window_is_opened_again() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    {
        let mut harness = harness(setup(&dirs, None));
        upload_and_open_history(&mut harness, &dirs, &["kept.txt"], 1);
        harness.get_by_label(&url_of("kept.txt"));
        harness.get_by_label("CRC-64 verified");
    }

    let mut harness = harness(setup(&dirs, None));
    assert!(
        harness.state().transfers().rows().is_empty(),
        "nothing is in progress after the restart"
    );
    click(&mut harness, "History");
    wait_until(&mut harness, GENEROUS, "the stored history", |app| {
        app.history().total() == 1
    });
    harness.run_steps(2);
    harness.get_by_label(&url_of("kept.txt"));
    harness.get_by_label("CRC-64 verified");
}

#[test]
fn search_narrows_the_history_copy_takes_the_url_and_clear_asks_first() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let mut harness = harness(setup(&dirs, None));
    upload_and_open_history(&mut harness, &dirs, &["alpha.txt", "beta.jpg"], 2);
    harness.get_by_label(&url_of("alpha.txt"));
    harness.get_by_label(&url_of("beta.jpg"));

    // Ctrl+F on this tab goes to its search, not to the transfers list.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    harness.run_steps(2);
    assert!(harness.get_by_label("Search history").is_focused());
    harness.get_by_label("Search history").type_text("BETA");
    harness.run_steps(2);
    assert_eq!(harness.state().history().search, "BETA");

    type_into(&mut harness, "Search history", "BETA");
    wait_until(&mut harness, GENEROUS, "one match", |app| {
        app.history().total() == 1
    });
    harness.run_steps(2);
    harness.get_by_label(&url_of("beta.jpg"));
    assert!(harness.query_by_label(&url_of("alpha.txt")).is_none());

    harness.get_by_label("Copy oss:// URL").click();
    harness.step();
    let copied: Vec<_> = harness
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|command| match command {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copied, [url_of("beta.jpg")]);

    type_into(&mut harness, "Search history", "");
    wait_until(&mut harness, GENEROUS, "both again", |app| {
        app.history().total() == 2
    });
    click(&mut harness, "Clear history");
    harness.get_by_label("Clear the whole history?");
    click(&mut harness, "Keep history");
    assert!(harness.query_by_label("Clear the whole history?").is_none());
    assert_eq!(harness.state().history().total(), 2, "kept");

    click(&mut harness, "Clear history");
    click(&mut harness, "Clear all entries");
    wait_until(&mut harness, GENEROUS, "the history cleared", |app| {
        app.history().is_loaded() && app.history().total() == 0
    });
    harness.run_steps(2);
    harness.get_by_label("No finished uploads yet");
    assert!(harness.query_by_label(&url_of("beta.jpg")).is_none());
}
