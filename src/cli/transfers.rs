//! Driving the engine from the terminal: `upload` and `resume` send their commands, then
//! follow events until every wanted transfer is finished, or Ctrl-C pauses them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::units::format_bytes;
use crate::engine::folder_plan::{
    PathFilters, PlannedFile, describe_io_error, file_key, folder_key_prefix, plan_folder_filtered,
};
use crate::engine::session_store::{CorruptSession, Session, SessionStore};
use crate::engine::{
    AddOptions, EngineCommand, EngineEvent, EngineHandle, StreamSource, TransferError, TransferId,
    TransferSnapshot, TransferState,
};
use crate::protocol::ObjectRef;
use crate::protocol::object_key::validate_object_key;

use super::error::{CliError, Outcome};
use super::location::OssLocation;
use super::progress::ProgressView;

/// One thing to upload and the key it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedSource {
    /// An absolute path to a regular file.
    File {
        path: PathBuf,
        size: u64,
    },
    Stdin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpload {
    pub source: PlannedSource,
    pub bucket: String,
    pub key: String,
}

/// Turns the command line's sources and destination into one upload per file, checking
/// everything that can be checked locally: the files exist and can be read, folders are
/// walked, keys obey the OSS rules. Any problem refuses the whole command, so nothing is
/// half-sent. Files of a folder that `filters` exclude are left out and counted.
pub fn plan_uploads(
    sources: &[String],
    destination: &OssLocation,
    filters: &PathFilters,
) -> Result<(Vec<PlannedUpload>, u64), CliError> {
    let mut excluded = 0;
    let stdin_count = sources.iter().filter(|s| *s == "-").count();
    if stdin_count > 1 {
        return Err(CliError::Usage("stdin (`-`) can be given only once".into()));
    }
    let exact_key = !destination.is_folder();
    if exact_key && sources.len() > 1 {
        return Err(CliError::Usage(format!(
            "{destination} names one object but {} sources were given; end the destination with '/' to upload into a folder",
            sources.len()
        )));
    }
    let mut planned = Vec::new();
    for source in sources {
        if source == "-" {
            if !exact_key {
                return Err(CliError::Usage(format!(
                    "stdin needs an object name: write the destination as oss://{}/{}name, not ending in '/'",
                    destination.bucket, destination.path
                )));
            }
            planned.push(PlannedUpload {
                source: PlannedSource::Stdin,
                bucket: destination.bucket.clone(),
                key: destination.key()?.to_owned(),
            });
            continue;
        }
        let path = Path::new(source);
        let metadata = std::fs::metadata(path).map_err(|e| {
            CliError::Usage(format!("cannot upload {source}: {}", describe_io_error(&e)))
        })?;
        let absolute = std::path::absolute(path)
            .map_err(|e| CliError::Usage(format!("cannot upload {source}: {e}")))?;
        if metadata.is_dir() {
            let key_prefix = if exact_key {
                format!("{}/", destination.path)
            } else {
                folder_key_prefix(&destination.path, &absolute).map_err(CliError::Usage)?
            };
            let plan = plan_folder_filtered(&absolute, &key_prefix, filters);
            excluded += plan.excluded;
            if !plan.problems.is_empty() {
                return Err(CliError::Usage(plan.problems.join("\n")));
            }
            for file in plan.files {
                planned.push(PlannedUpload {
                    source: PlannedSource::File {
                        path: file.path,
                        size: file.size,
                    },
                    bucket: destination.bucket.clone(),
                    key: file.key,
                });
            }
        } else {
            check_readable(&absolute, source)?;
            let key = if exact_key {
                destination.path.clone()
            } else {
                file_key(&destination.path, &absolute).map_err(CliError::Usage)?
            };
            planned.push(file_upload(
                absolute,
                metadata.len(),
                &destination.bucket,
                key,
            )?);
        }
    }
    Ok((planned, excluded))
}

