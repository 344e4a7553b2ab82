//! The durable queue: jobs, their files, finished history, multipart sessions and the
//! leases that let one process at a time drive a job, in one SQLite database.
//!
//! A queue of a million files cannot live in memory, so the store holds it and front ends
//! ask for counts and pages. [`QueueStore`] owns every SQL statement of the application;
//! the submodules split its methods by concern:
//! - `schema`: the DDL and the migrations, versioned with `PRAGMA user_version`.
//! - `open`: opening, the pragmas, and setting a damaged file aside.
//! - `check`: when opening checks every page, and the record of the last check that passed.
//! - `jobs`: targets and jobs, their options and counts.
//! - `files`: the files of a job, claimed and finished in batches.
//! - `sessions`: multipart sessions, validated against the OSS limits when read back.
//! - `leases`: which process drives a job, taken over when it died or went silent.
//! - `history`: finished files.
//! - `import`: the JSON session files of earlier versions brought into the store once.
//!
//! Every write is one transaction; the engine batches file outcomes ([`OutcomeBatch`]) so
//! a small file costs a row in a shared commit, not a commit of its own; finished
//! single uploads share commits the same way ([`WriteBatch`]).

mod check;
mod files;
mod history;
mod import;
mod jobs;
mod leases;
mod open;
mod schema;
mod sessions;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use thiserror::Error;

pub use check::{FULL_CHECK_INTERVAL, FullCheck};
pub use files::{FileOutcome, FileRow, FileState, NewFile, OutcomeBatch, WriteBatch};
pub use history::{HistoryEntry, NewHistory};
pub use import::ImportReport;
pub use jobs::{
    Job, JobCounts, JobListing, JobOptions, JobState, JobSummary, NewJob, NewTarget,
    OverwritePolicy, Target, UnreadableJob, WalkState,
};
pub use leases::{Lease, LeaseOwner};
pub use open::{OpenOptions, OpenReport};
pub use sessions::{SessionsReport, SetAsideSession};

/// The database file's name inside the store's folder.
pub const DATABASE_FILE_NAME: &str = "queue.sqlite3";

/// Most rows one page may ask for, so a page never allocates by a caller's whim.
pub const MAX_PAGE_ROWS: usize = 10_000;

/// A target's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub i64);

/// A job's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

/// A file's row id; pages of files are ordered by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub i64);

/// A history entry's row id; history pages are ordered by it, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryId(pub i64);

/// Why the store could not do what was asked; each reads as one sentence with the path.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "the queue database {} is locked by another process{}; close the other ossup or wait and try again",
        path.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        path: PathBuf,
        /// The process that holds the lock, when it can be told.
        pid: Option<u32>,
    },
    #[error("the disk holding the queue database {} is full; nothing of this change was written", path.display())]
    DiskFull { path: PathBuf },
    #[error("the queue database {} is damaged: {message}", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the queue database {} could not {action}: {source}", path.display())]
    Sqlite {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{what} is not in the queue")]
    NotFound { what: String },
    #[error("session {id} was set aside as unreadable: {reason}")]
    SessionSetAside { id: String, reason: String },
    #[error("job {} is being driven by another ossup process (pid {pid})", job.0)]
    LeaseHeld { job: JobId, pid: u32 },
    #[error("the lease on job {} was taken over by another process (pid {pid:?})", job.0)]
    LeaseLost { job: JobId, pid: Option<u32> },
}

/// The queue database. Owns the only connection this process uses for it, and every SQL
/// statement of the application.
#[derive(Debug)]
pub struct QueueStore {
    /// The one connection; writes take `&mut self` so a transaction is never shared.
    conn: Connection,
    /// The database file, named in every error.
    path: PathBuf,
    /// Tells a later opener that this store is in use, so the `-wal` it finds is not
    /// taken for one left by a crash.
    _users: check::UsersLock,
}

impl QueueStore {
    fn new(conn: Connection, path: PathBuf, users: check::UsersLock) -> Self {
        Self {
            conn,
            path,
            _users: users,
        }
    }

    /// The database file this store works on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction that takes the write lock at once, so it waits (up to
    /// the busy timeout) at its start rather than failing halfway. Returns the path too,
    /// for error sentences while the transaction borrows the connection.
    fn begin_write(
        &mut self,
        action: &'static str,
    ) -> Result<(Transaction<'_>, &Path), StoreError> {
        let QueueStore { conn, path, .. } = self;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(path, action, e))?;
        Ok((tx, path))
    }

    /// Turns a SQLite error into the sentence the user sees, naming what was being done.
    fn sql_error(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| classify(&self.path, action, source)
    }
}

/// Sorts a SQLite failure into locked / disk full / damaged / other.
fn classify(path: &Path, action: &'static str, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            let pid = write_lock_holder(&path);
            StoreError::Locked { path, pid }
        }
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            // Damage found between full checks: the next open checks every page and sets
            // the file aside.
            check::forget(&path);
            StoreError::Damaged {
                message: format!(
                    "{source} (met while trying to {action}); it is checked in full, and set aside if need be, the next time ossup opens it"
                ),
                path,
            }
        }
        _ => StoreError::Sqlite {
            action,
            path,
            source,
        },
    }
}

/// Where SQLite's WAL write lock lives: one byte of the `-shm` file.
const WAL_WRITE_LOCK_OFFSET: u64 = 120;

/// The process holding the database's write lock, read from `/proc/locks` (Linux), so
/// "locked" can name who holds it; `None` where that cannot be told.
fn write_lock_holder(db: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(open::with_suffix(db, "-shm")).ok()?;
        let dev = meta.dev();
        // The kernel's encoding of a device number, as `/proc/locks` prints it.
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let file = format!("{major:02x}:{minor:02x}:{}", meta.ino());
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        posix_write_lock_holder(&locks, &file, WAL_WRITE_LOCK_OFFSET)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = db;
        None
    }
}

/// In `/proc/locks` text, the pid of a POSIX write lock on `file` (`major:minor:inode`)
/// covering byte `offset`. Lines of waiters (`->`) are not holders.
fn posix_write_lock_holder(locks: &str, file: &str, offset: u64) -> Option<u32> {
    locks
        .lines()
        .filter(|line| !line.contains("->"))
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, "POSIX", _, "WRITE", pid, id, start, end] = fields.as_slice() else {
                return None;
            };
            if id != &file {
                return None;
            }
            let start: u64 = start.parse().ok()?;
            let end = match *end {
                "EOF" => u64::MAX,
                end => end.parse().ok()?,
            };
            (start..=end).contains(&offset).then(|| pid.parse().ok())?
        })
}

/// Paths are stored as their bytes, so names that are not UTF-8 survive the round trip.
fn path_to_blob(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.as_os_str().as_encoded_bytes().to_vec()
    }
}

fn blob_to_path(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    {
        // Windows paths are written by this process from valid OsStrs; anything else is
        // read lossily rather than trusted as encoded bytes.
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A count or size for a column: SQLite integers are signed 64-bit.
fn to_db_int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is too large")))
}

/// A number read back from disk that must not be negative.
fn from_db_int(value: i64, what: &str) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{what} is negative ({value})"))
}

/// The page size a caller asked for, within [`MAX_PAGE_ROWS`].
fn page_limit(limit: usize) -> i64 {
    limit.min(MAX_PAGE_ROWS) as i64
}
