//! Multipart sessions: what resuming one upload needs (file identity, destination, upload
//! id, part size, finished parts), kept in the queue store beside the jobs, and a
//! per-session lock file so two processes never drive the same upload.
//!
//! A session never holds a secret. Every number read back is checked against the OSS
//! limits and the session's own plan before anything is allocated by it; a stored session
//! that fails is flagged, kept and reported once (see the store's `sessions`), never
//! resumed. The lock is an OS file lock, so a process killed with -9 leaves nothing held.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::event::TransferId;
use super::jobs::lock;
use super::plan::{PartPlan, PlanError};
use super::store::{OpenOptions as StoreOpenOptions, QueueStore, StoreError};

/// Version written into every session; files with another version are refused.
pub const FORMAT_VERSION: u32 = 1;

/// One part the server has accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub crc64: u64,
}

/// Object options chosen when the upload was initiated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UploadOptions {
    pub content_type: Option<String>,
    pub forbid_overwrite: bool,
    pub storage_class: Option<String>,
}

/// Identity of the local file when the upload started; a resume requires all to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_unix_nanos: i128,
    /// CRC-64 of the first, middle and last 64 KiB, folded with the size.
    pub fingerprint: u64,
}

impl FileIdentity {
    /// The modification time in whole seconds since the epoch (0 if unknown or earlier),
    /// as recorded in `x-oss-meta-mtime`.
    pub fn mtime_unix_secs(&self) -> u64 {
        u64::try_from(self.mtime_unix_nanos.div_euclid(1_000_000_000)).unwrap_or(0)
    }
}

/// Everything needed to resume one multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub format_version: u32,
    pub id: String,
    pub local_path: PathBuf,
    pub file: FileIdentity,
    /// The endpoint label the upload was started on.
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_size: u64,
    /// Sorted by part number.
    pub completed_parts: Vec<CompletedPart>,
    pub options: UploadOptions,
    /// When the session was created, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// The job whose file this is: such a session is resumed by its job, not on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
}

impl Session {
    pub fn transfer_id(&self) -> TransferId {
        TransferId(self.id.clone())
    }

    /// Saved before its InitiateMultipartUpload was answered: the process died in between,
    /// so the server may hold an upload that only this session can lead back to.
    pub fn is_initiating(&self) -> bool {
        self.upload_id.is_empty()
    }

    /// How the recorded file is cut into parts by the recorded part size.
    pub fn plan(&self) -> Result<PartPlan, PlanError> {
        PartPlan::with_part_size(self.file.size, self.part_size)
    }

    /// Checks every number that the engine later allocates or indexes by (part size, part
    /// count, part numbers and sizes) against the OSS limits and the session's own plan, so a
    /// damaged or tampered file is refused instead of exhausting memory.
    pub fn check_numbers(&self) -> Result<(), String> {
        let plan = self.plan().map_err(|e| e.to_string())?;
        let mut previous = 0;
        for part in &self.completed_parts {
            if part.number == 0 || part.number > plan.part_count {
                return Err(format!(
                    "part number {} is outside 1 to {}",
                    part.number, plan.part_count
                ));
            }
            if part.number <= previous {
                return Err(format!(
                    "part {} is listed out of order or twice",
                    part.number
                ));
            }
            if part.size != plan.part_len(part.number) {
                return Err(format!(
                    "part {} is recorded as {} bytes, the plan says {}",
                    part.number,
                    part.size,
                    plan.part_len(part.number)
                ));
            }
            previous = part.number;
        }
        Ok(())
    }

    /// Records a finished part, replacing an older record of the same number.
    pub fn record_part(&mut self, part: CompletedPart) {
        match self
            .completed_parts
            .binary_search_by_key(&part.number, |p| p.number)
        {
            Ok(index) => self.completed_parts[index] = part,
            Err(index) => self.completed_parts.insert(index, part),
        }
    }
}

/// The id of the transfer of `local_path` to `bucket/key` on `endpoint`: the same file
/// to the same place always gets the same id, so adding it again finds its session.
pub fn session_id(endpoint: &str, bucket: &str, key: &str, local_path: &Path) -> TransferId {
    let mut hasher = Sha256::new();
    for field in [endpoint.as_bytes(), bucket.as_bytes(), key.as_bytes()] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher.update(local_path.as_os_str().as_encoded_bytes());
    let digest = hasher.finalize();
    TransferId(hex::encode(&digest[..16]))
}

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("could not {action} the session lock {}: {source}", path.display())]
    Lock {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sessions cannot be saved or read: {0}")]
    Unavailable(String),
    #[error("session {id} is in use by another ossup process")]
    Locked { id: TransferId },
}