fn file_upload(
    path: PathBuf,
    size: u64,
    bucket: &str,
    key: String,
) -> Result<PlannedUpload, CliError> {
    validate_object_key(&key)
        .map_err(|e| CliError::Usage(format!("cannot upload {}: {e}", path.display())))?;
    Ok(PlannedUpload {
        source: PlannedSource::File { path, size },
        bucket: bucket.to_owned(),
        key,
    })
}

fn check_readable(path: &Path, shown: &str) -> Result<(), CliError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| CliError::Usage(format!("cannot upload {shown}: {}", describe_io_error(&e))))
}

/// What the CLI waits for: transfers named by destination (upload) or by id (resume).
#[derive(Debug)]
struct Wanted {
    label: String,
    /// The local path as sent to the engine, which names it in notices.
    source: Option<String>,
    size: u64,
    id: Option<TransferId>,
    state: Option<TransferState>,
    bytes_done: u64,
    error: Option<String>,
    verified: Option<bool>,
    /// It waited for the network at some point, so a failure after that is most likely
    /// the outage limit; its session is kept for `ossup resume`.
    waited_for_network: bool,
    /// A file (not stdin), whose session outlives a failure.
    resumable: bool,
}

/// Follows the engine's events for a set of wanted transfers.
pub struct Follower {
    wanted: Vec<Wanted>,
    by_destination: HashMap<(String, String), usize>,
    by_id: HashMap<TransferId, usize>,
    progress: ProgressView,
    corrupt_sessions: usize,
    /// Files the filters left out, for the summary.
    excluded: u64,
    started: Instant,
}

impl Follower {
    /// For `upload`: the transfers the engine creates for these destinations.
    pub fn for_uploads(planned: &[PlannedUpload]) -> Self {
        let mut follower = Self::empty(
            planned
                .iter()
                .map(|p| match &p.source {
                    PlannedSource::File { size, .. } => *size,
                    PlannedSource::Stdin => 0,
                })
                .sum(),
        );
        for upload in planned {
            let index = follower.push(
                ObjectRef::new(&upload.bucket, &upload.key).to_string(),
                match &upload.source {
                    PlannedSource::File { size, .. } => *size,
                    PlannedSource::Stdin => 0,
                },
                None,
                match &upload.source {
                    PlannedSource::File { path, .. } => Some(path.display().to_string()),
                    PlannedSource::Stdin => None,
                },
            );
            follower.wanted[index].resumable = matches!(upload.source, PlannedSource::File { .. });
            follower
                .by_destination
                .insert((upload.bucket.clone(), upload.key.clone()), index);
        }
        follower
    }

    /// Counts `excluded` files (left out by the filters) in the summary.
    pub fn with_excluded(mut self, excluded: u64) -> Self {
        self.excluded = excluded;
        self
    }

    /// For `resume`: the transfers of these sessions.
    pub fn for_sessions(sessions: &[Session]) -> Self {
        let mut follower = Self::empty(sessions.iter().map(|s| s.file.size).sum());
        for session in sessions {
            let id = session.transfer_id();
            let index = follower.push(
                ObjectRef::new(&session.bucket, &session.key).to_string(),
                session.file.size,
                Some(id.clone()),
                None,
            );
            follower.wanted[index].resumable = true;
            follower.by_id.insert(id, index);
        }
        follower
    }

    fn empty(total_bytes: u64) -> Self {
        Self {
            wanted: Vec::new(),
            by_destination: HashMap::new(),
            by_id: HashMap::new(),
            progress: ProgressView::new(total_bytes),
            corrupt_sessions: 0,
            excluded: 0,
            started: Instant::now(),
        }
    }

    fn push(
        &mut self,
        label: String,
        size: u64,
        id: Option<TransferId>,
        source: Option<String>,
    ) -> usize {
        self.wanted.push(Wanted {
            label,
            source,
            size,
            id,
            state: None,
            bytes_done: 0,
            error: None,
            verified: None,
            waited_for_network: false,
            resumable: false,
        });
        self.wanted.len() - 1
    }

