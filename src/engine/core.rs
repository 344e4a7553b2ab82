//! The engine's main task: owns the transfer table, applies commands, starts and stops
//! transfer tasks, and hands the front end a final picture on shutdown.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::command::{AddOptions, Destination, OverwritePolicy, StreamSource};
use super::context::{EngineContext, Shared};
use super::event::{
    EngineEvent, EventSink, PartState, SourceKind, TransferError, TransferId, TransferSnapshot,
    TransferState,
};
use super::existing::ExistingObjects;
use super::folder_plan::{self, FolderItem, PlannedFile};
use super::history::History;
use super::initiate;
use super::jobs::{ABORTED, FileEnd, JobFile, JobMessage, Jobs};
use super::progress::Board;
use super::request;
use super::session_store::{
    CorruptSession, Session, SessionError, SessionStore, open_queue, session_id,
};
use super::store::{FileId, FileOutcome, FileRow, FileState, JobId, NewHistory};
use super::stream;
use super::target::Target;
use super::transfer::{self, FileTransfer, Outcome, StartMode};
use super::{EngineCommand, EngineConfig};
use crate::protocol::ObjectRef;
use crate::protocol::error::code;
use crate::protocol::object_key::{validate_bucket_name, validate_object_key};

/// How long shutdown waits for transfer tasks to stop and save.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(8);

/// Messages from the engine's own tasks back to the main loop.
enum Internal {
    Finished {
        id: TransferId,
        generation: u64,
        outcome: Outcome,
    },
    /// A file found while expanding a folder.
    Discovered {
        place: Place,
        path: PathBuf,
        key: String,
        size: u64,
        /// Why it is not sent (the object is there, or unchanged), if so.
        skipped: Option<String>,
    },
    AbortDone {
        id: TransferId,
        result: Result<(), TransferError>,
    },
}

enum Source {
    File(FileTransfer),
    Stream,
}

/// Where a file goes: a registered target's label and a bucket there.
#[derive(Debug, Clone)]
struct Place {
    target: String,
    bucket: String,
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    generation: u64,
}

/// A transfer known to this engine. Its session lock is held by the running task only,
/// so queued and paused transfers keep no file open.
struct Control {
    source: Source,
    running: Option<Running>,
    /// Abort (server + session) once the running task has stopped.
    abort_requested: bool,
    /// Start over once the running task has stopped.
    restart_requested: bool,
    /// Paused on its own (not with its job): a job's file stays paused, claimed by its job
    /// (or left so when its job hands it out), until it is resumed, aborted or its job is
    /// paused.
    pause_requested: bool,
    /// The job and row of a file its job handed out.
    job: Option<JobFile>,
    /// A saved upload of a job that has not handed the file out (yet): shown from its
    /// session, and resumed, or aborted, through its job.
    saved_for_job: Option<JobId>,
    /// When its current run started, for the history's duration.
    started: Instant,
}

impl Control {
    /// A transfer with no task running and nothing requested.
    fn idle(source: Source) -> Self {
        Self {
            source,
            running: None,
            abort_requested: false,
            restart_requested: false,
            pause_requested: false,
            job: None,
            saved_for_job: None,
            started: Instant::now(),
        }
    }
}

struct Core {
    shared: Arc<Shared>,
    /// Each registered target's context, by label.
    targets: BTreeMap<String, Registered>,
    controls: HashMap<TransferId, Control>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    next_generation: u64,
    jobs: Jobs,
    history: History,
    /// Files of jobs to start over once their job hands them out (a restart asked for
    /// before the job was loaded).
    restart_when_claimed: std::collections::HashSet<TransferId>,
}

/// A registered target: what the front end gave, and the context its tasks use.
struct Registered {
    target: Target,
    ctx: Arc<EngineContext>,
}

/// How often job outcomes are committed, leases renewed and job counts published.
const JOB_TICK: Duration = Duration::from_millis(200);

pub(crate) async fn run(
    config: EngineConfig,
    mut commands: mpsc::UnboundedReceiver<EngineCommand>,
    sink: EventSink,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let board = Board::default();
    let resume_on_start = config.tuning.resume_on_start;
    let (queue, unavailable) = match open_queue(&config.queue_dir, &config.sessions_dir) {
        Ok((queue, notes)) => {
            for sentence in notes.sentences {
                board.notice(sentence);
            }
            for corrupt in notes.corrupt {
                report_corrupt(&board, corrupt);
            }
            (Some(queue), None)
        }
        Err(e) => {
            board.notice(format!(
                "The queue store cannot be used ({e}); folders cannot be added and large files cannot be resumed until this is fixed."
            ));
            (None, Some(e.to_string()))
        }
    };
    let (job_tx, mut job_rx) = mpsc::unbounded_channel::<JobMessage>();
    let jobs = Jobs::new(queue, job_tx, board.clone());
    let sessions = SessionStore::new(
        jobs.shared_store()
            .ok_or_else(|| unavailable.unwrap_or_default()),
        &config.queue_dir,
    );
    let shared = Shared::new(sessions, config.tuning, board.clone());
    let stop_publisher = CancellationToken::new();
    let publisher = {
        let board = board.clone();
        let sink = sink.clone();
        let stop = stop_publisher.clone();
        tokio::spawn(async move { board.run_publisher(sink, stop).await })
    };
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let history = History::new(jobs.shared_store(), board.clone());
    let mut core = Core {
        shared,
        targets: BTreeMap::new(),
        controls: HashMap::new(),
        internal_tx,
        next_generation: 0,
        jobs,
        history,
        restart_when_claimed: Default::default(),
    };
    for target in config.targets {
        core.set_target(target, resume_on_start);
    }
    let mut tick = tokio::time::interval(JOB_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None | Some(EngineCommand::Shutdown) => break,
                Some(command) => core.apply(command),
            },
            Some(message) = internal_rx.recv() => core.on_internal(message),
            Some(message) = job_rx.recv() => core.on_job(message),
            _ = tick.tick() => core.on_tick(),
        }
    }
    core.shutdown().await;
    stop_publisher.cancel();
    let _ = publisher.await;
    board.publish(&sink, Instant::now());
    sink.send(EngineEvent::Stopped);
    sink.wake();
}

