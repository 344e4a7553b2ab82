//! Tests of the queue store against real database files in temporary folders.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::engine::folder_plan::FilterRule;
use crate::engine::plan::MIN_PART_SIZE;
use crate::engine::session_store::{
    CompletedPart, FORMAT_VERSION, FileIdentity, Session, UploadOptions,
};

const NOW: u64 = 1_767_000_000;
const TTL: Duration = Duration::from_secs(30);

fn open_in(dir: &Path) -> QueueStore {
    QueueStore::open(dir, OpenOptions::default()).unwrap().0
}

fn target() -> NewTarget {
    NewTarget {
        label: "work".into(),
        endpoint: "http://127.0.0.1:9090".into(),
        region: Some("cn-hangzhou".into()),
        profile: Some("work".into()),
        credentials_ref: Some("profile:work".into()),
    }
}

fn new_job(target: TargetId, roots: &[&str]) -> NewJob {
    NewJob {
        target,
        roots: roots.iter().map(PathBuf::from).collect(),
        bucket: "demo".into(),
        prefix: "backup/".into(),
        options: JobOptions {
            part_size: Some(8 << 20),
            parallelism: Some(4),
            overwrite: OverwritePolicy::SkipUnchanged { checksum: true },
            filters: vec![
                FilterRule::Include("*.jpg".into()),
                FilterRule::Exclude("tmp/**".into()),
            ],
            follow_symlinks: false,
            contents_only: false,
        },
        created_unix_secs: NOW,
    }
}

fn store_with_job(dir: &Path) -> (QueueStore, JobId) {
    let mut store = open_in(dir);
    let target = store.create_target(&target()).unwrap();
    let job = store.create_job(&new_job(target, &["/photos"])).unwrap();
    (store, job)
}

fn file(name: &str, size: u64) -> NewFile {
    NewFile::pending(
        PathBuf::from(name),
        Path::new("/photos").join(name),
        format!("backup/{name}"),
        size,
        1_700_000_000_000_000_000,
    )
}

fn history(url: &str) -> NewHistory {
    NewHistory {
        finished_unix_secs: NOW,
        duration_ms: 1_500,
        bytes: 10,
        etag: "\"ETAG\"".into(),
        crc64_verified: true,
        url: url.into(),
        target_label: "work".into(),
        local_path: "/photos/a.jpg".into(),
    }
}

fn session(id: &str, size: u64, part_size: u64) -> Session {
    Session {
        format_version: FORMAT_VERSION,
        id: id.into(),
        local_path: "/data/big.bin".into(),
        file: FileIdentity {
            size,
            mtime_unix_nanos: 1_700_000_000_123_456_789,
            fingerprint: u64::MAX - 7,
        },
        endpoint: "http://127.0.0.1:9090".into(),
        bucket: "demo".into(),
        key: "videos/big.bin".into(),
        upload_id: "UPLOAD-1".into(),
        part_size,
        completed_parts: vec![
            CompletedPart {
                number: 1,
                size: part_size,
                etag: "\"A\"".into(),
                crc64: u64::MAX,
            },
            CompletedPart {
                number: 3,
                size: part_size,
                etag: "\"C\"".into(),
                crc64: 3,
            },
        ],
        options: UploadOptions {
            content_type: Some("video/mp4".into()),
            forbid_overwrite: true,
            storage_class: Some("IA".into()),
        },
        created_unix_secs: NOW,
        job: None,
    }
}

#[test]
fn open_creates_a_wal_database_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = QueueStore::open(dir.path(), OpenOptions::default()).unwrap();
    assert!(report.created);
    assert_eq!(report.sentence(), None);
    assert_eq!(store.path(), dir.path().join(DATABASE_FILE_NAME));
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let fk: i64 = store
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    assert_eq!(
        schema::version(&store.conn).unwrap(),
        schema::SCHEMA_VERSION
    );
    drop(store);
    let (_, again) = QueueStore::open(dir.path(), OpenOptions::default()).unwrap();
    assert!(!again.created);
    assert_eq!(again.set_aside, None);
}

#[test]
fn targets_and_jobs_round_trip_and_are_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let target_id = store.create_target(&target()).unwrap();
    assert_eq!(store.find_or_create_target(&target()).unwrap(), target_id);
    let other = NewTarget {
        region: None,
        ..target()
    };
    let other_id = store.find_or_create_target(&other).unwrap();
    assert_ne!(other_id, target_id);
    assert_eq!(store.targets().unwrap().len(), 2);
    assert_eq!(store.target(target_id).unwrap().unwrap().target, target());

    let spec = new_job(target_id, &["/photos", "/videos"]);
    let job = store.create_job(&spec).unwrap();
    let stored = store.job(job).unwrap().unwrap();
    assert_eq!(stored.spec, spec);
    assert_eq!(
        (stored.walk, stored.state),
        (WalkState::Walking, JobState::Active)
    );

    let roots = [PathBuf::from("/videos"), PathBuf::from("/photos")];
    assert_eq!(
        store
            .find_unfinished_job(target_id, &roots, "demo", "backup/")
            .unwrap(),
        Some(job)
    );
    assert_eq!(
        store
            .find_unfinished_job(target_id, &roots[..1], "demo", "backup/")
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_unfinished_job(other_id, &roots, "demo", "backup/")
            .unwrap(),
        None
    );
    store.set_walk_state(job, WalkState::Walked).unwrap();
    store.set_job_state(job, JobState::Finished).unwrap();
    assert_eq!(store.job(job).unwrap().unwrap().walk, WalkState::Walked);
    assert_eq!(
        store
            .find_unfinished_job(target_id, &roots, "demo", "backup/")
            .unwrap(),
        None,
        "a finished job is not continued"
    );
    assert!(matches!(
        store.set_job_state(JobId(999), JobState::Paused),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.job(JobId(999)).unwrap(), None);
}

