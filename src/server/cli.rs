//! The `ossup serve` subcommand: flags, start-up banner, and running until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::auth::TemporaryKey;
use super::connection::ConnectionLimits;
use super::faults::{FailStatus, FaultConfig, FaultScope};
use super::permissions::Permissions;
use super::tls::TlsSource;
use super::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_REGION, ServerConfig, ServerError,
    start,
};

/// Run a local OSS-compatible endpoint backed by a directory.
#[derive(Clone, clap::Args)]
pub struct ServeArgs {
    /// Where objects and uploads are stored [default: ossup's data directory, `server/`].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address to listen on; keep it on 127.0.0.1 unless you mean to share the server.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// A bucket to create if missing (repeatable) [default: demo].
    #[arg(long = "bucket", value_name = "NAME")]
    pub buckets: Vec<String>,
    /// An accepted key pair as ID:SECRET[:PERMISSIONS] (repeatable) [default: the
    /// built-in local pair]. PERMISSIONS is `full` (default), `upload-only`, `read-only`
    /// or a comma list of RAM actions such as `oss:PutObject,oss:ListParts`.
    #[arg(long = "access-key", value_name = "ID:SECRET[:PERMISSIONS]", value_parser = parse_key_arg)]
    pub access_keys: Vec<KeyArg>,
    /// A temporary (STS) key, accepted only with its token, as
    /// ID:SECRET:TOKEN[:EXPIRES] (repeatable). EXPIRES is a Unix time in seconds, or a
    /// lifetime from start-up such as `900s`; without it the token does not expire.
    #[arg(long = "sts-token", value_name = "ID:SECRET:TOKEN[:EXPIRES]", value_parser = parse_sts_token_arg)]
    pub sts_tokens: Vec<StsTokenArg>,
    /// Region V4 signatures must be scoped to.
    #[arg(long, default_value = DEFAULT_REGION)]
    pub region: String,
    /// Chance (0 to 1) that a request fails with 500/503.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_fail_rate: f64,
    /// Status of injected failures.
    #[arg(long, value_enum, default_value_t = FailStatus::InternalError)]
    pub fault_fail_status: FailStatus,
    /// Chance (0 to 1) that an upload's connection is dropped mid-body.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_cut_rate: f64,
    /// How many body bytes arrive before a cut connection is dropped.
    #[arg(long, default_value_t = 65536)]
    pub fault_cut_after_bytes: u64,
    /// Delay added to every answer in scope, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub fault_delay_ms: u64,
    /// Seed of the fault RNG, for reproducible runs.
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Which requests faults apply to.
    #[arg(long, value_enum, default_value_t = FaultScope::All)]
    pub fault_scope: FaultScope,
    /// Connections served at once; the ones beyond get 503.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, default_value_t = ConnectionLimits::default().header_read_timeout.as_secs())]
    pub header_timeout_secs: u64,
    /// Seconds a connection may sit idle between requests.
    #[arg(long, default_value_t = ConnectionLimits::default().idle_timeout.as_secs())]
    pub idle_timeout_secs: u64,
    /// Slowest accepted request body, in bytes per second (measured over 30 s).
    #[arg(long, default_value_t = ConnectionLimits::default().min_body_bytes_per_sec)]
    pub min_body_rate: u64,

    // HTTPS and virtual-hosted addressing.
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made at start-up for 127.0.0.1, localhost and each
    /// --domain, signed by a new local CA whose file (printed) clients should trust.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// A domain the server answers for (repeatable): `BUCKET.DOMAIN` addresses bucket
    /// BUCKET (virtual-hosted), DOMAIN itself is path-style. Example: oss-test.local.
    #[arg(long = "domain", value_name = "DOMAIN", value_parser = parse_domain)]
    pub domains: Vec<String>,
}

/// One `--access-key`: a key pair and what it may do. `Debug` shows the id only.
#[derive(Clone)]
pub struct KeyArg {
    pub id: String,
    pub secret: String,
    pub permissions: Permissions,
}

impl std::fmt::Debug for KeyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyArg")
            .field("id", &self.id)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// One `--sts-token`. `Debug` shows the id and expiry only.
#[derive(Clone)]
pub struct StsTokenArg {
    pub id: String,
    pub secret: String,
    pub token: String,
    pub expires: Option<StsExpiry>,
}

/// When an `--sts-token` stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsExpiry {
    At(SystemTime),
    /// So long after the server starts.
    After(Duration),
}

