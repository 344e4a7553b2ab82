//! The engine against the in-process server: tuning for tests, [`EngineFixture`] (server,
//! client, files and sessions folders), and a [`Watcher`] that folds events into the rows
//! a front end keeps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ossup::engine::session_store::{Session, SessionStore};
use ossup::engine::store::{FileRow, FileState, JobId, JobState, OpenOptions, QueueStore};
use ossup::engine::{
    Destination, Engine, EngineCommand, EngineConfig, EngineEvent, EngineHandle, JobSnapshot,
    PartState, RetryPolicy, Target, TransferId, TransferSnapshot, TransferState, Tuning,
};
use ossup::protocol::OssClient;
use ossup::protocol::client::ListUploadsParams;
use ossup::protocol::signing::SignatureVersion;
use ossup::protocol::xml::ListMultipartUploadsResult;
use tempfile::TempDir;

use super::data::write_file;
use super::server::{BUCKET, TestServer};

pub const PART: u64 = 100 * 1024;

/// What every engine test starts from: a server, a client for it, a folder for the files
/// to upload and one for the engine's sessions.
pub struct EngineFixture {
    pub server: TestServer,
    pub client: OssClient,
    pub files: TempDir,
    pub sessions: TempDir,
    pub queue: TempDir,
}

impl EngineFixture {
    pub async fn start() -> Self {
        let server = TestServer::start().await;
        let client = server.client();
        Self::with(server, client)
    }

    /// A fixture around a started server and the client tests sign with.
    fn with(server: TestServer, client: OssClient) -> Self {
        Self {
            server,
            client,
            files: tempfile::tempdir().expect("files temp dir"),
            sessions: tempfile::tempdir().expect("sessions temp dir"),
            queue: tempfile::tempdir().expect("queue temp dir"),
        }
    }

    /// The same over HTTPS and virtual-hosted addressing (see [`TestServer::start_tls`]),
    /// signing with `signature`.
    pub async fn start_tls(signature: SignatureVersion) -> Self {
        let server = TestServer::start_tls().await;
        let client = server.tls_client(signature);
        Self::with(server, client)
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Where an earlier version kept its session files, imported when an engine starts.
    pub fn sessions(&self) -> &Path {
        self.sessions.path()
    }

    /// The sessions saved in the fixture's queue store.
    pub fn saved_sessions(&self) -> Vec<Session> {
        saved_sessions(self.queue.path(), self.sessions.path())
    }

    /// Writes `bytes` to `name` in the files folder.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        write_file(self.files.path(), name, bytes)
    }

    /// An engine with the fixture's client, sessions and the test [`tuning`].
    pub fn engine(&self) -> Watcher {
        self.engine_with(tuning())
    }

    pub fn engine_with(&self, tuning: Tuning) -> Watcher {
        self.engine_as(self.client.clone(), tuning)
    }

    /// An engine that signs with `client` (another key pair, say).
    pub fn engine_as(&self, client: OssClient, tuning: Tuning) -> Watcher {
        spawn_engine(
            client,
            &self.endpoint(),
            self.sessions(),
            self.queue.path(),
            tuning,
        )
    }

    /// The object's bytes as the server returns them.
    pub async fn read_back(&self, key: &str) -> Vec<u8> {
        read_back(&self.client, key).await
    }

    /// The multipart uploads in progress in the bucket (first page).
    pub async fn uploads_in_progress(&self) -> ListMultipartUploadsResult {
        self.client
            .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
            .await
            .expect("ListMultipartUploads")
    }
}

