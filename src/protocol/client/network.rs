//! How a client reaches its endpoint beyond the URL: extra certificate authorities to
//! trust (private clouds, TLS-inspecting proxies), an explicit proxy, and `resolve`
//! entries that pin a host name to an address the way curl's `--resolve HOST:PORT:ADDR`
//! does (a name no DNS knows, or a test server on 127.0.0.1).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::addressing::Endpoint;
use crate::protocol::error::OssError;

/// The network settings of one profile. `Debug` hides a proxy's password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// PEM file of certificate authorities trusted in addition to the system's.
    pub ca_bundle: Option<PathBuf>,
    /// `http://[user:password@]host:port`; replaces the system proxy when set.
    pub proxy: Option<String>,
    /// Host names pinned to addresses, for the endpoint's port.
    pub resolve: Vec<ResolveEntry>,
}

impl fmt::Debug for NetworkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkSettings")
            .field("ca_bundle", &self.ca_bundle)
            .field("proxy", &self.proxy.as_deref().map(redact_proxy))
            .field("resolve", &self.resolve)
            .finish()
    }
}

/// One `HOST:PORT:ADDR`: connections to `HOST` on `PORT` go to `ADDR` instead of what DNS
/// says. An IPv6 address is written in brackets (`[::1]`), as curl does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    /// Lower-cased, as host names compare.
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl ResolveEntry {
    /// Reads `demo.oss-test.local:9443:127.0.0.1`; the error says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "{text:?} is not a resolve entry; write HOST:PORT:ADDRESS, like demo.oss-test.local:443:127.0.0.1"
            )
        };
        let text = text.trim();
        let (host, rest) = text.split_once(':').ok_or_else(expected)?;
        let (port, addr) = rest.split_once(':').ok_or_else(expected)?;
        let host = host.trim().to_ascii_lowercase();
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(expected());
        }
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(expected)?;
        let addr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| expected())?;
        Ok(Self { host, port, addr })
    }
}

impl fmt::Display for ResolveEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(addr) => write!(f, "{}:{}:{addr}", self.host, self.port),
            IpAddr::V6(addr) => write!(f, "{}:{}:[{addr}]", self.host, self.port),
        }
    }
}

/// Checks a proxy URL: `http://` or `https://`, a host, an optional port and login. The
/// error never repeats a password.
pub fn validate_proxy(proxy: &str) -> Result<(), String> {
    let shown = redact_proxy(proxy);
    let url = reqwest::Url::parse(proxy.trim()).map_err(|_| {
        format!("{shown:?} is not a proxy URL; write it like http://proxy.example.com:3128")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{shown:?} uses the scheme {:?}; a proxy must be http:// or https://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) || !matches!(url.path(), "" | "/") {
        return Err(format!(
            "{shown:?} must be a scheme, a host and a port only, like http://proxy.example.com:3128"
        ));
    }
    Ok(())
}

/// The proxy URL with any password replaced by `******`, for messages and `Debug`.
pub fn redact_proxy(proxy: &str) -> String {
    let Some((scheme, rest)) = proxy.split_once("://") else {
        return proxy.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((login, host)) => {
            let user = login.split_once(':').map_or(login, |(user, _)| user);
            format!("{scheme}://{user}:******@{host}{}", &rest[authority_end..])
        }
        None => proxy.to_owned(),
    }
}

/// Reads the certificates of a PEM bundle; one clear sentence when the file is missing,
/// unreadable or holds no certificate.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, OssError> {
    let bytes = std::fs::read(path).map_err(|e| {
        OssError::Config(format!(
            "could not read the CA bundle {}: {e}",
            path.display()
        ))
    })?;
    let not_pem = || {
        OssError::Config(format!(
            "the CA bundle {} holds no PEM certificate (a block starting -----BEGIN CERTIFICATE-----)",
            path.display()
        ))
    };
    let certificates = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|_| not_pem())?;
    if certificates.is_empty() {
        return Err(not_pem());
    }
    Ok(certificates)
}