    fn all_finished(&self) -> bool {
        self.wanted
            .iter()
            .all(|w| w.error.is_some() || w.state.as_ref().is_some_and(TransferState::is_terminal))
    }

    fn handle(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Snapshot(snapshot) => self.snapshot(snapshot),
            EngineEvent::Progress {
                id,
                state,
                bytes_done,
                bytes_per_sec,
                ..
            } => {
                if let Some(&index) = self.by_id.get(&id) {
                    let wanted = &mut self.wanted[index];
                    wanted.bytes_done = bytes_done;
                    let (label, size) = (wanted.label.clone(), wanted.size);
                    self.progress
                        .file_progress(&id, &label, size, bytes_done, bytes_per_sec);
                    self.state_changed(index, state, None);
                    self.update_overall();
                }
            }
            EngineEvent::Removed(id) => {
                if let Some(&index) = self.by_id.get(&id) {
                    let wanted = &mut self.wanted[index];
                    if !wanted
                        .state
                        .as_ref()
                        .is_some_and(TransferState::is_terminal)
                    {
                        wanted.error = Some("the transfer was removed".into());
                    }
                    self.progress.file_finished(&id);
                }
            }
            EngineEvent::SessionCorrupt {
                path,
                moved_to,
                error,
            } => {
                self.corrupt_sessions += 1;
                let kept = match moved_to {
                    Some(to) => format!("it was kept as {}", to.display()),
                    None => "it was left in place".into(),
                };
                self.progress.line(&format!(
                    "warning: the saved session {} could not be read ({error}); {kept}",
                    path.display()
                ));
            }
            EngineEvent::Notice { message } => {
                self.progress.line(&format!("note: {message}"));
                self.notice_about_wanted(&message);
            }
            EngineEvent::Stopped => {}
        }
    }

    /// The engine answers a command it cannot carry out (a file that vanished since it
    /// was checked, a session locked by another process) with a notice naming the file or
    /// the transfer id; such a transfer will never report, so it counts as failed.
    fn notice_about_wanted(&mut self, message: &str) {
        let mut failed = Vec::new();
        for wanted in &mut self.wanted {
            let unfinished = wanted.error.is_none()
                && !wanted
                    .state
                    .as_ref()
                    .is_some_and(TransferState::is_terminal);
            let named = match (&wanted.id, &wanted.source) {
                (Some(id), _) => message.contains(&id.0),
                (None, Some(source)) => message.contains(source.as_str()),
                (None, None) => false,
            };
            if unfinished && named {
                wanted.error = Some(message.to_owned());
                failed.push(format!("failed {}: {message}", wanted.label));
            }
        }
        for line in failed {
            self.progress.line(&line);
        }
    }

    fn snapshot(&mut self, snapshot: TransferSnapshot) {
        let index = match self.by_id.get(&snapshot.id) {
            Some(&index) => index,
            None => match self
                .by_destination
                .get(&(snapshot.bucket.clone(), snapshot.key.clone()))
            {
                Some(&index) => {
                    self.by_id.insert(snapshot.id.clone(), index);
                    self.wanted[index].id = Some(snapshot.id.clone());
                    index
                }
                // A saved session of another upload, loaded by the engine: not ours.
                None => return,
            },
        };
        let wanted = &mut self.wanted[index];
        wanted.size = snapshot.size;
        wanted.bytes_done = snapshot.bytes_done;
        if let Some(result) = &snapshot.result {
            wanted.verified = Some(result.verified);
        }
        let (label, size) = (wanted.label.clone(), wanted.size);
        if !snapshot.state.is_terminal() && snapshot.state != TransferState::Queued {
            self.progress.file_progress(
                &snapshot.id,
                &label,
                size,
                snapshot.bytes_done,
                snapshot.bytes_per_sec,
            );
        }
        self.state_changed(index, snapshot.state, snapshot.error);
        let total: u64 = self.wanted.iter().map(|w| w.size).sum();
        self.progress.set_total_bytes(total);
        self.update_overall();
    }

    fn state_changed(&mut self, index: usize, state: TransferState, error: Option<TransferError>) {
        let wanted = &mut self.wanted[index];
        if wanted.state.as_ref() == Some(&state) && error.is_none() {
            return;
        }
        let line = match &state {
            TransferState::Done => {
                let check = match wanted.verified {
                    Some(true) => ", CRC-64 verified",
                    _ => "",
                };
                Some(format!(
                    "uploaded {} ({}{check})",
                    wanted.label,
                    format_bytes(wanted.size)
                ))
            }
            TransferState::Skipped => Some(format!(
                "skipped {}: the object exists and overwriting is forbidden",
                wanted.label
            )),
            TransferState::Failed => {
                let mut reason = error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "the transfer failed".into());
                if let (Some(id), Some(true)) =
                    (&wanted.id, error.as_ref().map(|e| e.restart_suggested))
                {
                    reason.push_str(&format!(
                        "; to start over, run `ossup resume {id} --restart`"
                    ));
                } else if let Some(id) = &wanted.id
                    && wanted.waited_for_network
                    && wanted.resumable
                {
                    reason.push_str(&format!(
                        "; what was sent is saved: `ossup resume {id}` continues it"
                    ));
                }
                wanted.error = Some(reason.clone());
                Some(format!("failed {}: {reason}", wanted.label))
            }
            TransferState::WaitingForNetwork => Some({
                wanted.waited_for_network = true;
                let reason = error
                    .as_ref()
                    .map(|e| e.message.trim_end_matches(['.', ' ']).to_owned())
                    .unwrap_or_else(|| "waiting for the network".into());
                format!(
                    "{reason}: {} will continue by itself once the server can be reached (Ctrl-C pauses)",
                    wanted.label
                )
            }),
            TransferState::LockedElsewhere => {
                let reason = "another ossup process is uploading it".to_owned();
                wanted.error = Some(reason.clone());
                Some(format!("not resumed {}: {reason}", wanted.label))
            }
            _ => None,
        };
        let finished = state.is_terminal() || state == TransferState::LockedElsewhere;
        wanted.state = Some(state);
        if let Some(id) = wanted.id.clone()
            && finished
        {
            self.progress.file_finished(&id);
        }
        if let Some(line) = line {
            self.progress.line(&line);
        }
    }

    fn update_overall(&mut self) {
        let done: u64 = self
            .wanted
            .iter()
            .map(|w| w.bytes_done.min(w.size.max(w.bytes_done)))
            .sum();
        self.progress.overall(done);
    }

    /// Sends nothing; follows events until all wanted transfers finished or Ctrl-C.
    /// Returns whether Ctrl-C ended it.
    fn follow(&mut self, handle: &mut EngineHandle) -> Result<bool, CliError> {
        if self.wanted.is_empty() {
            return Ok(false);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Failed(format!("could not start the event loop: {e}")))?;
        runtime.block_on(async {
            let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                if self.all_finished() {
                    return Ok(false);
                }
                tokio::select! {
                    event = handle.recv() => match event {
                        Some(event) => self.handle(event),
                        None => return Err(CliError::Failed("the transfer engine stopped unexpectedly".into())),
                    },
                    _ = &mut ctrl_c => return Ok(true),
                    _ = tick.tick() => self.update_overall(),
                }
            }
        })
    }

    /// Follows to the end, then prints the summary; Ctrl-C pauses and saves sessions.
    pub fn run(mut self, handle: &mut EngineHandle) -> Result<Outcome, CliError> {
        let interrupted = self.follow(handle)?;
        if interrupted {
            // Shutdown pauses every transfer and keeps the sessions on disk.
            handle.shutdown();
            for event in handle.drain() {
                self.handle(event);
            }
            self.progress.finish();
            let unfinished = self
                .wanted
                .iter()
                .filter(|w| {
                    !w.state.as_ref().is_some_and(TransferState::is_terminal) && w.error.is_none()
                })
                .count();
            println!(
                "Interrupted: {unfinished} unfinished upload(s) paused and saved. Continue with `ossup resume --all` (uploads from stdin cannot be resumed)."
            );
            return Ok(Outcome::Interrupted);
        }
        self.progress.finish();
        Ok(self.summary())
    }

    fn summary(&self) -> Outcome {
        let count = |state: TransferState| {
            self.wanted
                .iter()
                .filter(|w| w.state.as_ref() == Some(&state))
                .count()
        };
        let done = count(TransferState::Done);
        let skipped = count(TransferState::Skipped);
        let failed = self.wanted.len() - done - skipped;
        let bytes: u64 = self
            .wanted
            .iter()
            .filter(|w| w.state == Some(TransferState::Done))
            .map(|w| w.size)
            .sum();
        let secs = self.started.elapsed().as_secs_f64();
        let mut text = format!(
            "{done} of {} uploaded ({} in {secs:.1}s",
            self.wanted.len(),
            format_bytes(bytes)
        );
        if secs > 0.0 {
            text.push_str(&format!(
                ", {}/s",
                format_bytes((bytes as f64 / secs) as u64)
            ));
        }
        text.push(')');
        if skipped > 0 {
            text.push_str(&format!(", {skipped} skipped"));
        }
        if self.excluded > 0 {
            text.push_str(&format!(", {} excluded by filters", self.excluded));
        }
        if failed > 0 {
            text.push_str(&format!(", {failed} failed"));
        }
        println!("{text}.");
        if failed > 0 || self.corrupt_sessions > 0 {
            Outcome::SomeFailed
        } else {
            Outcome::Success
        }
    }
}