impl std::fmt::Debug for StsTokenArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsTokenArg")
            .field("id", &self.id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl StsTokenArg {
    /// The key as the server holds it, with a lifetime counted from `now`.
    fn into_key(self, now: SystemTime) -> TemporaryKey {
        TemporaryKey {
            access_key_id: self.id,
            access_key_secret: self.secret,
            security_token: self.token,
            expires_at: self.expires.map(|expires| match expires {
                StsExpiry::At(at) => at,
                StsExpiry::After(lifetime) => now + lifetime,
            }),
        }
    }
}

/// `ID:SECRET:TOKEN[:EXPIRES]`; the last field is the expiry when it reads as one
/// (digits, or digits and `s`), so a token may itself hold `:`.
fn parse_sts_token_arg(value: &str) -> Result<StsTokenArg, String> {
    const EXPECTED: &str = "expected ID:SECRET:TOKEN[:EXPIRES] with ID, SECRET and TOKEN non-empty, EXPIRES a Unix time in seconds or a lifetime like 900s";
    let mut fields = value.splitn(3, ':');
    let (Some(id), Some(secret), Some(rest)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(EXPECTED.to_owned());
    };
    let expiry = |text: &str| -> Option<StsExpiry> {
        match text.strip_suffix('s') {
            Some(secs) => secs
                .parse()
                .ok()
                .map(Duration::from_secs)
                .map(StsExpiry::After),
            None => text
                .parse()
                .ok()
                .map(|secs| StsExpiry::At(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))),
        }
    };
    let (token, expires) = match rest.rsplit_once(':') {
        Some((token, last)) if expiry(last).is_some() => (token, expiry(last)),
        _ => (rest, None),
    };
    if id.is_empty() || secret.is_empty() || token.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    Ok(StsTokenArg {
        id: id.to_owned(),
        secret: secret.to_owned(),
        token: token.to_owned(),
        expires,
    })
}

/// The ids of key pairs, for `Debug` output that must not show secrets.
pub fn key_ids(pairs: &[(String, String)]) -> Vec<&str> {
    pairs.iter().map(|(id, _)| id.as_str()).collect()
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("dir", &self.dir)
            .field("listen", &self.listen)
            .field("buckets", &self.buckets)
            .field("access_keys", &self.access_keys)
            .field("sts_tokens", &self.sts_tokens)
            .field("region", &self.region)
            .field("fault_fail_rate", &self.fault_fail_rate)
            .field("fault_fail_status", &self.fault_fail_status)
            .field("fault_cut_rate", &self.fault_cut_rate)
            .field("fault_cut_after_bytes", &self.fault_cut_after_bytes)
            .field("fault_delay_ms", &self.fault_delay_ms)
            .field("fault_seed", &self.fault_seed)
            .field("fault_scope", &self.fault_scope)
            .field("max_connections", &self.max_connections)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("min_body_rate", &self.min_body_rate)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_self_signed", &self.tls_self_signed)
            .field("domains", &self.domains)
            .finish()
    }
}

/// `ID:SECRET[:PERMISSIONS]`. A secret may itself hold `:`; the permissions are the
/// first `:`-suffix that reads as permissions (a preset or RAM action names).
fn parse_key_arg(value: &str) -> Result<KeyArg, String> {
    let Some((id, rest)) = value.split_once(':') else {
        return Err("expected ID:SECRET[:PERMISSIONS] with ID and SECRET non-empty".to_owned());
    };
    let split = rest.match_indices(':').find_map(|(at, _)| {
        let suffix = &rest[at + 1..];
        let looks_like_permissions = matches!(suffix, "full" | "upload-only" | "read-only")
            || suffix
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("oss:"));
        looks_like_permissions.then_some(at)
    });
    let (secret, permissions) = match split {
        Some(at) => (&rest[..at], Permissions::parse(&rest[at + 1..])?),
        None => (rest, Permissions::Full),
    };
    if id.is_empty() || secret.is_empty() {
        return Err("expected ID:SECRET[:PERMISSIONS] with ID and SECRET non-empty".to_owned());
    }
    Ok(KeyArg {
        id: id.to_owned(),
        secret: secret.to_owned(),
        permissions,
    })
}

/// A host name of dotted labels (letters, digits, `-`), stored lower-case.
fn parse_domain(value: &str) -> Result<String, String> {
    let domain = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.split('.').all(valid_label) {
        Ok(domain)
    } else {
        Err(format!(
            "{value:?} is not a domain name; write it like oss-test.local"
        ))
    }
}

fn parse_rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err("expected a probability between 0 and 1".to_owned()),
    }
}

/// `<user data dir>/server`, e.g. `~/.local/share/ossup/server` on Linux.
pub fn default_data_dir() -> Result<PathBuf, ServerError> {
    directories::ProjectDirs::from("", "", "ossup")
        .map(|dirs| dirs.data_dir().join("server"))
        .ok_or_else(|| {
            ServerError::Config("no home directory found; pass --dir to choose one".into())
        })
}