/// Small parts and quick retries so tests move fast on two cores.
pub fn tuning() -> Tuning {
    Tuning {
        part_size: PART,
        parallel_parts_per_transfer: 4,
        parallel_parts_total: 6,
        max_concurrent_transfers: 3,
        single_put_threshold: PART,
        retry: RetryPolicy {
            max_attempts: 12,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            network_probe_interval: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        ..Tuning::default()
    }
}

pub fn spawn_engine(
    client: OssClient,
    endpoint: &str,
    sessions: &Path,
    queue: &Path,
    tuning: Tuning,
) -> Watcher {
    let handle = Engine::spawn(EngineConfig {
        sessions_dir: sessions.to_path_buf(),
        queue_dir: queue.to_path_buf(),
        targets: vec![Target::new(endpoint, None, client)],
        tuning,
        waker: None,
    })
    .unwrap();
    Watcher::new(handle, queue, endpoint)
}

/// Rows as a front end keeps them, plus every event seen.
pub struct Watcher {
    pub handle: EngineHandle,
    pub rows: HashMap<TransferId, TransferSnapshot>,
    /// Rows removed once finished (a job's files), as they last were.
    pub retired: HashMap<TransferId, TransferSnapshot>,
    pub jobs: HashMap<JobId, JobSnapshot>,
    pub events: Vec<EngineEvent>,
    /// The engine's queue store folder.
    pub queue: PathBuf,
    /// The label of the target tests add to.
    pub target: String,
}

impl Watcher {
    /// Watches the engine behind `handle`, whose queue store is in `queue` and whose
    /// target for [`Watcher::add`] is labelled `target`.
    pub fn new(handle: EngineHandle, queue: &Path, target: &str) -> Self {
        Self {
            handle,
            rows: HashMap::new(),
            retired: HashMap::new(),
            jobs: HashMap::new(),
            events: Vec::new(),
            queue: queue.to_path_buf(),
            target: target.to_owned(),
        }
    }

    pub fn send(&self, command: EngineCommand) {
        self.handle
            .send(command)
            .expect("the engine takes commands");
    }

    /// Adds `paths` for the test bucket under `prefix`.
    pub fn add(&self, paths: Vec<PathBuf>, prefix: &str) {
        self.send(EngineCommand::Add {
            paths,
            destination: Destination::new(&self.target, BUCKET, prefix),
            options: Default::default(),
        });
    }

    fn apply(&mut self, event: EngineEvent) {
        match &event {
            EngineEvent::Snapshot(snapshot) => {
                self.rows.insert(snapshot.id.clone(), snapshot.clone());
            }
            EngineEvent::Progress {
                id,
                state,
                bytes_done,
                changed_parts,
                ..
            } => {
                if let Some(row) = self.rows.get_mut(id) {
                    row.state = state.clone();
                    row.bytes_done = *bytes_done;
                    for (number, part) in changed_parts {
                        row.parts[*number as usize - 1] = part.clone();
                    }
                }
            }
            EngineEvent::Removed(id) => {
                if let Some(row) = self.rows.remove(id)
                    && row.state.is_terminal()
                {
                    self.retired.insert(id.clone(), row);
                }
            }
            EngineEvent::Job(job) => {
                self.jobs.insert(job.id, job.clone());
            }
            _ => {}
        }
        self.events.push(event);
    }

    /// Waits (with a deadline) until `done` holds for the rows.
    pub async fn until(&mut self, what: &str, done: impl Fn(&Watcher) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.handle.recv()).await {
                Ok(Some(event)) => self.apply(event),
                Ok(None) => panic!("engine stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; rows: {:#?}; rows let go: {:#?}",
                    self.rows, self.retired
                ),
            }
        }
    }

    /// The row of `key`, or how it ended when it was a job's file and left the list.
    pub fn row_for_key(&self, key: &str) -> Option<&TransferSnapshot> {
        self.rows
            .values()
            .find(|row| row.key == key)
            .or_else(|| self.retired.values().find(|row| row.key == key))
    }

    /// A page of `job`'s files in `state`, read from the queue store through the engine.
    pub async fn job_file_rows(&mut self, job: JobId, state: FileState) -> Vec<FileRow> {
        let seen = self.events.len();
        self.send(EngineCommand::LoadJobFiles {
            job,
            state: Some(state),
            after: None,
            limit: 1000,
        });
        self.until("a page of the job's files", |w| {
            w.events[seen..]
                .iter()
                .any(|e| matches!(e, EngineEvent::JobFilesPage { job: j, .. } if *j == job))
        })
        .await;
        self.events[seen..]
            .iter()
            .find_map(|e| match e {
                EngineEvent::JobFilesPage { job: j, files, .. } if *j == job => Some(files.clone()),
                _ => None,
            })
            .unwrap()
    }

    /// Lets a few parts of `key` finish, pauses it, and returns the paused row.
    pub async fn pause_partway(&mut self, key: &str) -> TransferSnapshot {
        self.until("a few parts done", |w| {
            w.row_for_key(key)
                .is_some_and(|r| r.parts.iter().filter(|p| **p == PartState::Done).count() >= 3)
        })
        .await;
        let id = self.row_for_key(key).unwrap().id.clone();
        self.send(EngineCommand::Pause(id));
        self.until_key_state(key, TransferState::Paused).await
    }

    /// Waits until every job is paused with nothing in flight, its files that were in
    /// flight listed as paused.
    pub async fn until_jobs_paused(&mut self) {
        self.until("the jobs to pause", |w| {
            w.jobs
                .values()
                .all(|j| j.state == JobState::Paused && j.counts.in_flight == 0)
                && w.rows.values().all(|r| r.state == TransferState::Paused)
        })
        .await;
    }

    /// Waits until `count` jobs were reported and all of them finished.
    pub async fn until_jobs_finished(&mut self, count: usize) {
        self.until("the jobs to finish", |w| {
            w.jobs.len() == count && w.jobs.values().all(JobSnapshot::is_finished)
        })
        .await;
    }

    /// Every file of every job in the queue store, by key: its state and reason.
    pub fn job_files(&self) -> Vec<(String, FileState, Option<String>)> {
        let (store, _) =
            QueueStore::open(&self.queue, OpenOptions::default()).expect("queue store");
        let mut files = Vec::new();
        for job in store.list_jobs().expect("jobs").jobs {
            for row in store
                .files_page(job.job.id, None, None, 10_000)
                .expect("files")
            {
                files.push((row.file.key, row.file.state, row.file.reason));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }

    pub async fn until_key_state(&mut self, key: &str, state: TransferState) -> TransferSnapshot {
        let label = format!("{key} to be {state:?}");
        self.until(&label, |w| {
            w.row_for_key(key).is_some_and(|row| row.state == state)
        })
        .await;
        self.row_for_key(key).cloned().unwrap()
    }

    /// Waits until the engine has said that transfer `id` is gone.
    pub async fn until_removed(&mut self, id: &TransferId) {
        self.until("the transfer to be removed", |w| {
            w.events
                .iter()
                .any(|e| matches!(e, EngineEvent::Removed(gone) if gone == id))
        })
        .await;
    }

    pub async fn until_all_terminal(&mut self, count: usize) {
        self.until("all transfers to finish", |w| {
            w.rows.len() + w.retired.len() == count
                && w.rows.values().all(|row| row.state.is_terminal())
        })
        .await;
    }

    /// Shuts the engine down and drains its last events.
    pub async fn stop(mut self) -> Vec<EngineEvent> {
        let mut handle = self.handle;
        tokio::task::spawn_blocking(move || {
            handle.shutdown();
            let rest = handle.drain();
            drop(handle);
            rest
        })
        .await
        .map(|rest| {
            self.events.extend(rest);
            self.events
        })
        .unwrap()
    }
}

pub async fn read_back(client: &OssClient, key: &str) -> Vec<u8> {
    client.get_object(BUCKET, key, None).await.unwrap().to_vec()
}

/// The saved sessions of the queue store in `queue_dir` (with `legacy_dir`'s session files
/// brought in, as any front end does on opening it).
pub fn sessions_in(queue_dir: &Path, legacy_dir: &Path) -> SessionStore {
    SessionStore::open(queue_dir, legacy_dir)
        .expect("the queue store opens")
        .0
}

/// Every usable session saved in the queue store in `queue_dir`.
pub fn saved_sessions(queue_dir: &Path, legacy_dir: &Path) -> Vec<Session> {
    sessions_in(queue_dir, legacy_dir)
        .load_all()
        .expect("sessions load")
        .sessions
}
