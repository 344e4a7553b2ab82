//! Multipart sessions: what resuming one upload needs (a [`Session`]), with its parts in a
//! child table.
//!
//! Every number read back is checked against the OSS limits and the part plan before a
//! session is handed out or anything is allocated by it; a row that fails is flagged
//! with the reason and kept (never resumed, never deleted), and the caller is told once.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::{
    FileId, JobId, QueueStore, StoreError, blob_to_path, classify, path_to_blob, to_db_int,
};
use crate::engine::session_store::{
    CompletedPart, FORMAT_VERSION, FileIdentity, Session, UploadOptions,
};
use crate::protocol::limits::MAX_PARTS;

/// A session row that failed validation, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideSession {
    /// The session's id.
    pub id: String,
    /// The sentence saying what was wrong.
    pub reason: String,
}

/// The sessions of one endpoint, and those set aside while reading them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionsReport {
    /// Valid sessions, by id.
    pub sessions: Vec<Session>,
    /// Rows flagged as damaged during this read.
    pub set_aside: Vec<SetAsideSession>,
}

/// A session row's columns as stored, before any is trusted.
struct RawSession {
    id: String,
    local_path: Vec<u8>,
    file_size: i64,
    file_mtime_unix_nanos: i64,
    file_fingerprint: i64,
    endpoint: String,
    bucket: String,
    key: String,
    upload_id: String,
    part_size: i64,
    options_json: String,
    created_unix_secs: i64,
    job_id: Option<i64>,
}

impl RawSession {
    /// The scalar fields checked and converted; parts are read after this passes.
    fn check(self) -> Result<Session, String> {
        let file_size = super::from_db_int(self.file_size, "its file size")?;
        let part_size = super::from_db_int(self.part_size, "its part size")?;
        let created_unix_secs = super::from_db_int(self.created_unix_secs, "its creation time")?;
        let options: UploadOptions = serde_json::from_str(&self.options_json)
            .map_err(|e| format!("its upload options are unreadable: {e}"))?;
        Ok(Session {
            format_version: FORMAT_VERSION,
            id: self.id,
            local_path: blob_to_path(self.local_path),
            file: FileIdentity {
                size: file_size,
                mtime_unix_nanos: i128::from(self.file_mtime_unix_nanos),
                // Stored as the i64 with the same bits.
                fingerprint: self.file_fingerprint as u64,
            },
            endpoint: self.endpoint,
            bucket: self.bucket,
            key: self.key,
            upload_id: self.upload_id,
            part_size,
            completed_parts: Vec::new(),
            options,
            created_unix_secs,
            job: self.job_id,
        })
    }
}

