//! Reading a request the OSS way: which bucket and key it addresses (path-style or
//! virtual-hosted), its decoded query, and which operation it asks for.

use std::net::IpAddr;

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use super::errors;
use super::meta::ObjectAttributes;
use crate::protocol::ServiceError;
use crate::protocol::object_key::{validate_bucket_name, validate_object_key};

/// The operations the server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListBuckets,
    PutBucket,
    DeleteBucket,
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListBuckets => "ListBuckets",
            Operation::PutBucket => "PutBucket",
            Operation::DeleteBucket => "DeleteBucket",
            Operation::ListObjects => "ListObjects",
            Operation::ListObjectsV2 => "ListObjectsV2",
            Operation::ListMultipartUploads => "ListMultipartUploads",
            Operation::PutObject => "PutObject",
            Operation::GetObject => "GetObject",
            Operation::HeadObject => "HeadObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::InitiateMultipartUpload => "InitiateMultipartUpload",
            Operation::UploadPart => "UploadPart",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::AbortMultipartUpload => "AbortMultipartUpload",
            Operation::ListParts => "ListParts",
            Operation::PutBucketLifecycle => "PutBucketLifecycle",
            Operation::GetBucketLifecycle => "GetBucketLifecycle",
            Operation::DeleteBucketLifecycle => "DeleteBucketLifecycle",
        }
    }
}

/// Where a request points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Decodes a percent-encoded URL part; `plus_is_space` for query strings.
fn decode(raw: &str, plus_is_space: bool) -> Option<String> {
    let raw = if plus_is_space {
        std::borrow::Cow::Owned(raw.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    percent_decode_str(&raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Decodes a query string into `(name, value)` pairs; a bare name has an empty value.
pub fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, ServiceError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (decode(name, true), decode(value, true)) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(errors::invalid_argument(
                    name,
                    value,
                    "the query string is not valid percent-encoded UTF-8",
                )),
            }
        })
        .collect()
}

/// What a `Host` header says about addressing, for a server told its domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainHost {
    /// `<bucket>.<domain>`: virtual-hosted, whether or not the bucket exists.
    Bucket(String),
    /// The domain itself: path-style.
    PathStyle,
    /// Not under any of the domains: decided by [`virtual_host_candidate`].
    Elsewhere,
}

/// Reads `Host` (port and case ignored) against the domains the server was told it serves.
pub fn domain_host(host: Option<&str>, domains: &[String]) -> DomainHost {
    let Some(host) = host else {
        return DomainHost::Elsewhere;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
    .to_ascii_lowercase();
    for domain in domains {
        if name == *domain {
            return DomainHost::PathStyle;
        }
        if let Some(label) = name
            .strip_suffix(domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            && !label.is_empty()
            && !label.contains('.')
        {
            return DomainHost::Bucket(label.to_owned());
        }
    }
    DomainHost::Elsewhere
}

/// The bucket a virtual-hosted `Host` would name (`<bucket>.<endpoint>`), if the host has
/// that shape. IP addresses and single-label hosts such as `localhost` are path-style.
pub fn virtual_host_candidate(host: Option<&str>) -> Option<&str> {
    let host = host?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if name.starts_with('[') || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (first, rest) = name.split_once('.')?;
    (!rest.is_empty() && validate_bucket_name(first).is_ok()).then_some(first)
}

/// Splits the raw request path into bucket and key (path-style), or takes the whole path
/// as the key when the bucket came from the Host header.
pub fn address(raw_path: &str, host_bucket: Option<String>) -> Result<Address, ServiceError> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (bucket, raw_key) = match host_bucket {
        Some(bucket) => (Some(bucket), path),
        None => match path.split_once('/') {
            Some((bucket, key)) => (Some(bucket.to_owned()), key),
            None if path.is_empty() => (None, ""),
            None => (Some(path.to_owned()), ""),
        },
    };
    let Some(bucket) = bucket else {
        return Ok(Address::default());
    };
    let bucket = decode(&bucket, false).unwrap_or(bucket);
    validate_bucket_name(&bucket).map_err(|e| errors::invalid_bucket_name(&e.to_string()))?;
    if raw_key.is_empty() {
        return Ok(Address {
            bucket: Some(bucket),
            key: None,
        });
    }
    let key = decode(raw_key, false)
        .ok_or_else(|| errors::invalid_object_name("the object key is not valid UTF-8"))?;
    validate_object_key(&key).map_err(|e| errors::invalid_object_name(&e.to_string()))?;
    Ok(Address {
        bucket: Some(bucket),
        key: Some(key),
    })
}

/// Sub-resources OSS offers that this server does not: a request naming one is refused
/// with `NotImplemented` instead of being taken for the plain operation on the same path
/// (`PUT ?cors` is not PutBucket).
const UNSUPPORTED_SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "cname",
    "cors",
    "delete",
    "encryption",
    "inventory",
    "location",
    "logging",
    "objectMeta",
    "policy",
    "qos",
    "referer",
    "replication",
    "requestPayment",
    "restore",
    "select",
    "stat",
    "style",
    "symlink",
    "tagging",
    "transferAcceleration",
    "versioning",
    "versionId",
    "versions",
    "website",
    "worm",
    "x-oss-process",
];