impl Core {
    fn board(&self) -> &Board {
        &self.shared.board
    }

    /// The context of the target labelled `label`; a notice when there is none.
    fn ctx(&self, label: &str) -> Option<Arc<EngineContext>> {
        let found = self.targets.get(label).map(|r| r.ctx.clone());
        if found.is_none() {
            self.board().notice(format!(
                "There is no target {label:?} in this window or command; choose a configured one."
            ));
        }
        found
    }

    /// Registers `target` (or gives a registered one its new client) and loads its saved
    /// sessions and jobs the first time.
    fn set_target(&mut self, target: Target, resume: bool) {
        let ctx = EngineContext::new(
            target.client.clone(),
            target.label.clone(),
            self.shared.clone(),
        );
        let known = self
            .targets
            .insert(
                target.label.clone(),
                Registered {
                    target: target.clone(),
                    ctx,
                },
            )
            .is_some();
        if !known {
            self.load_sessions(&target, resume);
            self.jobs.load(&target, resume);
        }
    }

    /// The id of `path` uploaded to `bucket/key` on `target`: the id its session was saved
    /// under when one known here was named by the bare endpoint, else the target's own.
    fn transfer_id(
        &self,
        target: &str,
        bucket: &str,
        key: &str,
        path: &std::path::Path,
    ) -> TransferId {
        let id = session_id(target, bucket, key, path);
        if let Some(registered) = self.targets.get(target)
            && registered.target.endpoint() != target
            && !self.controls.contains_key(&id)
        {
            let legacy = session_id(registered.target.endpoint(), bucket, key, path);
            if self.controls.contains_key(&legacy) {
                return legacy;
            }
        }
        id
    }

    fn load_sessions(&mut self, target: &Target, resume: bool) {
        let report = match self.shared.store.load_all() {
            Ok(report) => report,
            Err(e) => {
                self.board()
                    .notice(format!("Saved sessions could not be read: {e}."));
                return;
            }
        };
        for corrupt in report.corrupt {
            report_corrupt(self.board(), corrupt);
        }
        for session in report.sessions {
            if !target.owns(&session.endpoint) || self.controls.contains_key(&session.transfer_id())
            {
                continue;
            }
            // A job's file is shown as saved until its job hands it out again.
            let saved_for_job = session.job.map(JobId).filter(|_| self.jobs.has_store());
            let id = session.transfer_id();
            // Only a look: the lock is taken again when the transfer runs.
            let locked = self.shared.store.try_lock(&id).is_ok();
            let state = if locked {
                TransferState::Paused
            } else {
                TransferState::LockedElsewhere
            };
            self.board().insert(TransferSnapshot {
                target: target.label.clone(),
                job: saved_for_job,
                ..session_snapshot(&session, state)
            });
            let transfer = FileTransfer {
                id: id.clone(),
                target: target.label.clone(),
                path: session.local_path.clone(),
                bucket: session.bucket.clone(),
                key: session.key.clone(),
                job: None,
                size: Some(session.file.size),
            };
            self.controls.insert(
                id.clone(),
                Control {
                    saved_for_job,
                    ..Control::idle(Source::File(transfer))
                },
            );
            if resume && locked && saved_for_job.is_none() {
                self.resume(&id);
            }
        }
    }

