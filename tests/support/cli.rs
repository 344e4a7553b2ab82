//! The CLI tests' pieces: a real `ossup serve` child process on 127.0.0.1, a
//! private HOME/XDG tree per test (the user's own dirs are never touched), the `ossup`
//! command pointed at both, and an OssClient to read objects back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ossup::engine::session_store::SessionStore;
use ossup::engine::store::{FileState, OpenOptions, QueueStore};
use ossup::protocol::OssClient;
use ossup::protocol::client::ListUploadsParams;
use tempfile::TempDir;

use super::data::write_file;
use super::engine::{saved_sessions, sessions_in};
use super::server::path_style_client;

pub const BUCKET: &str = "cli-test";
pub const KEY_ID: &str = "CLITESTKEYID";
pub const KEY_SECRET: &str = "cli-test-secret";

/// A running `ossup serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub endpoint: String,
    dir: TempDir,
    extra_args: Vec<String>,
}

impl Server {
    pub fn start(extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("server temp dir");
        let (child, endpoint) = spawn_serve(dir.path(), "127.0.0.1:0", extra_args);
        Self {
            child,
            endpoint,
            dir,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Kills the server (as a crash or an outage would); its data stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data after [`Server::stop`].
    pub fn restart(&mut self) {
        let listen = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_owned();
        let extra: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let (child, endpoint) = spawn_serve(self.dir.path(), &listen, &extra);
        assert_eq!(endpoint, self.endpoint, "restarted on the same port");
        self.child = child;
    }

    /// Where the server keeps its data (and, with `--tls-self-signed`, its CA file).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn client(&self) -> OssClient {
        path_style_client(&self.endpoint, KEY_ID, KEY_SECRET)
    }
}

/// Starts `command` with no stdin and both outputs captured.
pub fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ossup starts")
}

/// Starts `ossup serve` on `dir` and `listen` and waits for the endpoint it prints.
fn spawn_serve(dir: &Path, listen: &str, extra_args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossup"))
        .arg("serve")
        .arg("--dir")
        .arg(dir)
        .args(["--listen", listen, "--bucket", BUCKET])
        .args(["--access-key", &format!("{KEY_ID}:{KEY_SECRET}")])
        .args(extra_args)
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ossup serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(endpoint) = line.strip_prefix("ossup serve listening on ") {
                let _ = tx.send(endpoint.trim().to_owned());
            }
        }
    });
    let endpoint = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("ossup serve prints its endpoint");
    (child, endpoint)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private home for one test: config, sessions and the files to upload.
pub struct Home {
    pub dir: TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("home temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_file(&self) -> PathBuf {
        self.path().join("config").join("ossup").join("config.toml")
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.path().join("data").join("ossup").join("sessions")
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.path().join("data").join("ossup").join("queue")
    }

    /// Every file of every job in this home's queue store: key, state and reason.
    pub fn job_files(&self) -> Vec<(String, FileState, Option<String>)> {
        let Ok((store, _)) = QueueStore::open(&self.queue_dir(), OpenOptions::default()) else {
            return Vec::new();
        };
        let mut files = Vec::new();
        for job in store.list_jobs().map(|l| l.jobs).unwrap_or_default() {
            for row in store
                .files_page(job.job.id, None, None, 10_000)
                .unwrap_or_default()
            {
                files.push((row.file.key, row.file.state, row.file.reason));
            }
        }
        files
    }

    /// Writes `bytes` to `name` under the home's `files/` folder and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        write_file(&self.path().join("files"), name, bytes)
    }

    /// The private runtime directory (where the window's socket lives), created on demand.
    pub fn runtime_dir(&self) -> PathBuf {
        let dir = self.path().join("runtime");
        std::fs::create_dir_all(&dir).expect("runtime dir");
        dir
    }

    /// `ossup` with this home and no `OSS_*` settings inherited from the caller.
    pub fn ossup_bare(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ossup"));
        command
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env_remove("RUST_LOG")
            .current_dir(self.path());
        for name in [
            "OSS_ENDPOINT",
            "OSS_REGION",
            "OSS_ACCESS_KEY_ID",
            "OSS_ACCESS_KEY_SECRET",
            "OSS_SESSION_TOKEN",
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// `ossup` pointed at `server` through the environment.
    pub fn ossup(&self, server: &Server) -> Command {
        let mut command = self.ossup_bare();
        command
            .env("OSS_ENDPOINT", &server.endpoint)
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", KEY_SECRET);
        command
    }

    /// The sessions saved in this home's queue store.
    pub fn sessions(&self) -> SessionStore {
        sessions_in(&self.queue_dir(), &self.sessions_dir())
    }

    /// Completed-part counts of every saved session, by upload id.
    pub fn session_parts(&self) -> Vec<(String, usize)> {
        saved_sessions(&self.queue_dir(), &self.sessions_dir())
            .into_iter()
            .map(|s| (s.upload_id, s.completed_parts.len()))
            .collect()
    }
}

/// Runs a command to its end, with its output captured.
pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("ossup runs")
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One runtime for every request of a test binary: the client's pooled connections are
/// driven by the runtime that opened them, so it must stay alive and running.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// The object's bytes as the server returns them.
pub fn read_object(client: &OssClient, key: &str) -> Vec<u8> {
    runtime()
        .block_on(client.get_object(BUCKET, key, None))
        .unwrap_or_else(|e| panic!("GetObject {key}: {e}"))
        .to_vec()
}

/// Upload ids in progress in the test bucket, as (key, upload id).
pub fn open_uploads(client: &OssClient) -> Vec<(String, String)> {
    let listed = runtime()
        .block_on(client.list_multipart_uploads(BUCKET, &ListUploadsParams::default()))
        .expect("ListMultipartUploads");
    listed
        .uploads
        .into_iter()
        .map(|u| (u.key, u.upload_id))
        .collect()
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}