#[test]
fn job_options_are_validated_on_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let target = store.create_target(&target()).unwrap();
    let mut spec = new_job(target, &["/a"]);
    spec.options.part_size = Some(MIN_PART_SIZE - 1);
    assert!(matches!(
        store.create_job(&spec),
        Err(StoreError::Invalid(_))
    ));
    spec.options.part_size = None;
    spec.options.parallelism = Some(0);
    assert!(matches!(
        store.create_job(&spec),
        Err(StoreError::Invalid(_))
    ));

    let good = store.create_job(&new_job(target, &["/b"])).unwrap();
    let tampered = store.create_job(&new_job(target, &["/c"])).unwrap();
    store
        .conn
        .execute(
            "UPDATE jobs SET options_json = '{\"version\":1,\"part_size\":1,\"parallelism\":null,\
             \"overwrite\":\"overwrite\",\"filters\":[],\"follow_symlinks\":false}'
             WHERE id = ?1",
            [tampered.0],
        )
        .unwrap();
    let listing = store.list_jobs().unwrap();
    assert_eq!(
        listing.jobs.iter().map(|j| j.job.id).collect::<Vec<_>>(),
        vec![good]
    );
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].id, tampered);
    assert!(listing.unreadable[0].reason.contains("part size 1"));
    assert!(matches!(store.job(tampered), Err(StoreError::Invalid(_))));
}

#[test]
fn files_are_inserted_once_claimed_and_finished_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let batch = vec![
        file("a.jpg", 10),
        file("b.jpg", 20),
        file("c.jpg", 30),
        file("link.jpg", 5).not_sent(
            FileState::Skipped,
            "it is a symlink, and symlinks are not followed",
        ),
    ];
    assert_eq!(store.insert_files(job, &batch, NOW).unwrap(), 4);
    // A second walk adds only what is new.
    let again = vec![file("a.jpg", 10), file("d.jpg", 40)];
    assert_eq!(store.insert_files(job, &again, NOW).unwrap(), 1);

    let counts = store.job_counts(job).unwrap();
    assert_eq!(
        counts,
        JobCounts {
            pending: 4,
            skipped: 1,
            bytes_total: 100,
            ..JobCounts::default()
        }
    );

    let claimed = store.claim_pending(job, 2, NOW + 1).unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|f| f.file.relative_path.clone())
            .collect::<Vec<_>>(),
        vec![PathBuf::from("a.jpg"), PathBuf::from("b.jpg")]
    );
    assert!(
        claimed
            .iter()
            .all(|f| f.file.state == FileState::InFlight && f.attempts == 1)
    );
    assert_eq!(claimed[0].updated_unix_secs, NOW + 1);
    assert_eq!(claimed[0].file.key, "backup/a.jpg");
    assert_eq!(claimed[0].file.absolute_path, Path::new("/photos/a.jpg"));

    let outcomes = [
        FileOutcome::done(claimed[0].id, history("oss://demo/backup/a.jpg")),
        FileOutcome::not_done(claimed[1].id, FileState::Failed, "permission denied"),
    ];
    assert_eq!(store.record_outcomes(&outcomes, NOW + 2).unwrap(), 2);
    assert!(matches!(
        store.record_outcomes(
            &[FileOutcome::not_done(
                claimed[0].id,
                FileState::InFlight,
                "x"
            )],
            NOW
        ),
        Err(StoreError::Invalid(_))
    ));
    let failed = store
        .files_page(job, Some(FileState::Failed), None, 10)
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].file.reason.as_deref(), Some("permission denied"));
    assert_eq!(store.history_page(None, 10, None).unwrap().len(), 1);

    // c.jpg in flight when the process dies: it goes back to pending.
    let stuck = store.claim_pending(job, 1, NOW + 3).unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(store.reset_in_flight(job, NOW + 4).unwrap(), 1);
    let counts = store.job_counts(job).unwrap();
    assert_eq!(
        counts,
        JobCounts {
            pending: 2,
            in_flight: 0,
            done: 1,
            skipped: 1,
            failed: 1,
            bytes_total: 100,
            bytes_done: 10,
        }
    );
    assert!(!counts.all_settled());
    let summary = store.list_jobs().unwrap();
    assert_eq!(summary.jobs[0].counts, counts);
    let reclaimed = store.claim_pending(job, 10, NOW + 5).unwrap();
    assert_eq!(reclaimed[0].id, stuck[0].id);
    assert_eq!(reclaimed[0].attempts, 2);
    assert_eq!(
        store.file(reclaimed[0].id).unwrap().unwrap().file.state,
        FileState::InFlight
    );
    assert_eq!(store.file(FileId(12345)).unwrap(), None);
}

#[test]
fn a_hundred_thousand_files_go_in_by_batches_and_come_back_by_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    const TOTAL: usize = 100_000;
    const BATCH: usize = 1_000;
    for start in (0..TOTAL).step_by(BATCH) {
        let batch: Vec<NewFile> = (start..start + BATCH)
            .map(|i| file(&format!("dir{}/f{i}.bin", i % 97), i as u64))
            .collect();
        assert_eq!(store.insert_files(job, &batch, NOW).unwrap(), BATCH);
    }
    let counts = store.job_counts(job).unwrap();
    assert_eq!(counts.pending, TOTAL as u64);
    assert_eq!(counts.bytes_total, (TOTAL as u64 - 1) * TOTAL as u64 / 2);

    let mut seen = 0;
    let mut after = None;
    let mut last_id = FileId(0);
    loop {
        let page = store.files_page(job, None, after, 1_000).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 1_000);
        for row in &page {
            assert!(row.id > last_id, "pages come in id order");
            last_id = row.id;
        }
        seen += page.len();
        after = page.last().map(|f| f.id);
    }
    assert_eq!(seen, TOTAL);
    // A page never holds more than the cap, whatever is asked.
    assert_eq!(
        store
            .files_page(job, Some(FileState::Pending), None, usize::MAX)
            .unwrap()
            .len(),
        MAX_PAGE_ROWS
    );
}

#[test]
fn retry_puts_back_failed_uploads_but_not_names_the_walk_could_not_send() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let no_key = NewFile::pending(
        "bad\nname".into(),
        "/photos/bad\nname".into(),
        String::new(),
        0,
        0,
    )
    .not_sent(FileState::Failed, "the name cannot be a key");
    store
        .insert_files(job, &[file("a.jpg", 10), no_key], NOW)
        .unwrap();
    let claimed = store.claim_pending(job, 1, NOW).unwrap();
    let outcome = FileOutcome::not_done(claimed[0].id, FileState::Failed, "503");
    store.record_outcomes(&[outcome], NOW).unwrap();
    assert_eq!(store.job_counts(job).unwrap().failed, 2);

    assert_eq!(store.reset_failed(job, None, NOW + 1).unwrap(), 1);
    let failed = store
        .files_page(job, Some(FileState::Failed), None, 10)
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].file.reason.as_deref(),
        Some("the name cannot be a key")
    );
    let pending = store
        .files_page(job, Some(FileState::Pending), None, 10)
        .unwrap();
    assert_eq!(pending[0].file.key, "backup/a.jpg");
}