    fn apply(&mut self, command: EngineCommand) {
        match command {
            EngineCommand::Add {
                paths,
                destination,
                options,
            } => {
                self.add(paths, destination, options);
            }
            EngineCommand::PauseJob(id) => self.pause_job(id),
            EngineCommand::ResumeJob(id) => self.resume_job(id),
            EngineCommand::RetryJob { job, file } => self.retry_job(job, file),
            EngineCommand::AddFile {
                path,
                target,
                bucket,
                key,
            } => self.add(
                vec![path],
                Destination::new(target, bucket, key),
                AddOptions {
                    contents_only: true,
                    ..AddOptions::default()
                },
            ),
            EngineCommand::AddStream {
                source,
                target,
                bucket,
                key,
            } => self.add_stream(source, Place { target, bucket }, key),
            EngineCommand::SetTarget(target) => {
                let resume = self.shared.tuning().resume_on_start;
                self.set_target(target, resume);
            }
            EngineCommand::Pause(id) => self.pause(&id),
            EngineCommand::Resume(id) | EngineCommand::Retry(id) => self.resume(&id),
            EngineCommand::Abort(id) => self.abort(&id),
            EngineCommand::Restart(id) => self.restart(&id),
            EngineCommand::Forget(id) => self.forget(&id),
            EngineCommand::PauseAll => {
                for job in self.jobs.ids(false) {
                    self.pause_job(job);
                }
                for id in self.controls.keys().cloned().collect::<Vec<_>>() {
                    if self.is_file(&id) {
                        self.pause(&id);
                    }
                }
            }
            EngineCommand::ResumeAll => {
                let mut paused = Vec::new();
                for job in self.jobs.ids(true) {
                    self.resume_job(job);
                }
                // Files waiting for their job go on with it.
                let waiting_for_job = |c: &Control| c.saved_for_job.is_some();
                for (id, _) in self.controls.iter().filter(|(_, c)| !waiting_for_job(c)) {
                    if self.board().state(id) == Some(TransferState::Paused) {
                        paused.push(id.clone());
                    }
                }
                for id in paused {
                    self.resume(&id);
                }
            }
            EngineCommand::SetTuning(tuning) => match tuning.validate() {
                Ok(()) => {
                    for registered in self.targets.values() {
                        registered.ctx.set_retry_policy(tuning.retry.clone());
                    }
                    self.shared.set_tuning(tuning);
                }
                Err(message) => self
                    .board()
                    .notice(format!("The new settings were not applied: {message}.")),
            },
            EngineCommand::LoadHistory {
                search,
                offset,
                limit,
            } => self.history.load(search, offset, limit),
            EngineCommand::ClearHistory => self.history.clear(),
            EngineCommand::LoadJobFiles {
                job,
                state,
                after,
                limit,
            } => self.jobs.load_files(job, state, after, limit),
            // Handled by the main loop.
            EngineCommand::Shutdown => {}
        }
    }

    fn is_file(&self, id: &TransferId) -> bool {
        matches!(
            self.controls.get(id).map(|c| &c.source),
            Some(Source::File(_))
        )
    }

    /// Makes `paths` one job (or continues the unfinished job of the same paths and
    /// destination). Without a queue store, files go up on their own and folders wait.
    fn add(&mut self, paths: Vec<PathBuf>, destination: Destination, options: AddOptions) {
        let Some(ctx) = self.ctx(&destination.target) else {
            return;
        };
        if let Err(e) = validate_bucket_name(&destination.bucket) {
            return self.board().notice(format!(
                "Cannot upload to oss://{}: {e}.",
                destination.bucket
            ));
        }
        if !self.jobs.has_store() {
            for path in paths {
                if path.is_dir() {
                    self.board().notice(format!(
                        "{} cannot be added while the queue store is unavailable: folders are queued there.",
                        path.display()
                    ));
                } else {
                    self.add_path(path, &destination, &options);
                }
            }
            return;
        }
        // A path that cannot be sent (gone, or no key can name it) is recorded by the walk
        // as a failed file of the job, with its sentence, like any file of a folder.
        let roots = paths
            .into_iter()
            .map(|path| std::path::absolute(&path).unwrap_or(path))
            .collect();
        let target = &self.targets[&ctx.endpoint_label].target;
        self.jobs.add_job(roots, &destination, &options, target);
    }

