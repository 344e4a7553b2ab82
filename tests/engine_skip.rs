//! Re-runs that skip what is there (skip existing, skip unchanged, by CRC-64) and folder
//! filters, through the engine's Add against a real `ossup serve`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ossup::engine::folder_plan::{FilterRule, PathFilters};
use ossup::engine::store::FileState;
use ossup::engine::{AddOptions, Destination, EngineCommand, OverwritePolicy, TransferState};
use ossup::protocol::OssClient;
use ossup::protocol::client::{Body, PutOptions};
use support::data::{data, rewrite_keeping_mtime, set_mtime, write_file};
use support::engine::*;
use support::server::*;

fn secs(when: SystemTime) -> u64 {
    when.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

/// Runs one Add of `folder` into `up/` on a fresh engine until its `count` rows finish;
/// returns the state and message of each row by key.
async fn run_add(
    server: &TestServer,
    folder: &Path,
    options: AddOptions,
    count: usize,
) -> Vec<(String, TransferState, Option<String>)> {
    let sessions = tempfile::tempdir().unwrap();
    let queue = tempfile::tempdir().unwrap();
    let mut watcher = spawn_engine(
        server.client(),
        &server.endpoint(),
        sessions.path(),
        queue.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![folder.to_path_buf()],
            destination: Destination::new(&watcher.target, BUCKET, "up/"),
            options,
        })
        .unwrap();
    watcher.until_jobs_finished(1).await;
    // The job's files as the queue store recorded them (skipped ones never became rows).
    let rows: Vec<_> = watcher
        .job_files()
        .into_iter()
        .map(|(key, state, reason)| {
            let state = match state {
                FileState::Done => TransferState::Done,
                FileState::Skipped => TransferState::Skipped,
                FileState::Failed => TransferState::Failed,
                other => panic!("{key} is still {other:?}"),
            };
            (key, state, reason)
        })
        .collect();
    assert_eq!(rows.len(), count, "{rows:?}");
    watcher.stop().await;
    rows
}

fn state_of(rows: &[(String, TransferState, Option<String>)], key: &str) -> TransferState {
    rows.iter()
        .find(|r| r.0 == key)
        .unwrap_or_else(|| panic!("no row for {key}: {rows:?}"))
        .1
        .clone()
}

fn unchanged() -> AddOptions {
    AddOptions {
        overwrite: OverwritePolicy::SkipUnchanged { checksum: false },
        ..AddOptions::default()
    }
}

fn by_checksum() -> AddOptions {
    AddOptions {
        overwrite: OverwritePolicy::SkipUnchanged { checksum: true },
        ..AddOptions::default()
    }
}

async fn mtime_meta(client: &OssClient, key: &str) -> Option<u64> {
    client
        .head_object(BUCKET, key)
        .await
        .unwrap()
        .mtime_unix_secs
}

fn folder_with(dir: &Path, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let root = dir.join("box");
    for (name, bytes) in files {
        let path = write_file(&root, name, bytes);
        set_mtime(&path, hour_ago());
    }
    root
}