#[test]
fn retry_of_one_file_puts_back_that_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    store
        .insert_files(job, &[file("a.jpg", 10), file("b.jpg", 20)], NOW)
        .unwrap();
    let claimed = store.claim_pending(job, 2, NOW).unwrap();
    let outcomes: Vec<_> = claimed
        .iter()
        .map(|row| FileOutcome::not_done(row.id, FileState::Failed, "503"))
        .collect();
    store.record_outcomes(&outcomes, NOW).unwrap();
    let second = claimed
        .iter()
        .find(|row| row.file.key == "backup/b.jpg")
        .unwrap()
        .id;

    assert_eq!(store.reset_failed(job, Some(second), NOW + 1).unwrap(), 1);
    let pending = store
        .files_page(job, Some(FileState::Pending), None, 10)
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, second);
    assert_eq!(store.job_counts(job).unwrap().failed, 1);
    // Already back in the queue: nothing more to put back.
    assert_eq!(store.reset_failed(job, Some(second), NOW + 2).unwrap(), 0);
}

#[test]
fn outcome_batch_is_due_when_full_or_old() {
    let start = Instant::now();
    let mut batch = OutcomeBatch::new(3, Duration::from_millis(200));
    assert!(!batch.is_due(start));
    let outcome = |i| FileOutcome::not_done(FileId(i), FileState::Skipped, "unchanged");
    assert!(!batch.push(outcome(1), start));
    assert!(!batch.push(outcome(2), start + Duration::from_millis(100)));
    assert!(!batch.is_due(start + Duration::from_millis(199)));
    assert!(batch.is_due(start + Duration::from_millis(200)));
    assert!(
        batch.push(outcome(3), start + Duration::from_millis(150)),
        "full"
    );
    assert_eq!(batch.len(), 3);
    let taken = batch.take();
    assert_eq!(taken.len(), 3);
    assert!(batch.is_empty());
    assert!(
        !batch.is_due(start + Duration::from_secs(10)),
        "an empty batch is never due"
    );
}

#[test]
fn outcomes_of_a_batch_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    store
        .insert_files(job, &[file("a", 1), file("b", 2)], NOW)
        .unwrap();
    let claimed = store.claim_pending(job, 2, NOW).unwrap();
    // The second outcome breaks the history table's check: neither outcome is written.
    store.conn.execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON history WHEN NEW.url = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END;").unwrap();
    let outcomes = [
        FileOutcome::done(claimed[0].id, history("oss://demo/a")),
        FileOutcome::done(claimed[1].id, history("bad")),
    ];
    assert!(store.record_outcomes(&outcomes, NOW).is_err());
    assert_eq!(store.job_counts(job).unwrap().in_flight, 2);
    assert!(store.history_page(None, 10, None).unwrap().is_empty());
}

#[test]
fn non_utf8_names_round_trip() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let name = OsStr::from_bytes(b"caf\xe9\nnew line.txt");
    let relative = PathBuf::from(name);
    let absolute = Path::new("/photos").join(name);
    let new = NewFile::pending(relative.clone(), absolute.clone(), "backup/x".into(), 1, 0)
        .not_sent(
            FileState::Skipped,
            "its name is not UTF-8, so it cannot be a key",
        );
    assert_eq!(store.insert_files(job, &[new], NOW).unwrap(), 1);
    let page = store.files_page(job, None, None, 10).unwrap();
    assert_eq!(page[0].file.relative_path, relative);
    assert_eq!(page[0].file.absolute_path, absolute);
    assert_eq!(
        page[0].file.relative_path.as_os_str().as_bytes(),
        b"caf\xe9\nnew line.txt"
    );

    let mut with_odd_path = session("odd", 10, 10);
    with_odd_path.completed_parts.clear();
    with_odd_path.local_path = absolute.clone();
    store.save_session(&with_odd_path).unwrap();
    assert_eq!(
        store.load_session("odd").unwrap().unwrap().local_path,
        absolute
    );
}

#[test]
fn sessions_round_trip_with_their_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let mut saved = session("s1", 300 << 20, 100 << 20);
    store.save_session(&saved).unwrap();
    assert_eq!(store.load_session("s1").unwrap().unwrap(), saved);
    saved.record_part(CompletedPart {
        number: 2,
        size: 100 << 20,
        etag: "\"B\"".into(),
        crc64: 2,
    });
    saved.upload_id = "UPLOAD-2".into();
    store.save_session(&saved).unwrap();
    assert_eq!(store.load_session("s1").unwrap().unwrap(), saved);

    let mut elsewhere = session("s2", 300 << 20, 100 << 20);
    elsewhere.endpoint = "https://oss-cn-hangzhou.aliyuncs.com".into();
    store.save_session(&elsewhere).unwrap();
    let report = store
        .sessions_for_endpoint(Some("http://127.0.0.1:9090"))
        .unwrap();
    assert_eq!(report.sessions, vec![saved.clone()]);
    assert!(report.set_aside.is_empty());
    // The uploads of a key that are ours, by any endpoint's session.
    let mut ours = store.session_upload_ids("demo", "videos/big.bin").unwrap();
    ours.sort();
    assert_eq!(ours, ["UPLOAD-1", "UPLOAD-2"]);
    assert!(
        store
            .session_upload_ids("demo", "other")
            .unwrap()
            .is_empty()
    );

    store.link_session("s1", job, None).unwrap();
    assert!(matches!(
        store.link_session("nope", job, None),
        Err(StoreError::NotFound { .. })
    ));
    // Saving again keeps the link, and loading tells the job.
    store.save_session(&saved).unwrap();
    assert_eq!(store.load_session("s1").unwrap().unwrap().job, Some(job.0));

    // A part the server no longer holds is dropped from the record when saved without it.
    saved.completed_parts.retain(|p| p.number != 1);
    store.save_session(&saved).unwrap();
    let reloaded = store.load_session("s1").unwrap().unwrap();
    assert_eq!(reloaded.completed_parts, saved.completed_parts);
    // A job that is not in the store is not recorded.
    let mut orphan = session("s3", 300 << 20, 100 << 20);
    orphan.job = Some(job.0 + 100);
    store.save_session(&orphan).unwrap();
    assert_eq!(store.load_session("s3").unwrap().unwrap().job, None);

    assert!(store.remove_session("s1").unwrap());
    assert!(!store.remove_session("s1").unwrap());
    assert_eq!(store.load_session("s1").unwrap(), None);
    let parts: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM session_parts WHERE session_id = 's1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(parts, 0, "parts go with their session");
}