/// A saved session that could not be used, and where it was put aside.
#[derive(Debug, Clone)]
pub struct CorruptSession {
    /// The session file of an earlier version, or the queue database holding the row.
    pub path: PathBuf,
    /// Where the file was moved; `None` for a row, which is flagged where it is.
    pub moved_to: Option<PathBuf>,
    pub error: String,
}

/// What a read of every session found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub sessions: Vec<Session>,
    /// Sessions found unusable by this read; each is reported once.
    pub corrupt: Vec<CorruptSession>,
}

/// Held while a process drives a session; dropping it releases the lock.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

/// The sessions of this user: rows of the queue store, and a folder of lock files.
#[derive(Debug, Clone)]
pub struct SessionStore {
    /// The queue store holding the sessions, or why it could not be opened.
    queue: Result<Arc<Mutex<QueueStore>>, String>,
    /// One lock file per session being driven, named by its id.
    locks_dir: PathBuf,
}

/// The folder, inside the queue store's folder, that holds the session locks.
const LOCKS_DIR: &str = "locks";

impl SessionStore {
    /// Sessions kept in `queue` (shared with the jobs), locked in `queue_dir/locks/`; with
    /// `queue` unavailable every read and write fails with `why`.
    pub fn new(queue: Result<Arc<Mutex<QueueStore>>, String>, queue_dir: &Path) -> Self {
        Self {
            queue,
            locks_dir: queue_dir.join(LOCKS_DIR),
        }
    }

    /// Opens the queue store in `queue_dir` on its own connection, first bringing in the
    /// session files an earlier version left in `legacy_sessions_dir`, for a front end
    /// that reads sessions without running an engine.
    pub fn open(
        queue_dir: &Path,
        legacy_sessions_dir: &Path,
    ) -> Result<(Self, OpenNotes), StoreError> {
        let (queue, notes) = open_queue(queue_dir, legacy_sessions_dir)?;
        Ok((Self::new(Ok(Arc::new(Mutex::new(queue))), queue_dir), notes))
    }

    fn queue(&self) -> Result<&Mutex<QueueStore>, SessionError> {
        self.queue
            .as_deref()
            .map_err(|why| SessionError::Unavailable(why.clone()))
    }

    fn lock_path_of(&self, id: &TransferId) -> PathBuf {
        self.locks_dir.join(format!("{}.lock", id.0))
    }

    /// Writes the session in one transaction: a crash leaves the old or the new version.
    pub fn save(&self, session: &Session) -> Result<(), SessionError> {
        Ok(lock(self.queue()?).save_session(session)?)
    }

    /// Reads one session; `Ok(None)` when there is none. One that fails its checks is
    /// flagged and returned as an error naming the reason.
    pub fn load(&self, id: &TransferId) -> Result<Option<Session>, SessionError> {
        Ok(lock(self.queue()?).load_session(&id.0)?)
    }

    /// Whether a session is saved under `id`, usable or not.
    pub fn exists(&self, id: &TransferId) -> Result<bool, SessionError> {
        Ok(lock(self.queue()?).has_session(&id.0)?)
    }

    /// Reads every session, flagging (and listing once) those that fail their checks.
    pub fn load_all(&self) -> Result<LoadReport, SessionError> {
        let queue = self.queue()?;
        let store = lock(queue);
        let report = store.sessions_for_endpoint(None)?;
        Ok(LoadReport {
            sessions: report.sessions,
            corrupt: report
                .set_aside
                .into_iter()
                .map(|aside| CorruptSession {
                    path: store.path().to_path_buf(),
                    moved_to: None,
                    error: format!("session {}: {}", aside.id, aside.reason),
                })
                .collect(),
        })
    }

    /// The upload ids saved sessions hold for `bucket/key` (the uploads of it that are ours).
    pub fn upload_ids_of(&self, bucket: &str, key: &str) -> Result<Vec<String>, SessionError> {
        Ok(lock(self.queue()?).session_upload_ids(bucket, key)?)
    }

