//! The settings view refuses invalid values with a message (nothing saved, nothing
//! clamped) and saves valid ones to a 0600 file.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
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
    assert!(message.starts_with("Part size"), "{message}");
    assert!(!dirs.paths.config_file.exists(), "nothing saved");

    type_into(&mut harness, "Part size", "1MiB");
    type_into(&mut harness, "Parallel parts per file", "0");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    assert!(message.starts_with("Parallel parts"), "{message}");

    type_into(&mut harness, "Parallel parts per file", "3");
    type_into(&mut harness, "Profile name", "work");
    type_into(&mut harness, "Endpoint", "oss-cn-hangzhou.aliyuncs.com");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    assert!(message.contains("Endpoint"), "{message}");
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

const LAB_PROFILE: &str = r#"
[profiles.alpha]
endpoint = "http://127.0.0.1:1"
path_style = true
access_key_id = "ALPHAKEY"
access_key_secret = "alpha-secret"

[profiles.beta]
endpoint = "http://127.0.0.1:2"
path_style = true
access_key_id = "BETAKEY"
access_key_secret = "beta-secret"
"#;

#[test]
fn every_field_error_shows_at_once_beside_its_field_in_plain_words() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    type_into(&mut harness, "Part size", "50KiB");
    type_into(&mut harness, "Parallel parts per file", "0");
    type_into(&mut harness, "Profile name", "local2");
    type_into(&mut harness, "Endpoint", "oss-cn-hangzhou.aliyuncs.com");
    harness.run_steps(2);
    // Before any save: each field says what is wrong with it.
    harness.get_by_label_contains("OSS accepts parts from 100KiB to 5GiB");
    harness.get_by_label_contains("0 is out of range");
    harness.get_by_label_contains("must start with http:// or https://");
    click(&mut harness, "Save settings");
    let message = refused_message(&harness);
    for part in ["Part size", "Parallel parts", "Endpoint"] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
    assert!(!message.contains("profiles."), "{message}");
    assert!(!dirs.paths.config_file.exists(), "nothing saved");
}

#[test]
fn the_form_names_the_profile_it_edits_and_old_messages_go_away() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    harness.get_by_label_contains("New profile (");
    type_into(&mut harness, "Part size", "50KiB");
    click(&mut harness, "Save settings");
    refused_message(&harness);
    type_into(&mut harness, "Part size", "1MiB");
    harness.run_steps(2);
    assert!(
        harness.state().settings().message.is_none(),
        "an old refusal stays after the field was fixed"
    );

    type_into(&mut harness, "Profile name", "lab");
    type_into(&mut harness, "Endpoint", "http://127.0.0.1:1");
    click(&mut harness, "Entered here");
    type_into(&mut harness, "Access key id", "LABKEY");
    type_into(&mut harness, "Access key secret", "lab-secret");
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the save", |app| {
        matches!(app.settings().message, Some(Ok(_)))
    });
    harness.run_steps(2);
    harness.get_by_label_contains("Editing profile lab");
    assert!(harness.query_by_label_contains("New profile (").is_none());
    type_into(&mut harness, "Bucket", "photos");
    harness.run_steps(2);
    assert!(
        harness.state().settings().message.is_none(),
        "\"Settings saved.\" stays after the form changed"
    );
}

#[test]
fn a_profile_can_be_renamed_and_deleted() {
    let dirs = TestDirs::new();
    dirs.write_config(LAB_PROFILE);
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    click(&mut harness, "Edit beta");
    type_into(&mut harness, "Profile name", "gamma");
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the rename", |app| {
        app.config().profiles.contains_key("gamma")
    });
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("saved");
    assert_eq!(saved.profile_names(), vec!["alpha", "gamma"]);
    assert_eq!(
        saved.profiles["gamma"].access_key_secret.as_deref(),
        Some("beta-secret")
    );

    click(&mut harness, "Delete profile gamma…");
    click(&mut harness, "Delete gamma");
    wait_until(&mut harness, GENEROUS, "the deletion", |app| {
        !app.config().profiles.contains_key("gamma") && !app.settings().saving
    });
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("saved");
    assert_eq!(saved.profile_names(), vec!["alpha"]);
    harness.run_steps(2);
    harness.get_by_label_contains("New profile (");
    assert!(harness.query_by_label("Edit gamma").is_none());
}

#[test]
fn the_theme_comes_from_the_file_changes_at_once_and_is_saved() {
    let dirs = TestDirs::new();
    dirs.write_config("[window]\ntheme = \"light\"\n");
    let mut harness = harness(setup(&dirs, None));
    harness.run_steps(2);
    assert_eq!(harness.ctx.theme(), egui::Theme::Light);
    click(&mut harness, "Settings");
    click(&mut harness, "Theme");
    click(&mut harness, "Dark");
    assert_eq!(harness.ctx.theme(), egui::Theme::Dark);
    click(&mut harness, "Save settings");
    wait_until(&mut harness, GENEROUS, "the save", |app| {
        matches!(app.settings().message, Some(Ok(_)))
    });
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("saved");
    assert_eq!(saved.window.theme, ossup::config::window::ThemeChoice::Dark);
}

#[test]
fn the_region_picker_builds_a_public_or_internal_endpoint() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    click(&mut harness, "Settings");
    click(&mut harness, "Alibaba region");
    click(&mut harness, "cn-shanghai");
    click(&mut harness, "Set endpoint");
    assert_eq!(
        harness.state().settings().profile.endpoint,
        "https://oss-cn-shanghai.aliyuncs.com"
    );
    click(&mut harness, "Kind of endpoint");
    click(&mut harness, "Internal (from inside Alibaba Cloud)");
    click(&mut harness, "Set endpoint");
    assert_eq!(
        harness.state().settings().profile.endpoint,
        "https://oss-cn-shanghai-internal.aliyuncs.com"
    );
    assert_eq!(harness.state().settings().profile.region, "cn-shanghai");
}
