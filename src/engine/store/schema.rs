//! The queue database's tables, and the migrations that bring an older file up to date.
//!
//! The version lives in `PRAGMA user_version`: 0 is a file just created, every migration
//! step raises it by one inside the same transaction as its DDL, so a crash mid-migration
//! leaves the old version intact. A version above [`SCHEMA_VERSION`] was written by a
//! newer ossup and is not touched.

use rusqlite::Connection;

/// The version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1. Paths are BLOBs (their bytes) so names that are not UTF-8 survive; states
/// are words checked by the table, so a stray value is refused when written, not read.
/// CRC-64s and fingerprints are stored as the i64 with the same bits.
const V1: &str = "
CREATE TABLE targets (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    region TEXT,
    profile TEXT,
    -- names where the secret lives (a profile, the environment); never the secret
    credentials_ref TEXT
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL REFERENCES targets(id),
    created_unix_secs INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    prefix TEXT NOT NULL,
    options_json TEXT NOT NULL,
    walk_state TEXT NOT NULL CHECK (walk_state IN ('walking', 'walked')),
    state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'finished'))
);
CREATE INDEX jobs_by_destination ON jobs (target_id, bucket, prefix);

CREATE TABLE job_roots (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    path BLOB NOT NULL,
    PRIMARY KEY (job_id, position)
) WITHOUT ROWID;

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    relative_path BLOB NOT NULL,
    absolute_path BLOB NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    mtime_unix_nanos INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'in_flight', 'done', 'skipped', 'failed')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    updated_unix_secs INTEGER NOT NULL,
    UNIQUE (job_id, relative_path)
);
-- pages of one job in id order (the rowid follows job_id in the index)
CREATE INDEX files_by_job ON files (job_id);
CREATE INDEX files_by_job_state ON files (job_id, state);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
    local_path BLOB NOT NULL,
    file_size INTEGER NOT NULL,
    file_mtime_unix_nanos INTEGER NOT NULL,
    file_fingerprint INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    options_json TEXT NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    -- set when the row failed validation on load: kept, never resumed
    damaged_reason TEXT
);
CREATE INDEX sessions_by_endpoint ON sessions (endpoint);

CREATE TABLE session_parts (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    crc64 INTEGER NOT NULL,
    PRIMARY KEY (session_id, number)
) WITHOUT ROWID;

CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    finished_unix_secs INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    etag TEXT NOT NULL,
    crc64_verified INTEGER NOT NULL CHECK (crc64_verified IN (0, 1)),
    url TEXT NOT NULL,
    target_label TEXT NOT NULL,
    local_path BLOB NOT NULL
);

CREATE TABLE leases (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    owner_pid INTEGER NOT NULL,
    owner_token INTEGER NOT NULL,
    heartbeat_unix_secs INTEGER NOT NULL
);
";

/// The DDL of each version, in order: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1];

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step. The caller has
/// checked that the file's version is not newer than ours.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    loop {
        // Up to date: no write lock is taken, so opening works while another process is
        // in the middle of a write.
        if version(conn)? >= SCHEMA_VERSION {
            return Ok(());
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Read inside the write transaction: two processes opening a fresh file at once
        // must not both run the same step.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

/// The version written in the file.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}
