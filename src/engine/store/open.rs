//! Opening the queue database: the pragmas that make it crash-safe and shareable between
//! the window and the CLI, the header and schema check (and, when `check` says it is
//! due, the whole-file one), and setting a damaged file aside so a fresh one can take its
//! place without losing the old one.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::check::{self, FullCheck};
use super::schema::{self, SCHEMA_VERSION};
use super::{DATABASE_FILE_NAME, QueueStore, StoreError, classify};

/// The files SQLite keeps beside the database in WAL mode; they belong to it.
const COMPANION_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long a statement waits for another process's write to finish before the store
    /// reports [`StoreError::Locked`]. Writes are short batches, so seconds is generous.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// What opening found, for the front end to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The database file in use.
    pub path: PathBuf,
    /// True when no database existed and an empty one was created.
    pub created: bool,
    /// Where a damaged database was moved, and why, when one was found.
    pub set_aside: Option<(PathBuf, String)>,
    /// Why the whole-file integrity check ran on the file found, or `None` when it did
    /// not (it passed within the day, or there was no file).
    pub full_check: Option<FullCheck>,
}

impl OpenReport {
    /// One sentence for the user, or `None` when there is nothing worth saying.
    pub fn sentence(&self) -> Option<String> {
        self.set_aside.as_ref().map(|(moved_to, why)| {
            format!(
                "The queue database {} was damaged ({why}); it was moved to {} and a new, empty queue was started.",
                self.path.display(),
                moved_to.display()
            )
        })
    }
}

/// Why a file cannot be used as it is; `Fatal` errors are not damage (a lock, a full
/// disk, a folder we cannot write) and are returned without touching the file.
enum Unusable {
    Damaged(String),
    Fatal(StoreError),
}

impl QueueStore {
    /// Opens (or creates) `dir/queue.sqlite3`. A file that is not a database, has a newer
    /// schema, or fails `PRAGMA quick_check` (run when [`check`] says it is due) is renamed
    /// with its `-wal`/`-shm` to `queue.sqlite3.damaged-<unix secs>` and an empty store
    /// takes its place.
    pub fn open(dir: &Path, options: OpenOptions) -> Result<(QueueStore, OpenReport), StoreError> {
        let now_unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::open_at(dir, options, now_unix_secs)
    }

    /// [`QueueStore::open`] at a given time, which decides whether the full check is due.
    pub(crate) fn open_at(
        dir: &Path,
        options: OpenOptions,
        now_unix_secs: u64,
    ) -> Result<(QueueStore, OpenReport), StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            action: "create the folder",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DATABASE_FILE_NAME);
        let (users, alone) = check::take_users_lock(&path);
        let existed = path.exists();
        let full_check = existed
            .then(|| check::full_check(&path, alone, now_unix_secs))
            .flatten();
        let connected = if existed {
            check_existing(&path, options, full_check.is_some())
                .and_then(|()| connect(&path, options))
        } else {
            connect(&path, options)
        };
        match connected {
            Ok(conn) => {
                if full_check.is_some() {
                    // Not recording only means checking in full again next time.
                    if let Err(error) = check::record_passed(&path, now_unix_secs) {
                        tracing::warn!(
                            "could not record the queue database's integrity check: {error}"
                        );
                    }
                }
                let report = OpenReport {
                    path: path.clone(),
                    created: !existed,
                    set_aside: None,
                    full_check,
                };
                Ok((QueueStore::new(conn, path, users), report))
            }
            Err(Unusable::Fatal(error)) => Err(error),
            Err(Unusable::Damaged(why)) => {
                let moved_to = set_aside(&path)?;
                let conn = connect(&path, options).map_err(|unusable| match unusable {
                    Unusable::Fatal(error) => error,
                    Unusable::Damaged(message) => StoreError::Damaged {
                        path: path.clone(),
                        message,
                    },
                })?;
                let report = OpenReport {
                    path: path.clone(),
                    created: true,
                    set_aside: Some((moved_to, why)),
                    full_check,
                };
                Ok((QueueStore::new(conn, path, users), report))
            }
        }
    }
}