impl ServeArgs {
    pub fn into_config(self) -> Result<ServerConfig, ServerError> {
        let data_dir = match self.dir {
            Some(dir) => dir,
            None => default_data_dir()?,
        };
        let mut config = ServerConfig::new(data_dir);
        config.listen = self.listen;
        config.region = self.region;
        if !self.buckets.is_empty() {
            config.buckets = self.buckets;
        }
        if !self.access_keys.is_empty() {
            config.access_keys = self
                .access_keys
                .iter()
                .map(|key| (key.id.clone(), key.secret.clone()))
                .collect();
            config.permissions = self
                .access_keys
                .into_iter()
                .filter(|key| key.permissions != Permissions::Full)
                .map(|key| (key.id, key.permissions))
                .collect();
        }
        let started = SystemTime::now();
        config.sts_tokens = self
            .sts_tokens
            .into_iter()
            .map(|token| token.into_key(started))
            .collect();
        if self.max_connections == 0 {
            return Err(ServerError::Config(
                "--max-connections must be at least 1".into(),
            ));
        }
        config.limits = ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            min_body_bytes_per_sec: self.min_body_rate,
            ..ConnectionLimits::default()
        };
        config.faults = FaultConfig {
            fail_rate: self.fault_fail_rate,
            fail_status: self.fault_fail_status,
            cut_rate: self.fault_cut_rate,
            cut_after_bytes: self.fault_cut_after_bytes,
            delay: Duration::from_millis(self.fault_delay_ms),
            scope: self.fault_scope,
            seed: self.fault_seed,
        };
        config.tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files { cert, key }),
            _ if self.tls_self_signed => Some(TlsSource::SelfSigned {
                domains: self.domains.clone(),
            }),
            _ => None,
        };
        config.virtual_host_domains = self.domains;
        Ok(config)
    }
}

