//! Adding files onto keys that already exist asks once, for the whole drop: Overwrite,
//! Skip existing, Skip unchanged or Cancel, with "Apply to all" for the rest of the run.
//! Nothing is asked when nothing exists, or when the key may not list what exists.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ossup::engine::event::TransferState;
use ossup::protocol::OssClient;
use ossup::protocol::client::{Body, PutOptions};
use ossup::server;
use ossup::server::permissions::Permissions;
use ossup::ui::OssupApp;
use support::data::{data, write_file};
use support::server::TestServer;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);

/// An object written by another program before the window adds anything.
fn put(client: &OssClient, key: &str, bytes: &[u8]) {
    block_on(client.put_object(
        server::DEFAULT_BUCKET,
        key,
        Body::Bytes(Bytes::copy_from_slice(bytes)),
        &PutOptions::default(),
        None,
    ))
    .expect("object written");
}

/// The object's bytes, or `None` when there is no such object.
fn stored(client: &OssClient, key: &str) -> Option<Vec<u8>> {
    block_on(client.get_object(server::DEFAULT_BUCKET, key, None))
        .ok()
        .map(|bytes| bytes.to_vec())
}

/// Steps until the question is on screen; returns what it says.
fn wait_for_question(harness: &mut Harness<'_, OssupApp>) -> String {
    wait_until(harness, GENEROUS, "the question", |app| {
        app.overwrite_question().is_some()
    });
    harness.step();
    harness.state().overwrite_question().expect("asked")
}

/// Clicks the question's button (the toolbar has a "Skip unchanged" toggle too).
fn answer(harness: &mut Harness<'_, OssupApp>, label: &str) {
    harness
        .get_by_role_and_label(egui::Role::Button, label)
        .click();
    harness.step();
    harness.step();
}

/// A window on its embedded endpoint, a second client on that endpoint, and a local
/// file `name` whose bytes differ from the object `name` already there.
fn window_with_existing(
    dirs: &TestDirs,
    name: &str,
) -> (Harness<'static, OssupApp>, OssClient, PathBuf) {
    dirs.write_config(SMALL_PARTS_CONFIG);
    let harness = harness(setup(dirs, None));
    let client = other_client(&connected_endpoint(&harness));
    put(&client, name, b"what was there before");
    let file = dirs.file(name, 2_000);
    (harness, client, file)
}

#[test]
fn nothing_is_asked_when_nothing_exists() {
    let dirs = TestDirs::new();
    let (mut harness, client, _) = window_with_existing(&dirs, "other.txt");
    let fresh = dirs.file("fresh.txt", 2_000);

    drop_files(&mut harness, std::slice::from_ref(&fresh));
    wait_until(&mut harness, GENEROUS, "the upload done", |app| {
        assert_eq!(
            app.overwrite_question(),
            None,
            "nothing exists to ask about"
        );
        state_of(app, "fresh.txt") == Some(TransferState::Done)
    });
    assert!(harness.query_by_label_contains("already exist").is_none());
    assert_eq!(stored(&client, "fresh.txt"), Some(data(2_000, 0)));
}

#[test]
fn skip_existing_leaves_the_object_and_shows_the_file_skipped() {
    let dirs = TestDirs::new();
    let (mut harness, client, file) = window_with_existing(&dirs, "photo.txt");

    drop_files(&mut harness, &[file]);
    let question = wait_for_question(&mut harness);
    assert_eq!(
        question,
        format!(
            "1 of these files already exists in oss://{}/",
            server::DEFAULT_BUCKET
        )
    );
    harness.get_by_label_contains("1 of these files already exists in");
    answer(&mut harness, "Skip existing");
    wait_until(&mut harness, GENEROUS, "the file skipped", |app| {
        state_of(app, "photo.txt") == Some(TransferState::Skipped)
    });
    assert!(harness.query_by_label_contains("already exist").is_none());
    assert_eq!(
        stored(&client, "photo.txt").as_deref(),
        Some(&b"what was there before"[..])
    );
}

#[test]
fn overwrite_replaces_the_object() {
    let dirs = TestDirs::new();
    let (mut harness, client, file) = window_with_existing(&dirs, "photo.txt");

    drop_files(&mut harness, &[file]);
    wait_for_question(&mut harness);
    answer(&mut harness, "Overwrite");
    wait_until(&mut harness, GENEROUS, "the file sent", |app| {
        state_of(app, "photo.txt") == Some(TransferState::Done)
    });
    assert_eq!(stored(&client, "photo.txt"), Some(data(2_000, 0)));
}

