//! The window's targets: a configured profile, or the embedded local endpoint when nothing
//! is configured, each with the client that talks to it; and the one engine that uploads
//! to all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, AppPaths, ConfigFile, EnvVars, Overrides, TargetOrigin};
use crate::engine::{Engine, EngineConfig, EngineHandle, Target, Tuning, Waker};
use crate::protocol::OssClient;
use crate::server::{self, RunningServer, ServerConfig};

/// Label under which sessions against the embedded endpoint are saved: its port changes
/// from run to run, its data folder does not.
pub const EMBEDDED_ENDPOINT_LABEL: &str = "ossup-embedded-local";

/// The embedded local endpoint: the `ossup serve` code running in-process on a free
/// 127.0.0.1 port, with its data in the user data dir.
pub struct EmbeddedEndpoint {
    server: Option<RunningServer>,
    /// Hosts the server's tasks; kept apart from the engine, which may stop first.
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
    /// Names the target in the engine, its sessions and jobs.
    pub session_label: String,
}

impl TargetInfo {
    pub fn is_embedded(&self) -> bool {
        self.profile.is_none()
    }
}

/// A resolved target: its client and what the window says of it.
pub struct Connection {
    pub client: OssClient,
    pub target: TargetInfo,
}

impl Connection {
    /// The target as the engine knows it.
    pub fn engine_target(&self) -> Target {
        Target::new(
            self.target.session_label.clone(),
            self.target.profile.clone(),
            self.client.clone(),
        )
    }

    /// What the window calls the target: the profile's name, or "local endpoint".
    pub fn display_name(&self) -> String {
        self.target
            .profile
            .clone()
            .unwrap_or_else(|| String::from("local endpoint"))
    }
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
}

/// Resolves the target and builds its client. Blocking (client setup): call it before the
/// first frame or off the UI thread.
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
                    session_label: resolved.label(),
                };
                (resolved.client, target)
            }
        }
    };
    let client = OssClient::new(client_config).map_err(|e| e.to_string())?;
    Ok(Connection { client, target })
}

/// Starts the window's one engine with its first targets; more are added with
/// `EngineCommand::SetTarget`.
pub fn start_engine(
    paths: &AppPaths,
    tuning: Tuning,
    targets: Vec<Target>,
    waker: Waker,
) -> Result<EngineHandle, String> {
    Engine::spawn(EngineConfig {
        sessions_dir: paths.sessions_dir.clone(),
        queue_dir: paths.queue_dir.clone(),
        targets,
        tuning,
        waker: Some(waker),
    })
    .map_err(|e| e.to_string())
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
