//! Profiles and tuning: the TOML file in the user config dir, its validation, and the
//! resolution of flags + environment + profile into a [`ClientConfig`].
//!
//! ```toml
//! default_profile = "work"
//!
//! [profiles.work]
//! endpoint = "https://oss-cn-hangzhou.aliyuncs.com"
//! region = "cn-hangzhou"          # optional; when known, requests are signed with V4
//! bucket = "my-bucket"            # default bucket
//! access_key_id = "LTAI..."
//! access_key_secret = "..."       # optional: OSS_ACCESS_KEY_SECRET may supply it
//! path_style = false
//! # how the profile reaches its endpoint (all optional)
//! signature = "v1"                # keep V1 where V4 would be used
//! ca_bundle = "/etc/ossup/private-ca.pem"
//! proxy = "http://proxy.example.com:3128"
//! resolve = ["my-bucket.oss.example.internal:443:10.0.0.7"]
//!
//! [tuning]
//! part_size = "8MiB"
//! parallel_parts = 4
//! concurrent_transfers = 2
//! bandwidth_limit = "20MiB"       # per second; leave out for no limit
//! forbid_overwrite = false
//! storage_class = "Standard"
//! resume_on_start = false
//! ```
//!
//! The file holds secrets, so it is created with mode 0600 and replaced atomically
//! (temp file → fsync → rename). Values out of range are refused with a message that says
//! what is allowed; nothing is clamped silently.

pub mod credential_process;
pub mod import;
pub mod units;
pub mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::durable;
use crate::protocol::client::network::validate_proxy;
use crate::protocol::client::{ClientConfig, NetworkSettings, ResolveEntry};
use crate::protocol::credentials::Credentials;
use crate::protocol::credentials_provider::CredentialsProvider;
use crate::protocol::object_key::validate_bucket_name;
use crate::protocol::region::region_from_endpoint;
pub use crate::protocol::region::validate_region;
use crate::protocol::signing::SignatureVersion;
use crate::server;

use credential_process::ProcessCredentials;
use units::{UnitError, parse_bytes};

/// Name of the file inside the config dir.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// Where `ossup serve` listens when started without `--listen`; the target when nothing
/// else is configured.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:9090";
pub use crate::engine::tuning::{STORAGE_CLASSES, Tuning, validate_storage_class};

/// Environment variables read by [`EnvVars::from_process`] (Alibaba's own names).
pub const ENV_ENDPOINT: &str = "OSS_ENDPOINT";
pub const ENV_REGION: &str = "OSS_REGION";
pub const ENV_ACCESS_KEY_ID: &str = "OSS_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "OSS_ACCESS_KEY_SECRET";
pub const ENV_SESSION_TOKEN: &str = "OSS_SESSION_TOKEN";
/// The same key pair and token under the names of Alibaba's credentials tools; used only
/// when the `OSS_*` family supplies no access key id (see [`EnvVars::from_lookup`]).
pub const ENV_ALIBABA_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ALIBABA_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_ALIBABA_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// The credential variables of one family: id, secret, token.
const ENV_CREDENTIAL_FAMILIES: [[&str; 3]; 2] = [
    [ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SESSION_TOKEN],
    [
        ENV_ALIBABA_ACCESS_KEY_ID,
        ENV_ALIBABA_ACCESS_KEY_SECRET,
        ENV_ALIBABA_SECURITY_TOKEN,
    ],
];

/// Why configuration could not be loaded, saved or resolved.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("could not find a home directory to keep the configuration and sessions in")]
    NoHomeDirectory,
    #[error("could not read the configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {} is not valid: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("could not write the configuration file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("there is no profile named {name:?}; {}", known_profiles(.known))]
    UnknownProfile { name: String, known: Vec<String> },
    #[error(
        "no access key for {endpoint}: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or add access_key_id and access_key_secret to the profile"
    )]
    MissingCredentials { endpoint: String },
    #[error(
        "the access key {access_key_id} has no secret: set {ENV_ACCESS_KEY_SECRET} or add access_key_secret to the profile"
    )]
    MissingSecret { access_key_id: String },
}

