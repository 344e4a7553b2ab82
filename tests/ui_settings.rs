//! The settings view refuses invalid values with a message (nothing saved, nothing
//! clamped) and saves valid ones to a 0600 file.

mod support;

use std::time::Duration;

use ossup::config::ConfigFile;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(30);

fn refused_message(harness: &egui_kittest::Harness<'_, ossup::ui::OssupApp>) -> String {
    match &harness.state().settings().message {
        Some(Err(message)) => message.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn invalid_values_are_refused_and_valid_ones_saved_privately() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");

    type_into(&mut harness, "Part size", "50KiB");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    assert!(message.starts_with("part size"), "{message}");
    assert!(!dirs.paths.config_file.exists(), "nothing saved");

    type_into(&mut harness, "Part size", "1MiB");
    type_into(&mut harness, "Parallel parts per file", "0");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    assert!(message.starts_with("parallel parts"), "{message}");

    type_into(&mut harness, "Parallel parts per file", "3");
    type_into(&mut harness, "Profile name", "work");
    type_into(&mut harness, "Endpoint", "oss-cn-hangzhou.aliyuncs.com");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    assert!(message.contains("endpoint"), "{message}");
    assert!(!dirs.paths.config_file.exists(), "nothing saved");

    // A valid tuning alone (no profile) is saved.
    type_into(&mut harness, "Profile name", "");
    type_into(&mut harness, "Endpoint", "");
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the save", |app| {
        matches!(app.settings().message, Some(Ok(_)))
    });
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("saved file loads");
    assert_eq!(saved.tuning.part_size, 1 << 20);
    assert_eq!(saved.tuning.parallel_parts_per_transfer, 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dirs.paths.config_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn the_window_opens_on_settings_when_it_cannot_connect() {
    let mut dirs = TestDirs::new();
    // A file where the embedded endpoint wants its data folder.
    let blocked = dirs.root.path().join("not-a-folder");
    std::fs::write(&blocked, b"x").expect("file written");
    dirs.paths.server_dir = blocked;
    let harness = harness(setup(&dirs, None));
    let app = harness.state();
    assert!(app.target().is_none());
    assert_eq!(app.tab(), ossup::ui::app::Tab::Settings);
    let status = app.status().expect("a reason is shown");
    assert!(status.starts_with("Could not connect"), "{status}");
}
