//! Alibaba Cloud regions and the endpoints they give: a region id builds the public,
//! internal or transfer-acceleration endpoint, and an Alibaba endpoint's host names its
//! region back, so V4 signing (which needs the region) can be the default there.

/// The domain every Alibaba OSS endpoint sits under.
const ALIBABA_DOMAIN: &str = "aliyuncs.com";
/// The one endpoint of transfer acceleration, shared by every region (so it names none).
const ACCELERATE_HOST: &str = "oss-accelerate.aliyuncs.com";
/// The endpoint suffix that reaches a region from inside Alibaba Cloud (ECS in the region).
const INTERNAL_SUFFIX: &str = "-internal";

/// Which of a region's endpoints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointKind {
    /// `oss-<region>.aliyuncs.com`, reachable from anywhere.
    #[default]
    Public,
    /// `oss-<region>-internal.aliyuncs.com`: free traffic, only from inside the region.
    Internal,
    /// `oss-accelerate.aliyuncs.com`: the acceleration network (must be enabled on the bucket).
    Accelerate,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 3] = [Self::Public, Self::Internal, Self::Accelerate];

    /// What a person picking one reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Public => "Public",
            Self::Internal => "Internal (from inside Alibaba Cloud)",
            Self::Accelerate => "Transfer acceleration",
        }
    }
}

/// The `https://` endpoint of `region` of this kind, such as
/// `https://oss-cn-hangzhou.aliyuncs.com`. The region is not checked here; see
/// [`validate_region`].
pub fn endpoint_for_region(region: &str, kind: EndpointKind) -> String {
    match kind {
        EndpointKind::Public => format!("https://oss-{region}.{ALIBABA_DOMAIN}"),
        EndpointKind::Internal => format!("https://oss-{region}{INTERNAL_SUFFIX}.{ALIBABA_DOMAIN}"),
        EndpointKind::Accelerate => format!("https://{ACCELERATE_HOST}"),
    }
}

/// The region an Alibaba endpoint names, from `oss-<region>[-internal].aliyuncs.com` with
/// or without a scheme, a port or a bucket in front; `None` for other hosts and for the
/// acceleration endpoints, which serve every region.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    classify_host(endpoint)?.0
}

/// Which kind of Alibaba endpoint `endpoint` is, with its region; `None` when the host is
/// not under `aliyuncs.com` or not an OSS endpoint.
pub fn alibaba_endpoint_kind(endpoint: &str) -> Option<(EndpointKind, Option<String>)> {
    let (region, kind) = classify_host(endpoint)?;
    Some((kind, region))
}

fn classify_host(endpoint: &str) -> Option<(Option<String>, EndpointKind)> {
    let rest = endpoint
        .trim()
        .split_once("://")
        .map_or(endpoint.trim(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_ascii_lowercase();
    let labels = host.strip_suffix(&format!(".{ALIBABA_DOMAIN}"))?;
    // A bucket may stand in front (`bucket.oss-cn-hangzhou.aliyuncs.com`): the endpoint
    // is the label nearest the domain.
    let label = labels.rsplit('.').next()?;
    let name = label.strip_prefix("oss-")?;
    if name == "accelerate" || name == "accelerate-overseas" {
        return Some((None, EndpointKind::Accelerate));
    }
    let (region, kind) = match name.strip_suffix(INTERNAL_SUFFIX) {
        Some(region) => (region, EndpointKind::Internal),
        None => (name, EndpointKind::Public),
    };
    validate_region(region).ok()?;
    Some((Some(region.to_owned()), kind))
}

/// Checks a region id: `cn-hangzhou`, not `oss-cn-hangzhou`.
pub fn validate_region(region: &str) -> Result<(), String> {
    if let Some(bare) = region.strip_prefix("oss-") {
        return Err(format!(
            "{region:?} is an endpoint prefix; write the region id without \"oss-\", like {bare:?}"
        ));
    }
    let ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not a region id; write it like cn-hangzhou"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_builds_each_kind_of_endpoint_and_is_read_back() {
        for (kind, expected) in [
            (EndpointKind::Public, "https://oss-cn-hangzhou.aliyuncs.com"),
            (
                EndpointKind::Internal,
                "https://oss-cn-hangzhou-internal.aliyuncs.com",
            ),
            (
                EndpointKind::Accelerate,
                "https://oss-accelerate.aliyuncs.com",
            ),
        ] {
            let endpoint = endpoint_for_region("cn-hangzhou", kind);
            assert_eq!(endpoint, expected);
            let read_back = alibaba_endpoint_kind(&endpoint).expect("an Alibaba endpoint");
            assert_eq!(read_back.0, kind);
        }
        assert_eq!(
            region_from_endpoint("https://oss-cn-hangzhou-internal.aliyuncs.com"),
            Some("cn-hangzhou".into())
        );
        assert_eq!(
            region_from_endpoint("https://oss-accelerate.aliyuncs.com"),
            None
        );
    }

    #[test]
    fn the_region_is_inferred_only_from_alibaba_hosts() {
        for (endpoint, region) in [
            ("oss-eu-central-1.aliyuncs.com", Some("eu-central-1")),
            (
                "HTTPS://OSS-CN-Shanghai.Aliyuncs.com:443/",
                Some("cn-shanghai"),
            ),
            (
                "https://photos.oss-ap-southeast-1.aliyuncs.com",
                Some("ap-southeast-1"),
            ),
            ("https://oss-accelerate-overseas.aliyuncs.com", None),
            ("https://oss.example.com", None),
            ("https://oss-cn-hangzhou.aliyuncs.com.evil.example", None),
            ("http://127.0.0.1:9090", None),
            ("https://sts.aliyuncs.com", None),
        ] {
            assert_eq!(
                region_from_endpoint(endpoint).as_deref(),
                region,
                "{endpoint}"
            );
        }
    }
}
