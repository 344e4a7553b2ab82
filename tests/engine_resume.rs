//! Resuming against a real in-process `ossup serve`: engine restarts, changed files,
//! uploads aborted elsewhere, refused credentials, corrupt sessions and session locks.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use ossup::engine::{Destination, EngineCommand, EngineEvent, PartState, TransferState};
use ossup::protocol::client::ListUploadsParams;
use ossup::server::faults::{FaultConfig, FaultScope};

fn slow_parts(server: &TestServer) {
    server.server.faults().set(FaultConfig {
        delay: Duration::from_millis(60),
        scope: FaultScope::UploadPart,
        ..FaultConfig::default()
    });
}

fn add(watcher: &Watcher, path: std::path::PathBuf) {
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![path],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
}

/// Starts an upload, lets a few parts finish, pauses it, and returns the paused row.
async fn paused_partway(watcher: &mut Watcher, key: &str) -> ossup::engine::TransferSnapshot {
    watcher
        .until("a few parts done", |w| {
            w.row_for_key(key)
                .is_some_and(|r| r.parts.iter().filter(|p| **p == PartState::Done).count() >= 3)
        })
        .await;
    let id = watcher.row_for_key(key).unwrap().id.clone();
    watcher.handle.send(EngineCommand::Pause(id)).unwrap();
    watcher.until_key_state(key, TransferState::Paused).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_engine_resumes_the_same_upload() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 16 + 77, 1);
    let path = write_file(files.path(), "restart.bin", &bytes);
    let mut first = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&first, path.clone());
    let paused = paused_partway(&mut first, "restart.bin").await;
    let done_before = paused
        .parts
        .iter()
        .filter(|p| **p == PartState::Done)
        .count();
    first.stop().await;

    server.server.faults().clear();
    let mut second = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    let loaded = second
        .until_key_state("restart.bin", TransferState::Paused)
        .await;
    assert_eq!(loaded.id, paused.id);
    assert_eq!(loaded.upload_id, paused.upload_id);
    assert_eq!(
        loaded
            .parts
            .iter()
            .filter(|p| **p == PartState::Done)
            .count(),
        done_before,
        "the part map comes back from the session"
    );
    assert_eq!(loaded.bytes_done, paused.bytes_done);

    // The first answers to the reconciling ListParts fail: retried, never a new upload.
    server.server.faults().fail_next(3);
    // Adding the same file again continues its session rather than starting another.
    add(&second, path);
    let done = second
        .until_key_state("restart.bin", TransferState::Done)
        .await;
    assert_eq!(
        done.upload_id, paused.upload_id,
        "reconciled, same upload id"
    );
    assert!(done.result.unwrap().verified);
    assert_eq!(read_back(&client, "restart.bin").await, bytes);
    assert_eq!(second.rows.len(), 1);
    let uploads = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert!(uploads.uploads.is_empty(), "{uploads:?}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_while_paused_stops_with_a_clear_message_and_restart_works() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let path = write_file(files.path(), "changing.bin", &data(PART as usize * 12, 2));
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&watcher, path.clone());
    let paused = paused_partway(&mut watcher, "changing.bin").await;

    let new_bytes = data(PART as usize * 12, 3);
    std::fs::write(&path, &new_bytes).unwrap();
    watcher
        .handle
        .send(EngineCommand::Resume(paused.id.clone()))
        .unwrap();
    let failed = watcher
        .until_key_state("changing.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(
        error.message.contains("changed since the upload started"),
        "{error}"
    );
    assert!(error.restart_suggested);

    server.server.faults().clear();
    watcher
        .handle
        .send(EngineCommand::Restart(paused.id.clone()))
        .unwrap();
    let done = watcher
        .until_key_state("changing.bin", TransferState::Done)
        .await;
    assert_ne!(done.upload_id, paused.upload_id, "a new upload");
    assert_eq!(read_back(&client, "changing.bin").await, new_bytes);
    let left = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert!(
        left.uploads.is_empty(),
        "the old upload was aborted: {left:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_aborted_elsewhere_is_reported_not_silently_replaced() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 12, 4);
    let path = write_file(files.path(), "aborted.bin", &bytes);
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&watcher, path);
    let paused = paused_partway(&mut watcher, "aborted.bin").await;
    let upload_id = paused.upload_id.clone().unwrap();
    client
        .abort_multipart_upload(BUCKET, "aborted.bin", &upload_id)
        .await
        .unwrap();

    watcher
        .handle
        .send(EngineCommand::Resume(paused.id.clone()))
        .unwrap();
    let failed = watcher
        .until_key_state("aborted.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(error.message.contains("aborted on the server"), "{error}");
    assert_eq!(error.code.as_deref(), Some("NoSuchUpload"));
    assert!(error.restart_suggested);
    let uploads = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert!(uploads.uploads.is_empty(), "no second upload was started");

    server.server.faults().clear();
    watcher
        .handle
        .send(EngineCommand::Restart(paused.id))
        .unwrap();
    watcher
        .until_key_state("aborted.bin", TransferState::Done)
        .await;
    assert_eq!(read_back(&client, "aborted.bin").await, bytes);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_completed_by_a_run_that_died_before_forgetting_its_session_is_done() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 12 + 5, 9);
    let path = write_file(files.path(), "finished.bin", &bytes);
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&watcher, path);
    let paused = paused_partway(&mut watcher, "finished.bin").await;
    let upload_id = paused.upload_id.clone().unwrap();
    server.server.faults().clear();

    // What the earlier run did before it was killed: every part sent, Complete answered.
    let mut parts = Vec::new();
    for (index, chunk) in bytes.chunks(PART as usize).enumerate() {
        let number = index as u32 + 1;
        let output = client
            .upload_part(
                BUCKET,
                "finished.bin",
                &upload_id,
                number,
                ossup::protocol::client::Body::Bytes(bytes::Bytes::copy_from_slice(chunk)),
                None,
            )
            .await
            .unwrap();
        parts.push(ossup::protocol::xml::CompletePart {
            part_number: number,
            etag: output.etag,
        });
    }
    client
        .complete_multipart_upload(
            BUCKET,
            "finished.bin",
            &upload_id,
            &parts,
            &Default::default(),
        )
        .await
        .unwrap();

    watcher
        .handle
        .send(EngineCommand::Resume(paused.id.clone()))
        .unwrap();
    let done = watcher
        .until_key_state("finished.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified, "the CRC-64 was compared");
    assert_eq!(read_back(&client, "finished.bin").await, bytes);
    let uploads = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert!(uploads.uploads.is_empty(), "no second upload: {uploads:?}");
    let leftovers: Vec<_> = std::fs::read_dir(sessions.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(
        leftovers.is_empty(),
        "the session is forgotten: {leftovers:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_unknown_buckets_fail_with_their_code() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let big = write_file(files.path(), "big.bin", &data(PART as usize * 3, 5));
    let small = write_file(files.path(), "small.bin", b"tiny");

    let wrong = client_with(&server.endpoint(), "UNKNOWNKEYID", "not-the-secret");
    let mut watcher = spawn_engine(wrong, &server.endpoint(), sessions.path(), tuning());
    add(&watcher, big.clone());
    add(&watcher, small);
    watcher.until_all_terminal(2).await;
    for key in ["big.bin", "small.bin"] {
        let row = watcher.row_for_key(key).unwrap();
        assert_eq!(row.state, TransferState::Failed);
        let error = row.error.clone().unwrap();
        assert_eq!(error.code.as_deref(), Some("InvalidAccessKeyId"), "{error}");
        assert!(error.message.contains("access key id"), "{error}");
        assert!(error.request_id.is_some(), "{error}");
    }
    assert_eq!(
        std::fs::read_dir(sessions.path()).unwrap().count(),
        0,
        "nothing started, nothing left in the sessions folder"
    );
    watcher.stop().await;

    let wrong_secret = client_with(
        &server.endpoint(),
        ossup::server::DEFAULT_ACCESS_KEY_ID,
        "not-the-secret",
    );
    let mut watcher = spawn_engine(wrong_secret, &server.endpoint(), sessions.path(), tuning());
    add(&watcher, big.clone());
    let failed = watcher
        .until_key_state("big.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert_eq!(
        error.code.as_deref(),
        Some("SignatureDoesNotMatch"),
        "{error}"
    );
    assert!(error.message.contains("secret"), "{error}");
    watcher.stop().await;

    let mut watcher = spawn_engine(
        server.client(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![big],
            destination: Destination::new("no-such-bucket", ""),
            options: Default::default(),
        })
        .unwrap();
    let failed = watcher
        .until_key_state("big.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert_eq!(error.code.as_deref(), Some("NoSuchBucket"), "{error}");
    assert!(error.message.contains("does not exist"), "{error}");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_sessions_are_reported_and_the_others_load() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let path = write_file(files.path(), "kept.bin", &data(PART as usize * 10, 6));
    let mut first = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&first, path);
    paused_partway(&mut first, "kept.bin").await;
    first.stop().await;
    std::fs::write(
        sessions.path().join("broken.json"),
        b"{\"format_version\": 1, \"id\":",
    )
    .unwrap();

    let mut second = spawn_engine(client, &server.endpoint(), sessions.path(), tuning());
    second
        .until_key_state("kept.bin", TransferState::Paused)
        .await;
    second
        .until("the corrupt session to be reported", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::SessionCorrupt { .. }))
        })
        .await;
    let (path, moved_to) = second
        .events
        .iter()
        .find_map(|e| match e {
            EngineEvent::SessionCorrupt { path, moved_to, .. } => {
                Some((path.clone(), moved_to.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert!(path.ends_with("broken.json"));
    assert!(moved_to.unwrap().exists());
    assert!(!sessions.path().join("broken.json").exists());
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_driven_by_another_engine_is_visible_but_locked() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 40, 8);
    let path = write_file(files.path(), "shared.bin", &bytes);
    let mut owner = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&owner, path.clone());
    owner
        .until("a part done", |w| {
            w.row_for_key("shared.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;

    // While the owner uploads, a second engine on the same sessions sees it locked.
    let mut other = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    let seen = other
        .until_key_state("shared.bin", TransferState::LockedElsewhere)
        .await;
    // Adding the same file there does not start a second upload.
    add(&other, path);
    other
        .until("a notice that it is in use", |w| {
            w.events.iter().any(|e| {
                matches!(e, EngineEvent::Notice { message } if message.contains("another ossup process"))
            })
        })
        .await;
    assert_eq!(
        other.row_for_key("shared.bin").unwrap().state,
        TransferState::LockedElsewhere
    );
    let uploads = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap();
    assert_eq!(uploads.uploads.len(), 1);
    other.stop().await;

    let done = owner
        .until_key_state("shared.bin", TransferState::Done)
        .await;
    assert_eq!(done.id, seen.id);
    assert_eq!(read_back(&client, "shared.bin").await, bytes);
    owner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_network_and_resumes_by_itself() {
    let data_dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let config = ossup::server::ServerConfig::new(data_dir.path());
    let server = ossup::server::start(config.clone()).await.unwrap();
    let endpoint = server.endpoint();
    let client = client_with(
        &endpoint,
        ossup::server::DEFAULT_ACCESS_KEY_ID,
        ossup::server::DEFAULT_ACCESS_KEY_SECRET,
    );
    server.faults().set(FaultConfig {
        delay: Duration::from_millis(60),
        scope: FaultScope::UploadPart,
        ..FaultConfig::default()
    });
    let bytes = data(PART as usize * 16, 12);
    let path = write_file(files.path(), "outage.bin", &bytes);
    let mut watcher = spawn_engine(client.clone(), &endpoint, sessions.path(), tuning());
    add(&watcher, path);
    watcher
        .until("a part done", |w| {
            w.row_for_key("outage.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;

    let addr = server.addr();
    server.shutdown().await;
    watcher
        .until_key_state("outage.bin", TransferState::WaitingForNetwork)
        .await;

    // The same server comes back on the same port with the same data.
    let mut again = config;
    again.listen = addr;
    let server = ossup::server::start(again).await.unwrap();
    let done = watcher
        .until_key_state("outage.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(read_back(&client, "outage.bin").await, bytes);
    watcher.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_corrected_from_the_server_time() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    // An hour behind: the server refuses with RequestTimeTooSkewed and says its time.
    client.set_clock_offset_secs(-3600);
    let bytes = data(PART as usize * 3, 13);
    let path = write_file(files.path(), "skewed.bin", &bytes);
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&watcher, path);
    let done = watcher
        .until_key_state("skewed.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert!(client.clock_offset_secs().abs() < 60, "offset corrected");
    assert_eq!(read_back(&client, "skewed.bin").await, bytes);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_by_themselves_when_asked_to() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 12, 14);
    let path = write_file(files.path(), "auto.bin", &bytes);
    let mut first = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&first, path);
    let paused = paused_partway(&mut first, "auto.bin").await;
    first.stop().await;

    server.server.faults().clear();
    let mut tuning = tuning();
    tuning.resume_on_start = true;
    let mut second = spawn_engine(client.clone(), &server.endpoint(), sessions.path(), tuning);
    let done = second
        .until_key_state("auto.bin", TransferState::Done)
        .await;
    assert_eq!(done.upload_id, paused.upload_id);
    assert_eq!(read_back(&client, "auto.bin").await, bytes);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_the_upload_is_not_completed() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let path = write_file(files.path(), "moving.bin", &data(PART as usize * 12, 15));
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    add(&watcher, path.clone());
    watcher
        .until("a part done", |w| {
            w.row_for_key("moving.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;
    std::fs::write(&path, data(PART as usize * 12, 16)).unwrap();
    let failed = watcher
        .until_key_state("moving.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(
        error.message.contains("changed since the upload started"),
        "{error}"
    );
    assert!(
        client.head_object(BUCKET, "moving.bin").await.is_err(),
        "no object built"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_impossible_numbers_is_set_aside_before_anything_is_allocated() {
    use ossup::engine::session_store::{FORMAT_VERSION, FileIdentity, Session, UploadOptions};

    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let path = write_file(files.path(), "huge.bin", b"small on disk");
    // 4 GB in parts of one byte: four billion parts, far past the 10,000 OSS allows.
    let tampered = Session {
        format_version: FORMAT_VERSION,
        id: "tampered".into(),
        local_path: path,
        file: FileIdentity {
            size: 4_000_000_000,
            mtime_unix_nanos: 0,
            fingerprint: 0,
        },
        endpoint: server.endpoint(),
        bucket: BUCKET.into(),
        key: "huge.bin".into(),
        upload_id: "UPLOAD".into(),
        part_size: 1,
        completed_parts: Vec::new(),
        options: UploadOptions::default(),
        created_unix_secs: 0,
    };
    let file = sessions.path().join("tampered.json");
    std::fs::write(&file, serde_json::to_vec(&tampered).unwrap()).unwrap();

    let mut engine = spawn_engine(
        server.client(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    engine
        .until("the impossible session to be reported", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::SessionCorrupt { .. }))
        })
        .await;
    let (moved_to, error) = engine
        .events
        .iter()
        .find_map(|e| match e {
            EngineEvent::SessionCorrupt {
                moved_to, error, ..
            } => Some((moved_to.clone(), error.clone())),
            _ => None,
        })
        .unwrap();
    assert!(error.contains("10000 parts"), "{error}");
    assert!(moved_to.unwrap().exists());
    assert!(!file.exists());
    assert!(engine.row_for_key("huge.bin").is_none());

    // The engine still works.
    let good = write_file(files.path(), "after.bin", &data(PART as usize * 2 + 5, 9));
    add(&engine, good);
    engine
        .until_key_state("after.bin", TransferState::Done)
        .await;
    engine.stop().await;
}
