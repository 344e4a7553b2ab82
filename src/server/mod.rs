//! `ossup serve`: a local OSS-compatible endpoint.
//!
//! A real HTTP server storing objects and multipart uploads on disk, answering with the
//! same XML, headers, limits and error codes as OSS, and checking V1/V4 signatures. It is
//! the default target for a newcomer without an account, and the server every test uses.
//!
//! Module map:
//! - [`dispatch`]: the single handler: address, operation, signature, faults, answer. It
//!   depends on the operations; no operation depends on it or on another operation.
//! - [`auth`]: V1 and V4 signatures (header and presigned), STS tokens, clock skew;
//!   [`permissions`]: the RAM action each operation needs and what each key may do.
//! - [`call`]: the per-request context ([`call::App`], [`call::Call`]) operations receive.
//! - [`request`] / [`response`]: reading requests (address, query, operation, page sizes,
//!   upload attributes) and writing answers the OSS way.
//! - [`object_ops`], [`multipart_ops`], [`bucket_ops`], [`lifecycle_ops`]: the operations.
//! - [`store`] with [`meta`]: the disk layout (documented there) and its in-memory index.
//! - [`ingest`] / [`object_reader`]: streaming bodies to disk (with the Content-MD5 check
//!   and cut-connection faults) and back.
//! - [`completion`], [`listing`]: Complete's rules and list paging, free of I/O.
//! - [`connection`]: accepting connections with a cap, header and idle timeouts, a
//!   minimum body rate, and the switch fault injection uses to cut one.
//! - [`payload_hash`]: V4's signed body hash, checked as the body streams in.
//! - [`tls`]: HTTPS from PEM files or a self-made local CA.
//! - [`faults`]: fault injection.
//! - [`cli`]: the `serve` subcommand.

// Handlers return the OSS error they answer with; it is built once per failed request,
// so its size on the error path does not matter.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod bucket_ops;
pub mod call;
pub mod cli;
pub mod clock;
pub mod completion;
pub mod connection;
pub mod dispatch;
pub mod errors;
pub mod faults;
pub mod ingest;
pub mod lifecycle_ops;
pub mod listing;
pub mod meta;
pub mod multipart_ops;
pub mod object_ops;
pub mod object_reader;
pub mod payload_hash;
pub mod permissions;
pub mod request;
pub mod response;
pub mod store;
pub mod tls;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cli::{ServeArgs, serve};
pub use errors::ServerError;
pub use faults::{FailStatus, FaultConfig, FaultHandle, FaultScope};

use call::App;
pub use connection::ConnectionLimits;
use store::Store;

/// Key pair used when none is configured; printed at start-up.
pub const DEFAULT_ACCESS_KEY_ID: &str = "OSSUPLOCALACCESSKEY";
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "ossup-local-secret-key-do-not-use-in-production";
/// Bucket created when none is named.
pub const DEFAULT_BUCKET: &str = "demo";
/// Region answered to V4 requests when none is configured.
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// How often lifecycle rules are applied while the server runs (and once at start).
const LIFECYCLE_SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// How long `shutdown` lets requests in progress finish before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything `ossup serve` needs to start. `Debug` shows key ids, never secrets.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where objects and in-progress uploads live.
    pub data_dir: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Buckets that exist from the start (created if missing).
    pub buckets: Vec<String>,
    /// Accepted `(AccessKeyId, AccessKeySecret)` pairs.
    pub access_keys: Vec<(String, String)>,
    /// What each key id may do (RAM actions); ids not listed may do everything.
    pub permissions: Vec<(String, permissions::Permissions)>,
    /// Region answered to V4 requests (`cn-hangzhou` style); V4 scopes must match it.
    pub region: String,
    /// Fault injection at start; change it later through [`RunningServer::faults`].
    pub faults: FaultConfig,
    /// Timeouts and the connection cap.
    pub limits: ConnectionLimits,
    /// Temporary (STS) keys accepted with their token until they expire; more can be
    /// added while running ([`RunningServer::add_sts_token`]).
    pub sts_tokens: Vec<auth::TemporaryKey>,
    /// Serve HTTPS with this certificate; plain HTTP when `None`.
    pub tls: Option<tls::TlsSource>,
    /// Domains the server answers for: `<bucket>.<domain>` is virtual-hosted and the
    /// domain itself path-style (`oss-test.local`).
    pub virtual_host_domains: Vec<String>,
}

impl ServerConfig {
    /// Defaults for tests and first runs: a free port on 127.0.0.1, the default bucket
    /// and key pair, no faults.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            buckets: vec![DEFAULT_BUCKET.to_owned()],
            access_keys: vec![(
                DEFAULT_ACCESS_KEY_ID.to_owned(),
                DEFAULT_ACCESS_KEY_SECRET.to_owned(),
            )],
            permissions: Vec::new(),
            region: DEFAULT_REGION.to_owned(),
            faults: FaultConfig::default(),
            limits: ConnectionLimits::default(),
            sts_tokens: Vec::new(),
            tls: None,
            virtual_host_domains: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("buckets", &self.buckets)
            .field("access_key_ids", &cli::key_ids(&self.access_keys))
            .field("permissions", &self.permissions)
            .field("region", &self.region)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .field("sts_tokens", &self.sts_tokens)
            .field("tls", &self.tls)
            .field("virtual_host_domains", &self.virtual_host_domains)
            .finish()
    }
}