/// Which operation a method, address and query ask for.
pub fn classify(
    method: &Method,
    address: &Address,
    query: &[(String, String)],
) -> Result<Operation, ServiceError> {
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    if let Some(name) = UNSUPPORTED_SUB_RESOURCES.iter().find(|name| has(name)) {
        return Err(errors::not_implemented(name));
    }
    if has("lifecycle") && address.key.is_some() {
        return Err(errors::not_implemented("lifecycle"));
    }
    let operation = match (address.bucket.is_some(), address.key.is_some()) {
        (false, _) => match *method {
            Method::GET => Some(Operation::ListBuckets),
            _ => None,
        },
        (true, false) => match *method {
            Method::PUT if has("lifecycle") => Some(Operation::PutBucketLifecycle),
            Method::GET if has("lifecycle") => Some(Operation::GetBucketLifecycle),
            Method::DELETE if has("lifecycle") => Some(Operation::DeleteBucketLifecycle),
            _ if has("lifecycle") => None,
            Method::PUT => Some(Operation::PutBucket),
            Method::DELETE => Some(Operation::DeleteBucket),
            Method::GET if has("uploads") => Some(Operation::ListMultipartUploads),
            Method::GET if param(query, "list-type") == Some("2") => Some(Operation::ListObjectsV2),
            Method::GET => Some(Operation::ListObjects),
            _ => None,
        },
        (true, true) => match *method {
            Method::PUT if has("uploadId") || has("partNumber") => Some(Operation::UploadPart),
            Method::PUT => Some(Operation::PutObject),
            Method::GET if has("uploadId") => Some(Operation::ListParts),
            Method::GET => Some(Operation::GetObject),
            Method::HEAD => Some(Operation::HeadObject),
            Method::DELETE if has("uploadId") => Some(Operation::AbortMultipartUpload),
            Method::DELETE => Some(Operation::DeleteObject),
            Method::POST if has("uploads") => Some(Operation::InitiateMultipartUpload),
            Method::POST if has("uploadId") => Some(Operation::CompleteMultipartUpload),
            _ => None,
        },
    };
    operation.ok_or_else(|| errors::method_not_allowed(method.as_str()))
}

/// Looks up a query parameter.
pub fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Looks up a header as text; values that are not visible ASCII count as absent.
pub fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `x-oss-forbid-overwrite: true`.
pub fn forbids_overwrite(headers: &HeaderMap) -> bool {
    header(headers, "x-oss-forbid-overwrite").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The host the client addressed, for `Location` and `HostId`.
pub fn host(parts: &Parts) -> String {
    header(&parts.headers, "host")
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "127.0.0.1".to_owned())
}

/// Most entries one listing page may ask for.
pub const MAX_PAGE: u32 = 1000;

/// Reads a page size parameter: a number in `1..=1000`, or `default` when absent.
pub fn page_size(value: Option<&str>, name: &str, default: u32) -> Result<u32, ServiceError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(errors::invalid_argument(
            name,
            value,
            &format!("{name} must be a number between 1 and {MAX_PAGE}"),
        )),
    }
}

