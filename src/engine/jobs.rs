//! Jobs: the files and folders added in one action, walked into the queue store in
//! batches and sent a bounded number of files at a time, so memory follows the files in
//! flight, never the files queued. Every file upload belongs to a job; only streams and
//! files added while the queue store is unavailable go on their own.
//!
//! [`Jobs`] keeps, per job, its counts (mirrored from the store as files move), the lease
//! that makes this process its only driver, and the outcomes waiting for their batched
//! commit. Store work runs on blocking threads and reports back as [`JobMessage`]s on
//! the engine's loop; the engine turns claimed files into transfers and tells [`Jobs`]
//! how each ended.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::command::{AddOptions, Destination, OverwritePolicy};
use super::event::{EngineEvent, JobSnapshot, SourceKind, TransferError, TransferSnapshot};
use super::existing::{ExistingObjects, common_prefix};
use super::folder_plan::{self, FolderItem, FolderWalk, PathFilters, PlannedFile};
use super::progress::Board;
use super::store::{
    FileId, FileOutcome, FileRow, FileState, Job, JobCounts, JobId, JobOptions, JobState, Lease,
    LeaseOwner, NewFile, NewJob, NewTarget, OutcomeBatch, QueueStore, StoreError, WalkState,
};
use super::target::Target;
use crate::protocol::OssClient;

/// Files added to the store in one transaction by the walker.
const WALK_BATCH: usize = 1000;
/// A lease not renewed for this long may be taken over by another process.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often a held lease is renewed.
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// How often a job another process drives is looked at again.
const HELD_LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// What store work on blocking threads reports back to the engine's loop.
pub(crate) enum JobMessage {
    /// A job was read from the store: to run (created, continued or taken over, with its
    /// lease) or only to be shown (`run` false, or `held_by` another process).
    Opened {
        job: Job,
        /// How its target was stored, to find the registered target it runs on.
        target: Box<NewTarget>,
        counts: JobCounts,
        lease: Option<Lease>,
        /// Another live process drives it (no lease was taken).
        held_by: Option<u32>,
        run: bool,
    },
    /// The walker stored a batch (or failed files were put back in the queue); `counts`
    /// is what the batch added when `exact`, else the job's counts read back.
    Walked {
        job: JobId,
        counts: JobCounts,
        exact: bool,
        finished: bool,
        /// Files the filters left out so far in this walk.
        excluded: u64,
    },
    /// Files claimed for sending.
    Claimed { job: JobId, files: Vec<FileRow> },
    /// Outcomes were written (and, at the end of a job, its counts read back).
    Recorded {
        job: JobId,
        recount: Option<JobCounts>,
    },
    /// A store operation failed; the job stops with this sentence.
    Failed { job: Option<JobId>, message: String },
}

/// A job file the engine is sending: which job and which row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobFile {
    pub job: JobId,
    pub file: super::store::FileId,
}

struct RunningJob {
    job: Job,
    /// The label of the registered target it runs on; `None` when no such target is
    /// registered here (it is shown, not run).
    target: Option<String>,
    counts: JobCounts,
    lease: Option<Lease>,
    /// When the lease was last renewed, or for a job another process drives, when this
    /// process last looked whether it still does.
    last_renewed: Instant,
    held_by: Option<u32>,
    walking: bool,
    /// Files the filters left out in this process's walk (not stored: they are not files
    /// of the job).
    excluded: u64,
    /// A claim is on its way back; no second one is sent meanwhile.
    claiming: bool,
    /// Files handed to the engine that have not ended yet.
    claimed: usize,
    outcomes: OutcomeBatch,
    /// Outcomes are being written.
    recording: bool,
    paused: bool,
    /// Stopped by a store failure, with the sentence.
    broken: Option<String>,
    /// The snapshot front ends have not seen yet.
    dirty: bool,
    /// Set to stop the walker early (pause or shutdown).
    stop_walk: Arc<AtomicBool>,
}

impl RunningJob {
    fn snapshot(&self) -> JobSnapshot {
        JobSnapshot {
            id: self.job.id,
            target: self.target.clone().unwrap_or_default(),
            roots: self.job.spec.roots.clone(),
            bucket: self.job.spec.bucket.clone(),
            prefix: self.job.spec.prefix.clone(),
            state: if self.job.state == JobState::Finished {
                JobState::Finished
            } else if self.paused || self.broken.is_some() {
                JobState::Paused
            } else {
                JobState::Active
            },
            walking: self.walking,
            counts: self.counts,
            excluded: self.excluded,
            locked_by: self.held_by,
            problem: self.broken.clone(),
        }
    }

    fn settled(&self) -> bool {
        !self.walking && !self.claiming && self.claimed == 0 && self.counts.pending == 0
    }
}

/// The jobs this engine knows, and the store they live in.
pub(crate) struct Jobs {
    store: Option<Arc<Mutex<QueueStore>>>,
    jobs: BTreeMap<JobId, RunningJob>,
    tx: mpsc::UnboundedSender<JobMessage>,
    owner: LeaseOwner,
    board: Board,
    /// The registered targets, in the form jobs store them.
    targets: Vec<NewTarget>,
}

fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The store, even after a thread panicked holding it (its transactions were rolled back).
pub(super) fn lock(store: &Mutex<QueueStore>) -> MutexGuard<'_, QueueStore> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Jobs {
    pub(crate) fn new(
        store: Option<QueueStore>,
        tx: mpsc::UnboundedSender<JobMessage>,
        board: Board,
    ) -> Self {
        Self {
            store: store.map(|s| Arc::new(Mutex::new(s))),
            jobs: BTreeMap::new(),
            tx,
            owner: LeaseOwner::this_process(),
            board,
            targets: Vec::new(),
        }
    }

    /// Registers a target, so its jobs can run; returns its stored form.
    fn register(&mut self, target: &Target) -> NewTarget {
        let stored = stored_target(target);
        self.targets.retain(|t| t.label != stored.label);
        self.targets.push(stored.clone());
        stored
    }

    /// The registered target a job stored with `stored` runs on: the same label, or for a
    /// job stored when targets were named by their endpoint, the same endpoint.
    fn registered_label(&self, stored: &NewTarget) -> Option<String> {
        self.targets
            .iter()
            .find(|t| t.label == stored.label)
            .or_else(|| {
                (stored.label == stored.endpoint)
                    .then(|| self.targets.iter().find(|t| t.endpoint == stored.endpoint))
                    .flatten()
            })
            .map(|t| t.label.clone())
    }

    /// Whether a queue store is open (folders can be added).
    pub(crate) fn has_store(&self) -> bool {
        self.store.is_some()
    }

    /// The open queue store, for the history to share.
    pub(crate) fn shared_store(&self) -> Option<Arc<Mutex<QueueStore>>> {
        self.store.clone()
    }

    /// Runs `work` on the store on a blocking thread, reporting its message (if any).
    fn with_store(
        &self,
        job: Option<JobId>,
        work: impl FnOnce(&mut QueueStore) -> Result<Option<JobMessage>, StoreError> + Send + 'static,
    ) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let message = match work(&mut lock(&store)) {
                Ok(Some(message)) => message,
                Ok(None) => return,
                Err(error) => JobMessage::Failed {
                    job,
                    message: error.to_string(),
                },
            };
            let _ = tx.send(message);
        });
    }

    /// Registers `target` and shows its unfinished jobs found in the store; with `resume`,
    /// runs the active ones.
    pub(crate) fn load(&mut self, target: &Target, resume: bool) {
        let target = self.register(target);
        let owner = self.owner;
        let tx = self.tx.clone();
        self.with_store(None, move |store| {
            let listing = store.list_unfinished_jobs()?;
            for summary in listing.jobs {
                if summary.job.state == JobState::Finished {
                    continue;
                }
                let Some(stored) = store.target(summary.job.spec.target)? else {
                    continue;
                };
                let legacy = stored.target.label == stored.target.endpoint
                    && stored.target.endpoint == target.endpoint;
                if stored.target.label != target.label && !legacy {
                    continue;
                }
                let run = resume && summary.job.state == JobState::Active;
                if let Some(message) = open_job(store, summary.job, owner, run, None)? {
                    let _ = tx.send(message);
                }
            }
            Ok(listing.unreadable.first().map(|first| JobMessage::Failed {
                job: None,
                message: format!(
                    "{} job(s) in the queue cannot be read and are left as they are: {}.",
                    listing.unreadable.len(),
                    first.reason
                ),
            }))
        });
    }

    /// Adds a job for `roots` (folders, and files named on their own) to `destination`, or
    /// continues the unfinished job with the same roots and destination.
    pub(crate) fn add_job(
        &mut self,
        roots: Vec<PathBuf>,
        destination: &Destination,
        options: &AddOptions,
        target: &Target,
    ) {
        let target = self.register(target);
        let owner = self.owner;
        let spec_options = JobOptions {
            overwrite: store_policy(options.overwrite),
            filters: options.filters.rules().to_vec(),
            contents_only: options.contents_only,
            follow_symlinks: options.follow_symlinks,
            ..JobOptions::default()
        };
        let destination = destination.clone();
        let board = self.board.clone();
        // Jobs this engine drives already: adding the same folders again changes nothing
        // (their files in flight must not go back to the queue).
        let driven: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, r)| r.lease.is_some())
            .map(|(id, _)| *id)
            .collect();
        self.with_store(None, move |store| {
            let target_id = store.find_or_create_target(&target)?;
            let existing = store.find_unfinished_job(
                target_id,
                &roots,
                &destination.bucket,
                &destination.prefix,
            )?;
            let found = match existing {
                Some(id) => Some(store.job(id)?.ok_or_else(|| StoreError::NotFound {
                    what: format!("job {}", id.0),
                })?),
                None => None,
            };
            // Putting a folder's files under its own name or straight under the prefix
            // gives other keys: that is another job, not this one continued.
            let found =
                found.filter(|job| job.spec.options.contents_only == spec_options.contents_only);
            let job = match found {
                Some(job) if driven.contains(&job.id) => {
                    if job.spec.options != spec_options {
                        board.notice(format!(
                            "Job {} is already uploading these folders with its own options; \
                             pause it and add them again to use the new ones.",
                            job.id.0
                        ));
                    }
                    return Ok(None);
                }
                Some(job) => {
                    // Asked for again: what failed is sent again too.
                    store.reset_failed(job.id, None, now_unix_secs())?;
                    store.set_job_state(job.id, JobState::Active)?;
                    let options = (job.spec.options != spec_options).then_some(spec_options);
                    let job = Job {
                        state: JobState::Active,
                        ..job
                    };
                    return open_job(store, job, owner, true, options);
                }
                None => {
                    let spec = NewJob {
                        target: target_id,
                        roots,
                        bucket: destination.bucket.clone(),
                        prefix: destination.prefix.clone(),
                        options: spec_options,
                        created_unix_secs: now_unix_secs(),
                    };
                    let id = store.create_job(&spec)?;
                    store.job(id)?.ok_or_else(|| StoreError::NotFound {
                        what: format!("job {}", id.0),
                    })?
                }
            };
            open_job(store, job, owner, true, None)
        });
    }
}