#[test]
fn sessions_that_break_the_limits_are_refused_on_save() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let too_many = session("many", 4 << 30, MIN_PART_SIZE / 2);
    assert!(matches!(
        store.save_session(&too_many),
        Err(StoreError::Invalid(_))
    ));
    let mut wrong_part = session("wrong", 300 << 20, 100 << 20);
    wrong_part.completed_parts[1].size = 1;
    assert!(matches!(
        store.save_session(&wrong_part),
        Err(StoreError::Invalid(_))
    ));
    let mut beyond = session("beyond", 300 << 20, 100 << 20);
    beyond.completed_parts[1].number = 4;
    assert!(matches!(
        store.save_session(&beyond),
        Err(StoreError::Invalid(_))
    ));
    assert!(!store.has_session("many").unwrap());
}

#[test]
fn tampered_session_numbers_are_set_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    store
        .save_session(&session("tampered", 300 << 20, 100 << 20))
        .unwrap();
    store
        .save_session(&session("fine", 300 << 20, 100 << 20))
        .unwrap();
    store
        .conn
        .execute(
            "UPDATE sessions SET part_size = 1, file_size = ?1 WHERE id = 'tampered'",
            [4_i64 << 30],
        )
        .unwrap();
    let report = store
        .sessions_for_endpoint(Some("http://127.0.0.1:9090"))
        .unwrap();
    assert_eq!(
        report
            .sessions
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["fine"]
    );
    assert_eq!(report.set_aside.len(), 1);
    assert_eq!(report.set_aside[0].id, "tampered");
    assert!(
        report.set_aside[0].reason.contains("parts"),
        "{}",
        report.set_aside[0].reason
    );
    // Reported once, then kept out of the way but still stored.
    assert_eq!(store.load_session("tampered").unwrap(), None);
    assert!(store.has_session("tampered").unwrap());
    assert_eq!(store.damaged_sessions().unwrap().len(), 1);

    // A negative part size and a part count beyond the limit are caught before use.
    store
        .conn
        .execute("UPDATE sessions SET part_size = -5 WHERE id = 'fine'", [])
        .unwrap();
    assert!(matches!(
        store.load_session("fine"),
        Err(StoreError::SessionSetAside { reason, .. }) if reason.contains("negative")
    ));
}

#[test]
fn a_session_with_more_parts_than_allowed_is_set_aside_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let mut one = session("flood", 300 << 20, 100 << 20);
    one.completed_parts.clear();
    store.save_session(&one).unwrap();
    store
        .conn
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
             INSERT INTO session_parts SELECT 'flood', i, 1, 'e', 0 FROM n;",
        )
        .unwrap();
    assert!(matches!(
        store.load_session("flood"),
        Err(StoreError::SessionSetAside { reason, .. }) if reason.contains("10001 parts")
    ));
}

#[test]
fn leases_are_exclusive_renewed_and_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let me = LeaseOwner::this_process();
    let mut lease = store.acquire_lease(job, me, NOW, TTL).unwrap();
    assert_eq!(lease.took_over_from, None);
    // Same owner: renewed, not refused.
    assert!(store.acquire_lease(job, me, NOW + 1, TTL).is_ok());

    // Another owner in a live process (ours) is refused while the heartbeat is fresh.
    let other = LeaseOwner {
        pid: std::process::id(),
        token: me.token.wrapping_add(1),
    };
    assert!(matches!(
        store.acquire_lease(job, other, NOW + 10, TTL),
        Err(StoreError::LeaseHeld { pid, .. }) if pid == std::process::id()
    ));
    store.renew_lease(&mut lease, NOW + 20).unwrap();
    assert_eq!(lease.heartbeat_unix_secs, NOW + 20);
    assert!(store.acquire_lease(job, other, NOW + 49, TTL).is_err());

    // Silent for the whole TTL: taken over, and the old holder learns it on renewal.
    let taken = store.acquire_lease(job, other, NOW + 50, TTL).unwrap();
    assert_eq!(taken.took_over_from, Some(std::process::id()));
    assert!(matches!(
        store.renew_lease(&mut lease, NOW + 51),
        Err(StoreError::LeaseLost { pid: Some(_), .. })
    ));
    // Releasing a lost lease leaves the new holder's in place.
    store.release_lease(lease).unwrap();
    assert_eq!(store.lease_holder(job).unwrap(), Some(std::process::id()));
    store.release_lease(taken).unwrap();
    assert_eq!(store.lease_holder(job).unwrap(), None);
}

#[test]
fn a_dead_processs_lease_is_taken_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dead = LeaseOwner {
        pid: pid_max + 1,
        token: 7,
    };
    store.acquire_lease(job, dead, NOW, TTL).unwrap();
    store.insert_files(job, &[file("a", 1)], NOW).unwrap();
    store.claim_pending(job, 1, NOW).unwrap();
    let lease = store
        .acquire_lease(job, LeaseOwner::this_process(), NOW + 1, TTL)
        .unwrap();
    assert_eq!(lease.took_over_from, Some(pid_max + 1));
    assert_eq!(store.reset_in_flight(job, NOW + 1).unwrap(), 1);
}

#[test]
fn history_pages_newest_first_and_searches_literally() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .append_history(&history(&format!("oss://demo/file{i}.jpg")))
                .unwrap(),
        );
    }
    store
        .append_history(&history("oss://demo/100%_done.txt"))
        .unwrap();
    let first = store.history_page(None, 2, None).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].entry.url, "oss://demo/100%_done.txt");
    let second = store.history_page(Some(first[1].id), 10, None).unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(second.last().unwrap().id, ids[0]);
    assert_eq!(second[0].entry, history("oss://demo/file3.jpg"));

    let found = store.history_page(None, 10, Some("FILE2")).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, ids[2]);
    assert_eq!(store.history_page(None, 10, Some("%_")).unwrap().len(), 1);
    assert_eq!(
        store.history_page(None, 10, Some("nothing")).unwrap().len(),
        0
    );
    assert_eq!(store.clear_history().unwrap(), 6);
    assert!(store.history_page(None, 10, None).unwrap().is_empty());
}