/// The attributes an upload's headers give its object.
pub fn attributes_from_headers(headers: &HeaderMap, key: &str) -> ObjectAttributes {
    let content_type = header(headers, "content-type")
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            mime_guess::from_path(key)
                .first_raw()
                .unwrap_or("application/octet-stream")
                .to_owned()
        });
    let storage_class = header(headers, "x-oss-storage-class")
        .unwrap_or("Standard")
        .to_owned();
    let user_meta = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-oss-meta-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    ObjectAttributes {
        content_type,
        storage_class,
        user_meta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_keys_keep_slashes_encoded_or_not() {
        let address = address("/bkt/dir%2Fa%20b+c/d", None).unwrap();
        assert_eq!(address.bucket.as_deref(), Some("bkt"));
        assert_eq!(address.key.as_deref(), Some("dir/a b+c/d"));
        assert_eq!(super::address("/bkt/", None).unwrap().key, None);
        assert_eq!(super::address("/bkt", None).unwrap().key, None);
        assert_eq!(super::address("/", None).unwrap(), Address::default());
        assert_eq!(
            super::address("/bkt/%2Fabs", None).unwrap_err().code,
            "InvalidObjectName"
        );
        assert_eq!(
            super::address("/Bad_Bucket/k", None).unwrap_err().code,
            "InvalidBucketName"
        );
    }

    #[test]
    fn virtual_hosted_bucket_from_host() {
        assert_eq!(
            virtual_host_candidate(Some("photos.localhost:9090")),
            Some("photos")
        );
        assert_eq!(virtual_host_candidate(Some("127.0.0.1:9090")), None);
        let domains = ["oss-test.local".to_owned()];
        assert_eq!(
            domain_host(Some("Demo.OSS-Test.local:9443"), &domains),
            DomainHost::Bucket("demo".into())
        );
        assert_eq!(
            domain_host(Some("oss-test.local:9443"), &domains),
            DomainHost::PathStyle
        );
        for elsewhere in ["a.b.oss-test.local", "xoss-test.local", "127.0.0.1:9443"] {
            assert_eq!(
                domain_host(Some(elsewhere), &domains),
                DomainHost::Elsewhere,
                "{elsewhere}"
            );
        }
        assert_eq!(virtual_host_candidate(Some("[::1]:9090")), None);
        assert_eq!(virtual_host_candidate(Some("localhost:9090")), None);
        assert_eq!(virtual_host_candidate(Some("Not_A_Bucket.example")), None);
        let address = address("/a/b.txt", Some("photos".into())).unwrap();
        assert_eq!(address.key.as_deref(), Some("a/b.txt"));
    }

    #[test]
    fn query_and_operations() {
        let query = parse_query(Some("uploads=&prefix=a+b%2Bc&max-uploads=5")).unwrap();
        assert_eq!(param(&query, "prefix"), Some("a b+c"));
        assert_eq!(param(&query, "uploads"), Some(""));
        let bucket = Address {
            bucket: Some("b".into()),
            key: None,
        };
        assert_eq!(
            classify(&Method::GET, &bucket, &query).unwrap(),
            Operation::ListMultipartUploads
        );
        let v2 = parse_query(Some("list-type=2&continuation-token=&prefix=a")).unwrap();
        assert_eq!(
            classify(&Method::GET, &bucket, &v2).unwrap(),
            Operation::ListObjectsV2
        );
        let v1 = parse_query(Some("list-type=1&marker=a")).unwrap();
        assert_eq!(
            classify(&Method::GET, &bucket, &v1).unwrap(),
            Operation::ListObjects
        );
        let object = Address {
            bucket: Some("b".into()),
            key: Some("k".into()),
        };
        let part = parse_query(Some("partNumber=1&uploadId=X")).unwrap();
        assert_eq!(
            classify(&Method::PUT, &object, &part).unwrap(),
            Operation::UploadPart
        );
        assert_eq!(
            classify(&Method::PATCH, &object, &[]).unwrap_err().code,
            "MethodNotAllowed"
        );
    }
}
