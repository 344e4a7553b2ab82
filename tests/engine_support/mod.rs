//! Shared by the engine integration tests: an in-process `ossup serve` on 127.0.0.1, an
//! engine pointed at it, and a watcher that folds events into the rows a front end keeps.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ossup::engine::{
    Engine, EngineConfig, EngineEvent, EngineHandle, RetryPolicy, TransferId, TransferSnapshot,
    TransferState, Tuning,
};
use ossup::protocol::client::ClientConfig;
use ossup::protocol::{Credentials, OssClient};
use ossup::server::{self, RunningServer, ServerConfig};
use tempfile::TempDir;

pub const PART: u64 = 100 * 1024;
pub const BUCKET: &str = server::DEFAULT_BUCKET;

pub struct TestServer {
    pub server: RunningServer,
    _data: TempDir,
}

pub async fn start_server() -> TestServer {
    start_server_in(tempfile::tempdir().unwrap()).await
}

/// A server whose data lives in memory where the machine allows: for tests that create
/// thousands of objects, each of which the store fsyncs.
pub async fn start_server_in_memory() -> TestServer {
    start_server_in(in_memory_temp_dir()).await
}

/// A temporary directory in `/dev/shm` (memory, so fsync costs nothing) where the machine
/// has one, else in the usual temporary directory.
pub fn in_memory_temp_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

async fn start_server_in(data: TempDir) -> TestServer {
    let server = server::start(ServerConfig::new(data.path())).await.unwrap();
    TestServer {
        server,
        _data: data,
    }
}

impl TestServer {
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn client(&self) -> OssClient {
        client_with(
            &self.endpoint(),
            server::DEFAULT_ACCESS_KEY_ID,
            server::DEFAULT_ACCESS_KEY_SECRET,
        )
    }
}

pub fn client_with(endpoint: &str, access_key_id: &str, secret: &str) -> OssClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = ClientConfig::new(endpoint, Credentials::new(access_key_id, secret));
    config.io_timeout = Duration::from_secs(10);
    OssClient::new(config).unwrap()
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

pub fn spawn_engine(client: OssClient, endpoint: &str, sessions: &Path, tuning: Tuning) -> Watcher {
    let handle = Engine::spawn(EngineConfig {
        sessions_dir: sessions.to_path_buf(),
        client,
        endpoint_label: endpoint.to_owned(),
        tuning,
        waker: None,
    })
    .unwrap();
    Watcher {
        handle,
        rows: HashMap::new(),
        events: Vec::new(),
    }
}

/// Deterministic, non-repeating test data.
pub fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Rows as a front end keeps them, plus every event seen.
pub struct Watcher {
    pub handle: EngineHandle,
    pub rows: HashMap<TransferId, TransferSnapshot>,
    pub events: Vec<EngineEvent>,
}

impl Watcher {
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
                self.rows.remove(id);
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
                Err(_) => panic!("timed out waiting for {what}; rows: {:#?}", self.rows),
            }
        }
    }

    pub fn row_for_key(&self, key: &str) -> Option<&TransferSnapshot> {
        self.rows.values().find(|row| row.key == key)
    }

    pub async fn until_key_state(&mut self, key: &str, state: TransferState) -> TransferSnapshot {
        let label = format!("{key} to be {state:?}");
        self.until(&label, |w| {
            w.row_for_key(key).is_some_and(|row| row.state == state)
        })
        .await;
        self.row_for_key(key).cloned().unwrap()
    }

    pub async fn until_all_terminal(&mut self, count: usize) {
        self.until("all transfers to finish", |w| {
            w.rows.len() == count && w.rows.values().all(|row| row.state.is_terminal())
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