/// What a server serving HTTPS tells its clients.
#[derive(Debug)]
struct ServingTls {
    /// The CA certificate to trust, when the server made its own.
    ca_file: Option<PathBuf>,
}

/// A server accepting connections; stops on [`RunningServer::shutdown`] or when dropped.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    /// Set when serving HTTPS (boxed: most servers in tests are plain and many are kept).
    tls: Option<Box<ServingTls>>,
    faults: FaultHandle,
    /// What the handlers share: the store (for moving the clock and applying lifecycle
    /// rules on demand in tests) and the keys (temporary ones can be added while running).
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// Applies lifecycle rules at start and every [`LIFECYCLE_SWEEP_INTERVAL`].
    sweeper: JoinHandle<()>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA file written by `--tls-self-signed`, for clients to trust.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.tls.as_ref()?.ca_file.as_deref()
    }

    /// Control over fault injection while the server runs.
    pub fn faults(&self) -> FaultHandle {
        self.faults.clone()
    }

    /// Moves the server's clock forward by `by` and applies the lifecycle rules at the
    /// new time, as the periodic sweep would; returns how many uploads were aborted.
    pub async fn advance_clock(&self, by: Duration) -> usize {
        self.app.store.clock.advance(by);
        self.app.store.apply_lifecycle().await
    }

    /// Accepts a temporary key with its token from now on, until it expires on the
    /// server's clock ([`RunningServer::clock`]).
    pub fn add_sts_token(&self, key: auth::TemporaryKey) {
        self.app.access_keys.add_temporary(key);
    }

    /// The server's clock: the system's, plus what [`RunningServer::advance_clock`] added
    /// (shared, so a test can measure a client's token expiry on it too).
    pub fn clock(&self) -> Arc<clock::Clock> {
        self.app.store.clock.clone()
    }

    /// Stops accepting, lets requests in progress finish for a few seconds, then drops
    /// whatever is left.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }

    /// Serves until `signal` completes, then shuts down as [`RunningServer::shutdown`]
    /// does. Returns early with an error if the server fails by itself.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            () = signal => {
                self.task = Some(task);
                self.shutdown().await;
                Ok(())
            }
            finished = &mut task => match finished {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(ServerError::Stopped(e.to_string())),
                Err(e) => Err(ServerError::Stopped(e.to_string())),
            },
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.sweeper.abort();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Opens the store in `config.data_dir` and starts serving on `config.listen`.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    // Pin down the most common slip early: a secret-less or empty key list.
    if config.access_keys.is_empty() {
        return Err(ServerError::Config(
            "at least one access key is needed".into(),
        ));
    }
    // Before the store opens, so a bad certificate leaves nothing behind.
    let tls = match &config.tls {
        Some(source) => Some(tls::prepare(source, &config.data_dir)?),
        None => None,
    };
    let data_dir = config.data_dir.clone();
    let buckets = config.buckets.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir, &buckets))
        .await
        .map_err(|e| ServerError::Stopped(e.to_string()))??;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;

    let faults = FaultHandle::new(config.faults.clone());
    let store = Arc::new(store);
    let access_keys = auth::KeyStore::new(&config.access_keys);
    for key in &config.sts_tokens {
        access_keys.add_temporary(key.clone());
    }
    let app = Arc::new(App {
        store,
        faults: faults.clone(),
        access_keys,
        permissions: permissions::PermissionTable::new(&config.permissions),
        region: config.region.clone(),
        virtual_host_domains: config
            .virtual_host_domains
            .iter()
            .map(|domain| domain.to_ascii_lowercase())
            .collect(),
    });
    let sweeper = tokio::spawn(sweep_lifecycle(app.store.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let running_app = app.clone();
    let server = connection::serve(
        listener,
        config.limits.clone(),
        tls.as_ref().map(|tls| tls.acceptor.clone()),
        stopped,
        move |info, request| dispatch::handle(app.clone(), info, request),
    );
    let task = tokio::spawn(server);
    let tls = tls.map(|tls| {
        Box::new(ServingTls {
            ca_file: tls.ca_file,
        })
    });
    let running = RunningServer {
        addr,
        tls,
        faults,
        app: running_app,
        stop: Some(stop),
        task: Some(task),
        sweeper,
    };
    tracing::info!("ossup serve listening on {}", running.endpoint());
    Ok(running)
}

/// Applies the lifecycle rules now and then every [`LIFECYCLE_SWEEP_INTERVAL`].
async fn sweep_lifecycle(store: Arc<Store>) {
    let mut ticks = tokio::time::interval(LIFECYCLE_SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        store.apply_lifecycle().await;
    }
}
