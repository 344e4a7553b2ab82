//! When opening runs the whole-file integrity check, and what it remembers between runs.
//!
//! `PRAGMA quick_check` reads every page, so it grows with the store: about 0.4 s on a
//! store of a million finished files, too much for every command and window start.
//! Damage that a check would find is rare and does not go away, so the full check runs
//! when it last passed a day ago or more, or when the previous process using the store
//! did not close it; every other open reads only the header and the schema version.
//! Damage met in use between checks is reported as [`super::StoreError::Damaged`] and
//! makes the next open check in full (and set the file aside).
//!
//! When the check last passed is kept in `queue.sqlite3.checked`, a small text file
//! written atomically beside the database: it is never inside the database, so it cannot
//! damage it, and a missing, unreadable or future record only means a full check.
//!
//! Whether the previous user closed the store is told by `queue.sqlite3.users`: every
//! open store holds a shared lock on it. An opener that can take it exclusively is alone,
//! and then a non-empty `-wal` is one SQLite would have folded in and removed when the
//! last connection closed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::Duration;

use super::open::with_suffix;

/// How long a passed full check stands for.
pub const FULL_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The record of the last passed check, beside the database.
pub(super) const RECORD_SUFFIX: &str = ".checked";

/// The file every open store holds a shared lock on.
const USERS_SUFFIX: &str = ".users";

/// The record's first word and format version; anything else is not read.
const RECORD_HEADER: &str = "ossup-queue-check 1";

/// Why the full check runs on an open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullCheck {
    /// No readable record of a passed check, or one from the future (a clock set back).
    NoRecord,
    /// The last passed check is [`FULL_CHECK_INTERVAL`] old or more.
    Due,
    /// The previous process using the store did not close it.
    UncleanExit,
}

/// The shared lock an open store holds on the users file while it lives.
#[derive(Debug)]
pub(super) struct UsersLock {
    /// Held (shared) until dropped; `None` where the file cannot be opened or locked
    /// (a read-only folder), which only costs the unclean-exit signal.
    _file: Option<File>,
}

/// Takes the users lock for a new store. Returns it with whether this process found the
/// store in use by nobody else (the exclusive lock could be taken).
pub(super) fn take_users_lock(db: &Path) -> (UsersLock, bool) {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(with_suffix(db, USERS_SUFFIX))
    {
        Ok(file) => file,
        Err(_) => return (UsersLock { _file: None }, false),
    };
    let alone = file.try_lock().is_ok();
    // Another opener may slip in between the unlock and the shared lock and also find
    // itself alone: both check in full, which costs time, never safety.
    let _ = file.unlock();
    let held = file.try_lock_shared().is_ok();
    let lock = UsersLock {
        _file: held.then_some(file),
    };
    (lock, alone)
}

/// Why the full check runs on an open of the existing `db` at `now_unix_secs`, given
/// whether the opener is alone with the store; `None` when it does not.
pub(super) fn full_check(db: &Path, alone: bool, now_unix_secs: u64) -> Option<FullCheck> {
    if alone && fs::metadata(with_suffix(db, "-wal")).is_ok_and(|m| m.len() > 0) {
        return Some(FullCheck::UncleanExit);
    }
    match last_passed(db) {
        Some(passed) if passed > now_unix_secs => Some(FullCheck::NoRecord),
        Some(passed) if now_unix_secs - passed < FULL_CHECK_INTERVAL.as_secs() => None,
        Some(_) => Some(FullCheck::Due),
        None => Some(FullCheck::NoRecord),
    }
}

/// When the last full check passed, seconds since the Unix epoch, if the record says.
pub(super) fn last_passed(db: &Path) -> Option<u64> {
    // The record is a line or two; a larger file is not one.
    let mut text = String::new();
    let file = File::open(with_suffix(db, RECORD_SUFFIX)).ok()?;
    io::Read::read_to_string(&mut io::Read::take(file, 256), &mut text).ok()?;
    let mut words = text.lines().next()?.rsplitn(2, ' ');
    let secs = words.next()?.parse().ok()?;
    (words.next()? == RECORD_HEADER).then_some(secs)
}

/// Records that the full check passed at `now_unix_secs`.
pub(super) fn record_passed(db: &Path, now_unix_secs: u64) -> io::Result<()> {
    let line = format!("{RECORD_HEADER} {now_unix_secs}\n");
    crate::durable::write_file(&with_suffix(db, RECORD_SUFFIX), line.as_bytes(), None)
}

/// Forgets the record, so the next open checks in full: damage was met, or the database
/// it speaks of was set aside.
pub(super) fn forget(db: &Path) {
    let _ = fs::remove_file(with_suffix(db, RECORD_SUFFIX));
}
