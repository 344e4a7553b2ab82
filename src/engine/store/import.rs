//! Bringing today's JSON session files into the store on first start, each as a session
//! with a paused job of one file, so they appear in the queue and resume as before.
//!
//! The files are read with [`SessionStore::load_all`] (one parser for them) and moved
//! into `imported/` once their rows are committed, never deleted. Every step is safe to
//! repeat: a crash halfway, or a second run, finishes the work without duplicating it.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::files::NewFile;
use super::jobs::{JobOptions, JobState, NewJob, NewTarget, WalkState};
use super::{FileId, JobId, QueueStore, StoreError, path_to_blob};
use crate::durable;
use crate::engine::plan::{MAX_PART_SIZE, MIN_PART_SIZE};
use crate::engine::session_store::{CorruptSession, Session, SessionStore};

/// The folder, inside the sessions folder, that imported files are moved to.
pub const IMPORTED_DIR: &str = "imported";

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Sessions written to the store by this run.
    pub imported: Vec<String>,
    /// Sessions the store already had (an earlier run); their files were moved now.
    pub already_present: Vec<String>,
    /// Sessions the store refused to write (a number it cannot hold); left where they are.
    pub rejected: Vec<(PathBuf, String)>,
    /// Files `SessionStore::load_all` could not read (renamed to `*.corrupt` by it).
    pub unreadable: Vec<CorruptSession>,
    /// Imported, but the file could not be moved; the next run moves it.
    pub not_moved: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// One sentence for the user, or `None` when there was nothing to import.
    pub fn sentence(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.imported.is_empty() {
            parts.push(format!(
                "{} saved upload session(s) were moved into the queue",
                self.imported.len()
            ));
        }
        if !self.rejected.is_empty() || !self.unreadable.is_empty() {
            parts.push(format!(
                "{} session file(s) could not be used and were kept as they are",
                self.rejected.len() + self.unreadable.len()
            ));
        }
        if !self.not_moved.is_empty() {
            parts.push(format!(
                "{} imported session file(s) could not be moved to {IMPORTED_DIR}/",
                self.not_moved.len()
            ));
        }
        (!parts.is_empty()).then(|| format!("{}.", parts.join("; ")))
    }
}

/// The session's key split into the job's prefix and the file's relative name.
fn split_key(key: &str) -> (&str, &str) {
    match key.rfind('/') {
        Some(slash) => key.split_at(slash + 1),
        None => ("", key),
    }
}

impl QueueStore {
    /// Imports every session file in `sessions_dir` (see the module's doc).
    pub fn import_json_sessions(
        &mut self,
        sessions_dir: &Path,
        now_unix_secs: u64,
    ) -> Result<ImportReport, StoreError> {
        let files = SessionStore::new(sessions_dir);
        let loaded = files
            .load_all(true)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut report = ImportReport {
            unreadable: loaded.corrupt,
            ..ImportReport::default()
        };
        for session in loaded.sessions {
            let source = files.path_of(&session.transfer_id());
            if self.has_session(&session.id)? {
                report.already_present.push(session.id.clone());
            } else {
                match self.save_session(&session) {
                    Ok(()) => report.imported.push(session.id.clone()),
                    Err(StoreError::Invalid(reason)) => {
                        report.rejected.push((source, reason));
                        continue;
                    }
                    Err(other) => return Err(other),
                }
            }
            if !self.session_is_linked(&session.id)? {
                self.queue_imported_session(&session, now_unix_secs)?;
            }
            if let Err(reason) = move_into_imported(sessions_dir, &source) {
                report.not_moved.push((source, reason));
            }
        }
        Ok(report)
    }

    pub(super) fn session_is_linked(&self, id: &str) -> Result<bool, StoreError> {
        let job: Option<Option<i64>> = self
            .conn
            .query_row("SELECT job_id FROM sessions WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(self.sql_error("read a session's job"))?;
        Ok(job.flatten().is_some())
    }

    /// A paused job of one file for the session, found again rather than made twice.
    fn queue_imported_session(
        &mut self,
        session: &Session,
        now_unix_secs: u64,
    ) -> Result<(), StoreError> {
        let target = self.find_or_create_target(&NewTarget {
            label: session.endpoint.clone(),
            endpoint: session.endpoint.clone(),
            region: None,
            profile: None,
            credentials_ref: None,
        })?;
        let (prefix, name) = split_key(&session.key);
        let roots = vec![session.local_path.clone()];
        let job = match self.find_unfinished_job(target, &roots, &session.bucket, prefix)? {
            Some(job) => job,
            None => {
                let part_size = Some(session.part_size)
                    .filter(|size| (MIN_PART_SIZE..=MAX_PART_SIZE).contains(size));
                self.create_job(&NewJob {
                    target,
                    roots,
                    bucket: session.bucket.clone(),
                    prefix: prefix.to_string(),
                    options: JobOptions {
                        part_size,
                        ..JobOptions::default()
                    },
                    created_unix_secs: session.created_unix_secs,
                })?
            }
        };
        let relative = PathBuf::from(name);
        self.insert_files(
            job,
            &[NewFile::pending(
                relative.clone(),
                session.local_path.clone(),
                session.key.clone(),
                session.file.size,
                session.file.mtime_unix_nanos,
            )],
            now_unix_secs,
        )?;
        let file = self.file_id_by_path(job, &relative)?;
        self.set_walk_state(job, WalkState::Walked)?;
        self.set_job_state(job, JobState::Paused)?;
        self.link_session(&session.id, job, file)
    }

    fn file_id_by_path(&self, job: JobId, relative: &Path) -> Result<Option<FileId>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM files WHERE job_id = ?1 AND relative_path = ?2",
                params![job.0, path_to_blob(relative)],
                |row| row.get(0).map(FileId),
            )
            .optional()
            .map_err(self.sql_error("find a file by its path"))
    }
}

/// Moves `source` into `sessions_dir/imported/`, adding `.N` when the name is taken.
fn move_into_imported(sessions_dir: &Path, source: &Path) -> Result<(), String> {
    let dir = sessions_dir.join(IMPORTED_DIR);
    durable::create_dir_all(&dir)
        .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let name = source.file_name().ok_or("the session file has no name")?;
    let mut target = dir.join(name);
    let mut attempt = 1;
    while target.exists() {
        let mut numbered = name.to_os_string();
        numbered.push(format!(".{attempt}"));
        target = dir.join(numbered);
        attempt += 1;
    }
    durable::set_aside(source, &target).map_err(|e| {
        format!(
            "could not move {} to {}: {e}",
            source.display(),
            target.display()
        )
    })
}