/// Runs `ossup serve`: prints the endpoint, buckets and key pair, serves until Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<(), ServerError> {
    let config = args.into_config()?;
    let uses_default_key = config
        .access_keys
        .iter()
        .any(|(id, secret)| id == DEFAULT_ACCESS_KEY_ID && secret == DEFAULT_ACCESS_KEY_SECRET);
    let server = start(config.clone()).await?;

    let mut out = std::io::stdout().lock();
    let banner = (|| -> std::io::Result<()> {
        writeln!(out, "ossup serve listening on {}", server.endpoint())?;
        writeln!(out, "data directory: {}", config.data_dir.display())?;
        writeln!(out, "region: {}", config.region)?;
        if let Some(ca_file) = server.ca_file() {
            writeln!(
                out,
                "TLS CA certificate (trust it to connect): {}",
                ca_file.display()
            )?;
        }
        for domain in &config.virtual_host_domains {
            let port = server.addr().port();
            writeln!(out, "virtual-hosted buckets: BUCKET.{domain}:{port}")?;
        }
        for bucket in &config.buckets {
            writeln!(out, "bucket: {bucket}")?;
        }
        // The operator asked for this server; showing the local default pair is the point.
        // A pair given on the command line is known to its owner, so only its id is shown.
        for (id, secret) in &config.access_keys {
            if uses_default_key && id == DEFAULT_ACCESS_KEY_ID {
                writeln!(out, "access key id: {id}")?;
                writeln!(out, "access key secret: {secret}")?;
            } else {
                writeln!(out, "access key id: {id} (secret as given)")?;
            }
            if let Some((_, permissions)) = config.permissions.iter().find(|(key, _)| key == id) {
                writeln!(out, "access key {id} may: {permissions:?}")?;
            }
        }
        for key in &config.sts_tokens {
            let expiry = key
                .expires_at
                .map(|at| format!("expires {}", httpdate::fmt_http_date(at)))
                .unwrap_or_else(|| "does not expire".to_owned());
            writeln!(
                out,
                "temporary access key id: {} (secret and token as given; {expiry})",
                key.access_key_id
            )?;
        }
        out.flush()
    })();
    drop(out);
    if let Err(error) = banner {
        tracing::warn!("could not print the start-up banner: {error}");
    }

    server
        .run_until(async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!("cannot listen for Ctrl-C, stop the process another way: {error}");
                std::future::pending::<()>().await;
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn flags_become_a_config_and_debug_hides_secrets() {
        let parsed = Wrapper::try_parse_from([
            "serve",
            "--dir",
            "/data",
            "--bucket",
            "one",
            "--bucket",
            "two",
            "--access-key",
            "ID1:topsecret",
            "--fault-fail-rate",
            "0.25",
            "--fault-cut-after-bytes",
            "99",
            "--fault-scope",
            "upload-part",
        ])
        .expect("valid flags");
        let shown = format!("{parsed:?}");
        let config = parsed.args.into_config().expect("config");
        assert_eq!(config.buckets, ["one", "two"]);
        assert_eq!(
            config.access_keys,
            [("ID1".to_owned(), "topsecret".to_owned())]
        );
        assert_eq!(config.faults.fail_rate, 0.25);
        assert_eq!(config.faults.cut_after_bytes, 99);
        assert_eq!(config.faults.scope, FaultScope::UploadPart);
        assert_eq!(config.listen.ip().to_string(), "127.0.0.1");
        assert!(
            shown.contains("ID1") && !shown.contains("topsecret"),
            "{shown}"
        );
        assert!(!format!("{config:?}").contains("topsecret"));

        assert!(Wrapper::try_parse_from(["serve", "--access-key", "nosecret"]).is_err());
        assert!(Wrapper::try_parse_from(["serve", "--access-key", "ID:s:oss:Nothing"]).is_err());
        assert!(Wrapper::try_parse_from(["serve", "--access-key", "ID::upload-only"]).is_err());
        assert!(Wrapper::try_parse_from(["serve", "--fault-fail-rate", "1.5"]).is_err());
    }

    #[test]
    fn sts_tokens_carry_an_expiry_and_debug_hides_them() {
        let parsed = Wrapper::try_parse_from([
            "serve",
            "--sts-token",
            "STS.A:SecretValue:TokenValue:1788436800",
            "--sts-token",
            "STS.B:SecretValue:Token:With:Colons:900s",
            "--sts-token",
            "STS.C:SecretValue:TokenValue",
        ])
        .expect("valid flags");
        let shown = format!("{parsed:?}");
        assert!(
            shown.contains("STS.A")
                && !shown.contains("SecretValue")
                && !shown.contains("TokenValue")
                && !shown.contains("Colons"),
            "{shown}"
        );
        let before = SystemTime::now();
        let config = parsed.args.into_config().expect("config");
        let keys = &config.sts_tokens;
        assert_eq!(
            keys[0].expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_788_436_800))
        );
        assert_eq!(keys[1].security_token, "Token:With:Colons");
        assert!(keys[1].expires_at.unwrap() >= before + Duration::from_secs(900));
        assert_eq!(keys[2].expires_at, None);
        assert_eq!(keys[2].security_token, "TokenValue");
        assert!(!format!("{config:?}").contains("SecretValue"));
        for bad in ["STS.A:secret", "STS.A::token", ":s:t", "STS.A:s::900s"] {
            assert!(
                Wrapper::try_parse_from(["serve", "--sts-token", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_and_domain_flags_become_a_tls_source() {
        let parsed =
            Wrapper::try_parse_from(["serve", "--tls-self-signed", "--domain", "OSS-Test.local"])
                .expect("valid flags");
        let config = parsed.args.into_config().expect("config");
        assert_eq!(config.virtual_host_domains, ["oss-test.local"]);
        assert_eq!(
            config.tls,
            Some(TlsSource::SelfSigned {
                domains: vec!["oss-test.local".into()]
            })
        );
        let files = Wrapper::try_parse_from(["serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .expect("valid flags")
            .args
            .into_config()
            .expect("config");
        assert!(matches!(files.tls, Some(TlsSource::Files { .. })));
        for bad in [
            &["serve", "--tls-cert", "c.pem"][..],
            &["serve", "--tls-key", "k.pem"],
            &[
                "serve",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
                "--tls-self-signed",
            ],
            &["serve", "--domain", "bad_domain"],
            &["serve", "--domain", "a..b"],
        ] {
            assert!(Wrapper::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn access_keys_carry_permissions() {
        let parsed = Wrapper::try_parse_from([
            "serve",
            "--access-key",
            "W:sec:ret:upload-only",
            "--access-key",
            "R:other:read-only",
            "--access-key",
            "L:s3:oss:PutObject,oss:ListParts",
            "--access-key",
            "F:a:b",
        ])
        .expect("valid flags");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("sec:ret"), "{shown}");
        let config = parsed.args.into_config().expect("config");
        assert_eq!(
            config.access_keys,
            [
                ("W".to_owned(), "sec:ret".to_owned()),
                ("R".to_owned(), "other".to_owned()),
                ("L".to_owned(), "s3".to_owned()),
                ("F".to_owned(), "a:b".to_owned()),
            ]
        );
        let of = |id: &str| {
            config
                .permissions
                .iter()
                .find(|(key, _)| key == id)
                .map(|(_, p)| p.clone())
        };
        assert_eq!(of("W"), Some(Permissions::parse("oss:PutObject").unwrap()));
        assert!(of("R").unwrap().allows("oss:GetObject"));
        assert!(!of("R").unwrap().allows("oss:PutObject"));
        assert!(of("L").unwrap().allows("oss:ListParts"));
        assert_eq!(of("F"), None);
    }
}
