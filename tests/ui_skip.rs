//! The window's "Skip unchanged" toggle: files dropped again are skipped, new ones sent.

mod support;

use std::time::Duration;

use ossup::engine::event::TransferState;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

#[test]
fn skip_unchanged_in_the_window_skips_a_file_dropped_again() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let first = dirs.file("first.txt", 3_000);
    let mut harness = harness(setup(&dirs, None));

    drop_files(&mut harness, std::slice::from_ref(&first));
    wait_until(&mut harness, GENEROUS, "the first upload done", |app| {
        let rows = app.transfers().rows();
        rows.len() == 1 && rows[0].snapshot.state == TransferState::Done
    });

    click(&mut harness, "Skip unchanged");
    let second = dirs.file("second.txt", 2_000);
    drop_files(&mut harness, &[first, second]);
    wait_until(
        &mut harness,
        GENEROUS,
        "first skipped, second sent",
        |app| {
            let rows = app.transfers().rows();
            let state = |name: &str| {
                rows.iter()
                    .find(|r| r.file_name == name)
                    .map(|r| r.snapshot.state.clone())
            };
            state("first.txt") == Some(TransferState::Skipped)
                && state("second.txt") == Some(TransferState::Done)
        },
    );
}