/// How jobs store a target: its label and endpoint, and the profile as where the
/// credentials are found; never a secret.
fn stored_target(target: &Target) -> NewTarget {
    NewTarget {
        label: target.label.clone(),
        endpoint: target.endpoint().to_owned(),
        region: None,
        profile: target.profile.clone(),
        credentials_ref: target.profile.as_ref().map(|p| format!("profile:{p}")),
    }
}

/// Takes the lease of a job that is to run (putting files a dead driver left in flight
/// back in the queue) and reads its counts. With `new_options` (a re-run of the same
/// folders with other options), the job takes them once its lease is ours, never while
/// another process drives it.
fn open_job(
    store: &mut QueueStore,
    mut job: Job,
    owner: LeaseOwner,
    run: bool,
    new_options: Option<JobOptions>,
) -> Result<Option<JobMessage>, StoreError> {
    let mut lease = None;
    let mut held_by = None;
    if run {
        match store.acquire_lease(job.id, owner, now_unix_secs(), LEASE_TTL) {
            Ok(taken) => {
                store.reset_in_flight(job.id, now_unix_secs())?;
                lease = Some(taken);
                if let Some(options) = new_options {
                    store.change_job_options(job.id, &options)?;
                    job = store.job(job.id)?.ok_or_else(|| StoreError::NotFound {
                        what: format!("job {}", job.id.0),
                    })?;
                }
            }
            Err(StoreError::LeaseHeld { pid, .. }) => held_by = Some(pid),
            Err(other) => return Err(other),
        }
    } else {
        held_by = store.live_lease_holder(job.id, owner, now_unix_secs(), LEASE_TTL)?;
    }
    let counts = store.job_counts(job.id)?;
    let target = store
        .target(job.spec.target)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("the target of job {}", job.id.0),
        })?
        .target;
    Ok(Some(JobMessage::Opened {
        job,
        target: Box::new(target),
        counts,
        lease,
        held_by,
        run,
    }))
}

fn store_policy(policy: OverwritePolicy) -> super::store::OverwritePolicy {
    use super::store::OverwritePolicy as Stored;
    match policy {
        OverwritePolicy::Overwrite => Stored::Overwrite,
        OverwritePolicy::SkipExisting => Stored::SkipExisting,
        OverwritePolicy::SkipUnchanged { checksum } => Stored::SkipUnchanged { checksum },
    }
}

fn engine_policy(policy: super::store::OverwritePolicy) -> OverwritePolicy {
    use super::store::OverwritePolicy as Stored;
    match policy {
        Stored::Overwrite | Stored::Forbid => OverwritePolicy::Overwrite,
        Stored::SkipExisting => OverwritePolicy::SkipExisting,
        Stored::SkipUnchanged { checksum } => OverwritePolicy::SkipUnchanged { checksum },
    }
}

/// The store row of a file the walk found.
fn new_file(item: FolderItem) -> Option<NewFile> {
    match item {
        FolderItem::File(file) => Some(pending_file(file)),
        FolderItem::NotSent(not_sent) => Some(
            NewFile::pending(not_sent.relative, not_sent.path, String::new(), 0, 0).not_sent(
                if not_sent.skipped {
                    FileState::Skipped
                } else {
                    FileState::Failed
                },
                not_sent.reason,
            ),
        ),
        FolderItem::Problem(_) => None,
    }
}

fn pending_file(file: PlannedFile) -> NewFile {
    NewFile::pending(
        file.relative,
        file.path,
        file.key,
        file.size,
        file.mtime_unix_nanos,
    )
}

/// What a batch adds to a job's counts, if every file in it is new.
fn batch_counts(batch: &[NewFile]) -> JobCounts {
    let mut counts = JobCounts::default();
    for file in batch {
        counts.add(file.state, 1, file.size);
    }
    counts
}

