//! Where a request goes: the endpoint's scheme and host, path- or virtual-hosted-style
//! URLs, and the percent-encoding OSS expects for keys and query parameters (SPEC 1).

use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::super::error::OssError;

/// Everything but `A-Z a-z 0-9 - _ . ~` is escaped, `/` included (`%2F`), as oss2 does.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a key or query component the way OSS SDKs put it on the wire.
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// A parsed endpoint: scheme, host and port, and whether buckets go in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Host name or IP literal as written (IPv6 keeps its brackets).
    pub host: String,
    pub port: Option<u16>,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key`.
    pub path_style: bool,
}

impl Endpoint {
    /// Parses `https://oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou.aliyuncs.com` or
    /// `http://127.0.0.1:9000`. Without a scheme, loopback hosts get `http` and every
    /// other host `https`. IP addresses and `localhost` always use path style.
    pub fn parse(endpoint: &str, path_style: bool) -> Result<Self, OssError> {
        let trimmed = endpoint.trim().trim_end_matches('/');
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => (Some("http"), rest),
                "https" => (Some("https"), rest),
                other => {
                    return Err(OssError::Config(format!(
                        "endpoint {endpoint:?} uses the scheme {other:?}; only http and https are supported"
                    )));
                }
            },
            None => (None, trimmed),
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(OssError::Config(format!(
                "endpoint {endpoint:?} must be a host name with an optional port, such as oss-cn-hangzhou.aliyuncs.com"
            )));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| {
            OssError::Config(format!("endpoint {endpoint:?} has an invalid port"))
        })?;
        let host = host.to_ascii_lowercase();
        let ip = parse_ip(&host);
        let loopback = host == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
        let scheme = scheme.unwrap_or(if loopback { "http" } else { "https" });
        Ok(Self {
            scheme,
            path_style: path_style || ip.is_some() || host == "localhost",
            host,
            port,
        })
    }

    /// Whether the endpoint is this machine (no proxy, no TLS roots needed).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || parse_ip(&self.host).is_some_and(|ip| ip.is_loopback())
    }

    /// The port connections go to: the one written, else the scheme's (443 or 80).
    pub fn effective_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    fn authority(&self, bucket_prefix: Option<&str>) -> String {
        let mut authority = String::new();
        if let Some(bucket) = bucket_prefix {
            authority.push_str(bucket);
            authority.push('.');
        }
        authority.push_str(&self.host);
        if let Some(port) = self.port {
            authority.push_str(&format!(":{port}"));
        }
        authority
    }

    /// The URL of a service-, bucket- or object-level request. `query` holds decoded
    /// pairs; an empty value goes on the wire as a bare name (`?uploads`).
    pub fn url(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> String {
        let virtual_bucket = if self.path_style { None } else { bucket };
        let mut url = format!("{}://{}/", self.scheme, self.authority(virtual_bucket));
        if self.path_style
            && let Some(bucket) = bucket
        {
            url.push_str(bucket);
            url.push('/');
        }
        if let Some(key) = key {
            url.push_str(&encode_component(key));
        }
        for (index, (name, value)) in query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(&encode_component(name));
            if !value.is_empty() {
                url.push('=');
                url.push_str(&encode_component(value));
            }
        }
        url
    }
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`; `None` when the port is not a number.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((authority, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn virtual_hosted_for_names_path_style_for_ips() {
        let aliyun = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com", false).unwrap();
        assert_eq!(aliyun.scheme, "https");
        assert!(!aliyun.path_style);
        assert_eq!(
            aliyun.url(Some("example-bucket"), Some("dir/my file+1 ü.txt"), &[]),
            "https://example-bucket.oss-cn-hangzhou.aliyuncs.com/dir%2Fmy%20file%2B1%20%C3%BC.txt"
        );

        let local = Endpoint::parse("http://127.0.0.1:9000/", false).unwrap();
        assert!(local.path_style && local.is_loopback());
        assert_eq!(
            local.url(
                Some("demo"),
                Some("a/b"),
                &query(&[("partNumber", "3"), ("uploadId", "X+Y")])
            ),
            "http://127.0.0.1:9000/demo/a%2Fb?partNumber=3&uploadId=X%2BY"
        );
        assert_eq!(
            local.url(
                Some("demo"),
                None,
                &query(&[("uploads", ""), ("prefix", "a/")])
            ),
            "http://127.0.0.1:9000/demo/?uploads&prefix=a%2F"
        );
        assert_eq!(local.url(None, None, &[]), "http://127.0.0.1:9000/");
    }

    #[test]
    fn scheme_defaults_by_host_and_explicit_scheme_wins() {
        assert_eq!(
            Endpoint::parse("localhost:8080", false).unwrap().scheme,
            "http"
        );
        assert_eq!(Endpoint::parse("[::1]:8080", false).unwrap().scheme, "http");
        let forced = Endpoint::parse("https://127.0.0.1", false).unwrap();
        assert_eq!(forced.scheme, "https");
        let path = Endpoint::parse("oss.example.com", true).unwrap();
        assert!(path.path_style);
        assert_eq!(
            path.url(Some("b"), Some("k"), &[]),
            "https://oss.example.com/b/k"
        );
    }

    proptest::proptest! {
        #[test]
        fn encoded_keys_decode_back_and_use_only_safe_characters(key in "\\PC{1,40}") {
            let encoded = encode_component(&key);
            proptest::prop_assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
            proptest::prop_assert_eq!(decoded, key.as_str());
        }
    }

    #[test]
    fn bad_endpoints_are_config_errors() {
        for bad in [
            "ftp://host",
            "",
            "http://",
            "host:port",
            "host/path",
            "https://a@b",
        ] {
            assert!(
                matches!(Endpoint::parse(bad, false), Err(OssError::Config(_))),
                "{bad:?} should be refused"
            );
        }
    }
}