    /// A file added while the queue store is unavailable: a transfer of its own.
    fn add_path(&mut self, path: PathBuf, destination: &Destination, options: &AddOptions) {
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                self.board()
                    .notice(format!("Cannot upload {}: {e}.", path.display()));
                return;
            }
        };
        let place = Place {
            target: destination.target.clone(),
            bucket: destination.bucket.clone(),
        };
        match folder_plan::named_file_key(&destination.prefix, &path, options.contents_only) {
            Ok(key) if options.overwrite == OverwritePolicy::Overwrite => {
                self.add_file(path, &place, key, Some(meta.len()))
            }
            Ok(key) => {
                let file = PlannedFile::single(path, key.clone(), &meta);
                let items = std::iter::once(FolderItem::File(file));
                self.add_checked(place, key, options.overwrite, items);
            }
            Err(problem) => self.board().notice(problem),
        }
    }

    /// Lists `prefix` once, then adds each file as a transfer or as Skipped with the
    /// reason `policy` gives, on a blocking thread (the walk and `--checksum` read files).
    /// When the listing fails, a notice says so and each file is looked up on its own.
    fn add_checked(
        &self,
        place: Place,
        prefix: String,
        policy: OverwritePolicy,
        items: impl Iterator<Item = FolderItem> + Send + 'static,
    ) {
        let Some(ctx) = self.ctx(&place.target) else {
            return;
        };
        let internal = self.internal_tx.clone();
        let board = self.board().clone();
        let client = ctx.client.clone();
        let runtime = tokio::runtime::Handle::current();
        let bucket = place.bucket.clone();
        tokio::task::spawn_blocking(move || {
            let existing = match runtime.block_on(ExistingObjects::list(&client, &bucket, &prefix))
            {
                Ok(existing) => existing,
                Err(e) => {
                    board.notice(format!(
                            "Could not list oss://{bucket}/{prefix} to skip what is there ({e}); each file is looked up on its own instead."
                        ));
                    ExistingObjects::unlisted(&bucket)
                }
            };
            for item in items {
                let file = match item {
                    FolderItem::File(file) => file,
                    FolderItem::NotSent(folder_plan::NotSent {
                        reason: problem, ..
                    })
                    | FolderItem::Problem(problem) => {
                        board.notice(problem);
                        continue;
                    }
                };
                let skipped = match existing.skip_reason(&runtime, &client, &file, policy) {
                    Ok(skipped) => skipped,
                    Err(problem) => {
                        tracing::warn!("comparing {} failed: {problem}", file.key);
                        None
                    }
                };
                let found = Internal::Discovered {
                    place: place.clone(),
                    path: file.path,
                    key: file.key,
                    size: file.size,
                    skipped,
                };
                if internal.send(found).is_err() {
                    return;
                }
            }
        });
    }

    /// A file that is not sent: shown as Skipped with `reason`, and forgotten like any
    /// finished transfer. One already running or waiting for the same key stays as it is.
    fn add_skipped(&mut self, place: Place, path: PathBuf, key: String, size: u64, reason: String) {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let id = self.transfer_id(&place.target, &place.bucket, &key, &path);
        if self.controls.contains_key(&id) {
            match self.board().state(&id) {
                Some(TransferState::Done | TransferState::Skipped) => self.remove_control(&id),
                _ => return,
            }
        }
        let transfer = self.show_queued_file(&id, path, &place, key, size);
        self.board()
            .reporter(id.clone())
            .skip_because(TransferError::local(reason));
        self.controls
            .insert(id, Control::idle(Source::File(transfer)));
    }

    fn add_file(&mut self, path: PathBuf, place: &Place, key: String, size: Option<u64>) {
        if self.ctx(&place.target).is_none() {
            return;
        }
        if let Err(e) = validate_bucket_name(&place.bucket).and_then(|()| validate_object_key(&key))
        {
            self.board()
                .notice(format!("Cannot upload {}: {e}.", path.display()));
            return;
        }
        let path = match std::fs::canonicalize(&path) {
            Ok(path) => path,
            Err(e) => {
                self.board()
                    .notice(format!("Cannot upload {}: {e}.", path.display()));
                return;
            }
        };
        let id = self.transfer_id(&place.target, &place.bucket, &key, &path);
        if self.controls.contains_key(&id) {
            // One upload per file and destination: adding it again continues it.
            match self.board().state(&id) {
                Some(TransferState::Done | TransferState::Skipped) => {
                    self.remove_control(&id);
                }
                _ => {
                    if self.controls.get(&id).is_some_and(|c| c.running.is_none()) {
                        self.resume(&id);
                    }
                    return;
                }
            }
        }
        let size = size.or_else(|| std::fs::metadata(&path).ok().map(|m| m.len()));
        let transfer = self.show_queued_file(&id, path, place, key, size.unwrap_or(0));
        self.controls
            .insert(id.clone(), Control::idle(Source::File(transfer)));
        self.start(&id, StartMode::Continue);
    }

    /// Shows a file upload as Queued on the board and returns the transfer it describes.
    fn show_queued_file(
        &self,
        id: &TransferId,
        path: PathBuf,
        place: &Place,
        key: String,
        size: u64,
    ) -> FileTransfer {
        let transfer = FileTransfer {
            id: id.clone(),
            target: place.target.clone(),
            path: path.clone(),
            bucket: place.bucket.clone(),
            key: key.clone(),
            job: None,
            size: Some(size),
        };
        self.board().insert(TransferSnapshot {
            target: place.target.clone(),
            ..TransferSnapshot::queued(
                id.clone(),
                path,
                SourceKind::File,
                place.bucket.clone(),
                key,
                size,
            )
        });
        transfer
    }

    fn add_stream(&mut self, source: StreamSource, place: Place, key: String) {
        let Some(ctx) = self.ctx(&place.target) else {
            return;
        };
        let bucket = place.bucket;
        if let Err(e) = validate_bucket_name(&bucket).and_then(|()| validate_object_key(&key)) {
            self.board()
                .notice(format!("Cannot upload {}: {e}.", source.label()));
            return;
        }
        self.next_generation += 1;
        let id = TransferId(format!(
            "stream-{}-{}",
            std::process::id(),
            self.next_generation
        ));
        self.board().insert(TransferSnapshot {
            target: place.target,
            ..TransferSnapshot::queued(
                id.clone(),
                PathBuf::from(source.label()),
                SourceKind::Stream,
                bucket.clone(),
                key.clone(),
                0,
            )
        });
        let cancel = CancellationToken::new();
        let generation = self.next_generation;
        let internal = self.internal_tx.clone();
        let task_id = id.clone();
        let task_cancel = cancel.clone();
        let handle = tokio::spawn(async move {
            let outcome =
                stream::run_stream(ctx, task_id.clone(), source, bucket, key, task_cancel).await;
            let _ = internal.send(Internal::Finished {
                id: task_id,
                generation,
                outcome,
            });
        });
        self.controls.insert(
            id,
            Control {
                running: Some(Running {
                    cancel,
                    handle,
                    generation,
                }),
                ..Control::idle(Source::Stream)
            },
        );
    }

    fn start(&mut self, id: &TransferId, mode: StartMode) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let Some(control) = self.controls.get_mut(id) else {
            return;
        };
        let Source::File(transfer) = &control.source else {
            return;
        };
        if control.running.is_some() {
            return;
        }
        let Some(ctx) = self.targets.get(&transfer.target).map(|r| r.ctx.clone()) else {
            return;
        };
        let cancel = CancellationToken::new();
        let internal = self.internal_tx.clone();
        let transfer = transfer.clone();
        let task_cancel = cancel.clone();
        // Shown at once, before the task gets to run.
        self.shared
            .board
            .reporter(id.clone())
            .set_state(TransferState::Queued);
        let handle = tokio::spawn(async move {
            let id = transfer.id.clone();
            let outcome = transfer::run_file(ctx, transfer, mode, task_cancel).await;
            let _ = internal.send(Internal::Finished {
                id,
                generation,
                outcome,
            });
        });
        control.started = Instant::now();
        control.pause_requested = false;
        control.running = Some(Running {
            cancel,
            handle,
            generation,
        });
    }

    fn unknown(&self, id: &TransferId) {
        self.board()
            .notice(format!("There is no transfer {id} (it may have finished)."));
    }

    fn pause(&mut self, id: &TransferId) {
        let Some(control) = self.controls.get(id) else {
            return self.unknown(id);
        };
        if let Source::Stream = control.source {
            self.board().notice(
                "A stream cannot be paused: its data would be lost. Let it finish or abort it.",
            );
            return;
        }
        if let Some(control) = self.controls.get_mut(id)
            && let Some(running) = &control.running
        {
            control.pause_requested = true;
            running.cancel.cancel();
        }
    }

    fn resume(&mut self, id: &TransferId) {
        let failed = self.board().state(id) == Some(TransferState::Failed);
        let Some(control) = self.controls.get_mut(id) else {
            return self.unknown(id);
        };
        if control.running.is_some() || !matches!(control.source, Source::File(_)) {
            return;
        }
        if let Some(job) = control.saved_for_job {
            control.pause_requested = false;
            // Its job sends it: resumed, or (finished with it failed) sent again. The
            // job's other paused files stay paused when it hands them out.
            for (other, control) in &mut self.controls {
                if other != id && control.saved_for_job == Some(job) {
                    control.pause_requested = true;
                }
            }
            return match self.jobs.is_finished(job) {
                Some(false) => self.resume_job(job),
                Some(true) | None => self.retry_job(job, None),
            };
        }
        if let Some(job) = control.job
            && failed
        {
            self.jobs.file_retried(job);
        }
        if self.adopt_into_job(id) {
            return;
        }
        self.start(id, StartMode::Continue);
    }

    /// Makes a saved upload of no job (an earlier version's, or one made while the queue
    /// store was unavailable) a job of its one file, as every file upload is; the job
    /// takes the transfer over when it hands the file out. False when it stays on its own.
    fn adopt_into_job(&mut self, id: &TransferId) -> bool {
        let Some(Control {
            source: Source::File(transfer),
            job: None,
            saved_for_job: None,
            ..
        }) = self.controls.get(id)
        else {
            return false;
        };
        // Its job finds it by the id its file gets; a session saved under another id
        // stays on its own rather than be uploaded twice.
        let own_id = self.transfer_id(
            &transfer.target,
            &transfer.bucket,
            &transfer.key,
            &transfer.path,
        );
        // A file gone since is left to fail on its own row, where it was shown.
        if !self.jobs.has_store() || own_id != *id || !transfer.path.exists() {
            return false;
        }
        let destination = Destination::new(&transfer.target, &transfer.bucket, &transfer.key);
        let options = AddOptions {
            contents_only: true,
            ..AddOptions::default()
        };
        self.add(vec![transfer.path.clone()], destination, options);
        true
    }

    fn restart(&mut self, id: &TransferId) {
        let Some(control) = self.controls.get_mut(id) else {
            // A job's file not handed out yet: it starts over when its job sends it.
            if self.jobs.has_store() {
                self.restart_when_claimed.insert(id.clone());
            } else {
                self.unknown(id);
            }
            return;
        };
        if !matches!(control.source, Source::File(_)) {
            return;
        }
        if let Some(running) = &control.running {
            control.restart_requested = true;
            running.cancel.cancel();
            return;
        }
        if self.adopt_into_job(id) {
            self.restart_when_claimed.insert(id.clone());
            return;
        }
        self.start(id, StartMode::Fresh);
    }

    fn abort(&mut self, id: &TransferId) {
        let Some(control) = self.controls.get_mut(id) else {
            return self.unknown(id);
        };
        control.abort_requested = true;
        match &control.running {
            Some(running) => running.cancel.cancel(),
            None => {
                // A job's file paused on its own is still its job's: the job learns how
                // it ended before the upload goes.
                if let Some(job) = control.job
                    && std::mem::take(&mut control.pause_requested)
                {
                    self.job_file_ended(id, job, Outcome::Paused, true);
                }
                self.spawn_abort(id)
            }
        }
    }

    /// Forgets a finished transfer; anything with an upload still on the server is
    /// aborted instead, so nothing is left behind.
    fn forget(&mut self, id: &TransferId) {
        match self.board().state(id) {
            // Finished and let go already (a job's file): the front end may drop it too.
            None => self.board().push_event(EngineEvent::Removed(id.clone())),
            Some(TransferState::Done | TransferState::Skipped) => {
                self.remove_control(id);
                self.board().remove(id);
            }
            Some(TransferState::LockedElsewhere) => {
                // Another process's session: hide it here, leave it alone on disk.
                self.controls.remove(id);
                self.board().remove(id);
            }
            Some(_) => self.abort(id),
        }
    }

    fn remove_control(&mut self, id: &TransferId) {
        if self.controls.remove(id).is_some()
            && let Ok(_lock) = self.shared.store.try_lock(id)
        {
            let _ = self.shared.store.remove(id);
        }
    }

    /// AbortMultipartUpload for the session's upload id, then delete the session.
    fn spawn_abort(&self, id: &TransferId) {
        let internal = self.internal_tx.clone();
        let id = id.clone();
        // A stream's task aborted its own upload when it stopped.
        let ctx = match self.controls.get(&id).map(|c| &c.source) {
            Some(Source::File(transfer)) => {
                self.targets.get(&transfer.target).map(|r| r.ctx.clone())
            }
            _ => None,
        };
        tokio::spawn(async move {
            let result = match ctx {
                Some(ctx) => abort_session(&ctx, &id).await,
                None => Ok(()),
            };
            let _ = internal.send(Internal::AbortDone { id, result });
        });
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Discovered {
                place,
                path,
                key,
                size,
                skipped: None,
            } => self.add_file(path, &place, key, Some(size)),
            Internal::Discovered {
                place,
                path,
                key,
                size,
                skipped: Some(reason),
            } => self.add_skipped(place, path, key, size, reason),
            Internal::Finished {
                id,
                generation,
                outcome,
            } => {
                let Some(control) = self.controls.get_mut(&id) else {
                    return;
                };
                if control.running.as_ref().map(|r| r.generation) != Some(generation) {
                    return;
                }
                control.running = None;
                let restart = std::mem::take(&mut control.restart_requested);
                let job = control.job;
                let aborting = control.abort_requested;
                let held = control.pause_requested
                    && outcome == Outcome::Paused
                    && !aborting
                    && job.is_some_and(|job| !self.jobs.is_paused(job.job));
                if held {
                    // Paused on its own while its job goes on: it stays claimed, so the
                    // job neither sends it again nor ends without it.
                } else if let Some(job) = job
                    && (!restart || aborting)
                {
                    self.job_file_ended(&id, job, outcome, aborting);
                    if self.jobs.is_settled(job.job) {
                        // Its last file: finish it now rather than on the next tick.
                        self.jobs.tick(false);
                    }
                    self.feed_jobs();
                } else if job.is_none() && outcome == Outcome::Done && !aborting {
                    self.history.record(self.history_entry(&id));
                }
                if aborting {
                    self.spawn_abort(&id);
                } else if restart && outcome != Outcome::LockedElsewhere {
                    self.start(&id, StartMode::Fresh);
                }
            }
            Internal::AbortDone { id, result } => match result {
                Ok(()) => {
                    if let Some(Control {
                        saved_for_job: Some(job),
                        source: Source::File(transfer),
                        ..
                    }) = self.controls.get(&id)
                    {
                        self.jobs.saved_file_aborted(*job, transfer.key.clone());
                    }
                    self.remove_control(&id);
                    self.board().remove(&id);
                }
                Err(error) => {
                    if let Some(control) = self.controls.get_mut(&id) {
                        control.abort_requested = false;
                    }
                    self.board().reporter(id).fail(error);
                }
            },
        }
    }

    fn on_job(&mut self, message: JobMessage) {
        let targets = &self.targets;
        let files = self.jobs.apply(message, |label| {
            targets.get(label).map(|r| r.ctx.client.clone())
        });
        for (job, row) in files {
            self.add_job_file(job, row);
        }
        self.feed_jobs();
    }

    fn on_tick(&mut self) {
        self.jobs.tick(false);
        self.history.tick();
        self.feed_jobs();
    }

    /// Claims more files for the running jobs: enough to keep every slot busy, and no
    /// more, so memory follows the slots, not the queue.
    fn feed_jobs(&mut self) {
        let tuning = self.shared.tuning();
        let capacity = 2 * (tuning.max_concurrent_transfers + tuning.max_concurrent_small_files);
        self.jobs.feed(capacity);
    }

    /// Starts a file a job handed over; one known already (a session loaded from disk)
    /// is taken over by the job.
    fn add_job_file(&mut self, job: JobFile, row: FileRow) {
        let Some(place) = self
            .jobs
            .destination(job.job)
            .map(|(target, bucket)| Place {
                target: target.to_owned(),
                bucket: bucket.to_owned(),
            })
        else {
            return;
        };
        let path = row.file.absolute_path;
        let key = row.file.key;
        let id = self.transfer_id(&place.target, &place.bucket, &key, &path);
        let mode = if self.restart_when_claimed.remove(&id) {
            StartMode::Fresh
        } else {
            StartMode::Continue
        };
        if let Some(control) = self.controls.get_mut(&id) {
            control.job = Some(job);
            control.saved_for_job = None;
            if let Source::File(transfer) = &mut control.source {
                transfer.job = Some(job.job);
            }
            self.shared
                .board
                .reporter(id.clone())
                .set_job(Some(job.job));
            if control.abort_requested {
                // Its saved upload is being aborted: the job records it so.
                return self.job_file_ended(&id, job, Outcome::Paused, true);
            }
            if control.pause_requested {
                // Paused on its own: its job holds it until it is resumed.
                return;
            }
            if control.running.is_none() {
                self.start(&id, mode);
            }
            return;
        }
        let mut transfer = self.show_queued_file(&id, path, &place, key, row.file.size);
        transfer.job = Some(job.job);
        self.board().reporter(id.clone()).set_job(Some(job.job));
        self.controls.insert(
            id.clone(),
            Control {
                job: Some(job),
                ..Control::idle(Source::File(transfer))
            },
        );
        self.start(&id, mode);
    }

    /// Tells the job how its file ended. Done and skipped files leave the list (the job
    /// counts them); a paused one goes back to the queue with its session and stays
    /// listed as paused until its job sends it again; a failed one stays, for Retry.
    fn job_file_ended(&mut self, id: &TransferId, job: JobFile, outcome: Outcome, aborted: bool) {
        let row = self.board().snapshot(id);
        let reason = |fallback: &str| {
            row.as_ref()
                .and_then(|r| r.error.as_ref())
                .map_or_else(|| fallback.to_owned(), ToString::to_string)
        };
        let size = row.as_ref().map_or(0, |r| r.size);
        let (state, leaves) = match outcome {
            _ if aborted => (FileState::Failed, false),
            Outcome::Done => (FileState::Done, true),
            Outcome::Skipped => (FileState::Skipped, true),
            Outcome::Paused => (FileState::Pending, true),
            Outcome::Failed | Outcome::LockedElsewhere => (FileState::Failed, false),
        };
        let outcome = match state {
            FileState::Done => FileOutcome::done(job.file, self.history_entry(id)),
            FileState::Pending => FileOutcome::not_done(job.file, state, "paused"),
            FileState::Skipped => FileOutcome::not_done(job.file, state, reason("skipped")),
            _ if aborted => FileOutcome::not_done(job.file, state, ABORTED),
            _ => FileOutcome::not_done(job.file, state, reason("The upload failed.")),
        };
        self.jobs.file_ended(
            job,
            FileEnd {
                outcome,
                bytes: size,
            },
        );
        if state == FileState::Pending
            && let Some(control) = self.controls.get_mut(id)
        {
            control.job = None;
            control.saved_for_job = Some(job.job);
        } else if leaves {
            self.controls.remove(id);
            self.board().retire(id);
        }
    }

    /// The history entry of a transfer that has just finished, from its row.
    fn history_entry(&self, id: &TransferId) -> NewHistory {
        let row = self.board().snapshot(id);
        let started = self.controls.get(id).map(|c| c.started);
        let result = row.as_ref().and_then(|r| r.result.clone());
        NewHistory {
            finished_unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            duration_ms: started.map_or(0, |s| s.elapsed().as_millis() as u64),
            bytes: row.as_ref().map_or(0, |r| r.size),
            etag: result.as_ref().map(|r| r.etag.clone()).unwrap_or_default(),
            crc64_verified: result.is_some_and(|r| r.verified),
            url: row.as_ref().map_or_else(String::new, |r| {
                ObjectRef::new(&r.bucket, &r.key).to_string()
            }),
            target_label: row.as_ref().map(|r| r.target.clone()).unwrap_or_default(),
            local_path: row.map(|r| r.source).unwrap_or_default(),
        }
    }

    fn pause_job(&mut self, job: JobId) {
        if !self.jobs.set_paused(job, true) {
            return self.board().notice(format!("There is no job {}.", job.0));
        }
        let mut held = Vec::new();
        for (id, control) in &mut self.controls {
            let Some(file) = control.job.filter(|f| f.job == job) else {
                continue;
            };
            match &control.running {
                Some(running) => running.cancel.cancel(),
                None if std::mem::take(&mut control.pause_requested) => {
                    held.push((id.clone(), file))
                }
                None => {}
            }
        }
        // Files paused on their own go back to the queue with the rest, so the paused job
        // holds nothing and its lease can go.
        for (id, file) in held {
            self.job_file_ended(&id, file, Outcome::Paused, false);
        }
    }

    fn resume_job(&mut self, job: JobId) {
        if !self.jobs.set_paused(job, false) {
            self.board().notice(format!("There is no job {}.", job.0));
        }
    }

    /// Sends a job's failed files again. The rows of files that failed in this run go,
    /// so the job claims them afresh from the store.
    fn retry_job(&mut self, job: JobId, file: Option<FileId>) {
        let failed: Vec<TransferId> = self
            .controls
            .iter()
            .filter(|(id, c)| {
                c.job
                    .is_some_and(|f| f.job == job && file.is_none_or(|only| only == f.file))
                    && c.running.is_none()
                    && self.board().state(id) == Some(TransferState::Failed)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in failed {
            self.controls.remove(&id);
            self.board().remove(&id);
        }
        self.jobs.retry_failed(job, file);
    }

    async fn shutdown(&mut self) {
        let mut handles = Vec::new();
        for control in self.controls.values_mut() {
            if let Some(running) = control.running.take() {
                running.cancel.cancel();
                handles.push(running.handle);
            }
        }
        let all = futures_util::future::join_all(handles);
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!("some transfers did not stop in time; their sessions are kept");
        }
        // Each stopped task has released its session lock.
        self.controls.clear();
        self.jobs.shutdown();
        self.history.shutdown();
    }
}

