//! The engine against a real in-process `ossup serve`: sizes around the part boundaries,
//! folders, streams, pause/resume, abort, and injected server faults.

mod engine_support;

use engine_support::*;
use std::time::Duration;

use ossup::engine::{
    Destination, EngineCommand, EngineEvent, PartState, StreamSource, TransferId, TransferState,
};
use ossup::protocol::client::ListUploadsParams;
use ossup::protocol::crc64;
use ossup::server::faults::{FaultConfig, FaultScope};

/// `bytes_done` of one transfer as the events reported it, in order.
fn bytes_done_history(events: &[EngineEvent], id: &TransferId) -> Vec<u64> {
    events
        .iter()
        .filter_map(|event| match event {
            EngineEvent::Snapshot(s) if &s.id == id => Some(s.bytes_done),
            EngineEvent::Progress {
                id: of, bytes_done, ..
            } if of == id => Some(*bytes_done),
            _ => None,
        })
        .collect()
}

async fn uploads_in_progress(client: &ossup::protocol::OssClient) -> usize {
    client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap()
        .uploads
        .len()
}

fn session_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count()
}

fn slow_parts(server: &TestServer) {
    server.server.faults().set(FaultConfig {
        delay: Duration::from_millis(60),
        scope: FaultScope::UploadPart,
        ..FaultConfig::default()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_around_part_boundaries_round_trip() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let cases: Vec<(&str, usize)> = vec![
        ("empty.bin", 0),
        ("one.bin", 1),
        ("just-under.bin", PART as usize - 1),
        ("one-part.bin", PART as usize),
        ("one-part-plus.bin", PART as usize + 1),
        ("three-and-half.bin", PART as usize * 7 / 2),
    ];
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    let mut paths = Vec::new();
    for (index, (name, len)) in cases.iter().enumerate() {
        paths.push(write_file(files.path(), name, &data(*len, index as u32)));
    }
    watcher
        .handle
        .send(EngineCommand::Add {
            paths,
            destination: Destination::new(BUCKET, "sizes/"),
            options: Default::default(),
        })
        .unwrap();
    watcher.until_all_terminal(cases.len()).await;

    for (index, (name, len)) in cases.iter().enumerate() {
        let key = format!("sizes/{name}");
        let row = watcher.row_for_key(&key).unwrap().clone();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert_eq!(row.size, *len as u64);
        assert_eq!(row.bytes_done, *len as u64, "{key}");
        let expected = data(*len, index as u32);
        let result = row.result.clone().unwrap();
        assert!(result.verified, "{key}: CRC-64 verified");
        assert_eq!(result.crc64, Some(crc64::checksum(&expected)));
        assert_eq!(
            read_back(&client, &key).await,
            expected,
            "{key} byte for byte"
        );
        let expected_parts = if (*len as u64) < PART {
            1
        } else {
            (*len as u64).div_ceil(PART)
        };
        assert_eq!(row.parts.len() as u64, expected_parts, "{key}");
        assert!(row.parts.iter().all(|p| *p == PartState::Done), "{key}");
    }
    // Finished uploads leave no session (nor lock file) behind.
    let leftovers: Vec<_> = std::fs::read_dir(sessions.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_resume_completes_without_going_backwards() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let bytes = data(PART as usize * 20 + 123, 7);
    let path = write_file(files.path(), "big.bin", &bytes);
    let mut tuning = tuning();
    tuning.parallel_parts_per_transfer = 2;
    let mut watcher = spawn_engine(client.clone(), &server.endpoint(), sessions.path(), tuning);
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![path],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher
        .until("a few parts done", |w| {
            w.row_for_key("big.bin")
                .is_some_and(|r| r.parts.iter().filter(|p| **p == PartState::Done).count() >= 3)
        })
        .await;
    let id = watcher.row_for_key("big.bin").unwrap().id.clone();
    watcher
        .handle
        .send(EngineCommand::Pause(id.clone()))
        .unwrap();
    let paused = watcher
        .until_key_state("big.bin", TransferState::Paused)
        .await;
    assert!(paused.bytes_done < bytes.len() as u64);
    assert!(
        paused
            .parts
            .iter()
            .all(|p| matches!(p, PartState::Done | PartState::Queued)),
        "nothing in flight after a pause: {:?}",
        paused.parts
    );
    assert!(std::fs::metadata(sessions.path().join(format!("{id}.json"))).is_ok());

    watcher
        .handle
        .send(EngineCommand::Resume(id.clone()))
        .unwrap();
    let done = watcher
        .until_key_state("big.bin", TransferState::Done)
        .await;
    assert_eq!(
        done.upload_id, paused.upload_id,
        "the same upload continued"
    );
    assert!(done.result.as_ref().unwrap().verified);
    assert_eq!(read_back(&client, "big.bin").await, bytes);
    let history = bytes_done_history(&watcher.events, &id);
    assert!(
        history.windows(2).all(|w| w[0] <= w[1]),
        "bytes done never go backwards: {history:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_leaves_nothing_behind() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    slow_parts(&server);
    let path = write_file(files.path(), "gone.bin", &data(PART as usize * 20, 3));
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![path],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher
        .until("a part done", |w| {
            w.row_for_key("gone.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;
    assert_eq!(uploads_in_progress(&client).await, 1);
    let id = watcher.row_for_key("gone.bin").unwrap().id.clone();
    watcher
        .handle
        .send(EngineCommand::Abort(id.clone()))
        .unwrap();
    watcher
        .until("the transfer to be removed", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::Removed(gone) if *gone == id))
        })
        .await;
    assert_eq!(uploads_in_progress(&client).await, 0);
    assert_eq!(session_files(sessions.path()), 0);
    assert!(client.head_object(BUCKET, "gone.bin").await.is_err());
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_part_failures_are_retried_and_the_object_is_intact() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    server.server.faults().set(FaultConfig {
        fail_rate: 0.1,
        scope: FaultScope::UploadPart,
        seed: 11,
        ..FaultConfig::default()
    });
    let bytes = data(PART as usize * 30 + 5, 9);
    let path = write_file(files.path(), "flaky.bin", &bytes);
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![path],
            destination: Destination::new(BUCKET, "faults/"),
            options: Default::default(),
        })
        .unwrap();
    let done = watcher
        .until_key_state("faults/flaky.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(read_back(&client, "faults/flaky.bin").await, bytes);
    // Read everything, including events published with the final snapshot.
    let events = watcher.stop().await;
    let retries_seen = events.iter().any(|event| match event {
        EngineEvent::Progress { changed_parts, .. } => changed_parts
            .iter()
            .any(|(_, p)| matches!(p, PartState::Retrying { .. })),
        EngineEvent::Snapshot(s) => s
            .parts
            .iter()
            .any(|p| matches!(p, PartState::Retrying { .. })),
        _ => false,
    });
    assert!(retries_seen, "Retrying part states were reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_expand_into_one_transfer_per_file() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let root = files.path().join("trip");
    let mut expected = Vec::new();
    for (index, name) in ["a.txt", "day 1/b.jpg", "day 1/night/c.bin", "day 2/d.json"]
        .iter()
        .enumerate()
    {
        let bytes = data(1000 + index * 70_000, index as u32 + 20);
        write_file(&root, name, &bytes);
        expected.push((format!("up/trip/{name}"), bytes));
    }
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![root],
            destination: Destination::new(BUCKET, "up/"),
            options: Default::default(),
        })
        .unwrap();
    watcher.until_all_terminal(expected.len()).await;
    for (key, bytes) in &expected {
        let row = watcher.row_for_key(key).unwrap();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert_eq!(&read_back(&client, key).await, bytes, "{key}");
    }
    let meta = client
        .head_object(BUCKET, "up/trip/day 2/d.json")
        .await
        .unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    watcher.stop().await;
}

/// A file whose name is not UTF-8 is refused with the folder planner's sentence (the one
/// the CLI gives too); the rest of the folder still goes up.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_is_not_utf8_is_refused_with_the_planner_sentence() {
    use std::os::unix::ffi::OsStrExt;
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let root = files.path().join("box");
    write_file(&root, "ok.txt", b"fine");
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), b"x").unwrap();
    let expected = ossup::engine::folder_plan::plan_folder(&root, "box/").problems;
    assert_eq!(expected.len(), 1, "{expected:?}");
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![root],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher
        .until_key_state("box/ok.txt", TransferState::Done)
        .await;
    watcher
        .until("the refusal", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::Notice { message } if *message == expected[0]))
        })
        .await;
    assert_eq!(watcher.rows.len(), 1);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_upload_in_fixed_parts_until_eof() {
    let server = start_server().await;
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    let long = data(PART as usize * 5 / 2, 31);
    let short = data(999, 32);
    for (key, bytes) in [("streams/long.bin", &long), ("streams/short.bin", &short)] {
        watcher
            .handle
            .send(EngineCommand::AddStream {
                source: StreamSource::new("-", std::io::Cursor::new(bytes.clone())),
                bucket: BUCKET.into(),
                key: key.into(),
            })
            .unwrap();
    }
    watcher.until_all_terminal(2).await;
    for (key, bytes) in [("streams/long.bin", &long), ("streams/short.bin", &short)] {
        let row = watcher.row_for_key(key).unwrap().clone();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert!(!row.resumable_after_restart);
        assert_eq!(row.size, bytes.len() as u64);
        assert!(row.result.unwrap().verified);
        assert_eq!(&read_back(&client, key).await, bytes);
    }
    assert_eq!(
        watcher.row_for_key("streams/long.bin").unwrap().parts.len(),
        3
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_and_missing_files_are_reported_not_uploaded() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let path = write_file(files.path(), "x.bin", b"x");
    let mut watcher = spawn_engine(
        server.client(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::AddFile {
            path,
            bucket: BUCKET.into(),
            key: "/leading-slash".into(),
        })
        .unwrap();
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![files.path().join("missing.bin")],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher
        .until("two notices", |w| {
            w.events
                .iter()
                .filter(|e| matches!(e, EngineEvent::Notice { .. }))
                .count()
                == 2
        })
        .await;
    let notices: Vec<String> = watcher
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Notice { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert!(
        notices[0].contains("must not start with '/'"),
        "{notices:?}"
    );
    assert!(notices[1].contains("missing.bin"), "{notices:?}");
    assert!(watcher.rows.is_empty());
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_overwrite_skips_existing_objects_and_leaves_no_upload() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let small = write_file(files.path(), "exists-small.txt", b"new content");
    let big = write_file(files.path(), "exists-big.bin", &data(PART as usize * 3, 40));
    for key in ["exists-small.txt", "exists-big.bin"] {
        client
            .put_object(
                BUCKET,
                key,
                ossup::protocol::client::Body::Bytes(bytes::Bytes::from_static(b"old")),
                &Default::default(),
                None,
            )
            .await
            .unwrap();
    }
    let mut tuning = tuning();
    tuning.forbid_overwrite = true;
    let mut watcher = spawn_engine(client.clone(), &server.endpoint(), sessions.path(), tuning);
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![small, big],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher.until_all_terminal(2).await;
    for key in ["exists-small.txt", "exists-big.bin"] {
        assert_eq!(
            watcher.row_for_key(key).unwrap().state,
            TransferState::Skipped,
            "{key}"
        );
        assert_eq!(read_back(&client, key).await, b"old");
        let reason = watcher.row_for_key(key).unwrap().error.clone().unwrap();
        assert!(reason.message.contains("already exists"), "{reason}");
    }
    assert_eq!(uploads_in_progress(&client).await, 0);
    assert_eq!(session_files(sessions.path()), 0);

    // Skipped rows can be forgotten.
    let id = watcher.row_for_key("exists-big.bin").unwrap().id.clone();
    watcher
        .handle
        .send(EngineCommand::Forget(id.clone()))
        .unwrap();
    watcher
        .until("the row to go", |w| !w.rows.contains_key(&id))
        .await;
    watcher.stop().await;
}

/// Most parts of one transfer seen in flight at once, over snapshots and progress events.
fn most_parts_in_flight(events: &[EngineEvent]) -> usize {
    let mut in_flight = std::collections::BTreeSet::new();
    let mut most = 0;
    for event in events {
        match event {
            EngineEvent::Snapshot(s) => {
                in_flight = s
                    .parts
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches!(p, PartState::InFlight { .. }))
                    .map(|(i, _)| i as u32 + 1)
                    .collect();
            }
            EngineEvent::Progress { changed_parts, .. } => {
                for (number, state) in changed_parts {
                    if matches!(state, PartState::InFlight { .. }) {
                        in_flight.insert(*number);
                    } else {
                        in_flight.remove(number);
                    }
                }
            }
            _ => {}
        }
        most = most.max(in_flight.len());
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuning_changes_apply_to_running_engines_and_bad_values_are_refused() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let wakes = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = wakes.clone();
    let handle = ossup::engine::Engine::spawn(ossup::engine::EngineConfig {
        sessions_dir: sessions.path().to_path_buf(),
        client: client.clone(),
        endpoint_label: server.endpoint(),
        tuning: tuning(),
        waker: Some(std::sync::Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })),
    })
    .unwrap();
    let mut watcher = Watcher {
        handle,
        rows: Default::default(),
        events: Vec::new(),
    };
    let mut bad = tuning();
    bad.parallel_parts_total = 0;
    watcher.handle.send(EngineCommand::SetTuning(bad)).unwrap();
    watcher
        .until("the refusal", |w| {
            w.events.iter().any(|e| {
                matches!(e, EngineEvent::Notice { message } if message.contains("parallel parts in total"))
            })
        })
        .await;

    // Slow parts stay in flight across several progress events.
    slow_parts(&server);
    let mut one_at_a_time = tuning();
    one_at_a_time.parallel_parts_per_transfer = 1;
    one_at_a_time.parallel_parts_total = 1;
    one_at_a_time.bandwidth_limit_bytes_per_sec = Some(50 * 1024 * 1024);
    watcher
        .handle
        .send(EngineCommand::SetTuning(one_at_a_time))
        .unwrap();
    let bytes = data(PART as usize * 12, 41);
    let path = write_file(files.path(), "tuned.bin", &bytes);
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![path],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    watcher
        .until_key_state("tuned.bin", TransferState::Done)
        .await;
    assert_eq!(
        most_parts_in_flight(&watcher.events),
        1,
        "exactly one part in flight at a time"
    );
    assert_eq!(read_back(&client, "tuned.bin").await, bytes);
    assert!(
        wakes.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the waker was called"
    );
    let events = watcher.stop().await;
    assert!(matches!(events.last(), Some(EngineEvent::Stopped)));
}

/// Open file descriptors of this process (Linux); `None` elsewhere.
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_hundreds_of_files_does_not_open_them_all_at_once() {
    let server = start_server().await;
    let files = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let client = server.client();
    let root = files.path().join("many");
    let count = 400;
    for index in 0..count {
        write_file(
            &root,
            &format!("d{}/f{index:04}.txt", index % 7),
            &data(50, index),
        );
    }
    let fds_before = open_fds();
    let mut watcher = spawn_engine(
        client.clone(),
        &server.endpoint(),
        sessions.path(),
        tuning(),
    );
    watcher
        .handle
        .send(EngineCommand::Add {
            paths: vec![root],
            destination: Destination::new(BUCKET, ""),
            options: Default::default(),
        })
        .unwrap();
    // Sampled at every event while the transfers run.
    let most_fds = std::cell::Cell::new(0usize);
    watcher
        .until("all files done", |w| {
            if let (Some(before), Some(now)) = (fds_before, open_fds()) {
                most_fds.set(most_fds.get().max(now.saturating_sub(before)));
            }
            w.rows.len() == count as usize
                && w.rows.values().all(|r| r.state == TransferState::Done)
        })
        .await;
    let most_fds = most_fds.get();
    assert!(most_fds < 100, "{most_fds} more descriptors open");
    assert_eq!(read_back(&client, "many/d3/f0010.txt").await, data(50, 10));
    watcher.stop().await;
}