/// A server whose `up/box/a.txt` already holds `existing`, and a folder `box` with
/// `a.txt` and `b.txt` (an hour old) to upload next to it.
async fn folder_beside_an_existing_object(
    existing: &'static [u8],
) -> (TestServer, OssClient, tempfile::TempDir, PathBuf) {
    let server = TestServer::start().await;
    let client = server.client();
    let dir = tempfile::tempdir().unwrap();
    let root = folder_with(
        dir.path(),
        &[("a.txt", data(50, 1)), ("b.txt", data(60, 2))],
    );
    client
        .put_object(
            BUCKET,
            "up/box/a.txt",
            Body::Bytes(Bytes::from_static(existing)),
            &PutOptions::default(),
            None,
        )
        .await
        .unwrap();
    (server, client, dir, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_existing_skips_any_existing_key_and_sends_the_rest() {
    let (server, client, _dir, root) =
        folder_beside_an_existing_object(b"older and different").await;
    let options = AddOptions {
        overwrite: OverwritePolicy::SkipExisting,
        ..AddOptions::default()
    };
    let rows = run_add(&server, &root, options, 2).await;
    assert_eq!(state_of(&rows, "up/box/a.txt"), TransferState::Skipped);
    assert_eq!(state_of(&rows, "up/box/b.txt"), TransferState::Done);
    assert_eq!(
        read_back(&client, "up/box/a.txt").await,
        b"older and different"
    );
    assert_eq!(read_back(&client, "up/box/b.txt").await, data(60, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_unchanged_sends_only_new_or_touched_files_and_mtime_is_recorded() {
    let server = TestServer::start().await;
    let client = server.client();
    let dir = tempfile::tempdir().unwrap();
    let big = data(PART as usize * 3 + 7, 3);
    let root = folder_with(
        dir.path(),
        &[("small.txt", data(40, 4)), ("big.bin", big.clone())],
    );
    let when = secs(hour_ago());

    let first = run_add(&server, &root, AddOptions::default(), 2).await;
    assert!(
        first.iter().all(|r| r.1 == TransferState::Done),
        "{first:?}"
    );
    // Single PUT and multipart both carry the file's modification time.
    for key in ["up/box/small.txt", "up/box/big.bin"] {
        let recorded = mtime_meta(&client, key).await.unwrap();
        assert!(recorded.abs_diff(when) <= 1, "{key}: {recorded} vs {when}");
    }

    // Nothing changed: nothing is sent.
    let etag_before = client
        .head_object(BUCKET, "up/box/big.bin")
        .await
        .unwrap()
        .etag;
    let again = run_add(&server, &root, unchanged(), 2).await;
    for (key, state, message) in &again {
        assert_eq!(*state, TransferState::Skipped, "{key}");
        assert_eq!(message.as_deref(), Some("unchanged: same size, not older"));
    }
    let etag_after = client
        .head_object(BUCKET, "up/box/big.bin")
        .await
        .unwrap()
        .etag;
    assert_eq!(etag_before, etag_after);

    // A file touched newer than the object is sent again; a new file is sent.
    let future = SystemTime::now() + Duration::from_secs(3600);
    set_mtime(&root.join("small.txt"), future);
    write_file(&root, "new.txt", b"new");
    let third = run_add(&server, &root, unchanged(), 3).await;
    assert_eq!(state_of(&third, "up/box/small.txt"), TransferState::Done);
    assert_eq!(state_of(&third, "up/box/new.txt"), TransferState::Done);
    assert_eq!(state_of(&third, "up/box/big.bin"), TransferState::Skipped);
    assert_eq!(
        mtime_meta(&client, "up/box/small.txt").await,
        Some(secs(future))
    );

    // Its object is now older (LastModified) than the file, but the recorded mtime says
    // it is the same file: skipped.
    let fourth = run_add(&server, &root, unchanged(), 3).await;
    assert!(
        fourth.iter().all(|r| r.1 == TransferState::Skipped),
        "{fourth:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_catches_same_size_same_time_different_content() {
    let server = TestServer::start().await;
    let client = server.client();
    let dir = tempfile::tempdir().unwrap();
    let root = folder_with(
        dir.path(),
        &[("a.txt", b"first".to_vec()), ("b.txt", data(30, 5))],
    );
    let first = run_add(&server, &root, AddOptions::default(), 2).await;
    assert!(
        first.iter().all(|r| r.1 == TransferState::Done),
        "{first:?}"
    );

    rewrite_keeping_mtime(&root.join("a.txt"), b"other");

    let by_time = run_add(&server, &root, unchanged(), 2).await;
    assert_eq!(state_of(&by_time, "up/box/a.txt"), TransferState::Skipped);
    assert_eq!(read_back(&client, "up/box/a.txt").await, b"first");

    let by_crc = run_add(&server, &root, by_checksum(), 2).await;
    assert_eq!(state_of(&by_crc, "up/box/a.txt"), TransferState::Done);
    assert_eq!(state_of(&by_crc, "up/box/b.txt"), TransferState::Skipped);
    assert_eq!(read_back(&client, "up/box/a.txt").await, b"other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_matching_filter_decides_and_excluded_files_are_not_transfers() {
    let server = TestServer::start().await;
    let client = server.client();
    let dir = tempfile::tempdir().unwrap();
    let root = folder_with(
        dir.path(),
        &[
            ("a.tmp", b"a".to_vec()),
            ("keep.tmp", b"k".to_vec()),
            ("sub/c.tmp", b"c".to_vec()),
            ("b.txt", b"b".to_vec()),
        ],
    );
    let options = AddOptions {
        filters: PathFilters::new(vec![
            FilterRule::Exclude("*.tmp".into()),
            FilterRule::Include("keep.tmp".into()),
        ])
        .unwrap(),
        ..AddOptions::default()
    };
    let rows = run_add(&server, &root, options, 2).await;
    let keys: Vec<_> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys, ["up/box/b.txt", "up/box/keep.tmp"]);
    assert_eq!(read_back(&client, "up/box/keep.tmp").await, b"k");
    assert!(client.head_object(BUCKET, "up/box/a.tmp").await.is_err());
    assert!(
        client
            .head_object(BUCKET, "up/box/sub/c.tmp")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_listing_fails_each_file_is_looked_up_and_existing_ones_are_kept() {
    let (server, client, _dir, root) = folder_beside_an_existing_object(b"keep me").await;
    // The next request (the listing) fails.
    server.server.faults().fail_next(1);
    let options = AddOptions {
        overwrite: OverwritePolicy::SkipExisting,
        ..AddOptions::default()
    };
    let rows = run_add(&server, &root, options, 2).await;
    assert_eq!(state_of(&rows, "up/box/a.txt"), TransferState::Skipped);
    assert_eq!(state_of(&rows, "up/box/b.txt"), TransferState::Done);
    assert_eq!(read_back(&client, "up/box/a.txt").await, b"keep me");
}