fn known_profiles(known: &[String]) -> String {
    if known.is_empty() {
        "no profiles are configured".to_owned()
    } else {
        format!("known profiles: {}", known.join(", "))
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Where ossup keeps its files, following the platform's conventions (XDG on Linux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPaths {
    /// The profiles and tuning file.
    pub config_file: PathBuf,
    /// Where earlier versions kept one JSON file per resumable upload; read once at start
    /// to bring them into the queue store.
    pub sessions_dir: PathBuf,
    /// The queue store: jobs, their files, the multipart sessions and the history.
    pub queue_dir: PathBuf,
    /// Default storage of the local endpoint (`ossup serve`).
    pub server_dir: PathBuf,
}

impl AppPaths {
    /// The user's directories: `$XDG_CONFIG_HOME/ossup/config.toml`,
    /// `$XDG_DATA_HOME/ossup/{sessions,queue,server}` on Linux.
    pub fn for_user() -> Result<Self, ConfigError> {
        let dirs =
            directories::ProjectDirs::from("", "", "ossup").ok_or(ConfigError::NoHomeDirectory)?;
        Ok(Self {
            config_file: dirs.config_dir().join(CONFIG_FILE_NAME),
            sessions_dir: dirs.data_dir().join("sessions"),
            queue_dir: dirs.data_dir().join("queue"),
            server_dir: dirs.data_dir().join("server"),
        })
    }
}

/// One named target: where to upload and with which key.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `https://oss-cn-hangzhou.aliyuncs.com` or `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Region id (`cn-hangzhou`); when set, requests are signed with V4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Bucket used when a destination names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// May be left out and supplied by `OSS_ACCESS_KEY_SECRET` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<String>,
    /// STS token that goes with a temporary key pair (`STS.…`); it expires with the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
    /// A command printing credentials as JSON (the Alibaba Cloud CLI's `External` mode),
    /// run again before they expire; takes the place of the key fields. See
    /// [`credential_process`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_command: Option<String>,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    #[serde(default)]
    pub path_style: bool,

    // How the profile reaches its endpoint: the signature and the network settings.
    /// `v1` keeps the older signature where V4 would be used (a region set, or inferred
    /// from an Alibaba endpoint); `v4` insists on V4, so a region must be known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureChoice>,
    /// PEM file of certificate authorities to trust besides the system's (a private
    /// cloud, a TLS-inspecting proxy, `ossup serve --tls-self-signed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// `http://[user:password@]host:port`, used instead of the system proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// `HOST:PORT:ADDRESS` entries, as curl's `--resolve`: `HOST` on `PORT` is reached
    /// at `ADDRESS` whatever DNS says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolve: Vec<String>,
}

/// A profile's choice of signature, when the default (V4 with a known region) will not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureChoice {
    V1,
    V4,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field(
                "access_key_secret",
                &self.access_key_secret.as_ref().map(|_| "******"),
            )
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "******"),
            )
            .field("process_command", &self.process_command)
            .field("path_style", &self.path_style)
            .field("signature", &self.signature)
            .field("ca_bundle", &self.ca_bundle)
            .field(
                "proxy",
                &self
                    .proxy
                    .as_deref()
                    .map(crate::protocol::client::network::redact_proxy),
            )
            .field("resolve", &self.resolve)
            .finish()
    }
}

impl Profile {
    /// Checks the profile named `name`; the error names the field and what is allowed.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let field = |f: &str| format!("profiles.{name}.{f}");
        validate_profile_name(name)?;
        validate_endpoint(&self.endpoint).map_err(|m| invalid(field("endpoint"), m))?;
        if let Some(region) = &self.region {
            validate_region(region).map_err(|m| invalid(field("region"), m))?;
        }
        if let Some(bucket) = &self.bucket {
            validate_bucket_name(bucket).map_err(|e| invalid(field("bucket"), e.to_string()))?;
        }
        if let Some(id) = &self.access_key_id
            && (id.trim().is_empty() || id.trim() != id)
        {
            return Err(invalid(
                field("access_key_id"),
                "the access key id is empty or has surrounding spaces",
            ));
        }
        if self.security_token.as_deref().is_some_and(str::is_empty) {
            return Err(invalid(
                field("security_token"),
                "the token is empty; leave it out for a key pair that needs none",
            ));
        }
        if self.access_key_secret.as_deref().is_some_and(str::is_empty) {
            return Err(invalid(
                field("access_key_secret"),
                "the secret is empty; leave it out to take it from OSS_ACCESS_KEY_SECRET",
            ));
        }
        if let Some(command) = &self.process_command {
            credential_process::command_words(command)
                .map_err(|message| invalid(field("process_command"), message))?;
            if self.access_key_id.is_some()
                || self.access_key_secret.is_some()
                || self.security_token.is_some()
            {
                return Err(invalid(
                    field("process_command"),
                    "the command supplies the keys, so leave out access_key_id, access_key_secret and security_token",
                ));
            }
        }
        if self.signature == Some(SignatureChoice::V4) && self.signing_region().is_none() {
            return Err(invalid(
                field("signature"),
                "V4 needs a region: set region, or use an oss-<region>.aliyuncs.com endpoint",
            ));
        }
        self.network(name)?;
        Ok(())
    }

    /// The region requests are signed for: the one set, else the one an Alibaba
    /// endpoint's host names (`oss-cn-hangzhou.aliyuncs.com` → `cn-hangzhou`).
    pub fn signing_region(&self) -> Option<String> {
        self.region
            .clone()
            .or_else(|| region_from_endpoint(&self.endpoint))
    }

    /// The CA bundle, proxy and resolve entries, checked; the error names the field of
    /// the profile `name`. The CA file itself is read when a client is built.
    pub fn network(&self, name: &str) -> Result<NetworkSettings, ConfigError> {
        let field = |f: &str| format!("profiles.{name}.{f}");
        if self
            .ca_bundle
            .as_ref()
            .is_some_and(|path| path.as_os_str().is_empty())
        {
            return Err(invalid(
                field("ca_bundle"),
                "the path is empty; leave it out to trust the system's certificates only",
            ));
        }
        if let Some(proxy) = &self.proxy {
            validate_proxy(proxy).map_err(|m| invalid(field("proxy"), m))?;
        }
        let resolve = self
            .resolve
            .iter()
            .map(|entry| ResolveEntry::parse(entry).map_err(|m| invalid(field("resolve"), m)))
            .collect::<Result<_, _>>()?;
        Ok(NetworkSettings {
            ca_bundle: self.ca_bundle.clone(),
            proxy: self.proxy.clone(),
            resolve,
        })
    }
}