#[test]
fn the_history_view_pages_by_offset_and_searches_url_or_local_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(dir.path());
    let entries: Vec<NewHistory> = (0..25)
        .map(|i| NewHistory {
            local_path: PathBuf::from(format!("/photos/trip/img{i:02}.jpg")),
            ..history(&format!("oss://demo/backup/img{i:02}.jpg"))
        })
        .collect();
    store.append_history_batch(&entries).unwrap();
    store
        .append_history(&NewHistory {
            local_path: PathBuf::from("/home/me/Report_100%.PDF"),
            ..history("oss://demo/docs/r.pdf")
        })
        .unwrap();
    assert_eq!(store.history_count("").unwrap(), 26);

    // Newest first; the page at offset 10 starts with the 11th newest.
    let page = store.history_at("", 10, 10).unwrap();
    let urls: Vec<&str> = page.iter().map(|e| e.entry.url.as_str()).collect();
    assert_eq!(urls.len(), 10);
    assert_eq!(urls[0], "oss://demo/backup/img15.jpg");
    assert_eq!(urls[9], "oss://demo/backup/img06.jpg");
    assert_eq!(store.history_at("", 20, 10).unwrap().len(), 6);
    assert!(store.history_at("", 26, 10).unwrap().is_empty());

    // The local path is searched as well as the URL, case-insensitively.
    assert_eq!(store.history_count("report").unwrap(), 1);
    assert_eq!(
        store.history_at("report", 0, 10).unwrap()[0].entry.url,
        "oss://demo/docs/r.pdf"
    );
    assert_eq!(store.history_count("trip/img1").unwrap(), 10);
    assert_eq!(
        store.history_at("trip/img1", 5, 3).unwrap()[0].entry.url,
        "oss://demo/backup/img14.jpg"
    );
    // % and _ match only themselves.
    assert_eq!(store.history_count("t_100%").unwrap(), 1);
    assert_eq!(store.history_count("_%").unwrap(), 0);
    assert_eq!(store.history_count("img_5").unwrap(), 0);
    // Searching the target label is not the view's search.
    assert_eq!(store.history_count("work").unwrap(), 0);

    assert_eq!(store.clear_history().unwrap(), 26);
    assert_eq!(store.history_count("").unwrap(), 0);
}

fn set_aside_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".damaged-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_file_that_is_not_a_database_is_set_aside_and_a_fresh_store_works() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"this is not a SQLite database, just text that was here".repeat(100);
    fs::write(dir.path().join(DATABASE_FILE_NAME), &garbage).unwrap();
    fs::write(dir.path().join("queue.sqlite3-wal"), b"old wal").unwrap();
    let (mut store, report) = QueueStore::open(dir.path(), OpenOptions::default()).unwrap();
    let (moved_to, why) = report.set_aside.clone().unwrap();
    assert!(
        report.sentence().unwrap().contains("moved to"),
        "{:?}",
        report.sentence()
    );
    assert!(!why.is_empty());
    assert_eq!(
        fs::read(&moved_to).unwrap(),
        garbage,
        "the old file is kept as it was"
    );
    let wal = open::with_suffix(&moved_to, "-wal");
    assert_eq!(
        fs::read(&wal).unwrap(),
        b"old wal",
        "its WAL is kept beside it"
    );
    let target = store.create_target(&target()).unwrap();
    store.create_job(&new_job(target, &["/x"])).unwrap();
    assert_eq!(store.list_jobs().unwrap().jobs.len(), 1);
}

#[test]
fn a_database_from_a_newer_ossup_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_in(dir.path());
        store.conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let (store, report) = QueueStore::open(dir.path(), OpenOptions::default()).unwrap();
    let (_, why) = report.set_aside.unwrap();
    assert!(why.contains("99"), "{why}");
    assert_eq!(
        schema::version(&store.conn).unwrap(),
        schema::SCHEMA_VERSION
    );
    let names = set_aside_files(dir.path());
    let databases = names
        .iter()
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .count();
    assert_eq!(databases, 1, "{names:?}");
}