    /// Every session set aside as damaged (by this read or an earlier one): its id and why.
    pub fn damaged(&self) -> Result<Vec<(String, String)>, SessionError> {
        let damaged = lock(self.queue()?).damaged_sessions()?;
        Ok(damaged.into_iter().map(|d| (d.id, d.reason)).collect())
    }

    /// Deletes a session with its parts, and its lock file; a missing one is no error.
    pub fn remove(&self, id: &TransferId) -> Result<(), SessionError> {
        lock(self.queue()?).remove_session(&id.0)?;
        let _ = fs::remove_file(self.lock_path_of(id));
        Ok(())
    }

    /// Removes the lock file of a session that is not saved (a run that ended without
    /// one, such as a single PutObject or a failure before Initiate).
    pub fn release_unsaved(&self, id: &TransferId) -> Result<(), SessionError> {
        if !self.exists(id)? {
            let _ = fs::remove_file(self.lock_path_of(id));
        }
        Ok(())
    }

    /// Takes the session's lock without waiting; `Locked` when another process (or
    /// another handle in this one) holds it.
    pub fn try_lock(&self, id: &TransferId) -> Result<SessionLock, SessionError> {
        let path = self.lock_path_of(id);
        let lock_error = |action| {
            let path = path.clone();
            move |source| SessionError::Lock {
                action,
                path,
                source,
            }
        };
        fs::create_dir_all(&self.locks_dir).map_err(lock_error("create the folder of"))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error("open"))?;
        match file.try_lock() {
            Ok(()) => Ok(SessionLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(SessionError::Locked { id: id.clone() }),
            Err(TryLockError::Error(source)) => Err(lock_error("take")(source)),
        }
    }
}

/// What opening the queue store had to say: sentences (a damaged store set aside,
/// sessions imported), and the session files of an earlier version that could not be used.
#[derive(Debug, Default)]
pub struct OpenNotes {
    pub sentences: Vec<String>,
    pub corrupt: Vec<CorruptSession>,
}

