//! The in-progress uploads view against the embedded endpoint: an upload started by
//! another client shows up as an orphan, and aborting it empties the server's list.

mod ui_support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::protocol::client::{InitiateOptions, ListUploadsParams};
use ossup::server;
use ui_support::*;

const GENEROUS: Duration = Duration::from_secs(30);

#[test]
fn an_orphan_from_another_client_is_listed_and_aborted() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    let endpoint = harness
        .state()
        .target()
        .expect("connected")
        .endpoint
        .clone();
    let client = other_client(&endpoint);
    let initiated = block_on(client.initiate_multipart_upload(
        server::DEFAULT_BUCKET,
        "left/behind.bin",
        &InitiateOptions::default(),
    ))
    .expect("initiate");

    click(&mut harness, "In-progress uploads");
    click(&mut harness, "List uploads");
    wait_until(&mut harness, GENEROUS, "the listing", |app| {
        app.remote_uploads().listed && !app.remote_uploads().busy
    });
    let rows = &harness.state().remote_uploads().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].upload.upload.key, "left/behind.bin");
    assert_eq!(rows[0].upload.upload.upload_id, initiated.upload_id);
    assert!(rows[0].is_orphan());
    harness.run_steps(2);
    harness.get_by_label("orphan");

    click(&mut harness, "Select orphans");
    click(&mut harness, "Abort selected (1)");
    wait_until(&mut harness, GENEROUS, "the abort", |app| {
        app.remote_uploads().rows.is_empty() && !app.remote_uploads().busy
    });
    assert_eq!(
        harness.state().remote_uploads().report,
        vec![String::from("Aborted left/behind.bin.")]
    );

    let listed = block_on(
        client.list_multipart_uploads(server::DEFAULT_BUCKET, &ListUploadsParams::default()),
    )
    .expect("listing");
    assert!(
        listed.uploads.is_empty(),
        "still there: {:?}",
        listed.uploads
    );
}