#[test]
fn a_database_with_damaged_pages_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut store, job) = store_with_job(dir.path());
        let batch: Vec<NewFile> = (0..2_000).map(|i| file(&format!("f{i}"), i)).collect();
        store.insert_files(job, &batch, NOW).unwrap();
        store
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let path = dir.path().join(DATABASE_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    let page_size = 4096;
    assert!(bytes.len() > 8 * page_size);
    // Scribble over pages past the schema: the tree structure breaks.
    for byte in &mut bytes[3 * page_size..6 * page_size] {
        *byte = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();
    let (store, report) = QueueStore::open(dir.path(), OpenOptions::default()).unwrap();
    assert!(report.set_aside.is_some(), "{report:?}");
    assert!(store.list_jobs().unwrap().jobs.is_empty());
}

const DAY: u64 = 24 * 60 * 60;

fn open_at(dir: &Path, now_unix_secs: u64) -> (QueueStore, OpenReport) {
    QueueStore::open_at(dir, OpenOptions::default(), now_unix_secs).unwrap()
}

/// A closed store of 2,000 files whose full check passed at `checked_at`, then scribbled
/// over past its schema so the tree structure breaks; returns the database's path.
fn damaged_store_checked_at(dir: &Path, checked_at: u64) -> PathBuf {
    {
        let (mut store, job) = store_with_job(dir);
        let batch: Vec<NewFile> = (0..2_000).map(|i| file(&format!("f{i}"), i)).collect();
        store.insert_files(job, &batch, NOW).unwrap();
    }
    let (_, report) = open_at(dir, checked_at);
    assert!(report.full_check.is_some() && report.set_aside.is_none());
    let path = dir.join(DATABASE_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    let page_size = 4096;
    assert!(bytes.len() > 8 * page_size);
    for byte in &mut bytes[3 * page_size..6 * page_size] {
        *byte = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();
    assert_eq!(check::last_passed(&path), Some(checked_at));
    path
}

/// Leaves the `-wal` (and `-shm`) a process killed after a write leaves behind.
fn leave_wal_as_if_killed(dir: &Path) {
    let db = dir.join(DATABASE_FILE_NAME);
    let companions = ["-wal", "-shm"].map(|suffix| open::with_suffix(&db, suffix));
    let kept = {
        // A plain connection, so the store's own lock plays no part.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE targets SET label = 'renamed'", [])
            .unwrap();
        companions.each_ref().map(|path| fs::read(path).unwrap())
    };
    for (path, bytes) in companions.iter().zip(kept) {
        fs::write(path, bytes).unwrap();
    }
}

#[test]
fn an_open_within_a_day_of_a_passed_full_check_reads_only_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE_NAME);
    let (_, report) = open_at(dir.path(), NOW);
    assert!(report.created);
    assert_eq!(report.full_check, None, "a new file has nothing to check");
    let (_, report) = open_at(dir.path(), NOW + 10);
    assert_eq!(report.full_check, Some(FullCheck::NoRecord));
    assert_eq!(check::last_passed(&db), Some(NOW + 10));
    for later in [NOW + 11, NOW + 10 + DAY - 1] {
        let (_, report) = open_at(dir.path(), later);
        assert_eq!(report.full_check, None, "at {later}");
    }
    assert_eq!(
        check::last_passed(&db),
        Some(NOW + 10),
        "a skipped check records nothing"
    );
    let (_, report) = open_at(dir.path(), NOW + 10 + DAY);
    assert_eq!(report.full_check, Some(FullCheck::Due));
    assert_eq!(check::last_passed(&db), Some(NOW + 10 + DAY));
}

#[test]
fn damaged_pages_are_set_aside_on_the_first_open_with_the_full_check_due() {
    let dir = tempfile::tempdir().unwrap();
    damaged_store_checked_at(dir.path(), NOW);
    let (_, report) = open_at(dir.path(), NOW + 60);
    assert_eq!(report.full_check, None);
    assert_eq!(report.set_aside, None, "only the header was read");

    let (store, report) = open_at(dir.path(), NOW + DAY);
    assert_eq!(report.full_check, Some(FullCheck::Due));
    assert!(report.set_aside.is_some(), "{report:?}");
    let sentence = report.sentence().unwrap();
    assert!(sentence.contains("damaged"), "{sentence}");
    assert!(store.list_jobs().unwrap().jobs.is_empty());
    let names = set_aside_files(dir.path());
    let databases = names
        .iter()
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .count();
    assert_eq!(databases, 1, "{names:?}");
}

#[test]
fn damaged_pages_are_set_aside_after_an_unclean_exit() {
    let dir = tempfile::tempdir().unwrap();
    damaged_store_checked_at(dir.path(), NOW);
    leave_wal_as_if_killed(dir.path());
    let (store, report) = open_at(dir.path(), NOW + 60);
    assert_eq!(report.full_check, Some(FullCheck::UncleanExit));
    assert!(report.set_aside.is_some(), "{report:?}");
    assert!(store.list_jobs().unwrap().jobs.is_empty());
}

#[test]
fn the_wal_of_a_store_still_open_is_no_unclean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE_NAME);
    drop(open_at(dir.path(), NOW));
    drop(open_at(dir.path(), NOW + 1));
    let (mut first, _) = open_at(dir.path(), NOW + 2);
    first.create_target(&target()).unwrap();
    assert!(fs::metadata(open::with_suffix(&db, "-wal")).unwrap().len() > 0);
    let (_, report) = open_at(dir.path(), NOW + 3);
    assert_eq!(report.full_check, None, "the first store is alive");
    drop(first);
    assert!(
        !open::with_suffix(&db, "-wal").exists(),
        "the last close folds the WAL in"
    );
    let (_, report) = open_at(dir.path(), NOW + 4);
    assert_eq!(report.full_check, None, "it was closed");
}

#[test]
fn damage_met_in_use_is_a_sentence_and_makes_the_next_open_check_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let db = damaged_store_checked_at(dir.path(), NOW);
    {
        let (mut store, report) = open_at(dir.path(), NOW + 60);
        assert_eq!(report.full_check, None);
        let job = JobId(1);
        let again: Vec<NewFile> = (0..2_000).map(|i| file(&format!("f{i}"), i)).collect();
        let error = store
            .list_jobs()
            .map(drop)
            .and_then(|()| store.files_page(job, None, None, MAX_PAGE_ROWS).map(drop))
            .and_then(|()| store.insert_files(job, &again, NOW).map(drop))
            .unwrap_err();
        assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
        let sentence = error.to_string();
        assert!(
            sentence.contains("is damaged") && sentence.contains("next time ossup opens it"),
            "{sentence}"
        );
        assert_eq!(check::last_passed(&db), None, "the record is forgotten");
    }
    let (_, report) = open_at(dir.path(), NOW + 120);
    assert_eq!(report.full_check, Some(FullCheck::NoRecord));
    assert!(report.set_aside.is_some(), "{report:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_caught_right_after_a_passed_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE_NAME);
    drop(open_at(dir.path(), NOW));
    drop(open_at(dir.path(), NOW + 1));
    assert_eq!(check::last_passed(&db), Some(NOW + 1));
    fs::write(
        &db,
        b"not a database at all, whatever the record says".repeat(100),
    )
    .unwrap();
    let (store, report) = open_at(dir.path(), NOW + 2);
    assert_eq!(report.full_check, None, "the record is fresh");
    assert!(report.set_aside.is_some(), "{report:?}");
    assert!(store.list_jobs().unwrap().jobs.is_empty());
    assert_eq!(
        check::last_passed(&db),
        None,
        "the record went with the file it spoke of"
    );
}

