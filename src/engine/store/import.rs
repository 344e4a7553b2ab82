//! Bringing the JSON session files of earlier versions into the store on first start,
//! so their uploads appear in the queue and resume as before: a session that belonged to
//! a job stays tied to it, any other resumes as a file of its own.
//!
//! The files are parsed and checked here (the only reader left of that format) and moved
//! into `imported/` once their rows are committed, never deleted; a file that cannot be
//! read is renamed `*.corrupt` and reported. Every step is safe to repeat: a crash
//! halfway, or a second run, finishes the work without duplicating it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{QueueStore, StoreError};
use crate::durable;
use crate::engine::session_store::{CorruptSession, FORMAT_VERSION, Session};

/// The folder, inside the sessions folder, that imported files are moved to.
pub const IMPORTED_DIR: &str = "imported";

/// The extension of a session file.
const SESSION_EXTENSION: &str = "json";

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Sessions written to the store by this run.
    pub imported: Vec<String>,
    /// Sessions the store already had (an earlier run); their files were moved now.
    pub already_present: Vec<String>,
    /// Sessions the store refused to write (a number it cannot hold); left where they are.
    pub rejected: Vec<(PathBuf, String)>,
    /// Files that could not be read or used (renamed to `*.corrupt`).
    pub unreadable: Vec<CorruptSession>,
    /// Imported, but the file could not be moved; the next run moves it.
    pub not_moved: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// One sentence for the user, or `None` when there was nothing to import. Unreadable
    /// files are not in it: they are reported one by one.
    pub fn sentence(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.imported.is_empty() {
            parts.push(format!(
                "{} saved upload session(s) were moved into the queue store",
                self.imported.len()
            ));
        }
        if !self.rejected.is_empty() {
            parts.push(format!(
                "{} session file(s) could not be stored and were kept as they are",
                self.rejected.len()
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

impl QueueStore {
    /// Imports every session file in `sessions_dir` (see the module's doc).
    pub fn import_json_sessions(
        &mut self,
        sessions_dir: &Path,
    ) -> Result<ImportReport, StoreError> {
        let (sessions, unreadable) = read_session_files(sessions_dir)?;
        let mut report = ImportReport {
            unreadable,
            ..ImportReport::default()
        };
        for (source, session) in sessions {
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
            if let Err(reason) = move_into_imported(sessions_dir, &source) {
                report.not_moved.push((source, reason));
            }
        }
        Ok(report)
    }
}

/// The session files read from a folder: each usable one with its path, and those set aside.
type SessionFiles = (Vec<(PathBuf, Session)>, Vec<CorruptSession>);

/// Reads every `*.json` session in `dir`, in name order; a file that cannot be used is
/// renamed to `*.json.corrupt` and listed with the reason instead.
fn read_session_files(dir: &Path) -> Result<SessionFiles, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(source) => {
            return Err(StoreError::Io {
                action: "list the session files in",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == SESSION_EXTENSION))
        .collect();
    paths.sort();
    let mut sessions = Vec::new();
    let mut corrupt = Vec::new();
    for path in paths {
        match fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| parse_session_file(&path, &bytes))
        {
            Ok(session) => sessions.push((path, session)),
            Err(error) => {
                let aside = path.with_extension(format!("{SESSION_EXTENSION}.corrupt"));
                let moved_to = durable::set_aside(&path, &aside).ok().map(|()| aside);
                corrupt.push(CorruptSession {
                    path,
                    moved_to,
                    error,
                });
            }
        }
    }
    Ok((sessions, corrupt))
}

/// One session file, checked: its format version, that its name is its id, and every
/// number against the OSS limits and its own plan before anything is allocated by it.
fn parse_session_file(path: &Path, bytes: &[u8]) -> Result<Session, String> {
    let session: Session = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if session.format_version != FORMAT_VERSION {
        return Err(format!(
            "format version {} is not the supported {FORMAT_VERSION}",
            session.format_version
        ));
    }
    let expected_name = format!("{}.{SESSION_EXTENSION}", session.id);
    if path.file_name().and_then(|n| n.to_str()) != Some(expected_name.as_str()) {
        return Err(format!(
            "the file's name does not match its id {}",
            session.id
        ));
    }
    session.check_numbers()?;
    Ok(session)
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