impl QueueStore {
    /// Writes a session in one transaction, replacing an older version (and clearing a
    /// damaged flag). Only the parts that changed since the stored version are written, so
    /// saving a session of 10,000 parts again costs the parts finished since. The session's
    /// job is recorded when that job is in the store; a link made by [`Self::link_session`]
    /// is kept.
    pub fn save_session(&mut self, session: &Session) -> Result<(), StoreError> {
        session.check_numbers().map_err(|reason| {
            StoreError::Invalid(format!("session {} cannot be saved: {reason}", session.id))
        })?;
        let mtime = i64::try_from(session.file.mtime_unix_nanos).map_err(|_| {
            StoreError::Invalid(format!(
                "session {} has a modification time out of range",
                session.id
            ))
        })?;
        let size = to_db_int(session.file.size, "file size")?;
        let part_size = to_db_int(session.part_size, "part size")?;
        let created = to_db_int(session.created_unix_secs, "creation time")?;
        let options = serde_json::to_string(&session.options)
            .map_err(|e| StoreError::Invalid(format!("upload options cannot be written: {e}")))?;
        let (tx, path) = self.begin_write("save a session")?;
        let error = |e| classify(path, "save a session", e);
        tx.execute(
            "INSERT INTO sessions (id, local_path, file_size, file_mtime_unix_nanos,
                 file_fingerprint, endpoint, bucket, key, upload_id, part_size, options_json,
                 created_unix_secs, damaged_reason, job_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL,
                 (SELECT id FROM jobs WHERE id = ?13))
             ON CONFLICT (id) DO UPDATE SET
                 local_path = excluded.local_path, file_size = excluded.file_size,
                 file_mtime_unix_nanos = excluded.file_mtime_unix_nanos,
                 file_fingerprint = excluded.file_fingerprint, endpoint = excluded.endpoint,
                 bucket = excluded.bucket, key = excluded.key, upload_id = excluded.upload_id,
                 part_size = excluded.part_size, options_json = excluded.options_json,
                 created_unix_secs = excluded.created_unix_secs, damaged_reason = NULL,
                 job_id = COALESCE(excluded.job_id, sessions.job_id)",
            params![
                session.id,
                path_to_blob(&session.local_path),
                size,
                mtime,
                session.file.fingerprint as i64,
                session.endpoint,
                session.bucket,
                session.key,
                session.upload_id,
                part_size,
                options,
                created,
                session.job
            ],
        )
        .map_err(error)?;
        let stored: HashMap<u32, (String, i64)> = {
            let mut statement = tx
                .prepare_cached(
                    "SELECT number, etag, crc64 FROM session_parts WHERE session_id = ?1",
                )
                .map_err(error)?;
            let rows = statement
                .query_map([&session.id], |row| {
                    Ok((row.get::<_, u32>(0)?, (row.get(1)?, row.get(2)?)))
                })
                .map_err(error)?;
            rows.collect::<rusqlite::Result<_>>().map_err(error)?
        };
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO session_parts (session_id, number, size, etag, crc64)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (session_id, number) DO UPDATE SET
                         size = excluded.size, etag = excluded.etag, crc64 = excluded.crc64",
                )
                .map_err(error)?;
            for part in &session.completed_parts {
                let unchanged = stored
                    .get(&part.number)
                    .is_some_and(|(etag, crc64)| *etag == part.etag && *crc64 == part.crc64 as i64);
                if !unchanged {
                    upsert
                        .execute(params![
                            session.id,
                            part.number,
                            part.size as i64,
                            part.etag,
                            part.crc64 as i64
                        ])
                        .map_err(error)?;
                }
            }
        }
        {
            // Parts a reconciliation with ListParts dropped.
            let kept: HashSet<u32> = session.completed_parts.iter().map(|p| p.number).collect();
            let mut delete = tx
                .prepare_cached("DELETE FROM session_parts WHERE session_id = ?1 AND number = ?2")
                .map_err(error)?;
            for number in stored.keys().filter(|number| !kept.contains(number)) {
                delete.execute(params![session.id, number]).map_err(error)?;
            }
        }
        tx.commit().map_err(error)
    }

    /// Ties a session to the job and file it uploads, so the queue can show and resume it.
    pub fn link_session(
        &mut self,
        id: &str,
        job: JobId,
        file: Option<FileId>,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE sessions SET job_id = ?2, file_id = ?3 WHERE id = ?1",
                params![id, job.0, file.map(|f| f.0)],
            )
            .map_err(self.sql_error("link a session to its job"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: format!("session {id}"),
            });
        }
        Ok(())
    }

    /// One session; `None` when there is none or it was set aside before. A row that
    /// fails validation now is flagged and reported as [`StoreError::SessionSetAside`].
    pub fn load_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let raw = self
            .conn
            .query_row(
                "SELECT id, local_path, file_size, file_mtime_unix_nanos, file_fingerprint,
                        endpoint, bucket, key, upload_id, part_size, options_json,
                        created_unix_secs, job_id
                 FROM sessions WHERE id = ?1 AND damaged_reason IS NULL",
                [id],
                |row| {
                    Ok(RawSession {
                        id: row.get(0)?,
                        local_path: row.get(1)?,
                        file_size: row.get(2)?,
                        file_mtime_unix_nanos: row.get(3)?,
                        file_fingerprint: row.get(4)?,
                        endpoint: row.get(5)?,
                        bucket: row.get(6)?,
                        key: row.get(7)?,
                        upload_id: row.get(8)?,
                        part_size: row.get(9)?,
                        options_json: row.get(10)?,
                        created_unix_secs: row.get(11)?,
                        job_id: row.get(12)?,
                    })
                },
            )
            .optional()
            .map_err(self.sql_error("read a session"))?;
        let Some(raw) = raw else { return Ok(None) };
        match self.checked_session(raw)? {
            Ok(session) => Ok(Some(session)),
            Err(reason) => {
                self.conn
                    .execute(
                        "UPDATE sessions SET damaged_reason = ?2 WHERE id = ?1",
                        params![id, reason],
                    )
                    .map_err(self.sql_error("set aside a damaged session"))?;
                Err(StoreError::SessionSetAside {
                    id: id.to_string(),
                    reason,
                })
            }
        }
    }

    /// Validates the scalars, then counts the parts before reading them, then validates
    /// the whole. `Ok(Err(reason))` is a damaged row.
    fn checked_session(&self, raw: RawSession) -> Result<Result<Session, String>, StoreError> {
        let mut session = match raw.check() {
            Ok(session) => session,
            Err(reason) => return Ok(Err(reason)),
        };
        if let Err(reason) = session.check_numbers() {
            return Ok(Err(reason));
        }
        let error = self.sql_error("read a session's parts");
        let count: i64 = match self.conn.query_row(
            "SELECT COUNT(*) FROM session_parts WHERE session_id = ?1",
            [&session.id],
            |row| row.get(0),
        ) {
            Ok(count) => count,
            Err(e) => return Err(error(e)),
        };
        if count > i64::from(MAX_PARTS) {
            return Ok(Err(format!(
                "it records {count} parts, more than the {MAX_PARTS} OSS allows"
            )));
        }
        let parts = (|| {
            let mut statement = self.conn.prepare_cached(
                "SELECT number, size, etag, crc64 FROM session_parts
                 WHERE session_id = ?1 ORDER BY number",
            )?;
            let rows = statement.query_map([&session.id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(error)?;
        session.completed_parts.reserve(parts.len());
        for (number, size, etag, crc64) in parts {
            let Ok(number) = u32::try_from(number) else {
                return Ok(Err(format!("part number {number} is out of range")));
            };
            let Ok(size) = u64::try_from(size) else {
                return Ok(Err(format!("part {number} has a negative size {size}")));
            };
            session.completed_parts.push(CompletedPart {
                number,
                size,
                etag,
                crc64: crc64 as u64,
            });
        }
        Ok(session.check_numbers().map(|()| session))
    }

    /// Every usable session started on `endpoint` (on any endpoint with `None`), setting
    /// aside those that fail.
    pub fn sessions_for_endpoint(
        &self,
        endpoint: Option<&str>,
    ) -> Result<SessionsReport, StoreError> {
        let ids: Vec<String> = (|| {
            let mut statement = self.conn.prepare_cached(
                "SELECT id FROM sessions
                 WHERE (?1 IS NULL OR endpoint = ?1) AND damaged_reason IS NULL
                 ORDER BY id",
            )?;
            let rows = statement.query_map([endpoint], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(self.sql_error("list sessions"))?;
        let mut report = SessionsReport::default();
        for id in ids {
            match self.load_session(&id) {
                Ok(Some(session)) => report.sessions.push(session),
                Ok(None) => {}
                Err(StoreError::SessionSetAside { id, reason }) => {
                    report.set_aside.push(SetAsideSession { id, reason })
                }
                Err(other) => return Err(other),
            }
        }
        Ok(report)
    }

    /// The upload ids that sessions (usable or not) hold for `bucket/key`: the uploads of
    /// that key that are ours, without reading any session's parts.
    pub fn session_upload_ids(&self, bucket: &str, key: &str) -> Result<Vec<String>, StoreError> {
        (|| {
            let mut statement = self.conn.prepare_cached(
                "SELECT upload_id FROM sessions
                 WHERE bucket = ?1 AND key = ?2 AND upload_id != ''",
            )?;
            let rows = statement.query_map([bucket, key], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(self.sql_error("list the uploads of a key's sessions"))
    }

    /// Whether any session (usable or not) was started on `endpoint`.
    pub fn has_sessions_for(&self, endpoint: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM sessions WHERE endpoint = ?1 LIMIT 1",
                [endpoint],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(self.sql_error("look for the sessions of an endpoint"))
    }

    /// Every session flagged as damaged, with its reason, for the user to see.
    pub fn damaged_sessions(&self) -> Result<Vec<SetAsideSession>, StoreError> {
        (|| {
            let mut statement = self.conn.prepare_cached(
                "SELECT id, damaged_reason FROM sessions WHERE damaged_reason IS NOT NULL
                 ORDER BY id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(SetAsideSession {
                    id: row.get(0)?,
                    reason: row.get(1)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(self.sql_error("list damaged sessions"))
    }

    /// Deletes a session and its parts (after Complete or Abort); true when it existed.
    pub fn remove_session(&mut self, id: &str) -> Result<bool, StoreError> {
        let removed = self
            .conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map_err(self.sql_error("remove a session"))?;
        Ok(removed > 0)
    }

    /// Whether a session with this id is stored, usable or not.
    pub fn has_session(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(self.sql_error("look up a session"))
    }
}