/// Checks a profile name: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn validate_profile_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "profile name",
            format!(
                "{name:?} is not a valid profile name; use 1 to 64 letters, digits, '-', '_' or '.'"
            ),
        ))
    }
}

/// Checks that an endpoint is an `http://` or `https://` URL with a host.
pub fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{endpoint:?} must start with http:// or https://, like https://oss-cn-hangzhou.aliyuncs.com")
        })?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err(format!(
            "{endpoint:?} must be a scheme and a host only, like https://oss-cn-hangzhou.aliyuncs.com"
        ));
    }
    Ok(())
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when none is named; otherwise a profile called `default`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// The `[tuning]` table, read into the engine's own type (see [`tuning_table`]).
    #[serde(default, with = "tuning_table")]
    pub tuning: Tuning,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// The window's theme and notifications; a file without the table gets the defaults.
    #[serde(default, skip_serializing_if = "window::WindowSettings::is_default")]
    pub window: window::WindowSettings,
}

impl ConfigFile {
    /// Reads the file at `path`; a missing file is an empty configuration. The contents
    /// are validated, so a bad value is reported here rather than used.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file = Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            ConfigError::Invalid { field, message } => ConfigError::Parse {
                path: path.to_owned(),
                message: format!("{field}: {message}"),
            },
            other => other,
        })?;
        Ok(file)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let file: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.message().to_owned(),
        })?;
        file.validate()?;
        Ok(file)
    }

    /// Checks every profile, the tuning and the default profile name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, profile) in &self.profiles {
            profile.validate(name)?;
        }
        self.tuning
            .validate()
            .map_err(|message| invalid("tuning", message))?;
        if let Some(name) = &self.default_profile
            && !self.profiles.contains_key(name)
        {
            return Err(invalid(
                "default_profile",
                format!(
                    "names {name:?}, which is not a profile; {}",
                    known_profiles(&self.profile_names())
                ),
            ));
        }
        Ok(())
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// Validates, then writes atomically with mode 0600: temp file → fsync → rename →
    /// fsync of the directory. The directory is created (0700) if needed.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate()?;
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        write_private_atomically(path, text.as_bytes()).map_err(|source| ConfigError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// A warning, as ssh gives for keys, when this file (read from `path`) holds a secret
    /// but other users may read it; `None` when it is private or holds no secret.
    pub fn exposed_secret_warning(&self, path: &Path) -> Option<String> {
        let holds_secret = self
            .profiles
            .values()
            .any(|p| p.access_key_secret.is_some() || p.security_token.is_some());
        if !holds_secret {
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| {
                format!(
                    "the configuration file {} holds an access key secret but other users can read it (mode {mode:04o}); fix it with `chmod 600 {}`",
                    path.display(),
                    path.display()
                )
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// The profile that applies when `requested` (a `--profile` flag) names none.
    pub fn selected_profile_name(&self, requested: Option<&str>) -> Option<String> {
        requested
            .map(str::to_owned)
            .or_else(|| self.default_profile.clone())
            .or_else(|| {
                self.profiles
                    .contains_key("default")
                    .then(|| "default".to_owned())
            })
    }
}

/// Writes the config file durably, readable by its owner only: it may hold secrets.
fn write_private_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    durable::write_file(path, contents, Some(0o600))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The `OSS_*` (or `ALIBABA_CLOUD_*`) environment variables, read once so resolution
/// stays a pure function.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvVars {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub session_token: Option<String>,
}

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVars")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "access_key_secret",
                &self.access_key_secret.as_ref().map(|_| "******"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "******"),
            )
            .finish()
    }
}