fn add_counts(into: &mut JobCounts, more: &JobCounts) {
    into.pending += more.pending;
    into.in_flight += more.in_flight;
    into.done += more.done;
    into.skipped += more.skipped;
    into.failed += more.failed;
    into.bytes_total += more.bytes_total;
    into.bytes_done += more.bytes_done;
}

/// Everything the walker needs, moved onto its blocking thread.
struct Walker {
    store: Arc<Mutex<QueueStore>>,
    job: Job,
    tx: mpsc::UnboundedSender<JobMessage>,
    board: Board,
    stop: Arc<AtomicBool>,
    /// The label of the target the job runs on, for the rows it shows.
    target: String,
    /// With a skip policy: the client to list the destination and the runtime to run it.
    lister: Option<(OssClient, tokio::runtime::Handle)>,
}

impl Walker {
    fn run(self) {
        let spec = &self.job.spec;
        let policy = engine_policy(spec.options.overwrite);
        let mut batch = Vec::with_capacity(WALK_BATCH);
        let mut excluded_before = 0;
        let filters = match PathFilters::new(spec.options.filters.clone()) {
            Ok(filters) => filters,
            Err(problem) => {
                let _ = self.tx.send(JobMessage::Failed {
                    job: Some(self.job.id),
                    message: format!("The job's filters cannot be used: {problem}."),
                });
                return;
            }
        };
        let is_named = |root: &PathBuf| std::fs::metadata(root).map_or(true, |meta| !meta.is_dir());
        let named_key = |root: &PathBuf| {
            folder_plan::named_file_key(&spec.prefix, root, spec.options.contents_only)
        };
        // The files named on their own are listed once for all, under their keys' common
        // prefix.
        let mut named_existing = None;
        let mut folder_existing;
        for root in &spec.roots {
            let named = is_named(root);
            let (mut walk, existing) = if named {
                if named_existing.is_none() && policy != OverwritePolicy::Overwrite {
                    let keys = spec.roots.iter().filter(|r| is_named(r));
                    let keys: Vec<String> = keys.filter_map(|r| named_key(r).ok()).collect();
                    named_existing =
                        self.existing(policy, &common_prefix(keys.iter().map(String::as_str)));
                }
                (
                    FolderWalk::named_file(root, named_key(root)),
                    named_existing.as_ref(),
                )
            } else {
                let key_prefix = if spec.options.contents_only {
                    spec.prefix.clone()
                } else {
                    match folder_plan::folder_key_prefix(&spec.prefix, root) {
                        Ok(prefix) => prefix,
                        Err(problem) => {
                            self.board.notice(problem);
                            continue;
                        }
                    }
                };
                folder_existing = self.existing(policy, &key_prefix);
                let walk = FolderWalk::new(root, &key_prefix)
                    .filtered(filters.clone())
                    .following_symlinks(spec.options.follow_symlinks);
                (walk, folder_existing.as_ref())
            };
            while let Some(item) = walk.next() {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let excluded = excluded_before + walk.excluded();
                let file = match item {
                    FolderItem::Problem(problem) => {
                        self.board.notice(problem);
                        continue;
                    }
                    FolderItem::File(file) => match (existing, &self.lister) {
                        (Some(existing), Some((client, runtime))) => {
                            match existing.skip_reason(runtime, client, &file, policy) {
                                Ok(Some(reason)) => {
                                    if named {
                                        self.show_skipped(&file, &reason);
                                    }
                                    pending_file(file).not_sent(FileState::Skipped, reason)
                                }
                                Ok(None) => pending_file(file),
                                Err(problem) => {
                                    tracing::warn!("comparing {} failed: {problem}", file.key);
                                    pending_file(file)
                                }
                            }
                        }
                        _ => pending_file(file),
                    },
                    other => match new_file(other) {
                        Some(file) => file,
                        None => continue,
                    },
                };
                batch.push(file);
                if batch.len() >= WALK_BATCH && !self.flush(&mut batch, false, excluded) {
                    return;
                }
            }
            excluded_before += walk.excluded();
        }
        self.flush(&mut batch, true, excluded_before);
    }

    /// Shows a file named on its own that is not sent as a finished row, as a file added on
    /// its own always was: the person named it and looks for it.
    fn show_skipped(&self, file: &PlannedFile, reason: &str) {
        let spec = &self.job.spec;
        let id =
            super::session_store::session_id(&self.target, &spec.bucket, &file.key, &file.path);
        self.board.insert(TransferSnapshot {
            target: self.target.clone(),
            job: Some(self.job.id),
            ..TransferSnapshot::queued(
                id.clone(),
                file.path.clone(),
                SourceKind::File,
                spec.bucket.clone(),
                file.key.clone(),
                file.size,
            )
        });
        self.board
            .reporter(id.clone())
            .skip_because(TransferError::local(reason.to_owned()));
        self.board.retire(&id);
    }

