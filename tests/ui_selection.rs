//! The transfers list as an upload manager's: rows selected by click, Ctrl+click and
//! Shift+click with bulk actions on them, the abort question for a selection, sort and
//! filter (Ctrl+F), Delete and Space, Clear finished, and keyboard zoom. Against the real
//! engine and the embedded local endpoint.

mod support;

use std::time::Duration;

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ossup::engine::event::TransferState;
use ossup::ui::OssupApp;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);
/// Slow enough that a 2 MiB upload in 100 KiB parts is still running when it is paused.
const SLOW: Option<Duration> = Some(Duration::from_millis(150));

/// Clicks the row of `name` with `modifiers` held and lets the app apply it.
fn click_row(harness: &mut Harness<'_, OssupApp>, name: &str, modifiers: Modifiers) {
    // Rows move as the bar above them appears: click where they are drawn now.
    harness.run_steps(2);
    harness
        .get_by_label(&format!("Select {name}"))
        .click_modifiers(modifiers);
    harness.step();
    harness.step();
}

fn press(harness: &mut Harness<'_, OssupApp>, modifiers: Modifiers, key: Key) {
    harness.key_press_modifiers(modifiers, key);
    harness.step();
    harness.step();
}

/// The rows' names from top to bottom, as drawn.
fn shown_order(harness: &Harness<'_, OssupApp>, names: &[&str]) -> Vec<String> {
    let mut shown: Vec<(f32, String)> = names
        .iter()
        .filter_map(|name| {
            harness
                .query_by_label(&format!("Select {name}"))
                .map(|node| (node.rect().top(), name.to_string()))
        })
        .collect();
    shown.sort_by(|a, b| a.0.total_cmp(&b.0));
    shown.into_iter().map(|(_, name)| name).collect()
}

/// Drops `names` (each `len` bytes) and waits until every one has started uploading.
fn drop_slow_uploads(
    harness: &mut Harness<'_, OssupApp>,
    dirs: &TestDirs,
    names: &[&str],
    len: usize,
) {
    let files: Vec<_> = names.iter().map(|name| dirs.file(name, len)).collect();
    drop_files(harness, &files);
    wait_until(harness, GENEROUS, "every upload listed", |app| {
        app.transfers().rows().len() == names.len()
    });
}

#[test]
fn clicks_select_rows_and_the_bar_pauses_only_the_selection() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let mut harness = harness(setup(&dirs, SLOW));
    let names = ["a.bin", "b.bin", "c.bin"];
    drop_slow_uploads(&mut harness, &dirs, &names, 2 << 20);
    assert!(harness.query_by_label_contains(" selected").is_none());
    // Files dropped together are listed in the order the engine took them up.
    harness.run_steps(2);
    let order = shown_order(&harness, &names);
    let [first, middle, last] = [0, 1, 2].map(|i| order[i].as_str());

    click_row(&mut harness, first, Modifiers::NONE);
    harness.get_by_label("1 selected");
    click_row(&mut harness, last, Modifiers::SHIFT);
    harness.get_by_label("3 selected");
    click_row(&mut harness, middle, Modifiers::COMMAND);
    harness.get_by_label("2 selected");

    click(&mut harness, "Pause selected");
    wait_until(&mut harness, GENEROUS, "the first and last paused", |app| {
        state_of(app, first) == Some(TransferState::Paused)
            && state_of(app, last) == Some(TransferState::Paused)
    });
    assert_ne!(
        state_of(harness.state(), middle),
        Some(TransferState::Paused),
        "the row left out of the selection is not paused"
    );

    click(&mut harness, "Resume selected");
    wait_until(
        &mut harness,
        GENEROUS,
        "the first and last moving again",
        |app| {
            state_of(app, first) != Some(TransferState::Paused)
                && state_of(app, last) != Some(TransferState::Paused)
        },
    );
    click(&mut harness, "Clear selection");
    assert!(harness.query_by_label("2 selected").is_none());
}

#[test]
fn aborting_a_selection_asks_naming_how_many_uploads_and_bytes() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let mut harness = harness(setup(&dirs, SLOW));
    let endpoint = connected_endpoint(&harness);
    drop_slow_uploads(&mut harness, &dirs, &["one.bin", "two.bin"], 4 << 20);

    click_row(&mut harness, "one.bin", Modifiers::NONE);
    click_row(&mut harness, "two.bin", Modifiers::COMMAND);
    click(&mut harness, "Abort selected…");
    harness.get_by_label("Abort 2 uploads of 8MiB in all?");
    click(&mut harness, "Keep uploading");
    assert!(
        harness
            .query_by_label("Abort 2 uploads of 8MiB in all?")
            .is_none()
    );
    assert_eq!(harness.state().transfers().rows().len(), 2);

    click(&mut harness, "Abort selected…");
    click(&mut harness, "Abort 2 uploads");
    wait_until(&mut harness, GENEROUS, "both transfers removed", |app| {
        app.transfers().rows().is_empty()
    });
    let client = other_client(&endpoint);
    wait_until(
        &mut harness,
        GENEROUS,
        "no upload left on the server",
        |_| open_uploads(&client).is_empty(),
    );
}

