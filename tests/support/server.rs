//! An in-process `ossup serve` on 127.0.0.1:0 with its own data directory (in memory
//! under `/dev/shm` where the machine has one, for tests that create thousands of
//! objects), and clients for it with any key pair.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use ossup::protocol::client::{ClientConfig, InitiateOptions};
use ossup::protocol::signing::{RequestTarget, SignatureVersion, sign_headers};
use ossup::protocol::{Credentials, OssClient};
use ossup::server::faults::{FaultConfig, FaultHandle, FaultScope};
use ossup::server::{self, RunningServer, ServerConfig};
use tempfile::TempDir;

pub const BUCKET: &str = server::DEFAULT_BUCKET;
pub const KEY_ID: &str = server::DEFAULT_ACCESS_KEY_ID;
pub const KEY_SECRET: &str = server::DEFAULT_ACCESS_KEY_SECRET;

/// A running server and the directory that holds its data (removed when dropped).
pub struct TestServer {
    pub server: RunningServer,
    pub dir: TempDir,
}

impl TestServer {
    /// The default bucket and key pair, data in a temporary directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// As [`TestServer::start`], with data in memory where the machine allows: every
    /// object the store writes is fsynced, which costs nothing there.
    pub async fn start_in_memory() -> Self {
        Self::start_in(in_memory_temp_dir(), |_| {}).await
    }

    /// A server whose configuration `configure` adjusts (buckets, keys, region, limits).
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::start_in(tempfile::tempdir().expect("server temp dir"), configure).await
    }

    pub async fn start_in(dir: TempDir, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::new(dir.path());
        configure(&mut config);
        let server = server::start(config).await.expect("the server starts");
        Self { server, dir }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn faults(&self) -> FaultHandle {
        self.server.faults()
    }

    /// Delays every UploadPart by 60 ms, so a test can act while parts are in flight.
    pub fn slow_parts(&self) {
        self.faults().set(FaultConfig {
            delay: Duration::from_millis(60),
            scope: FaultScope::UploadPart,
            ..FaultConfig::default()
        });
    }

    /// A client with the default key pair and a 10 s I/O timeout.
    pub fn client(&self) -> OssClient {
        default_client(&self.endpoint())
    }
}

/// A client for `endpoint` with the default key pair and a 10 s I/O timeout.
pub fn default_client(endpoint: &str) -> OssClient {
    client_with(endpoint, KEY_ID, KEY_SECRET)
}

/// A client for `endpoint` with this key pair and a 10 s I/O timeout.
pub fn client_with(endpoint: &str, access_key_id: &str, secret: &str) -> OssClient {
    let mut config = ClientConfig::new(endpoint, Credentials::new(access_key_id, secret));
    config.io_timeout = Duration::from_secs(10);
    OssClient::new(config).expect("the client builds")
}

/// A path-style client for `endpoint` with this key pair, as another program would use it.
pub fn path_style_client(endpoint: &str, access_key_id: &str, secret: &str) -> OssClient {
    let mut config = ClientConfig::new(endpoint, Credentials::new(access_key_id, secret));
    config.path_style = true;
    OssClient::new(config).expect("the client builds")
}

/// Starts a multipart upload of `key` with default options; returns its upload id.
pub async fn initiate(client: &OssClient, bucket: &str, key: &str) -> String {
    client
        .initiate_multipart_upload(bucket, key, &InitiateOptions::default())
        .await
        .unwrap_or_else(|e| panic!("InitiateMultipartUpload {key}: {e}"))
        .upload_id
}

/// A plain HTTP client for requests `OssClient` never sends; `configure` adds timeouts and
/// such. `OssClient::new` installs the TLS provider itself; a bare reqwest client needs it
/// installed first.
pub fn raw_http(
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    configure(reqwest::Client::builder())
        .build()
        .expect("HTTP client")
}

/// Signs a hand-built request for `target` (signature V1, dated now) into `headers`, for
/// requests the client never sends.
pub fn sign_v1(
    credentials: &Credentials,
    target: &RequestTarget<'_>,
    headers: &mut Vec<(String, String)>,
) {
    sign_headers(
        credentials,
        &SignatureVersion::V1,
        target,
        headers,
        SystemTime::now(),
    );
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
    tempfile::tempdir().expect("temp dir")
}