    /// What exists under `key_prefix`, listed once, when `policy` skips what is there.
    fn existing(&self, policy: OverwritePolicy, key_prefix: &str) -> Option<ExistingObjects> {
        let (client, runtime) = self.lister.as_ref()?;
        if policy == OverwritePolicy::Overwrite {
            return None;
        }
        let bucket = &self.job.spec.bucket;
        let listed = runtime.block_on(ExistingObjects::list(client, bucket, key_prefix));
        Some(listed.unwrap_or_else(|e| {
            self.board.notice(format!(
                "Could not list oss://{bucket}/{key_prefix} to skip what is there ({e}); each file is looked up on its own instead."
            ));
            ExistingObjects::unlisted(bucket)
        }))
    }

    /// Stores a batch and reports it; false when the store failed (the walk stops).
    fn flush(&self, batch: &mut Vec<NewFile>, finished: bool, excluded: u64) -> bool {
        let job = self.job.id;
        let result = (|| {
            let mut store = lock(&self.store);
            let added = store.insert_files(job, batch, now_unix_secs())?;
            let exact = added == batch.len();
            let counts = if exact {
                batch_counts(batch)
            } else {
                store.job_counts(job)?
            };
            if finished {
                store.set_walk_state(job, WalkState::Walked)?;
            }
            Ok::<_, StoreError>(JobMessage::Walked {
                job,
                counts,
                exact,
                finished,
                excluded,
            })
        })();
        batch.clear();
        let (message, ok) = match result {
            Ok(message) => (message, true),
            Err(error) => (
                JobMessage::Failed {
                    job: Some(job),
                    message: format!("The folder's files could not be queued: {error}."),
                },
                false,
            ),
        };
        let _ = self.tx.send(message);
        ok
    }
}

/// The reason recorded for a file whose upload was aborted.
pub(crate) const ABORTED: &str = "The upload was aborted.";

/// How one file of a job ended, as the engine saw it.
pub(crate) struct FileEnd {
    pub outcome: FileOutcome,
    /// Bytes sent, for the done count.
    pub bytes: u64,
}

impl Jobs {
    /// Applies a message from store work; returns the files the engine should start.
    pub(crate) fn apply(
        &mut self,
        message: JobMessage,
        client_of: impl Fn(&str) -> Option<OssClient>,
    ) -> Vec<(JobFile, FileRow)> {
        match message {
            JobMessage::Opened {
                job,
                target,
                counts,
                lease,
                held_by,
                run,
            } => {
                let id = job.id;
                let walking = job.walk == WalkState::Walking;
                let label = self.registered_label(&target);
                // A job whose target is not registered here is only shown.
                let (run, broken) = match &label {
                    Some(_) => (run, None),
                    None => (
                        false,
                        Some(format!(
                            "Its target {} is not connected here, so it waits.",
                            target.profile.as_deref().unwrap_or(&target.label)
                        )),
                    ),
                };
                if run && let Some(pid) = held_by {
                    self.board.notice(format!(
                        "Job {} is being uploaded by another ossup process (pid {pid}); it goes on there.",
                        id.0
                    ));
                }
                let client = label.as_deref().and_then(&client_of);
                let lease = match (lease, &label) {
                    (Some(lease), None) => {
                        self.with_store(Some(id), move |store| {
                            store.release_lease(lease)?;
                            Ok(None)
                        });
                        None
                    }
                    (lease, _) => lease,
                };
                let running = RunningJob {
                    target: label,
                    counts,
                    lease,
                    last_renewed: Instant::now(),
                    held_by,
                    walking: false,
                    excluded: 0,
                    claiming: false,
                    claimed: 0,
                    outcomes: OutcomeBatch::default(),
                    recording: false,
                    paused: !run || held_by.is_some(),
                    broken,
                    dirty: true,
                    stop_walk: Arc::new(AtomicBool::new(false)),
                    job,
                };
                // A job already running here is never replaced by a look at it (the
                // start-up load racing a resume).
                if !run && self.jobs.get(&id).is_some_and(|r| r.lease.is_some()) {
                    return Vec::new();
                }
                // Front ends hear of the job before any of its files.
                self.board.push_event(EngineEvent::Job(running.snapshot()));
                let running = RunningJob {
                    dirty: false,
                    ..running
                };
                if let Some(old) = self.jobs.insert(id, running) {
                    old.stop_walk.store(true, Ordering::Relaxed);
                }
                if walking
                    && run
                    && held_by.is_none()
                    && let Some(client) = client
                {
                    self.start_walk(id, &client);
                }
            }
            JobMessage::Walked {
                job,
                counts,
                exact,
                finished,
                excluded,
            } => {
                if let Some(running) = self.jobs.get_mut(&job) {
                    running.excluded = excluded;
                    if exact {
                        add_counts(&mut running.counts, &counts);
                    } else {
                        // Read back while files were in flight: the store's pending rows
                        // are right, the files in flight are the ones handed out.
                        running.counts = JobCounts {
                            in_flight: running.claimed as u64,
                            ..counts
                        };
                    }
                    if finished {
                        running.walking = false;
                    }
                    running.dirty = true;
                }
            }
            JobMessage::Claimed { job, files } => {
                let Some(running) = self.jobs.get_mut(&job) else {
                    return Vec::new();
                };
                running.claiming = false;
                let n = files.len() as u64;
                running.counts.pending = running.counts.pending.saturating_sub(n);
                running.counts.in_flight += n;
                running.claimed += files.len();
                running.dirty = true;
                return files
                    .into_iter()
                    .map(|row| (JobFile { job, file: row.id }, row))
                    .collect();
            }
            JobMessage::Recorded { job, recount } => {
                if let Some(running) = self.jobs.get_mut(&job) {
                    running.recording = false;
                    if let Some(counts) = recount {
                        running.counts = counts;
                        running.dirty = true;
                        if counts.all_settled() && running.settled() {
                            running.job.state = JobState::Finished;
                            running.lease = None;
                        }
                    }
                }
            }
            JobMessage::Failed { job, message } => {
                self.board.notice(message.clone());
                if let Some(running) = job.and_then(|job| self.jobs.get_mut(&job)) {
                    running.broken = Some(message);
                    running.walking = false;
                    running.claiming = false;
                    running.recording = false;
                    running.dirty = true;
                }
            }
        }
        Vec::new()
    }