#[test]
fn a_missing_unreadable_or_future_record_means_a_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE_NAME);
    let record = open::with_suffix(&db, check::RECORD_SUFFIX);
    drop(open_at(dir.path(), NOW));
    let cases: [(&str, Option<Vec<u8>>); 10] = [
        ("missing", None),
        ("empty", Some(Vec::new())),
        ("not text", Some(b"\xff\xfe\x00\x01 1767000000".to_vec())),
        ("no time", Some(b"ossup-queue-check 1\n".to_vec())),
        ("not a number", Some(b"ossup-queue-check 1 soon\n".to_vec())),
        ("negative", Some(b"ossup-queue-check 1 -5\n".to_vec())),
        (
            "too large",
            Some(b"ossup-queue-check 1 99999999999999999999999\n".to_vec()),
        ),
        (
            "another format",
            Some(format!("ossup-queue-check 2 {NOW}\n").into_bytes()),
        ),
        (
            "in the future",
            Some(format!("ossup-queue-check 1 {}\n", NOW + 1000).into_bytes()),
        ),
        ("huge", Some(vec![b'7'; 4 << 20])),
    ];
    for (what, contents) in cases {
        let _ = fs::remove_file(&record);
        if let Some(contents) = contents {
            fs::write(&record, contents).unwrap();
        }
        let (_, report) = open_at(dir.path(), NOW + 100);
        assert_eq!(report.full_check, Some(FullCheck::NoRecord), "{what}");
        assert_eq!(check::last_passed(&db), Some(NOW + 100), "{what}");
    }
    // A record that cannot be written costs a full check on every open, nothing more.
    fs::remove_file(&record).unwrap();
    fs::create_dir(&record).unwrap();
    fs::write(record.join("inside"), b"x").unwrap();
    for _ in 0..2 {
        let (_, report) = open_at(dir.path(), NOW + 200);
        assert_eq!(report.full_check, Some(FullCheck::NoRecord));
        assert_eq!(report.set_aside, None);
    }
}

#[test]
fn unfinished_jobs_are_listed_without_reading_the_finished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, done_job) = store_with_job(dir.path());
    let target = store.create_target(&target()).unwrap();
    let open_job = store.create_job(&new_job(target, &["/open"])).unwrap();
    for (job, count) in [(done_job, 30), (open_job, 5)] {
        let batch: Vec<NewFile> = (0..count).map(|i| file(&format!("f{i}"), 10)).collect();
        store.insert_files(job, &batch, NOW).unwrap();
    }
    store.set_job_state(done_job, JobState::Finished).unwrap();
    let unfinished = store.list_unfinished_jobs().unwrap();
    assert_eq!(unfinished.jobs.len(), 1);
    assert_eq!(unfinished.jobs[0].job.id, open_job);
    assert_eq!(unfinished.jobs[0].counts.pending, 5);
    assert_eq!(unfinished.jobs[0].counts.bytes_total, 50);
    let all = store.list_jobs().unwrap();
    assert_eq!(all.jobs.len(), 2);
    assert_eq!(all.jobs[0].counts.pending, 30);

    // Searched by job in the index, never a scan of every file in the store.
    let plan: Vec<String> = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", jobs::UNFINISHED_COUNTS))
        .unwrap()
        .query_map([], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.starts_with("SEARCH files USING INDEX files_by_job_state")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN files")),
        "{plan:?}"
    );
}

#[test]
fn a_write_lock_held_elsewhere_reports_locked_within_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        busy_timeout: Duration::from_millis(100),
    };
    let (mut store, _) = QueueStore::open(dir.path(), options).unwrap();
    let target = store.create_target(&target()).unwrap();
    let job = store.create_job(&new_job(target, &["/a"])).unwrap();

    let other = rusqlite::Connection::open(dir.path().join(DATABASE_FILE_NAME)).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let error = store.insert_files(job, &[file("a", 1)], NOW).unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(
        error.to_string().contains("locked by another process"),
        "{error}"
    );
    if let StoreError::Locked { pid: Some(pid), .. } = error {
        // The other connection is in this process.
        assert_eq!(pid, std::process::id());
    }
    // Another handle opens meanwhile (the window while the CLI writes), and readers
    // still see the queue; nothing was lost once the lock goes.
    let (reader, _) = QueueStore::open(dir.path(), options).unwrap();
    assert_eq!(reader.list_jobs().unwrap().jobs.len(), 1);
    // Readers still see the queue meanwhile, and nothing was lost once the lock goes.
    assert_eq!(store.job_counts(job).unwrap(), JobCounts::default());
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(store.insert_files(job, &[file("a", 1)], NOW).unwrap(), 1);
}

#[test]
fn a_full_disk_is_named_and_the_batch_is_not_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, job) = store_with_job(dir.path());
    store.insert_files(job, &[file("first", 1)], NOW).unwrap();
    // A page limit stands in for a full disk: SQLite reports both as SQLITE_FULL.
    let pages: i64 = store
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store
        .conn
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
        .unwrap();
    let batch: Vec<NewFile> = (0..5_000).map(|i| file(&format!("f{i}"), 1)).collect();
    let error = store.insert_files(job, &batch, NOW).unwrap_err();
    assert!(matches!(error, StoreError::DiskFull { .. }), "{error:?}");
    assert!(error.to_string().contains("is full"), "{error}");
    assert_eq!(store.job_counts(job).unwrap().pending, 1);
}

#[test]
fn the_write_lock_holder_is_read_from_proc_locks() {
    let locks = "\
1: FLOCK  ADVISORY  WRITE 32337 fe:00:5390914 0 EOF
2: POSIX  ADVISORY  WRITE 794 fe:00:10022440 120 120
2: -> POSIX  ADVISORY  WRITE 795 fe:00:10022440 120 120
3: POSIX  ADVISORY  READ 796 fe:00:10022440 124 124
4: POSIX  ADVISORY  WRITE 797 fe:01:77 0 EOF
";
    assert_eq!(
        posix_write_lock_holder(locks, "fe:00:10022440", 120),
        Some(794)
    );
    assert_eq!(
        posix_write_lock_holder(locks, "fe:00:10022440", 124),
        None,
        "a read lock"
    );
    assert_eq!(
        posix_write_lock_holder(locks, "fe:01:77", 120),
        Some(797),
        "to EOF"
    );
    assert_eq!(
        posix_write_lock_holder(locks, "fe:00:5390914", 120),
        None,
        "flock"
    );
    assert_eq!(posix_write_lock_holder(locks, "fe:00:1", 120), None);
}

fn write_json_session(sessions_dir: &Path, session: &Session) {
    fs::create_dir_all(sessions_dir).unwrap();
    fs::write(
        sessions_dir.join(format!("{}.json", session.id)),
        serde_json::to_vec_pretty(session).unwrap(),
    )
    .unwrap();
}

