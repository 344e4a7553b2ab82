//! Adding a real profile in Settings switches the window to it: the next upload goes to
//! that endpoint and bucket, with the key pair typed in, which is stored but not shown.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::config::ConfigFile;
use ossup::engine::event::TransferState;
use support::server::{TestServer, path_style_client};
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);
const KEY_ID: &str = "LABKEYID";
const KEY_SECRET: &str = "lab-secret-typed-once";

#[test]
fn saving_a_new_profile_switches_uploads_to_it() {
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = runtime.block_on(TestServer::start_with(|config| {
        config.buckets = vec!["photos".into()];
        config.access_keys = vec![(KEY_ID.into(), KEY_SECRET.into())];
    }));

    let mut harness = harness(setup(&dirs, None));
    assert!(harness.state().target().expect("connected").is_embedded());

    click(&mut harness, "Settings");
    type_profile(
        &mut harness,
        "lab",
        &lab.endpoint(),
        "photos",
        (KEY_ID, KEY_SECRET),
    );
    click(&mut harness, "Save settings");
    wait_until(
        &mut harness,
        GENEROUS,
        "the switch to the lab profile",
        |app| {
            !app.is_connecting()
                && app
                    .target()
                    .is_some_and(|t| t.profile.as_deref() == Some("lab"))
        },
    );
    assert!(harness.state().settings().profile.new_secret.is_empty());
    assert!(!format!("{:?}", harness.state().settings()).contains(KEY_SECRET));
    let saved = ConfigFile::load(&dirs.paths.config_file).expect("saved");
    assert_eq!(
        saved.profiles["lab"].access_key_secret.as_deref(),
        Some(KEY_SECRET)
    );

    let file = dirs.file("beach.jpg", 150 * 1024);
    drop_files(&mut harness, std::slice::from_ref(&file));
    wait_until(&mut harness, GENEROUS, "the upload to the lab", |app| {
        app.transfers()
            .rows()
            .first()
            .is_some_and(|r| r.snapshot.state == TransferState::Done)
    });
    let row = harness.state().transfers().rows()[0].clone();
    assert_eq!(row.destination_label(), "oss://photos/beach.jpg");
    harness.run_steps(2);
    harness.get_by_label_contains("lab ·");

    let client = path_style_client(&lab.endpoint(), KEY_ID, KEY_SECRET);
    let stored = runtime
        .block_on(client.get_object("photos", "beach.jpg", None))
        .expect("object on the lab server");
    assert_eq!(
        stored.as_ref(),
        std::fs::read(&file).expect("file").as_slice()
    );
    drop(harness);
    runtime.block_on(lab.server.shutdown());
}