#[test]
fn delete_asks_to_abort_and_space_pauses_then_resumes_the_selection() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let mut harness = harness(setup(&dirs, SLOW));
    drop_slow_uploads(&mut harness, &dirs, &["keys.bin"], 2 << 20);

    // Nothing selected: the keys do nothing.
    press(&mut harness, Modifiers::NONE, Key::Delete);
    assert!(
        harness
            .query_by_label_contains("Abort the upload")
            .is_none()
    );

    click_row(&mut harness, "keys.bin", Modifiers::NONE);
    press(&mut harness, Modifiers::NONE, Key::Space);
    wait_until(&mut harness, GENEROUS, "paused by Space", |app| {
        state_of(app, "keys.bin") == Some(TransferState::Paused)
    });
    press(&mut harness, Modifiers::NONE, Key::Space);
    wait_until(&mut harness, GENEROUS, "resumed by Space", |app| {
        state_of(app, "keys.bin") != Some(TransferState::Paused)
    });

    press(&mut harness, Modifiers::NONE, Key::Delete);
    harness.get_by_label("Abort the upload of keys.bin?");
    click(&mut harness, "Abort upload");
    wait_until(&mut harness, GENEROUS, "the transfer removed", |app| {
        app.transfers().rows().is_empty()
    });
}

#[test]
fn the_list_sorts_and_ctrl_f_filters_by_name() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let names = ["beta-medium.txt", "alpha-large.txt", "gamma-small.txt"];
    let files = [
        dirs.file(names[0], 2_000),
        dirs.file(names[1], 5_000),
        dirs.file(names[2], 1_000),
    ];
    let mut harness = harness(setup(&dirs, None));
    for file in files {
        // One at a time, so their arrival order is the order dropped.
        drop_files(&mut harness, std::slice::from_ref(&file));
        let count = harness.state().transfers().rows().len() + 1;
        wait_until(&mut harness, GENEROUS, "the file listed", |app| {
            app.transfers().rows().len() == count
        });
    }
    wait_until(&mut harness, GENEROUS, "all done", |app| {
        app.transfers()
            .rows()
            .iter()
            .all(|row| row.snapshot.state == TransferState::Done)
    });
    harness.run_steps(2);
    assert_eq!(shown_order(&harness, &names), names, "arrival order");

    click(&mut harness, "Sort by");
    click(&mut harness, "Name");
    assert_eq!(
        shown_order(&harness, &names),
        ["alpha-large.txt", "beta-medium.txt", "gamma-small.txt"]
    );
    click(&mut harness, "Sort by");
    click(&mut harness, "Size");
    click(&mut harness, "Descending");
    assert_eq!(
        shown_order(&harness, &names),
        ["alpha-large.txt", "beta-medium.txt", "gamma-small.txt"]
    );
    click(&mut harness, "Descending");
    assert_eq!(
        shown_order(&harness, &names),
        ["gamma-small.txt", "beta-medium.txt", "alpha-large.txt"]
    );

    press(&mut harness, Modifiers::COMMAND, Key::F);
    assert!(harness.get_by_label("Filter").is_focused());
    harness.get_by_label("Filter").type_text("MEDIUM");
    harness.run_steps(2);
    assert_eq!(shown_order(&harness, &names), ["beta-medium.txt"]);

    // Every row is done: none is active.
    click(&mut harness, "Show");
    click(&mut harness, "Active");
    harness.get_by_label("No transfers match the filter.");
    assert!(shown_order(&harness, &names).is_empty());
}

#[test]
fn clear_finished_removes_done_rows_and_keeps_the_others() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let mut harness = harness(setup(&dirs, SLOW));
    drop_files(&mut harness, &[dirs.file("quick.txt", 1_000)]);
    wait_until(&mut harness, GENEROUS, "the small file done", |app| {
        state_of(app, "quick.txt") == Some(TransferState::Done)
    });
    // A folder that finished stays listed as a job row until it is cleared.
    let folder = dirs.root.path().join("files").join("album");
    for name in ["one.jpg", "two.jpg"] {
        support::data::write_file(&folder, name, b"picture");
    }
    drop_files(&mut harness, &[folder]);
    wait_until(&mut harness, GENEROUS, "the folder done", |app| {
        app.transfers()
            .jobs
            .values()
            .any(|job| job.is_finished() && job.counts.done == 2)
    });
    harness.run_steps(2);
    harness.get_by_label("Select album");
    drop_files(&mut harness, &[dirs.file("long.bin", 2 << 20)]);
    wait_until(&mut harness, GENEROUS, "the large file listed", |app| {
        state_of(app, "long.bin").is_some()
    });
    click(&mut harness, "Pause");
    wait_until(&mut harness, GENEROUS, "the large file paused", |app| {
        state_of(app, "long.bin") == Some(TransferState::Paused)
    });

    click(&mut harness, "Clear finished");
    wait_until(&mut harness, GENEROUS, "only the paused row left", |app| {
        let rows = app.transfers().rows();
        rows.len() == 1 && rows[0].file_name == "long.bin"
    });
    harness.run_steps(2);
    assert!(harness.query_by_label("Select album").is_none());
    assert!(harness.query_by_label_contains("History (").is_none());
}

#[test]
fn ctrl_plus_and_minus_zoom_the_window() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    assert_eq!(harness.ctx.zoom_factor(), 1.0);
    press(&mut harness, Modifiers::COMMAND, Key::Plus);
    assert!(
        harness.ctx.zoom_factor() > 1.0,
        "zoom after Ctrl+Plus: {}",
        harness.ctx.zoom_factor()
    );
    press(&mut harness, Modifiers::COMMAND, Key::Minus);
    press(&mut harness, Modifiers::COMMAND, Key::Minus);
    assert!(harness.ctx.zoom_factor() < 1.0);
}
