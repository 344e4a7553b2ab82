//! The window's frame: the toolbar wraps instead of clipping in a small window, the
//! first-run banner tells the truth about where uploads go, and rows say plainly what
//! they are waiting for.

mod support;

use egui_kittest::kittest::Queryable;
use support::ui::*;

#[test]
fn the_toolbar_wraps_at_800_by_600_and_keeps_prefix_and_destination_in_view() {
    for (width, height) in [(800.0, 600.0), (1100.0, 720.0)] {
        let dirs = TestDirs::new();
        let mut harness = harness_sized(setup(&dirs, None), egui::vec2(width, height));
        harness.run_steps(2);
        type_into(
            &mut harness,
            "Prefix",
            "holiday/2026/pictures-from-the-long-trip",
        );
        harness.run_steps(2);
        for label in ["Prefix", "Skip unchanged"] {
            let rect = harness.get_by_label(label).rect();
            assert!(
                rect.max.x <= width,
                "{label} is cut off at {width}×{height}: {rect:?}"
            );
        }
        let destination = harness
            .get_by_label_contains("to oss://demo/holiday/2026/")
            .rect();
        assert!(
            destination.max.x <= width,
            "the destination is cut off at {width}×{height}: {destination:?}"
        );
    }
}

#[test]
fn the_banner_does_not_claim_no_profile_when_one_exists() {
    let dirs = TestDirs::new();
    dirs.write_config(
        r#"
[profiles.lab]
endpoint = "http://127.0.0.1:1"
bucket = "photos"
path_style = true
access_key_id = "LABKEY"
access_key_secret = "lab-secret"
"#,
    );
    let mut harness = harness(setup(&dirs, None));
    harness.run_steps(2);
    // No default profile: the window starts on the built-in endpoint.
    assert!(harness.state().target().expect("connected").is_embedded());
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("No profile is configured")
            .is_none(),
        "the banner says no profile is configured although lab is"
    );
    harness.get_by_label_contains("built-in local endpoint at http://127.0.0.1:");
}

#[test]
fn a_refused_connection_says_so_in_the_row_and_in_details() {
    let dirs = TestDirs::new();
    dirs.write_config(
        r#"
default_profile = "nowhere"
[profiles.nowhere]
endpoint = "http://127.0.0.1:1"
bucket = "photos"
path_style = true
access_key_id = "KEY"
access_key_secret = "secret"
"#,
    );
    let file = dirs.file("photo.jpg", 1000);
    let mut harness = harness(setup(&dirs, None));
    drop_files(&mut harness, &[file]);
    wait_until(
        &mut harness,
        std::time::Duration::from_secs(30),
        "the reason on the row",
        |app| {
            app.transfers().rows().first().is_some_and(|row| {
                row.snapshot
                    .error
                    .as_ref()
                    .is_some_and(|e| e.message.contains("connection refused by 127.0.0.1:1"))
            })
        },
    );
    harness.run_steps(2);
    // The row's status line: size · state · speed …
    harness.get_by_label_contains("·  Cannot connect  ·");
    assert!(
        harness
            .query_by_label_contains("Waiting for network")
            .is_none()
    );
    harness.get_by_label_contains("connection refused by 127.0.0.1:1");
    click(&mut harness, "Details");
    harness.run_steps(2);
    harness.get_by_label_contains("connection refused by 127.0.0.1:1");
}

#[test]
fn a_queued_row_says_it_is_not_planned_yet_instead_of_0_of_0_parts() {
    let dirs = TestDirs::new();
    dirs.write_config(
        r#"
[tuning]
part_size = "100KiB"
parallel_parts = 1
concurrent_transfers = 1
"#,
    );
    let files = [
        dirs.file("first.bin", 2 * 1024 * 1024),
        dirs.file("second.bin", 2 * 1024 * 1024),
    ];
    let mut harness = harness(setup(&dirs, Some(std::time::Duration::from_millis(150))));
    drop_files(&mut harness, &files);
    wait_until(
        &mut harness,
        std::time::Duration::from_secs(30),
        "one running, one waiting",
        |app| {
            let rows = app.transfers().rows();
            rows.len() == 2 && rows.iter().any(|r| r.snapshot.parts.is_empty())
        },
    );
    harness.run_steps(2);
    assert!(
        harness
            .query_all_by_label_contains("not planned yet")
            .next()
            .is_some()
    );
    assert!(harness.query_by_label_contains("0 of 0 parts").is_none());
}