#[test]
fn json_sessions_are_imported_once_and_moved_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let sessions_dir = dir.path().join("sessions");
    let (mut store, job) = store_with_job(&dir.path().join("data"));
    let mut first = session("aaaa", 300 << 20, 100 << 20);
    first.key = "videos/big.bin".into();
    first.job = Some(job.0);
    write_json_session(&sessions_dir, &first);
    let mut second = session("bbbb", 300 << 20, 100 << 20);
    second.key = "top.bin".into();
    write_json_session(&sessions_dir, &second);
    let mut tampered = session("cccc", 4 << 30, 1);
    tampered.completed_parts.clear();
    write_json_session(&sessions_dir, &tampered);
    fs::write(sessions_dir.join("dddd.json"), b"{ torn").unwrap();
    let mut misnamed = session("eeee", 300 << 20, 100 << 20);
    misnamed.id = "ffff".into();
    fs::write(
        sessions_dir.join("eeee.json"),
        serde_json::to_vec(&misnamed).unwrap(),
    )
    .unwrap();

    let report = store.import_json_sessions(&sessions_dir).unwrap();
    assert_eq!(
        report.imported,
        vec!["aaaa".to_string(), "bbbb".to_string()]
    );
    // Impossible numbers, a torn file and a name that is not the id are refused and set aside.
    assert!(report.rejected.is_empty());
    assert_eq!(report.unreadable.len(), 3);
    assert!(
        report.unreadable[0].error.contains("10000"),
        "{:?}",
        report.unreadable
    );
    assert!(report.not_moved.is_empty());
    assert!(
        report
            .sentence()
            .unwrap()
            .contains("2 saved upload session(s)")
    );

    assert_eq!(store.load_session("aaaa").unwrap().unwrap(), first);
    assert_eq!(store.load_session("bbbb").unwrap().unwrap(), second);
    let imported = sessions_dir.join(super::import::IMPORTED_DIR);
    assert!(imported.join("aaaa.json").exists() && imported.join("bbbb.json").exists());
    assert!(!sessions_dir.join("aaaa.json").exists());
    for refused in ["cccc", "dddd", "eeee"] {
        assert!(
            sessions_dir
                .join(format!("{refused}.json.corrupt"))
                .exists(),
            "a refused file is kept, set aside: {refused}"
        );
    }
    // A session of its own resumes as a file of its own: no job is made for it.
    assert_eq!(store.list_jobs().unwrap().jobs.len(), 1);

    // A second run finds nothing new; a file put back (a crash before the move) is
    // recognised and moved without being written twice.
    assert!(
        store
            .import_json_sessions(&sessions_dir)
            .unwrap()
            .imported
            .is_empty()
    );
    fs::copy(imported.join("aaaa.json"), sessions_dir.join("aaaa.json")).unwrap();
    let again = store.import_json_sessions(&sessions_dir).unwrap();
    assert_eq!(again.already_present, vec!["aaaa".to_string()]);
    assert!(again.imported.is_empty());
    assert!(
        imported.join("aaaa.json.1").exists(),
        "both copies are kept"
    );
}

#[test]
fn no_column_can_hold_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let columns: Vec<String> = {
        let mut statement = store
            .conn
            .prepare(
                "SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table'",
            )
            .unwrap();
        statement
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap().to_lowercase())
            .collect()
    };
    assert!(
        columns.contains(&"targets.credentials_ref".to_string()),
        "{columns:?}"
    );
    for word in ["secret", "password", "access_key", "session_token"] {
        assert!(
            columns.iter().all(|c| !c.contains(word)),
            "{word} in {columns:?}"
        );
    }
}

/// Set in the child process of the kill -9 test: the folder it writes the store in.
const KILL_CHILD_DIR: &str = "OSSUP_QUEUE_STORE_KILL_CHILD_DIR";
const KILL_BATCH: usize = 100;

#[test]
fn a_store_killed_mid_write_reopens_clean_with_every_committed_batch() {
    if let Some(dir) = std::env::var_os(KILL_CHILD_DIR) {
        kill_child_loop(Path::new(&dir));
    }
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "engine::store::tests::a_store_killed_mid_write_reopens_clean_with_every_committed_batch",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = 0;
    while let Some(Ok(line)) = lines.next() {
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.parse().unwrap();
            if committed >= 30 {
                break;
            }
        }
    }
    assert!(
        committed >= 30,
        "the child stopped early after {committed} batches"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.parse().unwrap();
        }
    }

    // A check that passed just now: only the killed writer can make this open check in full.
    let db = dir.path().join(DATABASE_FILE_NAME);
    check::record_passed(&db, NOW).unwrap();
    let (store, report) = QueueStore::open_at(dir.path(), OpenOptions::default(), NOW).unwrap();
    assert_eq!(report.set_aside, None);
    assert_eq!(report.full_check, Some(FullCheck::UncleanExit));
    let verdict: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let listing = store.list_jobs().unwrap();
    assert_eq!(listing.jobs.len(), 1);
    let counts = listing.jobs[0].counts;
    let all = counts.pending + counts.in_flight + counts.done;
    let batch = KILL_BATCH as u64;
    assert_eq!(
        all % batch,
        0,
        "a batch of inserts is whole or absent: {counts:?}"
    );
    assert_eq!(
        counts.done % batch,
        0,
        "a batch of outcomes is whole or absent: {counts:?}"
    );
    assert!(
        counts.done >= committed * batch,
        "{counts:?} after {committed}"
    );
    assert!(all <= counts.done + batch, "{counts:?}");
    let history: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        history as u64, counts.done,
        "history commits with its outcomes"
    );
}

/// The child: adds a batch, claims it, records it done, says so; until killed.
fn kill_child_loop(dir: &Path) -> ! {
    use std::io::Write;
    let (mut store, job) = store_with_job(dir);
    let mut stdout = std::io::stdout();
    for round in 1_u64.. {
        let batch: Vec<NewFile> = (0..KILL_BATCH)
            .map(|i| file(&format!("r{round}/f{i}"), 1))
            .collect();
        store.insert_files(job, &batch, NOW).unwrap();
        let claimed = store.claim_pending(job, KILL_BATCH, NOW).unwrap();
        let outcomes: Vec<FileOutcome> = claimed
            .iter()
            .map(|f| FileOutcome::done(f.id, history("oss://demo/x")))
            .collect();
        store.record_outcomes(&outcomes, NOW).unwrap();
        writeln!(stdout, "committed {round}").unwrap();
        stdout.flush().unwrap();
    }
    unreachable!("the loop runs until the process is killed")
}
