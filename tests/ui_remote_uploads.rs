//! The in-progress uploads view against the embedded endpoint: an upload started by
//! another client shows up as an orphan and aborting it empties the server's list; our own
//! paused uploads show as resumable, resume from the list, and abort only after a warning.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::engine::event::TransferState;
use ossup::engine::remote_uploads::UploadClass;
use ossup::protocol::client::InitiateOptions;
use ossup::server;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(30);

#[test]
fn an_orphan_from_another_client_is_listed_and_aborted() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    let endpoint = connected_endpoint(&harness);
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
    // Nothing is aborted before the question is answered, and it says what goes.
    harness.run_steps(2);
    assert_eq!(open_uploads(&client).len(), 1, "aborted without asking");
    harness
        .get_by_label_contains("This aborts 1 uploads (1 orphans) holding 0B (+1 not counted yet)");
    click(&mut harness, "Cancel");
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("This aborts").is_none());
    assert_eq!(open_uploads(&client).len(), 1, "cancel aborts nothing");

    click(&mut harness, "Count orphan bytes");
    wait_until(&mut harness, GENEROUS, "the count", |app| {
        app.remote_uploads().orphan_bytes().1 == 0
    });
    click(&mut harness, "Abort selected (1)");
    harness.get_by_label_contains("This aborts 1 uploads (1 orphans) holding 0B on the server");
    click(&mut harness, "Abort them");
    wait_until(&mut harness, GENEROUS, "the abort", |app| {
        app.remote_uploads().rows.is_empty() && !app.remote_uploads().busy
    });
    assert_eq!(
        harness.state().remote_uploads().report,
        vec![String::from("Aborted left/behind.bin.")]
    );

    let left = open_uploads(&client);
    assert!(left.is_empty(), "still there: {left:?}");
}

#[test]
fn our_paused_uploads_resume_from_the_list_and_aborting_one_asks_first() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let first = dirs.file("a.bin", 2 * 1024 * 1024);
    let second = dirs.file("b.bin", 2 * 1024 * 1024);
    let mut harness = harness(setup(&dirs, Some(Duration::from_millis(150))));
    let endpoint = connected_endpoint(&harness);

    drop_files(&mut harness, &[first, second]);
    wait_until(&mut harness, GENEROUS, "both uploads started", |app| {
        let rows = app.transfers().rows();
        rows.len() == 2 && rows.iter().all(|r| r.snapshot.upload_id.is_some())
    });
    click(&mut harness, "Pause all");
    wait_until(&mut harness, GENEROUS, "both paused", |app| {
        app.transfers()
            .rows()
            .iter()
            .all(|r| r.snapshot.state == TransferState::Paused)
    });

    click(&mut harness, "In-progress uploads");
    click(&mut harness, "List uploads");
    wait_until(&mut harness, GENEROUS, "the listing", |app| {
        app.remote_uploads().listed && !app.remote_uploads().busy
    });
    let rows = &harness.state().remote_uploads().rows;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| matches!(r.upload.class, UploadClass::Resumable(_)))
    );
    harness.run_steps(2);
    assert_eq!(harness.get_all_by_label("ours, resumable").count(), 2);

    // Rows come sorted by key: the first Resume is a.bin's.
    harness
        .get_all_by_label("Resume")
        .next()
        .expect("a resume button")
        .click();
    harness.step();
    harness.step();
    wait_until(&mut harness, GENEROUS, "a.bin done", |app| {
        app.transfers()
            .rows()
            .iter()
            .any(|r| r.file_name == "a.bin" && r.snapshot.state == TransferState::Done)
    });

    click(&mut harness, "In-progress uploads");
    click(&mut harness, "List uploads");
    wait_until(&mut harness, GENEROUS, "the second listing", |app| {
        !app.remote_uploads().busy && app.remote_uploads().rows.len() == 1
    });
    click(&mut harness, "Select all");
    click(&mut harness, "Abort selected (1)");
    harness.get_by_label_contains("belong to uploads from this computer");
    harness.get_by_label_contains("This aborts 1 uploads (0 orphans)");
    click(&mut harness, "Abort them");
    wait_until(&mut harness, GENEROUS, "b.bin aborted", |app| {
        app.transfers()
            .rows()
            .iter()
            .all(|r| r.file_name != "b.bin")
    });
    let client = other_client(&endpoint);
    let left = open_uploads(&client);
    assert!(left.is_empty(), "still there: {left:?}");
}

#[test]
fn uploads_are_listed_page_by_page() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    let endpoint = connected_endpoint(&harness);
    let client = other_client(&endpoint);
    let total = ossup::ui::remote_page::UPLOADS_PAGE_SIZE as usize + 5;
    block_on(async {
        for i in 0..total {
            client
                .initiate_multipart_upload(
                    server::DEFAULT_BUCKET,
                    &format!("many/{i:04}.bin"),
                    &InitiateOptions::default(),
                )
                .await
                .expect("initiate");
        }
    });

    click(&mut harness, "In-progress uploads");
    click(&mut harness, "List uploads");
    wait_until(&mut harness, GENEROUS, "the first page", |app| {
        app.remote_uploads().listed && !app.remote_uploads().busy
    });
    assert_eq!(harness.state().remote_uploads().rows.len(), total - 5);
    assert!(harness.state().remote_uploads().next_page.is_some());

    harness.get_by_label("Load more").scroll_to_me();
    harness.run_steps(2);
    click(&mut harness, "Load more");
    wait_until(&mut harness, GENEROUS, "the second page", |app| {
        !app.remote_uploads().busy && app.remote_uploads().rows.len() == total
    });
    let remote = harness.state().remote_uploads();
    assert!(remote.next_page.is_none());
    let keys: Vec<&str> = remote
        .rows
        .iter()
        .map(|r| r.upload.upload.key.as_str())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), total, "no upload listed twice");
}
