//! The engine against a real in-process `ossup serve`: sizes around the part boundaries,
//! folders, streams, pause/resume, abort, and injected server faults.

mod support;

use std::time::Duration;

use support::data::{data, write_file};
use support::engine::*;
use support::server::{BUCKET, TestServer, client_with};

use ossup::engine::{
    EngineCommand, EngineEvent, PartState, StreamSource, TransferId, TransferState,
};
use ossup::protocol::crc64;
use ossup::server::faults::{FaultConfig, FaultScope};
use ossup::server::permissions::Permissions;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_around_part_boundaries_round_trip() {
    let t = EngineFixture::start().await;
    let cases: Vec<(&str, usize)> = vec![
        ("empty.bin", 0),
        ("one.bin", 1),
        ("just-under.bin", PART as usize - 1),
        ("one-part.bin", PART as usize),
        ("one-part-plus.bin", PART as usize + 1),
        ("three-and-half.bin", PART as usize * 7 / 2),
    ];
    let mut watcher = t.engine();
    let mut paths = Vec::new();
    for (index, (name, len)) in cases.iter().enumerate() {
        paths.push(t.file(name, &data(*len, index as u64)));
    }
    watcher.add(paths, "sizes/");
    watcher.until_all_terminal(cases.len()).await;

    for (index, (name, len)) in cases.iter().enumerate() {
        let key = format!("sizes/{name}");
        let row = watcher.row_for_key(&key).unwrap().clone();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert_eq!(row.size, *len as u64);
        assert_eq!(row.bytes_done, *len as u64, "{key}");
        let expected = data(*len, index as u64);
        let result = row.result.clone().unwrap();
        assert!(result.verified, "{key}: CRC-64 verified");
        assert_eq!(result.crc64, Some(crc64::checksum(&expected)));
        assert_eq!(t.read_back(&key).await, expected, "{key} byte for byte");
        let expected_parts = if (*len as u64) < PART {
            1
        } else {
            (*len as u64).div_ceil(PART)
        };
        assert_eq!(row.parts.len() as u64, expected_parts, "{key}");
        assert!(row.parts.iter().all(|p| *p == PartState::Done), "{key}");
    }
    // Finished uploads leave no session (nor lock file) behind.
    assert!(t.saved_sessions().is_empty());
    let locks: Vec<_> = std::fs::read_dir(t.queue.path().join("locks"))
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(locks.is_empty(), "{locks:?}");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_resume_completes_without_going_backwards() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 20 + 123, 7);
    let path = t.file("big.bin", &bytes);
    let mut tuning = tuning();
    tuning.parallel_parts_per_transfer = 2;
    let mut watcher = t.engine_with(tuning);
    watcher.add(vec![path], "");
    watcher
        .until("a few parts done", |w| {
            w.row_for_key("big.bin")
                .is_some_and(|r| r.parts.iter().filter(|p| **p == PartState::Done).count() >= 3)
        })
        .await;
    let id = watcher.row_for_key("big.bin").unwrap().id.clone();
    watcher.send(EngineCommand::Pause(id.clone()));
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
    assert!(
        t.saved_sessions().iter().any(|s| s.id == id.0),
        "the paused upload's session is saved"
    );

    watcher.send(EngineCommand::Resume(id.clone()));
    let done = watcher
        .until_key_state("big.bin", TransferState::Done)
        .await;
    assert_eq!(
        done.upload_id, paused.upload_id,
        "the same upload continued"
    );
    assert!(done.result.as_ref().unwrap().verified);
    assert_eq!(t.read_back("big.bin").await, bytes);
    let history = bytes_done_history(&watcher.events, &id);
    assert!(
        history.windows(2).all(|w| w[0] <= w[1]),
        "bytes done never go backwards: {history:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_leaves_nothing_behind() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let path = t.file("gone.bin", &data(PART as usize * 20, 3));
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    watcher
        .until("a part done", |w| {
            w.row_for_key("gone.bin")
                .is_some_and(|r| r.parts.contains(&PartState::Done))
        })
        .await;
    assert_eq!(t.uploads_in_progress().await.uploads.len(), 1);
    let id = watcher.row_for_key("gone.bin").unwrap().id.clone();
    watcher.send(EngineCommand::Abort(id.clone()));
    watcher.until_removed(&id).await;
    assert_eq!(t.uploads_in_progress().await.uploads.len(), 0);
    assert_eq!(t.saved_sessions().len(), 0);
    assert!(t.client.head_object(BUCKET, "gone.bin").await.is_err());
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_during_an_unanswered_initiate_aborts_the_upload_it_created() {
    let t = EngineFixture::start().await;
    // The server creates the upload at once and answers ten minutes later.
    t.server.faults().set(FaultConfig {
        delay: Duration::from_secs(600),
        scope: FaultScope::Initiate,
        ..FaultConfig::default()
    });
    let path = t.file("early.bin", &data(PART as usize * 4, 5));
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while t.uploads_in_progress().await.uploads.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upload initiated"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watcher
        .until("the row", |w| w.row_for_key("early.bin").is_some())
        .await;
    let id = watcher.row_for_key("early.bin").unwrap().id.clone();
    watcher.send(EngineCommand::Abort(id.clone()));
    watcher.until_removed(&id).await;
    assert_eq!(t.uploads_in_progress().await.uploads.len(), 0);
    assert_eq!(t.saved_sessions().len(), 0);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_part_failures_are_retried_and_the_object_is_intact() {
    let t = EngineFixture::start().await;
    t.server.faults().set(FaultConfig {
        fail_rate: 0.1,
        scope: FaultScope::UploadPart,
        seed: 11,
        ..FaultConfig::default()
    });
    let bytes = data(PART as usize * 30 + 5, 9);
    let path = t.file("flaky.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "faults/");
    let done = watcher
        .until_key_state("faults/flaky.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(t.read_back("faults/flaky.bin").await, bytes);
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
async fn an_initiate_whose_answer_is_lost_leaves_no_second_upload() {
    let t = EngineFixture::start().await;
    t.server.faults().set(FaultConfig {
        scope: FaultScope::Initiate,
        ..FaultConfig::default()
    });
    // The server stores the upload but the client never hears of it.
    t.server.faults().lose_next_answers(1);
    let bytes = data(PART as usize * 3 + 7, 21);
    let path = t.file("lost-answer.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    let done = watcher
        .until_key_state("lost-answer.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(t.read_back("lost-answer.bin").await, bytes);
    let uploads = t.uploads_in_progress().await;
    assert!(
        uploads.uploads.is_empty(),
        "the unanswered upload was adopted, not left behind: {uploads:?}"
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_initiate_is_retried_without_adopting_another_upload_of_the_key() {
    let t = EngineFixture::start().await;
    // Someone else's upload of the same key, started a moment ago.
    let theirs = support::server::initiate(&t.client, BUCKET, "shared.bin").await;
    t.server.faults().set(FaultConfig {
        scope: FaultScope::Initiate,
        ..FaultConfig::default()
    });
    // The server answers an error: it did nothing, so nothing is looked for.
    t.server.faults().fail_next(1);
    let bytes = data(PART as usize * 2 + 3, 22);
    let path = t.file("shared.bin", &bytes);
    let mut watcher = t.engine();
    watcher.add(vec![path], "");
    watcher
        .until_key_state("shared.bin", TransferState::Done)
        .await;
    assert_eq!(t.read_back("shared.bin").await, bytes);
    let left: Vec<_> = t
        .uploads_in_progress()
        .await
        .uploads
        .into_iter()
        .map(|u| u.upload_id)
        .collect();
    assert_eq!(left, vec![theirs], "their upload is left as it was");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_expand_into_one_transfer_per_file() {
    let t = EngineFixture::start().await;
    let root = t.files.path().join("trip");
    let mut expected = Vec::new();
    for (index, name) in ["a.txt", "day 1/b.jpg", "day 1/night/c.bin", "day 2/d.json"]
        .iter()
        .enumerate()
    {
        let bytes = data(1000 + index * 70_000, index as u64 + 20);
        write_file(&root, name, &bytes);
        expected.push((format!("up/trip/{name}"), bytes));
    }
    let mut watcher = t.engine();
    watcher.add(vec![root], "up/");
    watcher.until_all_terminal(expected.len()).await;
    for (key, bytes) in &expected {
        let row = watcher.row_for_key(key).unwrap();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert_eq!(&t.read_back(key).await, bytes, "{key}");
    }
    let meta = t
        .client
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
    let t = EngineFixture::start().await;
    let root = t.files.path().join("box");
    write_file(&root, "ok.txt", b"fine");
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), b"x").unwrap();
    let expected = ossup::engine::folder_plan::plan_folder(&root, "box/").problems;
    assert_eq!(expected.len(), 1, "{expected:?}");
    let mut watcher = t.engine();
    watcher.add(vec![root], "");
    watcher.until_jobs_finished(1).await;
    assert_eq!(t.read_back("box/ok.txt").await, b"fine");
    let files = watcher.job_files();
    let failed: Vec<_> = files
        .iter()
        .filter(|f| f.1 == ossup::engine::store::FileState::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{files:?}");
    assert_eq!(failed[0].2.as_deref(), Some(expected[0].as_str()));
    let job = watcher.jobs.values().next().unwrap();
    assert_eq!((job.counts.done, job.counts.failed), (1, 1));
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_upload_in_fixed_parts_until_eof() {
    let t = EngineFixture::start().await;
    let mut watcher = t.engine();
    let long = data(PART as usize * 5 / 2, 31);
    let short = data(999, 32);
    for (key, bytes) in [("streams/long.bin", &long), ("streams/short.bin", &short)] {
        watcher.send(EngineCommand::AddStream {
            source: StreamSource::new("-", std::io::Cursor::new(bytes.clone())),
            target: watcher.target.clone(),
            bucket: BUCKET.into(),
            key: key.into(),
        });
    }
    watcher.until_all_terminal(2).await;
    for (key, bytes) in [("streams/long.bin", &long), ("streams/short.bin", &short)] {
        let row = watcher.row_for_key(key).unwrap().clone();
        assert_eq!(row.state, TransferState::Done, "{key}: {:?}", row.error);
        assert!(!row.resumable_after_restart);
        assert_eq!(row.size, bytes.len() as u64);
        assert!(row.result.unwrap().verified);
        assert_eq!(&t.read_back(key).await, bytes);
    }
    assert_eq!(
        watcher.row_for_key("streams/long.bin").unwrap().parts.len(),
        3
    );
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_and_missing_files_are_recorded_as_failed_not_uploaded() {
    let t = EngineFixture::start().await;
    let path = t.file("x.bin", b"x");
    let mut watcher = t.engine();
    watcher.send(EngineCommand::AddFile {
        path,
        target: watcher.target.clone(),
        bucket: BUCKET.into(),
        key: "/leading-slash".into(),
    });
    watcher.add(vec![t.files.path().join("missing.bin")], "");
    watcher.until_jobs_finished(2).await;
    assert!(watcher.jobs.values().all(|job| job.counts.failed == 1));
    let reasons: Vec<String> = watcher
        .job_files()
        .into_iter()
        .map(|(_, state, reason)| {
            assert_eq!(state, ossup::engine::store::FileState::Failed);
            reason.unwrap_or_default()
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("must not start with '/'")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("missing.bin") && r.contains("no such file")),
        "{reasons:?}"
    );
    assert!(watcher.rows.is_empty(), "nothing was sent");
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_overwrite_skips_existing_objects_and_leaves_no_upload() {
    let t = EngineFixture::start().await;
    let small = t.file("exists-small.txt", b"new content");
    let big = t.file("exists-big.bin", &data(PART as usize * 3, 40));
    for key in ["exists-small.txt", "exists-big.bin"] {
        t.client
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
    let mut watcher = t.engine_with(tuning);
    watcher.add(vec![small, big], "");
    watcher.until_all_terminal(2).await;
    for key in ["exists-small.txt", "exists-big.bin"] {
        assert_eq!(
            watcher.row_for_key(key).unwrap().state,
            TransferState::Skipped,
            "{key}"
        );
        assert_eq!(t.read_back(key).await, b"old");
        let reason = watcher.row_for_key(key).unwrap().error.clone().unwrap();
        assert!(reason.message.contains("already exists"), "{reason}");
    }
    assert_eq!(t.uploads_in_progress().await.uploads.len(), 0);
    assert_eq!(t.saved_sessions().len(), 0);

    // Skipped rows can be forgotten.
    let id = watcher.row_for_key("exists-big.bin").unwrap().id.clone();
    watcher.send(EngineCommand::Forget(id.clone()));
    watcher
        .until("the row to go", |w| !w.rows.contains_key(&id))
        .await;
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_go_many_at_once_beside_one_multipart_transfer() {
    let t = EngineFixture::start().await;
    // Slow answers to PutObject, so files that go at once are seen in flight together.
    t.server.faults().set(FaultConfig {
        delay: std::time::Duration::from_millis(150),
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    let root = t.files.path().join("small");
    for index in 0..40 {
        write_file(&root, &format!("f{index:02}.txt"), &data(1000, index));
    }
    let mut tuning = tuning();
    tuning.set_parallelism(2, 1);
    tuning.set_small_files(12);
    let mut watcher = t.engine_with(tuning);
    watcher.add(vec![root], "");
    let most = std::cell::Cell::new(0usize);
    watcher
        .until("the folder to finish", |w| {
            let uploading = w
                .rows
                .values()
                .filter(|r| r.state == TransferState::Uploading)
                .count();
            most.set(most.get().max(uploading));
            w.jobs.values().any(|j| j.is_finished())
        })
        .await;
    let most = most.get();
    assert!(
        (8..=12).contains(&most),
        "{most} small files in flight at once, with one transfer slot and twelve small-file slots"
    );
    assert_eq!(t.read_back("small/f07.txt").await, data(1000, 7));
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
    let t = EngineFixture::start().await;
    let wakes = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = wakes.clone();
    let handle = ossup::engine::Engine::spawn(ossup::engine::EngineConfig {
        sessions_dir: t.sessions().to_path_buf(),
        queue_dir: t.queue.path().to_path_buf(),
        targets: vec![ossup::engine::Target::new(
            t.endpoint(),
            None,
            t.client.clone(),
        )],
        tuning: tuning(),
        waker: Some(std::sync::Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })),
    })
    .unwrap();
    let mut watcher = Watcher::new(handle, t.queue.path(), &t.endpoint());
    let mut bad = tuning();
    bad.parallel_parts_total = 0;
    watcher.send(EngineCommand::SetTuning(bad));
    watcher
        .until("the refusal", |w| {
            w.events.iter().any(|e| {
                matches!(e, EngineEvent::Notice { message } if message.contains("parallel parts in total"))
            })
        })
        .await;

    // Slow parts stay in flight across several progress events.
    t.server.slow_parts();
    let mut one_at_a_time = tuning();
    one_at_a_time.parallel_parts_per_transfer = 1;
    one_at_a_time.parallel_parts_total = 1;
    one_at_a_time.bandwidth_limit_bytes_per_sec = Some(50 * 1024 * 1024);
    watcher.send(EngineCommand::SetTuning(one_at_a_time));
    let bytes = data(PART as usize * 12, 41);
    let path = t.file("tuned.bin", &bytes);
    watcher.add(vec![path], "");
    watcher
        .until_key_state("tuned.bin", TransferState::Done)
        .await;
    assert_eq!(
        most_parts_in_flight(&watcher.events),
        1,
        "exactly one part in flight at a time"
    );
    assert_eq!(t.read_back("tuned.bin").await, bytes);
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
    let t = EngineFixture::start().await;
    let root = t.files.path().join("many");
    let count = 400;
    for index in 0..count {
        write_file(
            &root,
            &format!("d{}/f{index:04}.txt", index % 7),
            &data(50, index),
        );
    }
    let fds_before = open_fds();
    let mut watcher = t.engine();
    watcher.add(vec![root], "");
    // Sampled at every event while the transfers run.
    let most_fds = std::cell::Cell::new(0usize);
    watcher
        .until("all files done", |w| {
            if let (Some(before), Some(now)) = (fds_before, open_fds()) {
                most_fds.set(most_fds.get().max(now.saturating_sub(before)));
            }
            w.jobs
                .values()
                .any(|j| j.is_finished() && j.counts.done == count)
        })
        .await;
    let most_fds = most_fds.get();
    assert!(most_fds < 100, "{most_fds} more descriptors open");
    assert_eq!(t.read_back("many/d3/f0010.txt").await, data(50, 10));
    watcher.stop().await;
}

/// Asks for a page of history and waits for the answer to that search and offset.
async fn history_page(
    watcher: &mut Watcher,
    search: &str,
    offset: u64,
) -> (u64, Vec<ossup::engine::store::HistoryEntry>) {
    let seen = watcher.events.len();
    watcher.send(EngineCommand::LoadHistory {
        search: search.into(),
        offset,
        limit: 10,
    });
    let answered = |w: &Watcher| {
        w.events[seen..].iter().find_map(|event| match event {
            EngineEvent::HistoryPage {
                search: s,
                offset: o,
                total,
                entries,
            } if s == search && *o == offset => Some((*total, entries.clone())),
            _ => None,
        })
    };
    watcher
        .until("the history page", |w| answered(w).is_some())
        .await;
    answered(watcher).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_uploads_land_in_the_history_and_it_can_be_searched_and_cleared() {
    let t = EngineFixture::start().await;
    let mut watcher = t.engine();
    let small = t.file("notes.txt", &data(3_000, 1));
    let large = t.file("video.bin", &data(PART as usize * 2 + 10, 2));
    watcher.send(EngineCommand::AddFile {
        path: small.clone(),
        target: watcher.target.clone(),
        bucket: BUCKET.into(),
        key: "docs/notes.txt".into(),
    });
    watcher.send(EngineCommand::AddFile {
        path: large.clone(),
        target: watcher.target.clone(),
        bucket: BUCKET.into(),
        key: "media/video.bin".into(),
    });
    watcher.until_all_terminal(2).await;
    watcher
        .until("the history to change", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::HistoryChanged))
        })
        .await;
    let (mut total, mut entries) = history_page(&mut watcher, "", 0).await;
    if total < 2 {
        // The two may have been written in two batches.
        watcher.events.clear();
        watcher
            .until("the second entry", |w| {
                w.events
                    .iter()
                    .any(|e| matches!(e, EngineEvent::HistoryChanged))
            })
            .await;
        (total, entries) = history_page(&mut watcher, "", 0).await;
    }
    assert_eq!(total, 2);
    let video = entries
        .iter()
        .find(|e| e.entry.url == format!("oss://{BUCKET}/media/video.bin"))
        .expect("the multipart upload is in the history");
    assert_eq!(video.entry.bytes, PART * 2 + 10);
    assert!(video.entry.crc64_verified);
    assert!(!video.entry.etag.is_empty());
    assert_eq!(video.entry.target_label, t.endpoint());
    assert_eq!(
        video.entry.local_path,
        std::fs::canonicalize(&large).unwrap()
    );

    // The local path is searched as well as the URL.
    let (total, entries) = history_page(&mut watcher, "NOTES.TXT", 0).await;
    assert_eq!(total, 1);
    assert_eq!(
        entries[0].entry.url,
        format!("oss://{BUCKET}/docs/notes.txt")
    );
    let (total, _) = history_page(&mut watcher, "media/", 0).await;
    assert_eq!(total, 1);
    assert_eq!(history_page(&mut watcher, "", 1).await.1.len(), 1);

    watcher.events.clear();
    watcher.send(EngineCommand::ClearHistory);
    watcher
        .until("the history to be cleared", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::HistoryChanged))
        })
        .await;
    assert_eq!(history_page(&mut watcher, "", 0).await.0, 0);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_verified_from_the_put_answer_alone() {
    // A key that may only write: HeadObject would be refused, so "verified" can only come
    // from the CRC-64 in the PutObject answer.
    const WRITER: (&str, &str) = ("WRITEONLYKEY", "write-only-secret");
    let server = TestServer::start_with(|config| {
        config
            .access_keys
            .push((WRITER.0.to_owned(), WRITER.1.to_owned()));
        config.permissions.push((
            WRITER.0.to_owned(),
            Permissions::parse("upload-only").unwrap(),
        ));
    })
    .await;
    let (files, sessions, queue) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let content = data(1024, 41);
    let path = write_file(files.path(), "note.txt", &content);
    let mut watcher = spawn_engine(
        client_with(&server.endpoint(), WRITER.0, WRITER.1),
        &server.endpoint(),
        sessions.path(),
        queue.path(),
        tuning(),
    );
    watcher.add(vec![path], "small/");
    let done = watcher
        .until_key_state("small/note.txt", TransferState::Done)
        .await;
    let result = done.result.expect("a result");
    assert!(result.verified, "the answer's CRC-64 was compared");
    assert_eq!(result.crc64, Some(crc64::checksum(&content)));
    assert_eq!(read_back(&server.client(), "small/note.txt").await, content);
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_answered_crc_differs_is_retried_and_never_called_verified() {
    let t = EngineFixture::start().await;
    t.server.faults().set(FaultConfig {
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    // Damaged on the way once: sent again, and then the server holds our bytes.
    t.server.faults().damage_next(1);
    let once = data(2000, 42);
    let mut watcher = t.engine();
    watcher.add(vec![t.file("once.bin", &once)], "crc/");
    let done = watcher
        .until_key_state("crc/once.bin", TransferState::Done)
        .await;
    assert!(done.result.unwrap().verified);
    assert_eq!(t.read_back("crc/once.bin").await, once);

    // Damaged on every attempt: the transfer fails, saying why.
    t.server.faults().damage_next(u32::MAX);
    watcher.add(vec![t.file("always.bin", &data(3000, 43))], "crc/");
    let failed = watcher
        .until_key_state("crc/always.bin", TransferState::Failed)
        .await;
    assert!(
        failed.result.as_ref().is_none_or(|r| !r.verified),
        "{:?}",
        failed.result
    );
    let error = failed.error.expect("a reason").message;
    assert!(error.contains("CRC-64"), "{error}");
    t.server.faults().clear();
    watcher.stop().await;
}
