//! Crash-safe sessions: one JSON file per transfer, written through [`crate::durable`], with a
//! per-session lock file so two processes never drive the same upload.
//!
//! A session holds what resuming needs (file identity, destination, upload id, part size,
//! finished parts) and never a secret. Unreadable files, and files whose numbers break
//! the OSS limits or their own plan, are renamed aside (`.corrupt`) and reported; the
//! others still load.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::event::TransferId;
use super::plan::{PartPlan, PlanError};
use crate::durable;

/// Version written into every session; files with another version are refused.
pub const FORMAT_VERSION: u32 = 1;

const SESSION_EXTENSION: &str = "json";
const LOCK_EXTENSION: &str = "lock";

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
    #[error("could not {action} session file {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("session file {} is not a valid session: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("session {id} is in use by another ossup process")]
    Locked { id: TransferId },
}

/// A session file that could not be read, and where it was moved.
#[derive(Debug, Clone)]
pub struct CorruptSession {
    pub path: PathBuf,
    pub moved_to: Option<PathBuf>,
    pub error: String,
}

/// What a scan of the sessions folder found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub sessions: Vec<Session>,
    pub corrupt: Vec<CorruptSession>,
}

/// Held while a process drives a session; dropping it releases the lock.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

/// The sessions folder.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, id: &TransferId) -> PathBuf {
        self.dir.join(format!("{}.{SESSION_EXTENSION}", id.0))
    }

    fn lock_path_of(&self, id: &TransferId) -> PathBuf {
        self.dir.join(format!("{}.{LOCK_EXTENSION}", id.0))
    }

    /// Writes the session durably (see [`durable`]): a crash leaves either the old or the
    /// new version, never a torn one.
    pub fn save(&self, session: &Session) -> Result<(), SessionError> {
        let id = session.transfer_id();
        let path = self.path_of(&id);
        fs::create_dir_all(&self.dir).map_err(|source| SessionError::Io {
            action: "create the folder of",
            path: path.clone(),
            source,
        })?;
        let json = serde_json::to_vec_pretty(session).map_err(|e| SessionError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        durable::write_file(&path, &json, None).map_err(|source| SessionError::Io {
            action: "save",
            path,
            source,
        })
    }

    /// Reads one session; `Ok(None)` when there is none.
    pub fn load(&self, id: &TransferId) -> Result<Option<Session>, SessionError> {
        let path = self.path_of(id);
        match fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SessionError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Reads every session. With `set_aside_corrupt`, unreadable files are renamed to
    /// `*.corrupt` so they are reported once; either way they are listed in the report.
    pub fn load_all(&self, set_aside_corrupt: bool) -> Result<LoadReport, SessionError> {
        let mut report = LoadReport::default();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(source) => {
                return Err(SessionError::Io {
                    action: "list",
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == SESSION_EXTENSION))
            .collect();
        paths.sort();
        for path in paths {
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| parse(&path, &bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(session) => report.sessions.push(session),
                Err(error) => {
                    let moved_to = if set_aside_corrupt {
                        let aside = path.with_extension(format!("{SESSION_EXTENSION}.corrupt"));
                        durable::set_aside(&path, &aside).ok().map(|()| aside)
                    } else {
                        None
                    };
                    report.corrupt.push(CorruptSession {
                        path,
                        moved_to,
                        error,
                    });
                }
            }
        }
        Ok(report)
    }

    /// Deletes a session and its lock file; a missing session is not an error.
    pub fn remove(&self, id: &TransferId) -> Result<(), SessionError> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SessionError::Io {
                    action: "delete",
                    path,
                    source,
                });
            }
        }
        let _ = fs::remove_file(self.lock_path_of(id));
        let _ = durable::sync_dir(&self.dir);
        Ok(())
    }

    /// Takes the session's lock without waiting; `Locked` when another process (or
    /// another handle in this one) holds it.
    pub fn try_lock(&self, id: &TransferId) -> Result<SessionLock, SessionError> {
        let path = self.lock_path_of(id);
        let io_error = |action| {
            let path = path.clone();
            move |source| SessionError::Io {
                action,
                path,
                source,
            }
        };
        fs::create_dir_all(&self.dir).map_err(io_error("create the folder of"))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error("open the lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(SessionLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(SessionError::Locked { id: id.clone() }),
            Err(TryLockError::Error(source)) => Err(io_error("lock")(source)),
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Session, SessionError> {
    let corrupt = |message: String| SessionError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let session: Session = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if session.format_version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} is not the supported {FORMAT_VERSION}",
            session.format_version
        )));
    }
    let expected_name = format!("{}.{SESSION_EXTENSION}", session.id);
    if path.file_name().and_then(|n| n.to_str()) != Some(expected_name.as_str()) {
        return Err(corrupt(format!(
            "the file's name does not match its id {}",
            session.id
        )));
    }
    session.check_numbers().map_err(corrupt)?;
    Ok(session)
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

    #[test]
    fn save_load_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
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
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["aaaa.json".to_string()]);
        store.remove(&session.transfer_id()).unwrap();
        assert!(store.load(&session.transfer_id()).unwrap().is_none());
    }

    #[test]
    fn corrupt_files_are_set_aside_and_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        store.save(&sample("good")).unwrap();
        fs::write(dir.path().join("bad.json"), b"{ not json").unwrap();
        let mut wrong_version = sample("old");
        wrong_version.format_version = 99;
        fs::write(
            dir.path().join("old.json"),
            serde_json::to_vec(&wrong_version).unwrap(),
        )
        .unwrap();

        let report = store.load_all(true).unwrap();
        assert_eq!(report.sessions.len(), 1);
        assert_eq!(report.sessions[0].id, "good");
        assert_eq!(report.corrupt.len(), 2);
        assert!(dir.path().join("bad.json.corrupt").exists());
        assert!(!dir.path().join("bad.json").exists());
        assert!(
            report
                .corrupt
                .iter()
                .any(|c| c.error.contains("format version"))
        );
        // Set aside once: a second scan finds only the good one.
        let again = store.load_all(true).unwrap();
        assert_eq!((again.sessions.len(), again.corrupt.len()), (1, 0));
    }

    fn part(number: u32, size: u64) -> CompletedPart {
        CompletedPart {
            number,
            size,
            etag: format!("\"{number}\""),
            crc64: u64::from(number),
        }
    }

    /// Writes `session` as its file and returns the reason the store gives for refusing it.
    fn refusal(session: &Session) -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let path = store.path_of(&session.transfer_id());
        fs::write(&path, serde_json::to_vec(session).unwrap()).unwrap();
        match store.load(&session.transfer_id()) {
            Err(SessionError::Corrupt { message, .. }) => {
                let report = store.load_all(true).unwrap();
                assert_eq!(report.corrupt.len(), 1, "{message}");
                assert!(report.corrupt[0].moved_to.as_ref().unwrap().exists());
                message
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
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
        let store = SessionStore::new(dir.path());
        let mut single = sample("single");
        single.file.size = 10;
        single.part_size = 8 << 20;
        single.completed_parts = vec![part(1, 10)];
        store.save(&single).unwrap();
        assert_eq!(store.load(&single.transfer_id()).unwrap(), Some(single));
    }

    #[test]
    fn a_read_only_scan_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        fs::write(dir.path().join("bad.json"), b"[]").unwrap();
        let report = store.load_all(false).unwrap();
        assert_eq!(report.corrupt.len(), 1);
        assert!(report.corrupt[0].moved_to.is_none());
        assert!(dir.path().join("bad.json").exists());
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
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