/// Opens the queue store and imports the session files an earlier version left in
/// `legacy_sessions_dir`: how the engine and every command that reads sessions open it.
pub fn open_queue(
    queue_dir: &Path,
    legacy_sessions_dir: &Path,
) -> Result<(QueueStore, OpenNotes), StoreError> {
    let (mut queue, report) = QueueStore::open(queue_dir, StoreOpenOptions::default())?;
    let mut notes = OpenNotes {
        sentences: report.sentence().into_iter().collect(),
        corrupt: Vec::new(),
    };
    match queue.import_json_sessions(legacy_sessions_dir) {
        Ok(imported) => {
            notes.sentences.extend(imported.sentence());
            notes.corrupt = imported.unreadable;
        }
        Err(e) => notes.sentences.push(format!(
            "The saved sessions in {} could not be brought into the queue store: {e}.",
            legacy_sessions_dir.display()
        )),
    }
    Ok((queue, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{MAX_PARTS, MIN_PART_SIZE};

    fn sample(id: &str) -> Session {
        Session {
            format_version: FORMAT_VERSION,
            id: id.into(),
            local_path: "/data/file.bin".into(),
            file: FileIdentity {
                size: 3 * MIN_PART_SIZE,
                mtime_unix_nanos: 1_700_000_000_000_000_000,
                fingerprint: 42,
            },
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "demo".into(),
            key: "file.bin".into(),
            upload_id: "UPLOAD".into(),
            part_size: MIN_PART_SIZE,
            completed_parts: vec![],
            options: UploadOptions::default(),
            created_unix_secs: 1,
            job: None,
        }
    }

    fn store_in(dir: &Path) -> SessionStore {
        SessionStore::open(&dir.join("queue"), &dir.join("sessions"))
            .unwrap()
            .0
    }

    #[test]
    fn save_load_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let mut session = sample("aaaa");
        store.save(&session).unwrap();
        session.record_part(CompletedPart {
            number: 2,
            size: MIN_PART_SIZE,
            etag: "\"B\"".into(),
            crc64: 2,
        });
        session.record_part(CompletedPart {
            number: 1,
            size: MIN_PART_SIZE,
            etag: "\"A\"".into(),
            crc64: 1,
        });
        store.save(&session).unwrap();
        let loaded = store.load(&session.transfer_id()).unwrap().unwrap();
        assert_eq!(loaded, session);
        assert_eq!(
            loaded
                .completed_parts
                .iter()
                .map(|p| p.number)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(store.exists(&session.transfer_id()).unwrap());
        assert_eq!(store.load_all().unwrap().sessions, vec![session.clone()]);
        store.remove(&session.transfer_id()).unwrap();
        assert!(store.load(&session.transfer_id()).unwrap().is_none());
        assert!(!store.exists(&session.transfer_id()).unwrap());
    }

    #[test]
    fn an_unavailable_queue_store_is_named_in_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(Err("the disk is full".into()), dir.path());
        let error = store.save(&sample("x")).unwrap_err().to_string();
        assert!(error.contains("the disk is full"), "{error}");
        assert!(store.load_all().is_err());
    }

    fn part(number: u32, size: u64) -> CompletedPart {
        CompletedPart {
            number,
            size,
            etag: format!("\"{number}\""),
            crc64: u64::from(number),
        }
    }

    /// The reason a session's numbers are refused; the store refuses to save it too.
    fn refusal(session: &Session) -> String {
        let reason = session.check_numbers().unwrap_err();
        let dir = tempfile::tempdir().unwrap();
        let saved = store_in(dir.path()).save(session).unwrap_err().to_string();
        assert!(saved.contains(&reason), "{saved}");
        reason
    }

    #[test]
    fn numbers_outside_the_oss_limits_are_refused() {
        let mut one_byte_parts = sample("tiny");
        one_byte_parts.file.size = 4_000_000_000;
        one_byte_parts.part_size = 1;
        assert!(refusal(&one_byte_parts).contains(&format!("more than {MAX_PARTS} parts")));

        let mut zero = sample("zero");
        zero.part_size = 0;
        assert!(refusal(&zero).contains("part size of 0 bytes"));

        let mut small = sample("small");
        small.part_size = 1000;
        assert!(refusal(&small).contains("part size of 1000 bytes"));

        let mut huge = sample("huge");
        huge.file.size = u64::MAX;
        assert!(refusal(&huge).contains("at most"));
    }

    #[test]
    fn completed_parts_must_fit_the_plan() {
        let mut beyond = sample("beyond");
        beyond.completed_parts = vec![part(4, MIN_PART_SIZE)];
        assert!(refusal(&beyond).contains("part number 4 is outside 1 to 3"));

        let mut zero = sample("zeroth");
        zero.completed_parts = vec![part(0, MIN_PART_SIZE)];
        assert!(refusal(&zero).contains("part number 0"));

        let mut twice = sample("twice");
        twice.completed_parts = vec![part(2, MIN_PART_SIZE), part(2, MIN_PART_SIZE)];
        assert!(refusal(&twice).contains("out of order or twice"));

        let mut unsorted = sample("unsorted");
        unsorted.completed_parts = vec![part(3, MIN_PART_SIZE), part(1, MIN_PART_SIZE)];
        assert!(refusal(&unsorted).contains("out of order"));

        let mut wrong_size = sample("wrong");
        wrong_size.completed_parts = vec![part(1, 7)];
        assert!(refusal(&wrong_size).contains("recorded as 7 bytes"));

        // A single part smaller than the minimum is a valid plan.
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let mut single = sample("single");
        single.file.size = 10;
        single.part_size = 8 << 20;
        single.completed_parts = vec![part(1, 10)];
        store.save(&single).unwrap();
        assert_eq!(store.load(&single.transfer_id()).unwrap(), Some(single));
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let id = TransferId("x".into());
        let held = store.try_lock(&id).unwrap();
        assert!(matches!(
            store.try_lock(&id),
            Err(SessionError::Locked { .. })
        ));
        drop(held);
        assert!(store.try_lock(&id).is_ok());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let path = Path::new("/a/b.txt");
        let a = session_id("e", "bucket", "k", path);
        assert_eq!(a, session_id("e", "bucket", "k", path));
        assert_ne!(a, session_id("e", "bucket", "k2", path));
        assert_ne!(a, session_id("e", "bucketk", "", path));
        assert_eq!(a.0.len(), 32);
    }

    #[test]
    fn no_secret_fields() {
        let json = serde_json::to_string(&sample("s")).unwrap().to_lowercase();
        assert!(!json.contains("secret") && !json.contains("token"));
    }
}