/// Sorts an error met while opening: damage, or something that is not the file's fault.
fn sorted<'a>(path: &'a Path, action: &'static str) -> impl Fn(rusqlite::Error) -> Unusable + 'a {
    move |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            Unusable::Damaged(error.to_string())
        }
        _ => Unusable::Fatal(classify(path, action, error)),
    }
}

/// Checks an existing file through a read-only connection: its header and schema version
/// always, every page with `full`. A read-write connection to a damaged file would, on
/// closing, fold or delete its `-wal`, which may hold the only copy of recent commits; a
/// read-only one leaves every file as it found it.
fn check_existing(path: &Path, options: OpenOptions, full: bool) -> Result<(), Unusable> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sorted(path, "be opened"))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(sorted(path, "set its busy timeout"))?;
    // The first read of the header: a file that is not a database fails here.
    let version = schema::version(&conn).map_err(sorted(path, "read its schema version"))?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(Unusable::Damaged(format!(
            "its schema version {version} is not one this ossup knows (up to {SCHEMA_VERSION}); a newer ossup may have written it"
        )));
    }
    if !full {
        return Ok(());
    }
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(sorted(path, "be checked"))?;
    if verdict != "ok" {
        return Err(Unusable::Damaged(format!(
            "its integrity check says: {verdict}"
        )));
    }
    Ok(())
}

/// The read-write connection, set up and migrated.
fn connect(path: &Path, options: OpenOptions) -> Result<Connection, Unusable> {
    let sorted = |action| sorted(path, action);
    let mut conn = Connection::open(path).map_err(sorted("be opened"))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(sorted("set its busy timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sorted("switch to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Unusable::Fatal(StoreError::Invalid(format!(
            "the queue database {} could not be put in WAL mode (it stayed in {mode} mode)",
            path.display()
        ))));
    }
    // In WAL mode, NORMAL syncs at checkpoints rather than at each commit. A commit is in
    // the WAL file (the OS page cache) when it returns, so a killed process (kill -9, a
    // panic, a crash) loses nothing committed; only a power cut or kernel crash can roll
    // back the last few commits, and even then the database stays consistent. That is the
    // trade that lets a batch of small files cost no fsync of its own.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sorted("set synchronous mode"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sorted("turn on foreign keys"))?;
    // Plans that never depend on bound values. Without this, SQLite marks a statement
    // whose plan could weigh a parameter's value (a `LIMIT ?`, or a column the bundled
    // build's STAT4 statistics could estimate) to be compiled again when that parameter
    // is bound anew: the cached claim of the next files was compiled on every call. The
    // store's queries have one right plan whatever the values.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(sorted("fix its query plans"))?;
    schema::migrate(&mut conn).map_err(sorted("be brought to the current schema"))?;
    Ok(conn)
}

/// Renames the database and its companions to `<name>.damaged-<unix secs>[-wal|-shm]`,
/// adding `.N` when that name is taken. Never deletes.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut target = with_suffix(path, &format!(".damaged-{secs}"));
    let mut attempt = 1;
    while target.exists() {
        target = with_suffix(path, &format!(".damaged-{secs}.{attempt}"));
        attempt += 1;
    }
    let rename = |from: PathBuf, to: PathBuf| {
        crate::durable::set_aside(&from, &to).map_err(|source| StoreError::Io {
            action: "set aside the damaged queue database",
            path: from,
            source,
        })
    };
    rename(path.to_path_buf(), target.clone())?;
    for suffix in COMPANION_SUFFIXES {
        let companion = with_suffix(path, suffix);
        if companion.exists() {
            rename(companion, with_suffix(&target, suffix))?;
        }
    }
    // The record speaks of the file just moved, not of the one that takes its place.
    check::forget(path);
    Ok(target)
}

/// `path` with `suffix` appended to its last component, whatever its encoding.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}