#[test]
fn apply_to_all_keeps_the_answer_for_the_next_drop() {
    let dirs = TestDirs::new();
    let (mut harness, client, first) = window_with_existing(&dirs, "one.txt");
    put(&client, "two.txt", b"second, there before");
    let second = dirs.file("two.txt", 3_000);

    drop_files(&mut harness, &[first]);
    wait_for_question(&mut harness);
    click(&mut harness, "Apply to all");
    answer(&mut harness, "Skip existing");
    wait_until(&mut harness, GENEROUS, "the first file skipped", |app| {
        state_of(app, "one.txt") == Some(TransferState::Skipped)
    });

    drop_files(&mut harness, &[second]);
    assert!(
        !harness.state().is_checking_existing(),
        "the remembered answer needs no check"
    );
    wait_until(&mut harness, GENEROUS, "the second file skipped", |app| {
        assert_eq!(app.overwrite_question(), None, "asked again");
        state_of(app, "two.txt") == Some(TransferState::Skipped)
    });
    assert_eq!(
        stored(&client, "two.txt").as_deref(),
        Some(&b"second, there before"[..])
    );
}

#[test]
fn cancel_adds_nothing_of_the_drop() {
    let dirs = TestDirs::new();
    let (mut harness, client, existing) = window_with_existing(&dirs, "old.txt");
    let new = dirs.file("new.txt", 1_000);
    // A folder with one file already uploaded and one not: both counted by one listing.
    let folder = dirs.root.path().join("files").join("trip");
    write_file(&folder, "a.txt", b"local a");
    write_file(&folder, "b.txt", b"local b");
    put(&client, "trip/a.txt", b"remote a");
    put(&client, "trip/", b"");

    drop_files(&mut harness, &[existing, new, folder]);
    let question = wait_for_question(&mut harness);
    assert!(
        question.starts_with("2 of these files already exist in"),
        "{question}"
    );
    answer(&mut harness, "Cancel");
    assert_eq!(harness.state().overwrite_question(), None);
    assert_eq!(harness.state().status(), Some("Nothing was added."));

    // Commands reach the engine in order: once a later drop is done, a cancelled one
    // would have shown its rows.
    let later = dirs.file("later.txt", 1_000);
    drop_files(&mut harness, &[later]);
    wait_until(&mut harness, GENEROUS, "the later drop done", |app| {
        state_of(app, "later.txt") == Some(TransferState::Done)
    });
    let names: Vec<_> = harness
        .state()
        .transfers()
        .rows()
        .iter()
        .map(|row| row.file_name.clone())
        .collect();
    assert_eq!(names, ["later.txt"]);
    let jobs: Vec<_> = harness.state().transfers().jobs.values().collect();
    assert!(
        jobs.iter()
            .all(|job| job.roots.len() == 1 && job.roots[0].ends_with("later.txt")),
        "only the later drop made a job: {jobs:?}"
    );
    assert_eq!(
        stored(&client, "old.txt").as_deref(),
        Some(&b"what was there before"[..])
    );
    assert_eq!(stored(&client, "new.txt"), None);
    assert_eq!(stored(&client, "trip/b.txt"), None);
}

#[test]
fn a_key_that_may_not_list_is_not_asked_and_the_status_says_why() {
    const UPLOAD_ONLY: (&str, &str) = ("UPLOADKEYID", "upload-secret");
    let dirs = TestDirs::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start_with(|config| {
        config
            .access_keys
            .push((UPLOAD_ONLY.0.into(), UPLOAD_ONLY.1.into()));
        config.permissions = vec![(
            UPLOAD_ONLY.0.into(),
            Permissions::parse("upload-only").expect("a permission set"),
        )];
    }));
    dirs.write_config(&format!(
        r#"
default_profile = "writer"
[profiles.writer]
endpoint = "{}"
bucket = "{}"
path_style = true
access_key_id = "{}"
access_key_secret = "{}"
"#,
        server.endpoint(),
        server::DEFAULT_BUCKET,
        UPLOAD_ONLY.0,
        UPLOAD_ONLY.1
    ));
    let full = server.client();
    put(&full, "photo.txt", b"what was there before");
    let file = dirs.file("photo.txt", 2_000);
    let mut harness = harness(setup(&dirs, None));

    drop_files(&mut harness, &[file]);
    wait_until(&mut harness, GENEROUS, "the file sent", |app| {
        assert_eq!(app.overwrite_question(), None, "nothing could be counted");
        state_of(app, "photo.txt") == Some(TransferState::Done)
    });
    let status = harness.state().status().unwrap_or_default().to_owned();
    assert!(status.contains("could not be checked"), "status: {status}");
    assert_eq!(stored(&full, "photo.txt"), Some(data(2_000, 0)));
}