    fn start_walk(&mut self, id: JobId, client: &OssClient) {
        let (Some(store), Some(running)) = (self.store.clone(), self.jobs.get_mut(&id)) else {
            return;
        };
        running.walking = true;
        let lister = (running.job.spec.options.overwrite
            != super::store::OverwritePolicy::Overwrite)
            .then(|| (client.clone(), tokio::runtime::Handle::current()));
        let walker = Walker {
            store,
            job: running.job.clone(),
            tx: self.tx.clone(),
            board: self.board.clone(),
            stop: running.stop_walk.clone(),
            target: running.target.clone().unwrap_or_default(),
            lister,
        };
        tokio::task::spawn_blocking(move || walker.run());
    }

    /// Claims more files for every running job that has used half its `capacity`, up to
    /// `capacity` in flight each, so claims come in batches rather than one per file.
    pub(crate) fn feed(&mut self, capacity: usize) {
        let Some(store) = self.store.clone() else {
            return;
        };
        for (id, running) in &mut self.jobs {
            if running.paused
                || running.broken.is_some()
                || running.claiming
                || running.job.state == JobState::Finished
                || running.claimed > capacity / 2
                || running.counts.pending == 0
            {
                continue;
            }
            running.claiming = true;
            let limit = capacity - running.claimed;
            let job = *id;
            let store = store.clone();
            let tx = self.tx.clone();
            tokio::task::spawn_blocking(move || {
                let message = match lock(&store).claim_pending(job, limit, now_unix_secs()) {
                    Ok(files) => JobMessage::Claimed { job, files },
                    Err(error) => JobMessage::Failed {
                        job: Some(job),
                        message: format!(
                            "The next files could not be taken from the queue: {error}."
                        ),
                    },
                };
                let _ = tx.send(message);
            });
        }
    }

    /// A file the engine was sending ended.
    pub(crate) fn file_ended(&mut self, file: JobFile, end: FileEnd) {
        let Some(running) = self.jobs.get_mut(&file.job) else {
            return;
        };
        running.claimed = running.claimed.saturating_sub(1);
        let counts = &mut running.counts;
        counts.in_flight = counts.in_flight.saturating_sub(1);
        match end.outcome.state {
            FileState::Done => {
                counts.done += 1;
                counts.bytes_done += end.bytes;
            }
            FileState::Skipped => {
                counts.skipped += 1;
                counts.bytes_total = counts.bytes_total.saturating_sub(end.bytes);
            }
            FileState::Failed => counts.failed += 1,
            FileState::Pending | FileState::InFlight => counts.pending += 1,
        }
        running.dirty = true;
        running.outcomes.push(end.outcome, Instant::now());
    }

    /// A failed file of a job is being sent again.
    pub(crate) fn file_retried(&mut self, file: JobFile) {
        if let Some(running) = self.jobs.get_mut(&file.job) {
            running.counts.failed = running.counts.failed.saturating_sub(1);
            running.counts.in_flight += 1;
            running.claimed += 1;
            running.dirty = true;
        }
    }

    /// Pauses (or resumes) a job; returns whether the engine knows it.
    pub(crate) fn set_paused(&mut self, id: JobId, paused: bool) -> bool {
        let Some(running) = self.jobs.get_mut(&id) else {
            if paused || self.store.is_none() {
                return false;
            }
            // Not loaded yet (a resume sent right after start): open it from the store.
            let owner = self.owner;
            self.with_store(Some(id), move |store| {
                let Some(job) = store.job(id)? else {
                    return Err(StoreError::NotFound {
                        what: format!("job {}", id.0),
                    });
                };
                if job.state == JobState::Finished {
                    return Ok(None);
                }
                store.set_job_state(id, JobState::Active)?;
                open_job(store, job, owner, true, None)
            });
            return true;
        };
        if running.job.state == JobState::Finished {
            return true;
        }
        if paused {
            running.paused = true;
            running.stop_walk.store(true, Ordering::Relaxed);
            running.dirty = true;
            // The lease is let go on the tick once the files in flight have stopped.
            self.with_store(Some(id), move |store| {
                store.set_job_state(id, JobState::Paused)?;
                Ok(None)
            });
        } else if running.paused || running.broken.is_some() {
            let job = running.job.clone();
            let owner = self.owner;
            running.stop_walk.store(true, Ordering::Relaxed);
            self.with_store(Some(id), move |store| {
                store.set_job_state(id, JobState::Active)?;
                let job = store.job(job.id)?.unwrap_or(job);
                open_job(store, job, owner, true, None)
            });
        }
        true
    }

