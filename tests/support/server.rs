//! An in-process `ossup serve` on 127.0.0.1:0 with its own data directory (in memory
//! under `/dev/shm` where the machine has one, for tests that create thousands of
//! objects), and clients for it with any key pair. [`TestServer::start_tls`] serves
//! HTTPS with a self-made CA for [`TLS_DOMAIN`], reached the way real OSS is
//! (`https://demo.oss-test.local:PORT`) through a `resolve` entry and the CA file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use ossup::protocol::client::{ClientConfig, InitiateOptions, NetworkSettings, ResolveEntry};
use ossup::protocol::signing::{RequestTarget, SignatureVersion, sign_headers};
use ossup::protocol::{Credentials, OssClient};
use ossup::server::faults::{FaultConfig, FaultHandle, FaultScope};
use ossup::server::tls::TlsSource;
use ossup::server::{self, RunningServer, ServerConfig};
use tempfile::TempDir;

pub const BUCKET: &str = server::DEFAULT_BUCKET;
pub const KEY_ID: &str = server::DEFAULT_ACCESS_KEY_ID;
pub const KEY_SECRET: &str = server::DEFAULT_ACCESS_KEY_SECRET;
/// The domain a TLS test server answers for: bucket `demo` is `demo.oss-test.local`.
pub const TLS_DOMAIN: &str = "oss-test.local";

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

    /// HTTPS with a certificate for [`TLS_DOMAIN`] and its buckets, signed by a CA the
    /// server writes into its data directory.
    pub async fn start_tls() -> Self {
        Self::start_with(tls_config).await
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// `https://oss-test.local:PORT`: the name clients of a TLS server use.
    pub fn tls_endpoint(&self) -> String {
        format!("https://{TLS_DOMAIN}:{}", self.addr().port())
    }

    /// Trust in the server's CA and `resolve` entries that send `BUCKET.oss-test.local`
    /// of each bucket (and nothing else) to 127.0.0.1, so only virtual-hosted requests
    /// can reach it.
    pub fn tls_network(&self, buckets: &[&str]) -> NetworkSettings {
        let port = self.addr().port();
        NetworkSettings {
            ca_bundle: Some(
                self.server
                    .ca_file()
                    .expect("a TLS test server writes its CA")
                    .to_owned(),
            ),
            proxy: None,
            resolve: buckets
                .iter()
                .map(|bucket| {
                    ResolveEntry::parse(&format!("{bucket}.{TLS_DOMAIN}:{port}:127.0.0.1"))
                        .expect("a resolve entry")
                })
                .collect(),
        }
    }

    /// A virtual-hosted HTTPS client of the default bucket, signing with `signature`.
    pub fn tls_client(&self, signature: SignatureVersion) -> OssClient {
        let mut config =
            ClientConfig::new(self.tls_endpoint(), Credentials::new(KEY_ID, KEY_SECRET));
        config.io_timeout = Duration::from_secs(10);
        config.signature = signature;
        config.network = self.tls_network(&[BUCKET]);
        OssClient::new(config).expect("the client builds")
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

/// What [`TestServer::start_tls`] adds to a server's configuration.
pub fn tls_config(config: &mut ServerConfig) {
    config.tls = Some(TlsSource::SelfSigned {
        domains: vec![TLS_DOMAIN.to_owned()],
    });
    config.virtual_host_domains = vec![TLS_DOMAIN.to_owned()];
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
