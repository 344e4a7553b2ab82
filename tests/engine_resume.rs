//! Resuming against a real in-process `ossup serve`: engine restarts, changed files,
//! uploads aborted elsewhere, refused credentials, corrupt sessions and session locks.

mod support;

use ossup::engine::{Destination, EngineCommand, EngineEvent, PartState, TransferState};
use support::data::data;
use support::engine::*;
use support::server::{BUCKET, client_with};

/// Waits for the engine to report a saved session it cannot use: where it was, where it
/// was put aside, and why.
async fn until_a_session_is_reported_corrupt(
    watcher: &mut Watcher,
) -> (std::path::PathBuf, Option<std::path::PathBuf>, String) {
    let reported = |w: &Watcher| {
        w.events.iter().find_map(|e| match e {
            EngineEvent::SessionCorrupt {
                path,
                moved_to,
                error,
            } => Some((path.clone(), moved_to.clone(), error.clone())),
            _ => None,
        })
    };
    watcher
        .until("a saved session reported as unusable", |w| {
            reported(w).is_some()
        })
        .await;
    reported(watcher).expect("reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_engine_resumes_the_same_upload() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 16 + 77, 1);
    let path = t.file("restart.bin", &bytes);
    let mut first = t.engine();
    first.add(vec![path.clone()], "");
    let paused = first.pause_partway("restart.bin").await;
    let done_before = paused
        .parts
        .iter()
        .filter(|p| **p == PartState::Done)
        .count();
    first.stop().await;

    t.server.faults().clear();
    let mut second = t.engine();
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
    t.server.faults().fail_next(3);
    // Adding the same file again continues its session rather than starting another.
    second.add(vec![path], "");
    let done = second
        .until_key_state("restart.bin", TransferState::Done)
        .await;
    assert_eq!(
        done.upload_id, paused.upload_id,
        "reconciled, same upload id"
    );
    assert!(done.result.unwrap().verified);
    assert_eq!(t.read_back("restart.bin").await, bytes);
    assert_eq!(second.rows.len(), 1);
    let uploads = t.uploads_in_progress().await;
    assert!(uploads.uploads.is_empty(), "{uploads:?}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_while_paused_stops_with_a_clear_message_and_restart_works() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let path = t.file("changing.bin", &data(PART as usize * 12, 2));
    let mut watcher = t.engine();
    watcher.add(vec![path.clone()], "");
    let paused = watcher.pause_partway("changing.bin").await;

    let new_bytes = data(PART as usize * 12, 3);
    std::fs::write(&path, &new_bytes).unwrap();
    watcher.send(EngineCommand::Resume(paused.id.clone()));
    let failed = watcher
        .until_key_state("changing.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(
        error.message.contains("changed since the upload started"),
        "{error}"
    );
    assert!(error.restart_suggested);

    t.server.faults().clear();
    watcher.send(EngineCommand::Restart(paused.id.clone()));
    let done = watcher
        .until_key_state("changing.bin", TransferState::Done)
        .await;
    assert_ne!(done.upload_id, paused.upload_id, "a new upload");
    assert_eq!(t.read_back("changing.bin").await, new_bytes);
    let left = t.uploads_in_progress().await;
    assert!(
        left.uploads.is_empty(),
        "the old upload was aborted: {left:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_aborted_elsewhere_is_reported_not_silently_replaced() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 12, 4);
    let path = t.file("aborted.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    let paused = watcher.pause_partway("aborted.bin").await;
    let upload_id = paused.upload_id.clone().unwrap();
    t.client
        .abort_multipart_upload(BUCKET, "aborted.bin", &upload_id)
        .await
        .unwrap();

    watcher.send(EngineCommand::Resume(paused.id.clone()));
    let failed = watcher
        .until_key_state("aborted.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(error.message.contains("aborted on the server"), "{error}");
    assert_eq!(error.code.as_deref(), Some("NoSuchUpload"));
    assert!(error.restart_suggested);
    let uploads = t.uploads_in_progress().await;
    assert!(uploads.uploads.is_empty(), "no second upload was started");

    t.server.faults().clear();
    watcher.send(EngineCommand::Restart(paused.id));
    watcher
        .until_key_state("aborted.bin", TransferState::Done)
        .await;
    assert_eq!(t.read_back("aborted.bin").await, bytes);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_completed_by_a_run_that_died_before_forgetting_its_session_is_done() {
    let t = EngineFixture::start().await;
    let client = t.client.clone();
    t.server.slow_parts();
    let bytes = data(PART as usize * 12 + 5, 9);
    let path = t.file("finished.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    let paused = watcher.pause_partway("finished.bin").await;
    let upload_id = paused.upload_id.clone().unwrap();
    t.server.faults().clear();

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

    watcher.send(EngineCommand::Resume(paused.id.clone()));
    let done = watcher
        .until_key_state("finished.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified, "the CRC-64 was compared");
    assert_eq!(read_back(&client, "finished.bin").await, bytes);
    let uploads = t.uploads_in_progress().await;
    assert!(uploads.uploads.is_empty(), "no second upload: {uploads:?}");
    let leftovers: Vec<_> = std::fs::read_dir(t.sessions())
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
    let t = EngineFixture::start().await;
    let big = t.file("big.bin", &data(PART as usize * 3, 5));
    let small = t.file("small.bin", b"tiny");

    let wrong = client_with(&t.endpoint(), "UNKNOWNKEYID", "not-the-secret");
    let mut watcher = t.engine_as(wrong, tuning());
    watcher.add(vec![big.clone()], "");
    watcher.add(vec![small], "");
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
        std::fs::read_dir(t.sessions()).unwrap().count(),
        0,
        "nothing started, nothing left in the sessions folder"
    );
    watcher.stop().await;

    let wrong_secret = client_with(
        &t.endpoint(),
        ossup::server::DEFAULT_ACCESS_KEY_ID,
        "not-the-secret",
    );
    let mut watcher = t.engine_as(wrong_secret, tuning());
    watcher.add(vec![big.clone()], "");
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

    let mut watcher = t.engine();
    watcher.send(EngineCommand::Add {
        paths: vec![big],
        destination: Destination::new(&watcher.target, "no-such-bucket", ""),
        options: Default::default(),
    });
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
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let path = t.file("kept.bin", &data(PART as usize * 10, 6));
    let mut first = t.engine();
    first.add(vec![path], "");
    first.pause_partway("kept.bin").await;
    first.stop().await;
    std::fs::write(
        t.sessions().join("broken.json"),
        b"{\"format_version\": 1, \"id\":",
    )
    .unwrap();

    let mut second = t.engine();
    second
        .until_key_state("kept.bin", TransferState::Paused)
        .await;
    let (path, moved_to, _) = until_a_session_is_reported_corrupt(&mut second).await;
    assert!(path.ends_with("broken.json"));
    assert!(moved_to.unwrap().exists());
    assert!(!t.sessions().join("broken.json").exists());
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_driven_by_another_engine_is_visible_but_locked() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 40, 8);
    let path = t.file("shared.bin", &bytes);
    let mut owner = t.engine();
    owner.add(vec![path.clone()], "");
    owner
        .until("a part done", |w| {
            w.row_for_key("shared.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;

    // While the owner uploads, a second engine on the same sessions sees it locked.
    let mut other = t.engine();
    let seen = other
        .until_key_state("shared.bin", TransferState::LockedElsewhere)
        .await;
    // Adding the same file there does not start a second upload.
    other.add(vec![path], "");
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
    let uploads = t.uploads_in_progress().await;
    assert_eq!(uploads.uploads.len(), 1);
    other.stop().await;

    let done = owner
        .until_key_state("shared.bin", TransferState::Done)
        .await;
    assert_eq!(done.id, seen.id);
    assert_eq!(t.read_back("shared.bin").await, bytes);
    owner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_network_and_resumes_by_itself() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 16, 12);
    let path = t.file("outage.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    watcher
        .until("a part done", |w| {
            w.row_for_key("outage.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;

    let addr = t.server.addr();
    t.server.server.shutdown().await;
    watcher
        .until_key_state("outage.bin", TransferState::WaitingForNetwork)
        .await;

    // The same server comes back on the same port with the same data.
    let mut again = ossup::server::ServerConfig::new(t.server.dir.path());
    again.listen = addr;
    let server = ossup::server::start(again).await.unwrap();
    let done = watcher
        .until_key_state("outage.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(read_back(&t.client, "outage.bin").await, bytes);
    watcher.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_corrected_from_the_server_time() {
    let t = EngineFixture::start().await;
    // An hour behind: the server refuses with RequestTimeTooSkewed and says its time.
    t.client.set_clock_offset_secs(-3600);
    let bytes = data(PART as usize * 3, 13);
    let path = t.file("skewed.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    let done = watcher
        .until_key_state("skewed.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert!(t.client.clock_offset_secs().abs() < 60, "offset corrected");
    assert_eq!(t.read_back("skewed.bin").await, bytes);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_by_themselves_when_asked_to() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 12, 14);
    let path = t.file("auto.bin", &bytes);
    let mut first = t.engine();
    first.add(vec![path], "");
    let paused = first.pause_partway("auto.bin").await;
    first.stop().await;

    t.server.faults().clear();
    let mut tuning = tuning();
    tuning.resume_on_start = true;
    let mut second = t.engine_with(tuning);
    let done = second
        .until_key_state("auto.bin", TransferState::Done)
        .await;
    assert_eq!(done.upload_id, paused.upload_id);
    assert_eq!(t.read_back("auto.bin").await, bytes);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_the_upload_is_not_completed() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let path = t.file("moving.bin", &data(PART as usize * 40, 15));
    let mut watcher = t.engine();
    watcher.add(vec![path.clone()], "");
    watcher
        .until("a part done", |w| {
            w.row_for_key("moving.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;
    // Replaced whole, as an editor saves: a reader never meets it half written.
    let replacement = path.with_extension("new");
    std::fs::write(&replacement, data(PART as usize * 40, 16)).unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    let failed = watcher
        .until_key_state("moving.bin", TransferState::Failed)
        .await;
    let error = failed.error.unwrap();
    assert!(
        error.message.contains("changed since the upload started"),
        "{error}"
    );
    assert!(
        t.client.head_object(BUCKET, "moving.bin").await.is_err(),
        "no object built"
    );
    watcher.stop().await;
}

/// A run that saved its session, sent the Initiate and died before the answer: the next
/// run adopts the upload the server created instead of leaving it orphaned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_died_before_its_initiate_was_answered_leaves_no_orphan() {
    use ossup::engine::session_store::{FORMAT_VERSION, Session, UploadOptions};
    use ossup::engine::source_file;

    let t = EngineFixture::start().await;
    let bytes = data(PART as usize * 3 + 1, 31);
    let path = t.file("died.bin", &bytes);
    // What the server holds from the dead run's Initiate.
    let theirs = support::server::initiate(&t.client, BUCKET, "died.bin").await;
    let initiating = Session {
        format_version: FORMAT_VERSION,
        id: "died".into(),
        local_path: path.clone(),
        file: source_file::identify(&path).unwrap(),
        endpoint: t.endpoint(),
        bucket: BUCKET.into(),
        key: "died.bin".into(),
        upload_id: String::new(),
        part_size: PART,
        completed_parts: Vec::new(),
        options: UploadOptions::default(),
        created_unix_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        job: None,
    };
    std::fs::write(
        t.sessions().join("died.json"),
        serde_json::to_vec(&initiating).unwrap(),
    )
    .unwrap();

    let mut watcher = t.engine();
    let paused = watcher
        .until_key_state("died.bin", TransferState::Paused)
        .await;
    assert_eq!(paused.upload_id, None, "no upload id known yet");
    watcher.send(EngineCommand::Resume(paused.id));
    let done = watcher
        .until_key_state("died.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(done.upload_id.as_deref(), Some(theirs.as_str()), "adopted");
    assert_eq!(read_back(&t.client, "died.bin").await, bytes);
    let left = t.uploads_in_progress().await;
    assert!(left.uploads.is_empty(), "nothing orphaned: {left:?}");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_impossible_numbers_is_set_aside_before_anything_is_allocated() {
    use ossup::engine::session_store::{FORMAT_VERSION, FileIdentity, Session, UploadOptions};

    let t = EngineFixture::start().await;
    let path = t.file("huge.bin", b"small on disk");
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
        endpoint: t.endpoint(),
        bucket: BUCKET.into(),
        key: "huge.bin".into(),
        upload_id: "UPLOAD".into(),
        part_size: 1,
        completed_parts: Vec::new(),
        options: UploadOptions::default(),
        created_unix_secs: 0,
        job: None,
    };
    let file = t.sessions().join("tampered.json");
    std::fs::write(&file, serde_json::to_vec(&tampered).unwrap()).unwrap();

    let mut engine = t.engine();
    let (_, moved_to, error) = until_a_session_is_reported_corrupt(&mut engine).await;
    assert!(error.contains("10000 parts"), "{error}");
    assert!(moved_to.unwrap().exists());
    assert!(!file.exists());
    assert!(engine.row_for_key("huge.bin").is_none());

    // The engine still works.
    let good = t.file("after.bin", &data(PART as usize * 2 + 5, 9));
    engine.add(vec![good], "");
    engine
        .until_key_state("after.bin", TransferState::Done)
        .await;
    engine.stop().await;
}

/// A session file left by an earlier version, which kept one JSON file per upload: the
/// next start brings it into the queue store and the upload resumes where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_file_of_an_earlier_version_is_imported_and_resumed() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 12 + 5, 41);
    let path = t.file("legacy.bin", &bytes);
    let mut first = t.engine();
    first.add(vec![path], "");
    let paused = first.pause_partway("legacy.bin").await;
    first.stop().await;

    // Written back as the file an earlier version kept (a single file's, of no job), and
    // gone from the store.
    let mut session = t.saved_sessions().remove(0);
    session.job = None;
    assert!(!session.completed_parts.is_empty());
    sessions_in(t.queue.path(), t.sessions())
        .remove(&session.transfer_id())
        .unwrap();
    let file = t.sessions().join(format!("{}.json", session.id));
    std::fs::write(&file, serde_json::to_vec_pretty(&session).unwrap()).unwrap();
    rusqlite::Connection::open(t.queue.path().join("queue.sqlite3"))
        .unwrap()
        .execute_batch("PRAGMA foreign_keys = ON; DELETE FROM jobs;")
        .unwrap();

    t.server.faults().clear();
    let mut second = t.engine();
    let loaded = second
        .until_key_state("legacy.bin", TransferState::Paused)
        .await;
    assert_eq!(loaded.upload_id, paused.upload_id);
    assert_eq!(loaded.bytes_done, paused.bytes_done);
    assert!(!file.exists(), "moved out of the sessions folder");
    assert!(
        t.sessions()
            .join("imported")
            .join(format!("{}.json", session.id))
            .exists(),
        "kept, not deleted"
    );
    second.send(EngineCommand::Resume(loaded.id));
    let done = second
        .until_key_state("legacy.bin", TransferState::Done)
        .await;
    assert_eq!(done.upload_id, paused.upload_id, "the same upload went on");
    assert!(done.result.unwrap().verified);
    assert_eq!(t.read_back("legacy.bin").await, bytes);
    assert!(
        t.saved_sessions().is_empty(),
        "finished: nothing left saved"
    );
    // Resumed as a job of its one file, like any file upload now.
    let jobs: Vec<_> = second.jobs.values().collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(done.job, Some(jobs[0].id));
    assert_eq!(jobs[0].roots, [session.local_path.clone()]);
    second.stop().await;
}

/// A session row damaged in the queue store (numbers no upload can have) is reported once
/// with the reason, kept where it is, and never resumed; the other uploads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_session_row_is_reported_once_and_kept() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let path = t.file("damaged.bin", &data(PART as usize * 24, 43));
    let mut first = t.engine();
    first.add(vec![path], "");
    first.pause_partway("damaged.bin").await;
    first.stop().await;

    let database = t.queue.path().join("queue.sqlite3");
    let changed = rusqlite::Connection::open(&database)
        .unwrap()
        .execute(
            "UPDATE sessions SET part_size = 1, file_size = 4000000000",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let mut second = t.engine();
    let (path, moved_to, error) = until_a_session_is_reported_corrupt(&mut second).await;
    assert_eq!(path, database);
    assert_eq!(moved_to, None, "a row is flagged where it is");
    assert!(error.contains("10000 parts"), "{error}");
    assert!(second.row_for_key("damaged.bin").is_none(), "never resumed");
    second.stop().await;

    // Kept, and not reported again.
    let kept: i64 = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE damaged_reason IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1);
    let mut third = t.engine();
    let good = t.file("after.bin", &data(PART as usize * 2, 44));
    third.add(vec![good], "");
    third
        .until_key_state("after.bin", TransferState::Done)
        .await;
    assert!(
        !third
            .events
            .iter()
            .any(|e| matches!(e, EngineEvent::SessionCorrupt { .. })),
        "reported once"
    );
    third.stop().await;
}
