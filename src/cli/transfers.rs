//! Driving the engine from the terminal: `upload` and `resume` send their commands, then
//! follow events until every wanted transfer is finished, or a stop signal pauses them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::units::format_bytes;
use crate::engine::folder_plan::{describe_io_error, file_key, folder_key_prefix};
use crate::engine::session_store::{CorruptSession, Session, SessionStore};
use crate::engine::store::{FileState, JobId, OpenOptions, QueueStore};
use crate::engine::{
    AddOptions, Destination, EngineCommand, EngineEvent, EngineHandle, JobSnapshot, StreamSource,
    TransferError, TransferId, TransferSnapshot, TransferState,
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
    /// An absolute path to a folder: its files become a job, walked by the engine.
    Folder {
        path: PathBuf,
    },
    Stdin,
}

/// One upload; for a folder, `key` is the prefix its files go under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpload {
    pub source: PlannedSource,
    pub bucket: String,
    pub key: String,
}

/// Turns the command line's sources and destination into uploads, checking what can be
/// checked up front: the paths exist, files can be read, keys obey the OSS rules; any
/// such problem refuses the whole command. A folder is not walked here: the engine walks
/// it into its queue, recording each file it cannot send with the reason, and sends the
/// rest.
pub fn plan_uploads(
    sources: &[String],
    destination: &OssLocation,
) -> Result<Vec<PlannedUpload>, CliError> {
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
            std::fs::read_dir(&absolute).map_err(|e| {
                CliError::Usage(format!("cannot upload {source}: {}", describe_io_error(&e)))
            })?;
            planned.push(PlannedUpload {
                source: PlannedSource::Folder { path: absolute },
                bucket: destination.bucket.clone(),
                key: key_prefix,
            });
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
    Ok(planned)
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

/// Up to this many files named on the command line get a line each, as with `--verbose`;
/// more (a shell glob) are followed like a folder's: a bar and the failures.
const NAMED_FILE_LINES: usize = 100;

/// A job the CLI waits for: found by its folders and destination, then by its id.
#[derive(Debug)]
struct WantedJob {
    /// Sorted, as the engine's snapshot is matched against them.
    roots: Vec<PathBuf>,
    bucket: String,
    prefix: String,
    /// Known from the engine's first snapshot of it (or from `resume`).
    id: Option<JobId>,
    last: Option<JobSnapshot>,
    /// Its stop was reported already.
    told_problem: bool,
    /// That it waits for the network was said already.
    told_waiting: bool,
}

impl WantedJob {
    /// Finished, or unable to go on here (another process drives it, the store failed).
    fn ended(&self) -> bool {
        self.last.as_ref().is_some_and(|job| {
            job.is_finished() || job.locked_by.is_some() || job.problem.is_some()
        })
    }
}

/// A file of a job while it is in flight (finished ones are only counted by the job).
#[derive(Debug)]
struct JobRow {
    label: String,
    size: u64,
    bytes_done: u64,
}

/// Follows the engine's events for a set of wanted transfers and jobs.
pub struct Follower {
    wanted: Vec<Wanted>,
    by_destination: HashMap<(String, String), usize>,
    by_id: HashMap<TransferId, usize>,
    jobs: Vec<WantedJob>,
    job_rows: HashMap<TransferId, JobRow>,
    /// A line for every file of a job, not only its failures.
    verbose: bool,
    /// Keys of the files named on the command line, each given its line like `verbose`.
    named: std::collections::HashSet<String>,
    /// The queue store, read at the end for the failures no row reported (files the walk
    /// could not send).
    queue_dir: Option<PathBuf>,
    /// Failures of job files already printed, by key.
    failures_told: std::collections::HashSet<String>,
    progress: ProgressView,
    corrupt_sessions: usize,
    started: Instant,
}

impl Follower {
    /// For `upload`: the job of the files and folders, and the stream from stdin.
    pub fn for_uploads(planned: &[PlannedUpload]) -> Self {
        let mut follower = Self::empty(
            planned
                .iter()
                .map(|p| match &p.source {
                    PlannedSource::File { size, .. } => *size,
                    PlannedSource::Folder { .. } | PlannedSource::Stdin => 0,
                })
                .sum(),
        );
        if let Some(job) = upload_job("", planned) {
            let mut roots = job.paths;
            roots.sort();
            follower.jobs.push(WantedJob {
                roots,
                bucket: job.destination.bucket,
                prefix: job.destination.prefix,
                id: None,
                last: None,
                told_problem: false,
                told_waiting: false,
            });
        }
        let named: Vec<&PlannedUpload> = planned
            .iter()
            .filter(|p| matches!(p.source, PlannedSource::File { .. }))
            .collect();
        if named.len() <= NAMED_FILE_LINES {
            follower.named = named.iter().map(|p| p.key.clone()).collect();
        }
        for upload in planned {
            if let PlannedSource::Stdin = upload.source {
                let index = follower.push(
                    ObjectRef::new(&upload.bucket, &upload.key).to_string(),
                    0,
                    None,
                );
                follower
                    .by_destination
                    .insert((upload.bucket.clone(), upload.key.clone()), index);
            }
        }
        follower
    }

    /// Where the queue store is, to list a job's failures at the end.
    pub fn queue_dir(mut self, dir: PathBuf) -> Self {
        self.queue_dir = Some(dir);
        self
    }

    /// Prints a line for every file of a job, not only for the failed ones.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Also waits for these jobs (by id), e.g. the unfinished jobs `resume` continues.
    pub fn with_jobs(mut self, jobs: impl IntoIterator<Item = JobId>) -> Self {
        for id in jobs {
            self.jobs.push(WantedJob {
                roots: Vec::new(),
                bucket: String::new(),
                prefix: String::new(),
                id: Some(id),
                last: None,
                told_problem: false,
                told_waiting: false,
            });
        }
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
            jobs: Vec::new(),
            job_rows: HashMap::new(),
            verbose: false,
            named: Default::default(),
            queue_dir: None,
            failures_told: Default::default(),
            progress: ProgressView::new(total_bytes),
            corrupt_sessions: 0,
            started: Instant::now(),
        }
    }

    fn push(&mut self, label: String, size: u64, id: Option<TransferId>) -> usize {
        self.wanted.push(Wanted {
            label,
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
            && self.jobs.iter().all(WantedJob::ended)
    }

    fn handle(&mut self, event: EngineEvent) {
        match event {
            // A saved upload `resume` named is followed as such, in a job or not.
            EngineEvent::Snapshot(snapshot)
                if snapshot.job.is_some() && !self.by_id.contains_key(&snapshot.id) =>
            {
                self.job_row(snapshot)
            }
            EngineEvent::Job(job) => self.job_snapshot(job),
            EngineEvent::Progress {
                id,
                bytes_done,
                bytes_per_sec,
                ..
            } if self.job_rows.contains_key(&id) => {
                if let Some(row) = self.job_rows.get_mut(&id) {
                    row.bytes_done = bytes_done;
                    self.progress.file_progress(
                        &id,
                        &row.label,
                        row.size,
                        bytes_done,
                        bytes_per_sec,
                    );
                }
                self.update_overall();
            }
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
            EngineEvent::Removed(id) if self.job_rows.contains_key(&id) => {
                self.job_rows.remove(&id);
                self.progress.file_finished(&id);
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
            EngineEvent::HistoryPage { .. }
            | EngineEvent::JobFilesPage { .. }
            | EngineEvent::HistoryChanged
            | EngineEvent::Stopped => {}
        }
    }

    /// The engine answers a command it cannot carry out (a session locked by another
    /// process, say) with a notice naming the transfer id; such a transfer will never
    /// report, so it counts as failed.
    fn notice_about_wanted(&mut self, message: &str) {
        let mut failed = Vec::new();
        for wanted in &mut self.wanted {
            let unfinished = wanted.error.is_none()
                && !wanted
                    .state
                    .as_ref()
                    .is_some_and(TransferState::is_terminal);
            let named = wanted.id.as_ref().is_some_and(|id| message.contains(&id.0));
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

    /// A file of a job changed: shown while in flight; how it ended is one line (for a
    /// failure always, otherwise with `--verbose`).
    fn job_row(&mut self, snapshot: TransferSnapshot) {
        let label = ObjectRef::new(&snapshot.bucket, &snapshot.key).to_string();
        if snapshot.state == TransferState::Failed {
            self.failures_told.insert(snapshot.key.clone());
        }
        let line = match &snapshot.state {
            TransferState::Failed => {
                let error = snapshot.error.as_ref();
                let hint = if error.is_some_and(|e| e.restart_suggested) {
                    format!(
                        "; to start over, run `ossup resume {} --restart`",
                        snapshot.id
                    )
                } else {
                    String::new()
                };
                Some(format!(
                    "failed {label}: {}{hint}",
                    error.map_or_else(|| "the transfer failed".to_owned(), ToString::to_string)
                ))
            }
            TransferState::WaitingForNetwork => self
                .jobs
                .iter_mut()
                .find(|j| j.id.is_some() && j.id == snapshot.job && !j.told_waiting)
                .map(|job| {
                    job.told_waiting = true;
                    let reason = snapshot
                        .error
                        .as_ref()
                        .map(|e| e.message.trim_end_matches(['.', ' ']).to_owned())
                        .unwrap_or_else(|| "waiting for the network".into());
                    format!(
                        "{reason}: the upload will continue by itself once the server can be reached (Ctrl-C pauses)"
                    )
                }),
            TransferState::Done if self.verbose || self.named.contains(&snapshot.key) => {
                let check = match snapshot.result.as_ref().map(|r| r.verified) {
                    Some(true) => ", CRC-64 verified",
                    _ => "",
                };
                Some(format!(
                    "uploaded {label} ({}{check})",
                    format_bytes(snapshot.size)
                ))
            }
            TransferState::Skipped if self.verbose || self.named.contains(&snapshot.key) => Some(format!(
                "skipped {label}: {}",
                snapshot
                    .error
                    .as_ref()
                    .map_or_else(|| "it exists".to_owned(), |e| e.message.clone())
            )),
            _ => None,
        };
        if let Some(line) = line {
            self.progress.line(&line);
        }
        if snapshot.state.is_terminal() {
            self.job_rows.remove(&snapshot.id);
            self.progress.file_finished(&snapshot.id);
        } else {
            if snapshot.state != TransferState::Queued {
                self.progress.file_progress(
                    &snapshot.id,
                    &label,
                    snapshot.size,
                    snapshot.bytes_done,
                    snapshot.bytes_per_sec,
                );
            }
            self.job_rows.insert(
                snapshot.id,
                JobRow {
                    label,
                    size: snapshot.size,
                    bytes_done: snapshot.bytes_done,
                },
            );
        }
        self.update_overall();
    }

    fn job_snapshot(&mut self, job: JobSnapshot) {
        let mut roots = job.roots.clone();
        roots.sort();
        let Some(wanted) = self.jobs.iter_mut().find(|w| match w.id {
            Some(id) => id == job.id,
            None => w.roots == roots && w.bucket == job.bucket && w.prefix == job.prefix,
        }) else {
            return;
        };
        wanted.id = Some(job.id);
        let mut line = None;
        if !wanted.told_problem {
            if let Some(pid) = job.locked_by {
                wanted.told_problem = true;
                line = Some(format!(
                    "not resumed job {}: another ossup process (pid {pid}) is uploading it",
                    job.id.0
                ));
            } else if let Some(problem) = &job.problem {
                wanted.told_problem = true;
                line = Some(format!("job {} stopped: {problem}", job.id.0));
            }
        }
        wanted.last = Some(job);
        if let Some(line) = line {
            self.progress.line(&line);
        }
        self.update_overall();
    }

    fn update_overall(&mut self) {
        let mut done: u64 = self
            .wanted
            .iter()
            .map(|w| w.bytes_done.min(w.size.max(w.bytes_done)))
            .sum();
        let mut total: u64 = self.wanted.iter().map(|w| w.size).sum();
        for job in self.jobs.iter().filter_map(|j| j.last.as_ref()) {
            done += job.counts.bytes_done;
            total += job.counts.bytes_total;
        }
        done += self.job_rows.values().map(|r| r.bytes_done).sum::<u64>();
        self.progress.set_total_bytes(total);
        self.progress.overall(done);
    }

    /// Sends nothing; follows events until all wanted transfers finished or a stop signal
    /// (Ctrl-C, SIGTERM, SIGHUP). Returns whether a signal ended it.
    fn follow(&mut self, handle: &mut EngineHandle) -> Result<bool, CliError> {
        if self.wanted.is_empty() && self.jobs.is_empty() {
            return Ok(false);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Failed(format!("could not start the event loop: {e}")))?;
        runtime.block_on(async {
            let mut stop = std::pin::pin!(crate::stop_signal::stop_requested());
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
                    () = &mut stop => return Ok(true),
                    _ = tick.tick() => self.update_overall(),
                }
            }
        })
    }

    /// Follows to the end, then prints the summary; a stop signal pauses and saves the
    /// sessions.
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
                .count() as u64
                + self
                    .jobs
                    .iter()
                    .filter_map(|j| j.last.as_ref())
                    .map(|j| j.counts.pending + j.counts.in_flight)
                    .sum::<u64>();
            println!(
                "Interrupted: {unfinished} unfinished upload(s) paused and saved. Continue with `ossup resume --all` (uploads from stdin cannot be resumed)."
            );
            return Ok(Outcome::Interrupted);
        }
        self.progress.finish();
        Ok(self.summary())
    }

    /// Prints the failed files of the wanted jobs that no row reported, from the store.
    fn list_job_failures(&mut self) {
        const MOST_LINES: usize = 1000;
        let Some(dir) = &self.queue_dir else { return };
        let ids: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|j| j.last.as_ref().is_some_and(|l| l.counts.failed > 0))
            .filter_map(|j| j.id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let store = match QueueStore::open(dir, OpenOptions::default()) {
            Ok((store, _)) => store,
            Err(e) => {
                self.progress
                    .line(&format!("warning: the failed files cannot be listed: {e}"));
                return;
            }
        };
        let mut printed = 0;
        for id in ids {
            let mut after = None;
            loop {
                let page = match store.files_page(id, Some(FileState::Failed), after, 500) {
                    Ok(page) => page,
                    Err(e) => {
                        self.progress
                            .line(&format!("warning: the failed files cannot be listed: {e}"));
                        return;
                    }
                };
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                for row in page {
                    if self.failures_told.contains(&row.file.key) && !row.file.key.is_empty() {
                        continue;
                    }
                    if printed == MOST_LINES {
                        self.progress.line(&format!(
                            "… and more failed files of job {}: `ossup jobs` counts them",
                            id.0
                        ));
                        return;
                    }
                    printed += 1;
                    let reason = row.file.reason.unwrap_or_else(|| "it failed".into());
                    self.progress.line(&format!("failed: {reason}"));
                }
            }
        }
    }

    fn summary(&mut self) -> Outcome {
        self.list_job_failures();
        let count = |state: TransferState| {
            self.wanted
                .iter()
                .filter(|w| w.state.as_ref() == Some(&state))
                .count()
        };
        let mut done = count(TransferState::Done) as u64;
        let mut skipped = count(TransferState::Skipped) as u64;
        let mut failed = self.wanted.len() as u64 - done - skipped;
        let mut files = self.wanted.len() as u64;
        let mut bytes: u64 = self
            .wanted
            .iter()
            .filter(|w| w.state == Some(TransferState::Done))
            .map(|w| w.size)
            .sum();
        let mut excluded = 0;
        for job in &self.jobs {
            match &job.last {
                Some(last) => {
                    excluded += last.excluded;
                    let c = &last.counts;
                    done += c.done;
                    skipped += c.skipped;
                    failed += c.failed + c.pending + c.in_flight;
                    files += c.done + c.skipped + c.failed + c.pending + c.in_flight;
                    bytes += c.bytes_done;
                }
                // Never heard of: the engine could not queue it (a notice said why).
                None => failed += 1,
            }
        }
        let secs = self.started.elapsed().as_secs_f64();
        let mut text = format!(
            "{done} of {files} uploaded ({} in {secs:.1}s",
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
        if excluded > 0 {
            text.push_str(&format!(", {excluded} excluded by filters"));
        }
        if failed > 0 {
            text.push_str(&format!(", {failed} failed"));
        }
        println!("{text}.");
        for job in &self.jobs {
            if let (Some(id), Some(last)) = (job.id, &job.last)
                && last.counts.failed > 0
            {
                println!(
                    "`ossup resume --job {}` sends the failed files of job {} again.",
                    id.0, id.0
                );
            }
        }
        if failed > 0 || self.corrupt_sessions > 0 {
            Outcome::SomeFailed
        } else {
            Outcome::Success
        }
    }
}

/// Sends the planned files and folders as one job, and stdin as a stream of its own.
pub fn send_uploads(
    handle: &EngineHandle,
    target: &str,
    planned: &[PlannedUpload],
    options: &AddOptions,
) -> Result<(), CliError> {
    let send = |command| {
        handle
            .send(command)
            .map_err(|e| CliError::Failed(e.to_string()))
    };
    if let Some(job) = upload_job(target, planned) {
        send(EngineCommand::Add {
            paths: job.paths,
            destination: job.destination,
            options: AddOptions {
                contents_only: job.contents_only,
                ..options.clone()
            },
        })?;
    }
    for upload in planned {
        if let PlannedSource::Stdin = upload.source {
            send(EngineCommand::AddStream {
                source: StreamSource::stdin(),
                target: target.to_owned(),
                bucket: upload.bucket.clone(),
                key: upload.key.clone(),
            })?;
        }
    }
    Ok(())
}

/// The one job the files and folders of a command make.
struct UploadJob {
    destination: Destination,
    paths: Vec<PathBuf>,
    /// The one source given goes to the exact name given (`upload FILE oss://b/name`, or
    /// a folder's files straight under `oss://b/name/`), not under its own name.
    contents_only: bool,
}

fn upload_job(target: &str, planned: &[PlannedUpload]) -> Option<UploadJob> {
    let mut paths = Vec::new();
    let mut first = None;
    for upload in planned {
        let (path, own_name) = match &upload.source {
            PlannedSource::Folder { path } => (path, folder_key_prefix("", path).ok()),
            PlannedSource::File { path, .. } => (path, file_key("", path).ok()),
            PlannedSource::Stdin => continue,
        };
        paths.push(path.clone());
        first.get_or_insert((upload, own_name));
    }
    let (first, own_name) = first?;
    // The prefix its own name was appended to; otherwise it was given a name of its own.
    let (prefix, contents_only) = match own_name {
        Some(name) if first.key.ends_with(&name) => {
            (first.key[..first.key.len() - name.len()].to_owned(), false)
        }
        _ => (first.key.clone(), true),
    };
    Some(UploadJob {
        destination: Destination::new(target, first.bucket.clone(), prefix),
        paths,
        contents_only,
    })
}

/// The sessions `resume` should continue, and the saved sessions that could not be used.
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
        .load_all()
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