    /// Sends a job's failed files again: they go back to the queue and the job runs (again,
    /// when it had finished). Files failed in this run and still in flight are left alone.
    pub(crate) fn retry_failed(&mut self, id: JobId, only: Option<FileId>) {
        let owner = self.owner;
        let board = self.board.clone();
        // Said when every failure is a name the walk could not give a key.
        let nothing_to_retry = move |store: &QueueStore| -> Result<(), StoreError> {
            if only.is_some() {
                board.notice(
                    "Nothing to retry: that file is no longer failed, or its name cannot be \
                     an object key.",
                );
                return Ok(());
            }
            let failed = store.job_counts(id)?.failed;
            board.notice(format!(
                "Nothing to retry: the {failed} failed files have names that cannot be object \
                 keys. Rename them and add the folder again."
            ));
            Ok(())
        };
        if let Some(running) = self.jobs.get(&id)
            && running.lease.is_some()
            && !running.paused
            && running.job.state != JobState::Finished
        {
            // Running here: its files in flight stay as they are; only the failed ones
            // rejoin the queue, and the counts are read back.
            let excluded = running.excluded;
            self.with_store(Some(id), move |store| {
                if store.reset_failed(id, only, now_unix_secs())? == 0 {
                    nothing_to_retry(store)?;
                    return Ok(None);
                }
                Ok(Some(JobMessage::Walked {
                    job: id,
                    counts: store.job_counts(id)?,
                    exact: false,
                    finished: false,
                    excluded,
                }))
            });
            return;
        }
        let finished = self
            .jobs
            .get(&id)
            .is_some_and(|running| running.job.state == JobState::Finished);
        if let Some(running) = self.jobs.get_mut(&id) {
            running.stop_walk.store(true, Ordering::Relaxed);
        }
        self.with_store(Some(id), move |store| {
            let Some(job) = store.job(id)? else {
                return Err(StoreError::NotFound {
                    what: format!("job {}", id.0),
                });
            };
            // A finished job with nothing to send stays finished; a paused one is opened
            // again all the same, as a resume would.
            if store.reset_failed(id, only, now_unix_secs())? == 0 && finished {
                nothing_to_retry(store)?;
                return Ok(None);
            }
            store.set_job_state(id, JobState::Active)?;
            let job = Job {
                state: JobState::Active,
                ..job
            };
            open_job(store, job, owner, true, None)
        });
    }

    /// A saved upload of `id`'s file `key` was aborted before the job handed the file out:
    /// the file is recorded as aborted, so the job does not send it again, and a job left
    /// with nothing to send is finished.
    pub(crate) fn saved_file_aborted(&mut self, id: JobId, key: String) {
        let owner = self.owner;
        let running = self.jobs.get(&id).map(|r| (r.lease.is_some(), r.excluded));
        self.with_store(Some(id), move |store| {
            store.fail_unsent(id, &key, ABORTED, now_unix_secs())?;
            let counts = store.job_counts(id)?;
            if let Some((true, excluded)) = running {
                return Ok(Some(JobMessage::Walked {
                    job: id,
                    counts,
                    exact: false,
                    finished: false,
                    excluded,
                }));
            }
            let Some(mut job) = store.job(id)? else {
                return Ok(None);
            };
            if counts.all_settled() && job.walk == WalkState::Walked {
                store.set_job_state(id, JobState::Finished)?;
                job.state = JobState::Finished;
            }
            open_job(store, job, owner, false, None)
        });
    }

    /// Reads a page of a job's files and answers with [`EngineEvent::JobFilesPage`].
    pub(crate) fn load_files(
        &self,
        job: JobId,
        state: Option<FileState>,
        after: Option<FileId>,
        limit: u32,
    ) {
        let Some(store) = self.store.clone() else {
            return self
                .board
                .notice("The job's files cannot be listed: the queue store is unavailable.");
        };
        let board = self.board.clone();
        tokio::task::spawn_blocking(move || {
            let page = lock(&store).files_page(job, state, after, limit as usize);
            match page {
                Ok(files) => board.push_event(EngineEvent::JobFilesPage {
                    job,
                    state,
                    after,
                    files,
                }),
                Err(error) => board.notice(format!("The job's files could not be read: {error}.")),
            }
        });
    }

    /// Whether the job runs here with nothing left to walk, claim or send.
    pub(crate) fn is_settled(&self, id: JobId) -> bool {
        self.jobs
            .get(&id)
            .is_some_and(|running| !running.paused && running.settled())
    }