/// Sends the planned files as one command (so what exists is listed once) and stdin as
/// its own.
pub fn send_uploads(
    handle: &EngineHandle,
    planned: &[PlannedUpload],
    options: &AddOptions,
) -> Result<(), CliError> {
    let send = |command| {
        handle
            .send(command)
            .map_err(|e| CliError::Failed(e.to_string()))
    };
    let mut by_bucket: Vec<(String, Vec<PlannedFile>)> = Vec::new();
    for upload in planned {
        match &upload.source {
            PlannedSource::File { path, size } => {
                let file = PlannedFile {
                    path: path.clone(),
                    key: upload.key.clone(),
                    size: *size,
                };
                match by_bucket.iter_mut().find(|(b, _)| *b == upload.bucket) {
                    Some((_, files)) => files.push(file),
                    None => by_bucket.push((upload.bucket.clone(), vec![file])),
                }
            }
            PlannedSource::Stdin => send(EngineCommand::AddStream {
                source: StreamSource::stdin(),
                bucket: upload.bucket.clone(),
                key: upload.key.clone(),
            })?,
        }
    }
    for (bucket, files) in by_bucket {
        send(EngineCommand::AddFiles {
            files,
            bucket,
            options: options.clone(),
        })?;
    }
    Ok(())
}

/// The sessions `resume` should continue, and the session files that could not be read.
pub struct SessionSelection {
    pub sessions: Vec<Session>,
    pub corrupt: Vec<CorruptSession>,
}

/// The sessions `resume` should continue: all, or the one whose id starts with `id`.
pub fn select_sessions(
    store: &SessionStore,
    id: Option<&str>,
) -> Result<SessionSelection, CliError> {
    let report = store
        .load_all(false)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let Some(id) = id else {
        return Ok(SessionSelection {
            sessions: report.sessions,
            corrupt: report.corrupt,
        });
    };
    let matching: Vec<Session> = report
        .sessions
        .into_iter()
        .filter(|s| s.id.starts_with(id))
        .collect();
    match matching.len() {
        1 => Ok(SessionSelection {
            sessions: matching,
            corrupt: Vec::new(),
        }),
        0 => Err(CliError::Usage(format!(
            "there is no saved upload with id {id:?}; `ossup sessions` lists them"
        ))),
        n => Err(CliError::Usage(format!(
            "{n} saved uploads have ids starting with {id:?}; give more of the id"
        ))),
    }
}