impl EnvVars {
    /// Reads the process environment; empty values count as unset.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`; empty values count as unset. The key pair
    /// and token come from one family, never mixed: the `OSS_*` names when
    /// `OSS_ACCESS_KEY_ID` is set, else the `ALIBABA_CLOUD_*` names when
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` is set. With no id in either family, a secret and a
    /// token (which complete a profile's id) are still taken from the first family that
    /// has a secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let family = ENV_CREDENTIAL_FAMILIES
            .iter()
            .find(|[id, _, _]| var(id).is_some())
            .or_else(|| {
                ENV_CREDENTIAL_FAMILIES
                    .iter()
                    .find(|[_, secret, _]| var(secret).is_some())
            })
            .unwrap_or(&ENV_CREDENTIAL_FAMILIES[0]);
        let [id, secret, token] = *family;
        Self {
            endpoint: var(ENV_ENDPOINT),
            region: var(ENV_REGION),
            access_key_id: var(id),
            access_key_secret: var(secret),
            session_token: var(token),
        }
    }
}

/// Command-line choices, which win over everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// Where the resolved target came from, for a one-line explanation to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOrigin {
    /// A profile from the file (possibly with flags or env on top).
    Profile(String),
    /// Flags and/or environment variables only.
    Environment,
    /// Nothing configured: the local endpoint with its default key pair.
    LocalDefault,
}

/// The outcome of resolution: what a client and the engine need.
#[derive(Debug, Clone)]
pub struct Target {
    pub client: ClientConfig,
    /// Bucket to use when a destination names none.
    pub default_bucket: Option<String>,
    pub origin: TargetOrigin,
}

impl Target {
    /// Names this target in sessions and jobs, the same in the window and the CLI: the
    /// profile and its endpoint (so two accounts on one endpoint stay apart), or the
    /// endpoint alone.
    pub fn label(&self) -> String {
        match &self.origin {
            TargetOrigin::Profile(name) => format!("{name}@{}", self.client.endpoint),
            TargetOrigin::Environment | TargetOrigin::LocalDefault => self.client.endpoint.clone(),
        }
    }

    /// One sentence saying where uploads go and why.
    pub fn describe(&self) -> String {
        let signing = match &self.client.signature {
            SignatureVersion::V1 => "V1 signatures".to_owned(),
            SignatureVersion::V4 { region } => format!("V4 signatures for {region}"),
        };
        match &self.origin {
            TargetOrigin::Profile(name) => {
                format!(
                    "Using profile {name:?}: {} with {signing}.",
                    self.client.endpoint
                )
            }
            TargetOrigin::Environment => format!(
                "Using {} from the command line and environment with {signing}.",
                self.client.endpoint
            ),
            TargetOrigin::LocalDefault => format!(
                "No profile or endpoint is configured, so ossup targets the local endpoint {} (start it with `ossup serve`) with its default key and bucket {:?}.",
                self.client.endpoint,
                server::DEFAULT_BUCKET
            ),
        }
    }
}

/// Combines flags, environment and the file. For each setting the first source that has
/// it wins: flag, then `OSS_*` variable, then the selected profile. The access key id and
/// secret come as a pair from the environment when an id is set there (`OSS_*` or else
/// `ALIBABA_CLOUD_*`, see [`EnvVars::from_lookup`]); otherwise from the profile, whose
/// secret may come from `OSS_ACCESS_KEY_SECRET`. V4 signing is used when a region is
/// known (given, or named by an Alibaba endpoint's host) unless the profile asks for V1;
/// V1 otherwise. The profile's network settings apply whatever the endpoint's source. With no endpoint anywhere, the target is the
/// local endpoint and its default key pair.
pub fn resolve(
    file: &ConfigFile,
    overrides: &Overrides,
    env: &EnvVars,
) -> Result<Target, ConfigError> {
    let profile_name = file.selected_profile_name(overrides.profile.as_deref());
    let profile = match &profile_name {
        Some(name) => Some(
            file.profiles
                .get(name)
                .ok_or_else(|| ConfigError::UnknownProfile {
                    name: name.clone(),
                    known: file.profile_names(),
                })?,
        ),
        None => None,
    };
    let endpoint = overrides
        .endpoint
        .clone()
        .or_else(|| env.endpoint.clone())
        .or_else(|| profile.map(|p| p.endpoint.clone()));
    let region = overrides
        .region
        .clone()
        .or_else(|| env.region.clone())
        .or_else(|| profile.and_then(|p| p.region.clone()))
        .or_else(|| endpoint.as_deref().and_then(region_from_endpoint));
    if let Some(region) = &region {
        validate_region(region).map_err(|m| invalid("region", m))?;
    }
    let signature = match (profile.and_then(|p| p.signature), region) {
        (Some(SignatureChoice::V1), _) => SignatureVersion::V1,
        (_, Some(region)) => SignatureVersion::V4 { region },
        (Some(SignatureChoice::V4), None) => {
            return Err(invalid(
                "signature",
                "V4 needs a region: set region, OSS_REGION or --region",
            ));
        }
        (None, None) => SignatureVersion::V1,
    };
    let network = match (profile, &profile_name) {
        (Some(profile), Some(name)) => profile.network(name)?,
        _ => NetworkSettings::default(),
    };

    let Some(endpoint) = endpoint else {
        let credentials = match &env.access_key_id {
            Some(_) => env_credentials(env)?,
            None => Credentials::new(
                server::DEFAULT_ACCESS_KEY_ID,
                server::DEFAULT_ACCESS_KEY_SECRET,
            ),
        };
        let mut client = ClientConfig::new(LOCAL_ENDPOINT, credentials);
        client.signature = signature;
        client.path_style = true;
        client.network = network;
        return Ok(Target {
            client,
            default_bucket: Some(server::DEFAULT_BUCKET.to_owned()),
            origin: TargetOrigin::LocalDefault,
        });
    };
    validate_endpoint(&endpoint).map_err(|m| invalid("endpoint", m))?;
    let endpoint = endpoint.trim_end_matches('/').to_owned();

    let credentials: CredentialsProvider = if env.access_key_id.is_some() {
        env_credentials(env)?.into()
    } else if let Some(command) = profile.and_then(|p| p.process_command.clone()) {
        CredentialsProvider::refreshing(Arc::new(ProcessCredentials::new(command)))
    } else {
        match profile.and_then(|p| p.access_key_id.clone()) {
            Some(id) => {
                let secret = profile
                    .and_then(|p| p.access_key_secret.clone())
                    .or_else(|| env.access_key_secret.clone())
                    .ok_or_else(|| ConfigError::MissingSecret {
                        access_key_id: id.clone(),
                    })?;
                let credentials = Credentials::new(id, secret);
                match profile.and_then(|p| p.security_token.clone()) {
                    Some(token) => credentials.with_security_token(token),
                    None => with_token(credentials, env),
                }
                .into()
            }
            None => return Err(ConfigError::MissingCredentials { endpoint }),
        }
    };
    let mut client = ClientConfig::new(endpoint, credentials);
    client.signature = signature;
    client.path_style = profile.is_some_and(|p| p.path_style);
    client.network = network;
    Ok(Target {
        client,
        default_bucket: profile.and_then(|p| p.bucket.clone()),
        origin: match profile_name {
            Some(name) => TargetOrigin::Profile(name),
            None => TargetOrigin::Environment,
        },
    })
}

fn env_credentials(env: &EnvVars) -> Result<Credentials, ConfigError> {
    let id = env.access_key_id.clone().unwrap_or_default();
    let secret = env
        .access_key_secret
        .clone()
        .ok_or_else(|| ConfigError::MissingSecret {
            access_key_id: id.clone(),
        })?;
    Ok(with_token(Credentials::new(id, secret), env))
}

fn with_token(credentials: Credentials, env: &EnvVars) -> Credentials {
    match &env.session_token {
        Some(token) => credentials.with_security_token(token.clone()),
        None => credentials,
    }
}

/// Serde adapter: the file's `[tuning]` table to and from the engine's [`Tuning`]. The
/// table keeps the names people write (`parallel_parts`, `concurrent_transfers`,
/// `bandwidth_limit`); what it leaves out keeps the engine's default, and the caps the
/// table cannot express follow from it through [`Tuning::set_part_size`] and
/// [`Tuning::set_parallelism`].
mod tuning_table {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Tuning;

    #[derive(Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct TuningTable {
        #[serde(
            with = "super::human_bytes_option",
            skip_serializing_if = "Option::is_none"
        )]
        part_size: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        parallel_parts: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        concurrent_transfers: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        small_files_at_once: Option<usize>,
        /// Per second.
        #[serde(
            with = "super::human_bytes_option",
            skip_serializing_if = "Option::is_none"
        )]
        bandwidth_limit: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        forbid_overwrite: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        storage_class: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_on_start: Option<bool>,
    }

    pub fn serialize<S: Serializer>(tuning: &Tuning, serializer: S) -> Result<S::Ok, S::Error> {
        TuningTable {
            part_size: Some(tuning.part_size),
            parallel_parts: Some(tuning.parallel_parts_per_transfer),
            concurrent_transfers: Some(tuning.max_concurrent_transfers),
            small_files_at_once: Some(tuning.max_concurrent_small_files),
            bandwidth_limit: tuning.bandwidth_limit_bytes_per_sec,
            forbid_overwrite: Some(tuning.forbid_overwrite),
            storage_class: tuning.storage_class.clone(),
            resume_on_start: Some(tuning.resume_on_start),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tuning, D::Error> {
        let table = TuningTable::deserialize(deserializer)?;
        let mut tuning = Tuning::default();
        tuning.set_part_size(table.part_size.unwrap_or(tuning.part_size));
        tuning.set_parallelism(
            table
                .parallel_parts
                .unwrap_or(tuning.parallel_parts_per_transfer),
            table
                .concurrent_transfers
                .unwrap_or(tuning.max_concurrent_transfers),
        );
        tuning.set_small_files(
            table
                .small_files_at_once
                .unwrap_or(tuning.max_concurrent_small_files),
        );
        tuning.bandwidth_limit_bytes_per_sec = table.bandwidth_limit;
        tuning.forbid_overwrite = table.forbid_overwrite.unwrap_or(tuning.forbid_overwrite);
        tuning.storage_class = table.storage_class;
        tuning.resume_on_start = table.resume_on_start.unwrap_or(tuning.resume_on_start);
        Ok(tuning)
    }
}

/// A byte count as the file writes it: `"8MiB"` or a plain integer.
mod human_bytes {
    use serde::Deserialize;

    use super::units::parse_bytes;

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Raw {
        Number(u64),
        Text(String),
    }

    impl Raw {
        pub(super) fn bytes<E: serde::de::Error>(self) -> Result<u64, E> {
            match self {
                Raw::Number(n) => Ok(n),
                Raw::Text(text) => parse_bytes(&text).map_err(E::custom),
            }
        }
    }
}

/// Serde adapter for an optional byte count.
mod human_bytes_option {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::human_bytes::Raw;
    use super::units::format_bytes_exact;

    pub fn serialize<S: Serializer>(bytes: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_str(&format_bytes_exact(*bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        Option::<Raw>::deserialize(deserializer)?
            .map(Raw::bytes)
            .transpose()
    }
}

/// Reads a size given on the command line or in a settings field.
pub fn parse_size_setting(field: &str, text: &str) -> Result<u64, ConfigError> {
    parse_bytes(text).map_err(|e: UnitError| invalid(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(endpoint: &str) -> Profile {
        Profile {
            endpoint: endpoint.to_owned(),
            region: None,
            bucket: Some("photos".into()),
            access_key_id: Some("FILEID".into()),
            access_key_secret: Some("filesecret".into()),
            security_token: None,
            process_command: None,
            path_style: false,
            ..Profile::default()
        }
    }

    fn file_with(name: &str, profile: Profile) -> ConfigFile {
        let mut file = ConfigFile::default();
        file.profiles.insert(name.to_owned(), profile);
        file
    }

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
            default_profile = "work"
            [profiles.work]
            endpoint = "https://oss-cn-hangzhou.aliyuncs.com"
            region = "cn-hangzhou"
            bucket = "my-bucket"
            access_key_id = "LTAIEXAMPLE"
            [tuning]
            part_size = "16MiB"
            parallel_parts = 8
            bandwidth_limit = "20MiB"
            storage_class = "IA"
        "#;
        let file = ConfigFile::parse(text).expect("valid example");
        assert_eq!(file.tuning.part_size, 16 << 20);
        assert_eq!(file.tuning.parallel_parts_per_transfer, 8);
        assert_eq!(
            file.tuning.max_concurrent_transfers,
            Tuning::default().max_concurrent_transfers
        );
        assert_eq!(file.tuning.bandwidth_limit_bytes_per_sec, Some(20 << 20));
        assert_eq!(file.tuning.storage_class.as_deref(), Some("IA"));
        assert_eq!(file.profiles["work"].region.as_deref(), Some("cn-hangzhou"));
        // Round trip through save's serialisation.
        let again = ConfigFile::parse(&toml::to_string_pretty(&file).expect("serialises"))
            .expect("reparses");
        assert_eq!(again, file);
    }

    #[test]
    fn tuning_refuses_bad_values_with_a_message() {
        let cases: [(&str, &str); 7] = [
            ("part_size = \"64KiB\"", "100KiB to 5GiB"),
            ("part_size = \"6GiB\"", "100KiB to 5GiB"),
            ("parallel_parts = 0", "1 to 64"),
            ("concurrent_transfers = 65", "1 to 64"),
            ("bandwidth_limit = 100", "at least 1KiB"),
            ("storage_class = \"standard\"", "Standard, IA"),
            ("part_size = \"8 MeB\"", "unknown size unit"),
        ];
        for (line, expected) in cases {
            let error = ConfigFile::parse(&format!("[tuning]\n{line}\n")).expect_err(line);
            let message = error.to_string();
            assert!(message.contains(expected), "{line}: {message}");
        }
        assert!(ConfigFile::parse("[tuning]\nunknown = 1\n").is_err());
        assert!(ConfigFile::parse("[tuning]\npart_size = \"100KiB\"\n").is_ok());
    }

    #[test]
    fn profiles_are_validated() {
        let bad = [
            (
                "endpoint",
                file_with("p", profile("oss-cn-hangzhou.aliyuncs.com")),
            ),
            (
                "region",
                file_with(
                    "p",
                    Profile {
                        region: Some("oss-cn-hangzhou".into()),
                        ..profile("https://h")
                    },
                ),
            ),
            (
                "bucket",
                file_with(
                    "p",
                    Profile {
                        bucket: Some("Bad_Bucket".into()),
                        ..profile("https://h")
                    },
                ),
            ),
            ("profile name", file_with("has space", profile("https://h"))),
        ];
        for (field, file) in bad {
            let message = file.validate().expect_err(field).to_string();
            assert!(message.contains(field), "{field}: {message}");
        }
        let mut file = file_with("p", profile("https://h"));
        file.default_profile = Some("missing".into());
        assert!(file.validate().is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", file_with("p", profile("https://h")));
        assert!(!shown.contains("filesecret"), "{shown}");
        let env = EnvVars {
            access_key_secret: Some("envsecret".into()),
            session_token: Some("envtoken".into()),
            ..EnvVars::default()
        };
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("envsecret") && !shown.contains("envtoken"),
            "{shown}"
        );
    }

    fn lookup(pairs: &[(&str, &str)]) -> EnvVars {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvVars::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn alibaba_cloud_variables_supply_the_key_when_oss_ones_do_not() {
        let env = lookup(&[
            (ENV_ALIBABA_ACCESS_KEY_ID, "ALIID"),
            (ENV_ALIBABA_ACCESS_KEY_SECRET, "alisecret"),
            (ENV_ALIBABA_SECURITY_TOKEN, "alitoken"),
        ]);
        assert_eq!(env.access_key_id.as_deref(), Some("ALIID"));
        assert_eq!(env.access_key_secret.as_deref(), Some("alisecret"));
        assert_eq!(env.session_token.as_deref(), Some("alitoken"));

        // Both families: OSS_* wins as a whole, nothing is taken from the other.
        let env = lookup(&[
            (ENV_ACCESS_KEY_ID, "OSSID"),
            (ENV_ACCESS_KEY_SECRET, "osssecret"),
            (ENV_ALIBABA_ACCESS_KEY_ID, "ALIID"),
            (ENV_ALIBABA_ACCESS_KEY_SECRET, "alisecret"),
            (ENV_ALIBABA_SECURITY_TOKEN, "alitoken"),
        ]);
        assert_eq!(env.access_key_id.as_deref(), Some("OSSID"));
        assert_eq!(env.access_key_secret.as_deref(), Some("osssecret"));
        assert_eq!(env.session_token, None);

        // An OSS id without its secret is not completed by the other family's secret.
        let env = lookup(&[
            (ENV_ACCESS_KEY_ID, "OSSID"),
            (ENV_ALIBABA_ACCESS_KEY_SECRET, "alisecret"),
        ]);
        assert_eq!(env.access_key_id.as_deref(), Some("OSSID"));
        assert_eq!(env.access_key_secret, None);
        let error = resolve(
            &ConfigFile::default(),
            &Overrides::default(),
            &EnvVars {
                endpoint: Some("https://h".into()),
                ..env
            },
        )
        .expect_err("no secret");
        assert!(
            matches!(error, ConfigError::MissingSecret { .. }),
            "{error}"
        );

        // An empty OSS id counts as unset, so the other family applies whole.
        let env = lookup(&[
            (ENV_ACCESS_KEY_ID, " "),
            (ENV_ACCESS_KEY_SECRET, "osssecret"),
            (ENV_ALIBABA_ACCESS_KEY_ID, "ALIID"),
            (ENV_ALIBABA_ACCESS_KEY_SECRET, "alisecret"),
        ]);
        assert_eq!(env.access_key_id.as_deref(), Some("ALIID"));
        assert_eq!(env.access_key_secret.as_deref(), Some("alisecret"));

        // No id anywhere: a secret alone (for a profile's id) comes with its own token.
        let env = lookup(&[
            (ENV_ALIBABA_ACCESS_KEY_SECRET, "alisecret"),
            (ENV_ALIBABA_SECURITY_TOKEN, "alitoken"),
            (ENV_SESSION_TOKEN, "osstoken"),
        ]);
        assert_eq!(env.access_key_id, None);
        assert_eq!(env.access_key_secret.as_deref(), Some("alisecret"));
        assert_eq!(env.session_token.as_deref(), Some("alitoken"));
    }

    #[test]
    fn nothing_configured_targets_the_local_endpoint() {
        let target = resolve(
            &ConfigFile::default(),
            &Overrides::default(),
            &EnvVars::default(),
        )
        .expect("resolves");
        assert_eq!(target.origin, TargetOrigin::LocalDefault);
        assert_eq!(target.client.endpoint, LOCAL_ENDPOINT);
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_id(),
            server::DEFAULT_ACCESS_KEY_ID
        );
        assert_eq!(target.client.signature, SignatureVersion::V1);
        assert_eq!(
            target.default_bucket.as_deref(),
            Some(server::DEFAULT_BUCKET)
        );
        assert!(target.describe().contains("ossup serve"));
    }

    #[test]
    fn a_process_command_takes_the_place_of_the_keys() {
        let command = Profile {
            process_command: Some("get-sts --role 'up loader'".into()),
            ..profile("https://file.example.com")
        };
        let error = command.validate("work").expect_err("keys and a command");
        assert!(error.to_string().contains("process_command"), "{error}");
        let command = Profile {
            access_key_id: None,
            access_key_secret: None,
            ..command
        };
        command.validate("work").expect("a command alone");
        let unclosed = Profile {
            process_command: Some("get-sts 'open".into()),
            ..command.clone()
        };
        assert!(unclosed.validate("work").is_err());
        let file = file_with("default", command);
        let target = resolve(&file, &Overrides::default(), &EnvVars::default()).expect("resolves");
        assert!(target.client.credentials.refreshes());
        let shown = format!("{target:?}");
        assert!(shown.contains("the command `get-sts`"), "{shown}");
        // Keys in the environment still win.
        let env = EnvVars {
            access_key_id: Some("ENVID".into()),
            access_key_secret: Some("envsecret".into()),
            ..EnvVars::default()
        };
        let target = resolve(&file, &Overrides::default(), &env).expect("resolves");
        assert!(!target.client.credentials.refreshes());
    }

    #[test]
    fn flags_and_env_win_over_the_profile() {
        let file = file_with("default", profile("https://file.example.com"));
        // Profile alone.
        let target = resolve(&file, &Overrides::default(), &EnvVars::default()).expect("resolves");
        assert_eq!(target.origin, TargetOrigin::Profile("default".into()));
        assert_eq!(target.client.endpoint, "https://file.example.com");
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_id(),
            "FILEID"
        );
        assert_eq!(target.client.signature, SignatureVersion::V1);
        assert_eq!(target.default_bucket.as_deref(), Some("photos"));

        // Env over profile, for the endpoint, region and key pair.
        let env = EnvVars {
            endpoint: Some("https://env.example.com".into()),
            region: Some("cn-shanghai".into()),
            access_key_id: Some("ENVID".into()),
            access_key_secret: Some("envsecret".into()),
            session_token: Some("token".into()),
        };
        let target = resolve(&file, &Overrides::default(), &env).expect("resolves");
        assert_eq!(target.client.endpoint, "https://env.example.com");
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_id(),
            "ENVID"
        );
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_secret(),
            "envsecret"
        );
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .security_token(),
            Some("token")
        );
        assert_eq!(
            target.client.signature,
            SignatureVersion::V4 {
                region: "cn-shanghai".into()
            }
        );

        // Flags over env.
        let flags = Overrides {
            profile: None,
            endpoint: Some("http://127.0.0.1:1234/".into()),
            region: Some("cn-beijing".into()),
        };
        let target = resolve(&file, &flags, &env).expect("resolves");
        assert_eq!(target.client.endpoint, "http://127.0.0.1:1234");
        assert_eq!(
            target.client.signature,
            SignatureVersion::V4 {
                region: "cn-beijing".into()
            }
        );
    }

    #[test]
    fn an_alibaba_endpoint_names_its_region_so_v4_is_the_default_and_v1_stays_available() {
        let signature_for = |profile: Profile| {
            resolve(
                &file_with("default", profile),
                &Overrides::default(),
                &EnvVars::default(),
            )
            .map(|target| target.client.signature)
        };
        assert_eq!(
            signature_for(profile("https://oss-cn-shanghai.aliyuncs.com")).unwrap(),
            SignatureVersion::V4 {
                region: "cn-shanghai".into()
            }
        );
        assert_eq!(
            signature_for(profile("https://oss-eu-west-1-internal.aliyuncs.com")).unwrap(),
            SignatureVersion::V4 {
                region: "eu-west-1".into()
            }
        );
        // A region set wins over the host's; V1 per profile wins over both.
        let explicit = Profile {
            region: Some("cn-beijing".into()),
            ..profile("https://oss-cn-shanghai.aliyuncs.com")
        };
        assert_eq!(
            signature_for(explicit.clone()).unwrap(),
            SignatureVersion::V4 {
                region: "cn-beijing".into()
            }
        );
        let v1 = Profile {
            signature: Some(SignatureChoice::V1),
            ..explicit
        };
        assert_eq!(signature_for(v1).unwrap(), SignatureVersion::V1);
        // Acceleration serves every region, so it names none.
        assert_eq!(
            signature_for(profile("https://oss-accelerate.aliyuncs.com")).unwrap(),
            SignatureVersion::V1
        );
        let v4_without_region = Profile {
            signature: Some(SignatureChoice::V4),
            ..profile("https://oss.example.com")
        };
        let message = file_with("p", v4_without_region)
            .validate()
            .expect_err("V4 without a region")
            .to_string();
        assert!(message.contains("profiles.p.signature"), "{message}");
    }

    #[test]
    fn network_settings_are_read_checked_and_reach_the_client() {
        let text = r#"
            [profiles.default]
            endpoint = "https://oss-test.local:9443"
            access_key_id = "ID"
            access_key_secret = "secret"
            signature = "v1"
            ca_bundle = "/etc/ossup/ca.pem"
            proxy = "http://me:hunter2@proxy.example.com:3128"
            resolve = ["demo.oss-test.local:9443:127.0.0.1"]
        "#;
        let file = ConfigFile::parse(text).expect("valid");
        assert!(!format!("{file:?}").contains("hunter2"));
        let target = resolve(&file, &Overrides::default(), &EnvVars::default()).expect("resolves");
        let network = &target.client.network;
        assert_eq!(
            network.ca_bundle.as_deref(),
            Some(Path::new("/etc/ossup/ca.pem"))
        );
        assert_eq!(network.resolve.len(), 1);
        assert_eq!(network.resolve[0].port, 9443);
        assert!(network.proxy.is_some());
        assert!(!format!("{target:?}").contains("hunter2"));
        let again = ConfigFile::parse(&toml::to_string_pretty(&file).unwrap()).unwrap();
        assert_eq!(again, file);

        for (line, field) in [
            (
                "resolve = [\"demo.oss-test.local:9443\"]",
                "profiles.p.resolve",
            ),
            ("proxy = \"proxy.example.com:3128\"", "profiles.p.proxy"),
            ("ca_bundle = \"\"", "profiles.p.ca_bundle"),
            ("signature = \"v2\"", "expected `v1` or `v4`"),
        ] {
            let text = format!("[profiles.p]\nendpoint = \"https://h\"\n{line}\n");
            let message = ConfigFile::parse(&text).expect_err(line).to_string();
            assert!(message.contains(field), "{line}: {message}");
        }
    }

    #[test]
    fn secret_may_come_from_env_and_missing_pieces_are_named() {
        let mut no_secret = profile("https://h");
        no_secret.access_key_secret = None;
        let file = file_with("default", no_secret);
        let error =
            resolve(&file, &Overrides::default(), &EnvVars::default()).expect_err("no secret");
        assert!(error.to_string().contains(ENV_ACCESS_KEY_SECRET), "{error}");
        let env = EnvVars {
            access_key_secret: Some("fromenv".into()),
            ..EnvVars::default()
        };
        let target = resolve(&file, &Overrides::default(), &env).expect("resolves");
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_id(),
            "FILEID"
        );
        assert_eq!(
            target
                .client
                .credentials
                .fixed_credentials()
                .unwrap()
                .access_key_secret(),
            "fromenv"
        );

        let env_endpoint_only = EnvVars {
            endpoint: Some("https://h".into()),
            ..EnvVars::default()
        };
        let error = resolve(
            &ConfigFile::default(),
            &Overrides::default(),
            &env_endpoint_only,
        )
        .expect_err("no key");
        assert!(
            matches!(error, ConfigError::MissingCredentials { .. }),
            "{error}"
        );

        let unknown = Overrides {
            profile: Some("nope".into()),
            ..Overrides::default()
        };
        let error = resolve(&file, &unknown, &EnvVars::default()).expect_err("unknown profile");
        assert!(
            error.to_string().contains("known profiles: default"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn save_writes_mode_0600_atomically_and_loads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join(CONFIG_FILE_NAME);
        assert_eq!(
            ConfigFile::load(&path).expect("missing is empty"),
            ConfigFile::default()
        );

        let mut file = file_with("work", profile("https://h"));
        file.tuning.bandwidth_limit_bytes_per_sec = Some(3 << 20);
        file.save(&path).expect("saves");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ConfigFile::load(&path).expect("loads"), file);

        // Replacing keeps 0600 even if someone loosened the old file, and leaves no temp.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        file.tuning.set_parallelism(7, 2);
        file.save(&path).expect("saves again");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            ConfigFile::load(&path)
                .expect("loads")
                .tuning
                .parallel_parts_per_transfer,
            7
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().expect("dir"))
            .expect("lists")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());

        // An invalid configuration is refused before anything is written.
        file.tuning.set_parallelism(0, 2);
        assert!(file.save(&path).is_err());
        assert_eq!(
            ConfigFile::load(&path)
                .expect("loads")
                .tuning
                .parallel_parts_per_transfer,
            7
        );
    }
}