    /// Whether the job has finished; `None` when it is not known here.
    pub(crate) fn is_finished(&self, id: JobId) -> Option<bool> {
        self.jobs
            .get(&id)
            .map(|running| running.job.state == JobState::Finished)
    }

    /// Whether the job is paused (or unknown here).
    pub(crate) fn is_paused(&self, id: JobId) -> bool {
        self.jobs.get(&id).is_none_or(|running| running.paused)
    }

    /// The ids of every job that is running (for pause all) or paused (for resume all).
    pub(crate) fn ids(&self, paused: bool) -> Vec<JobId> {
        self.jobs
            .iter()
            .filter(|(_, r)| r.job.state != JobState::Finished && r.paused == paused)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Writes due outcome batches, renews leases, finishes settled jobs and publishes
    /// changed snapshots; called on the engine's tick.
    pub(crate) fn tick(&mut self, force: bool) {
        let now = Instant::now();
        let Some(store) = self.store.clone() else {
            return;
        };
        let mut look_again = Vec::new();
        for (id, running) in &mut self.jobs {
            if running.held_by.is_some()
                && now.duration_since(running.last_renewed) >= HELD_LOOK_INTERVAL
            {
                running.last_renewed = now;
                look_again.push(*id);
            }
        }
        // A job another process drove is read again: once that process has ended (or
        // died) it is shown as it was left, ready to be resumed (its lease taken over).
        for id in look_again {
            let owner = self.owner;
            self.with_store(Some(id), move |store| {
                let Some(job) = store.job(id)? else {
                    return Ok(None);
                };
                open_job(store, job, owner, false, None)
            });
        }
        for (id, running) in &mut self.jobs {
            let id = *id;
            let settled = running.settled() && running.job.state != JobState::Finished;
            // Paused with nothing in flight any more: its lease can go, so another
            // process may take the job (not before: files were still stopping).
            let stopped = running.paused && running.claimed == 0 && !running.claiming;
            let due =
                !running.outcomes.is_empty() && (force || running.outcomes.is_due(now) || settled);
            if (due
                || (settled && running.broken.is_none() && !running.paused)
                || (stopped && running.lease.is_some()))
                && !running.recording
            {
                running.recording = true;
                let outcomes = running.outcomes.take();
                let finish = settled && !running.paused && running.broken.is_none();
                let lease = if finish { running.lease.clone() } else { None };
                let release = if stopped { running.lease.take() } else { None };
                let store = store.clone();
                let tx = self.tx.clone();
                let board = self.board.clone();
                tokio::task::spawn_blocking(move || {
                    let result = (|| {
                        let mut store = lock(&store);
                        store.record_outcomes(&outcomes, now_unix_secs())?;
                        if outcomes.iter().any(|o| o.history.is_some()) {
                            board.push_event(EngineEvent::HistoryChanged);
                        }
                        if let Some(lease) = release {
                            store.release_lease(lease)?;
                        }
                        if !finish {
                            return Ok(None);
                        }
                        let counts = store.job_counts(id)?;
                        if counts.all_settled() {
                            store.set_job_state(id, JobState::Finished)?;
                            if let Some(lease) = lease {
                                store.release_lease(lease)?;
                            }
                        }
                        Ok::<_, StoreError>(Some(counts))
                    })();
                    let message = match result {
                        Ok(recount) => JobMessage::Recorded { job: id, recount },
                        Err(error) => JobMessage::Failed {
                            job: Some(id),
                            message: format!("The job's progress could not be saved: {error}."),
                        },
                    };
                    let _ = tx.send(message);
                });
            }
            if let Some(lease) = running.lease.as_mut()
                && now.duration_since(running.last_renewed) >= LEASE_RENEW_INTERVAL
            {
                running.last_renewed = now;
                let mut renewed = lease.clone();
                let store = store.clone();
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = lock(&store).renew_lease(&mut renewed, now_unix_secs()) {
                        let _ = tx.send(JobMessage::Failed {
                            job: Some(id),
                            message: format!(
                                "This process no longer drives job {}: {error}.",
                                id.0
                            ),
                        });
                    }
                });
            }
            if running.dirty {
                running.dirty = false;
                self.board.push_event(EngineEvent::Job(running.snapshot()));
            }
        }
    }

    /// Writes what is waiting and lets go of every lease, at shutdown.
    pub(crate) fn shutdown(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let mut store = lock(&store);
        for running in self.jobs.values_mut() {
            running.stop_walk.store(true, Ordering::Relaxed);
            let outcomes = running.outcomes.take();
            if let Err(error) = store.record_outcomes(&outcomes, now_unix_secs()) {
                tracing::warn!(
                    "the last outcomes of job {} were not saved: {error}",
                    running.job.id.0
                );
            }
            if let Some(lease) = running.lease.take()
                && let Err(error) = store.release_lease(lease)
            {
                tracing::warn!("{error}");
            }
        }
    }

    /// The job's target label and bucket, for the files the engine starts.
    pub(crate) fn destination(&self, id: JobId) -> Option<(&str, &str)> {
        let running = self.jobs.get(&id)?;
        Some((running.target.as_deref()?, running.job.spec.bucket.as_str()))
    }
}