async fn abort_session(ctx: &EngineContext, id: &TransferId) -> Result<(), TransferError> {
    let error = TransferError::local;
    let _lock = ctx.store.try_lock(id).map_err(|e| match e {
        SessionError::Locked { .. } => {
            error("Cannot abort: another ossup process is using this upload.".into())
        }
        other => error(format!("Could not lock the session to abort it: {other}.")),
    })?;
    let session = ctx
        .store
        .load(id)
        .map_err(|e| error(format!("Could not read the session to abort it: {e}.")))?;
    let upload_id = match &session {
        // An Initiate cut off before its answer (by this abort, a pause or a crash) may
        // have created an upload all the same: the one only it can have started goes too.
        Some(session) if session.is_initiating() => {
            let sent_at = UNIX_EPOCH + Duration::from_secs(session.created_unix_secs);
            initiate::find_unanswered(ctx, &session.bucket, &session.key, sent_at).await
        }
        Some(session) => Some(session.upload_id.clone()),
        None => None,
    };
    if let (Some(session), Some(upload_id)) = (&session, upload_id) {
        let reporter = ctx.board.reporter(id.clone());
        // Aborting is never paused; it ends by itself when the retries run out.
        let never = CancellationToken::new();
        let aborted = request::request(ctx, &reporter, &never, None, || {
            ctx.client
                .abort_multipart_upload(&session.bucket, &session.key, &upload_id)
        })
        .await;
        match aborted {
            Ok(()) => {}
            Err(request::Failure::Oss(e)) if e.is_code(code::NO_SUCH_UPLOAD) => {}
            Err(request::Failure::Oss(e)) => {
                let object = ObjectRef::new(&session.bucket, &session.key);
                let mut described = request::describe(&e, &object.to_string());
                described.message = format!(
                    "The upload could not be aborted on the server, so its parts remain there: {}",
                    described.message
                );
                return Err(described);
            }
            Err(request::Failure::Cancelled) => {}
        }
    }
    ctx.store
        .remove(id)
        .map_err(|e| error(format!("Could not delete the session: {e}.")))
}

/// Tells the front end about a saved session that cannot be used (and was kept).
fn report_corrupt(board: &Board, corrupt: CorruptSession) {
    tracing::warn!(path = %corrupt.path.display(), "corrupt session: {}", corrupt.error);
    board.push_event(EngineEvent::SessionCorrupt {
        path: corrupt.path,
        moved_to: corrupt.moved_to,
        error: corrupt.error,
    });
}

/// A row for a session loaded from disk: its part map filled from the recorded parts.
fn session_snapshot(session: &Session, state: TransferState) -> TransferSnapshot {
    let part_count = session.plan().map_or(0, |plan| plan.part_count);
    let done: BTreeMap<u32, u64> = session
        .completed_parts
        .iter()
        .map(|p| (p.number, p.size))
        .collect();
    let parts = PartState::map_of(part_count, &done);
    TransferSnapshot {
        part_size: session.part_size,
        state,
        parts,
        bytes_done: done.values().sum(),
        upload_id: (!session.is_initiating()).then(|| session.upload_id.clone()),
        ..TransferSnapshot::queued(
            session.transfer_id(),
            session.local_path.clone(),
            SourceKind::File,
            session.bucket.clone(),
            session.key.clone(),
            session.file.size,
        )
    }
}