/// Adds the settings to a client being built for `endpoint`. A loopback endpoint trusts
/// only the CA bundle (no system roots are needed for this machine) and bypasses the
/// system proxy; an explicit proxy is used for every endpoint, since it was asked for.
pub(super) fn apply(
    mut builder: reqwest::ClientBuilder,
    settings: &NetworkSettings,
    endpoint: &Endpoint,
) -> Result<reqwest::ClientBuilder, OssError> {
    let extra_roots = match &settings.ca_bundle {
        Some(path) => load_ca_bundle(path)?,
        None => Vec::new(),
    };
    if endpoint.is_loopback() {
        builder = builder.tls_certs_only(extra_roots);
    } else if !extra_roots.is_empty() {
        builder = builder.tls_certs_merge(extra_roots);
    }
    match &settings.proxy {
        Some(proxy) => {
            validate_proxy(proxy).map_err(OssError::Config)?;
            let proxy = reqwest::Proxy::all(proxy.trim()).map_err(|_| {
                OssError::Config(format!(
                    "the proxy {:?} could not be used",
                    redact_proxy(proxy)
                ))
            })?;
            builder = builder.proxy(proxy);
        }
        None if endpoint.is_loopback() => builder = builder.no_proxy(),
        None => {}
    }
    let port = endpoint.effective_port();
    for entry in &settings.resolve {
        if entry.port == port {
            builder = builder.resolve(&entry.host, SocketAddr::new(entry.addr, entry.port));
        } else {
            tracing::debug!("resolve entry {entry} is for another port than the endpoint's {port}");
        }
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_read_like_curls_and_bad_ones_say_what_is_expected() {
        let entry = ResolveEntry::parse("Demo.OSS-Test.local:9443:127.0.0.1").unwrap();
        assert_eq!(entry.host, "demo.oss-test.local");
        assert_eq!(entry.port, 9443);
        assert_eq!(entry.to_string(), "demo.oss-test.local:9443:127.0.0.1");
        let v6 = ResolveEntry::parse("h.example:443:[::1]").unwrap();
        assert_eq!(v6.to_string(), "h.example:443:[::1]");
        assert_eq!(ResolveEntry::parse(&v6.to_string()).unwrap(), v6);
        for bad in [
            "",
            "host",
            "host:443",
            "host:port:127.0.0.1",
            "host:0:127.0.0.1",
            "host:443:not-an-ip",
            ":443:127.0.0.1",
            "ho st:443:127.0.0.1",
        ] {
            let message = ResolveEntry::parse(bad).expect_err(bad);
            assert!(message.contains("HOST:PORT:ADDRESS"), "{bad}: {message}");
        }
    }

    #[test]
    fn proxies_are_checked_and_their_passwords_never_shown() {
        assert!(validate_proxy("http://proxy.example.com:3128").is_ok());
        assert!(validate_proxy("https://user:pw@proxy.example.com").is_ok());
        for bad in [
            "proxy.example.com:3128",
            "ftp://proxy.example.com",
            "http://",
            "http://proxy/path",
        ] {
            assert!(validate_proxy(bad).is_err(), "{bad}");
        }
        let message = validate_proxy("socks9://me:hunter2@proxy").unwrap_err();
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(
            redact_proxy("http://me:hunter2@proxy:3128/"),
            "http://me:******@proxy:3128/"
        );
        let settings = NetworkSettings {
            proxy: Some("http://me:hunter2@proxy:3128".into()),
            ..NetworkSettings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_ca_bundle_that_is_missing_or_not_pem_is_one_clear_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let message = load_ca_bundle(&missing).unwrap_err().to_string();
        assert!(
            message.contains("could not read the CA bundle"),
            "{message}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let message = load_ca_bundle(&garbage).unwrap_err().to_string();
        assert!(message.contains("holds no PEM certificate"), "{message}");
    }
}
