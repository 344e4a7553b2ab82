//! The window's target: a configured profile, or the embedded local endpoint when nothing
//! is configured; with the engine and client that talk to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, AppPaths, ConfigFile, EnvVars, Overrides, TargetOrigin};
use crate::engine::{Engine, EngineConfig, EngineHandle, Waker};
use crate::protocol::OssClient;
use crate::server::{self, RunningServer, ServerConfig};

/// Label under which sessions against the embedded endpoint are saved: its port changes
/// from run to run, its data folder does not.
const EMBEDDED_ENDPOINT_LABEL: &str = "ossup-embedded-local";

/// The embedded local endpoint: the `ossup serve` code running in-process on a free
/// 127.0.0.1 port, with its data in the user data dir.
pub struct EmbeddedEndpoint {
    server: Option<RunningServer>,
    /// Hosts the server's tasks; kept apart from the engine so switching targets does
    /// not stop the endpoint.
    runtime: tokio::runtime::Runtime,
    pub data_dir: PathBuf,
}

impl EmbeddedEndpoint {
    /// Starts the endpoint with the default key pair and the demo bucket. `delay` slows
    /// every request (demos, screenshots).
    pub fn start(data_dir: PathBuf, delay: Option<Duration>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ossup-local-endpoint")
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the local endpoint's runtime: {e}"))?;
        // A free 127.0.0.1 port, the demo bucket and the default key pair.
        let mut config = ServerConfig::new(data_dir.clone());
        if let Some(delay) = delay {
            config.faults.delay = delay;
        }
        let server = runtime
            .block_on(server::start(config))
            .map_err(|e| format!("could not start the local endpoint: {e}"))?;
        Ok(Self {
            server: Some(server),
            runtime,
            data_dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server
            .as_ref()
            .map(RunningServer::endpoint)
            .unwrap_or_default()
    }
}

impl Drop for EmbeddedEndpoint {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// What a connection targets, for the toolbar and the first-run banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// `None`: the embedded local endpoint.
    pub profile: Option<String>,
    pub endpoint: String,
    /// Bucket new transfers go to unless changed in the toolbar.
    pub default_bucket: String,
    /// One sentence saying where uploads go and why.
    pub description: String,
    /// Names the endpoint in the sessions this connection's engine saves.
    pub session_label: String,
}

impl TargetInfo {
    pub fn is_embedded(&self) -> bool {
        self.profile.is_none()
    }
}

/// An engine and a client bound to one target.
pub struct Connection {
    pub engine: EngineHandle,
    pub client: OssClient,
    pub target: TargetInfo,
}

/// What opening a connection needs; cheap to clone so it can move to another thread.
#[derive(Clone)]
pub struct ConnectRequest {
    pub paths: AppPaths,
    pub config: ConfigFile,
    pub env: EnvVars,
    /// A profile name, or `None` for the file's default (the embedded endpoint when there
    /// is none).
    pub profile: Option<String>,
    /// Use the embedded endpoint even if profiles exist.
    pub force_embedded: bool,
    /// Endpoint of the running embedded server, when it runs.
    pub embedded_endpoint: Option<String>,
    pub waker: Waker,
}

/// Resolves the target and starts an engine for it. Blocking (client setup, sessions
/// folder): call it before the first frame or off the UI thread.
pub fn connect(request: ConnectRequest) -> Result<Connection, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let overrides = Overrides {
        profile: request.profile.clone(),
        ..Overrides::default()
    };
    let (client_config, target) = if request.force_embedded {
        embedded_target(&request)?
    } else {
        let resolved = config::resolve(&request.config, &overrides, &request.env)
            .map_err(|e| e.to_string())?;
        match &resolved.origin {
            TargetOrigin::LocalDefault => embedded_target(&request)?,
            origin => {
                let profile = match origin {
                    TargetOrigin::Profile(name) => Some(name.clone()),
                    _ => Some(String::from("environment")),
                };
                let target = TargetInfo {
                    profile,
                    endpoint: resolved.client.endpoint.clone(),
                    default_bucket: resolved.default_bucket.clone().unwrap_or_default(),
                    description: resolved.describe(),
                    session_label: resolved.client.endpoint.clone(),
                };
                (resolved.client, target)
            }
        }
    };
    let client = OssClient::new(client_config).map_err(|e| e.to_string())?;
    let engine = Engine::spawn(EngineConfig {
        sessions_dir: request.paths.sessions_dir.clone(),
        queue_dir: request.paths.queue_dir.clone(),
        client: client.clone(),
        endpoint_label: target.session_label.clone(),
        tuning: request.config.tuning.clone(),
        waker: Some(request.waker.clone()),
    })
    .map_err(|e| e.to_string())?;
    Ok(Connection {
        engine,
        client,
        target,
    })
}

fn embedded_target(
    request: &ConnectRequest,
) -> Result<(crate::protocol::client::ClientConfig, TargetInfo), String> {
    let endpoint = request
        .embedded_endpoint
        .clone()
        .ok_or_else(|| String::from("the local endpoint is not running"))?;
    let mut client = crate::protocol::client::ClientConfig::new(
        endpoint.clone(),
        crate::protocol::Credentials::new(
            server::DEFAULT_ACCESS_KEY_ID,
            server::DEFAULT_ACCESS_KEY_SECRET,
        ),
    );
    client.path_style = true;
    let description = embedded_description(
        &endpoint,
        &request.config.profile_names(),
        &request.paths.server_dir,
    );
    let target = TargetInfo {
        profile: None,
        endpoint,
        default_bucket: server::DEFAULT_BUCKET.to_owned(),
        description,
        session_label: EMBEDDED_ENDPOINT_LABEL.to_owned(),
    };
    Ok((client, target))
}

/// Why uploads go to the embedded endpoint and where they land: with no profile because
/// none is configured, otherwise because it was chosen over the profiles there are.
fn embedded_description(endpoint: &str, profiles: &[String], data_dir: &Path) -> String {
    let place = format!(
        "the built-in local endpoint at {endpoint} (bucket \"{}\", stored in {})",
        server::DEFAULT_BUCKET,
        data_dir.display()
    );
    if profiles.is_empty() {
        format!(
            "No profile is configured, so uploads go to {place}. Add a profile in Settings to \
             upload to Alibaba Cloud OSS."
        )
    } else {
        format!(
            "Uploads go to {place}, not to a profile. Choose {} under Target to upload there.",
            profiles.join(", ")
        )
    }
}

/// A waker that asks `ctx` for a repaint soon, so bursts of engine events cost one frame.
pub fn repaint_waker(ctx: &egui::Context) -> Waker {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint_after(Duration::from_millis(100)))
}
