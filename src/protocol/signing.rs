//! OSS request signatures: V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256), as headers or as
//! presigned URLs. The clock is always passed in, so published vectors can pin it.
//!
//! The functions that build the string to sign / canonical request are public because
//! `ossup serve` verifies signatures by recomputing them.
//!
//! Rules follow the OSS reference (SPEC.md sections 1–3): V1 signs the method, Content-MD5,
//! Content-Type, the date line, every `x-oss-*` header and the canonical resource (with the
//! sub-resources of oss2's list plus any `x-oss-*` parameter); V4 signs a canonical request
//! made of the percent-encoded path, every query parameter, Content-Type, Content-MD5, the
//! `x-oss-*` headers and any additional headers named by the signer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::credentials::Credentials;

/// The V4 algorithm name, first word of the Authorization header.
pub const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// Payload hash line used by every OSS SDK: bodies are never hashed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The product part of a V4 scope.
pub const V4_PRODUCT: &str = "oss";
/// The terminator of a V4 scope.
pub const V4_REQUEST_TERMINATOR: &str = "aliyun_v4_request";

/// V1 presigned URL parameters (the signature itself, not part of the resource).
pub const V1_QUERY_ACCESS_KEY_ID: &str = "OSSAccessKeyId";
pub const V1_QUERY_EXPIRES: &str = "Expires";
pub const V1_QUERY_SIGNATURE: &str = "Signature";
/// STS token in a V1 presigned URL (a sub-resource, so it is signed).
pub const V1_QUERY_SECURITY_TOKEN: &str = "security-token";

/// V4 presigned URL parameters; all but `x-oss-signature` are part of the canonical query.
pub const V4_QUERY_SIGNATURE_VERSION: &str = "x-oss-signature-version";
pub const V4_QUERY_CREDENTIAL: &str = "x-oss-credential";
pub const V4_QUERY_DATE: &str = "x-oss-date";
pub const V4_QUERY_EXPIRES: &str = "x-oss-expires";
pub const V4_QUERY_ADDITIONAL_HEADERS: &str = "x-oss-additional-headers";
pub const V4_QUERY_SECURITY_TOKEN: &str = "x-oss-security-token";
pub const V4_QUERY_SIGNATURE: &str = "x-oss-signature";

/// Header names the signer reads or writes (lower case).
pub const HEADER_AUTHORIZATION: &str = "authorization";
pub const HEADER_DATE: &str = "date";
pub const HEADER_CONTENT_TYPE: &str = "content-type";
pub const HEADER_CONTENT_MD5: &str = "content-md5";
pub const HEADER_OSS_DATE: &str = "x-oss-date";
pub const HEADER_CONTENT_SHA256: &str = "x-oss-content-sha256";
pub const HEADER_SECURITY_TOKEN: &str = "x-oss-security-token";

/// Query parameters that are V1 sub-resources, as oss2 2.19.1 lists them (sorted, so a
/// binary search finds them). Any parameter starting with `x-oss-` counts as well.
const V1_SUBRESOURCES: &[&str] = &[
    "accessPoint",
    "accessPointPolicy",
    "acl",
    "append",
    "asyncFetch",
    "bucketArchiveDirectRead",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "httpsConfig",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "publicAccessBlock",
    "qos",
    "qosInfo",
    "qosRequester",
    "redundancyTransition",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "requesterQosInfo",
    "resourceGroup",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-access-point-name",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-redundancy-transition-taskid",
    "x-oss-request-payer",
    "x-oss-target-redundancy-type",
    "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
];

/// Everything except `A-Z a-z 0-9 - _ . ~` is escaped (RFC 3986 unreserved set).
const ENCODE_ALL_BUT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Same, but `/` stays literal (V4 canonical URI).
const ENCODE_ALL_BUT_UNRESERVED_AND_SLASH: &AsciiSet = &ENCODE_ALL_BUT_UNRESERVED.remove(b'/');

const HTTP_DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const V4_TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const V4_DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]");

/// Which signature scheme a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureVersion {
    V1,
    /// V4 is scoped to a region id such as `cn-hangzhou` (not `oss-cn-hangzhou`).
    V4 {
        region: String,
    },
}

/// What a request addresses, as far as a signature is concerned.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub method: &'a str,
    /// `None` for service-level requests.
    pub bucket: Option<&'a str>,
    /// `None` for bucket-level requests.
    pub key: Option<&'a str>,
    /// Decoded query parameters in any order; a valueless parameter has an empty value.
    pub query: &'a [(String, String)],
}

// ---------------------------------------------------------------------------------------
// Client side: sign a request or build a presigned URL.
// ---------------------------------------------------------------------------------------

/// Signs a request in place: adds `Date` (V1) or `x-oss-date` + `x-oss-content-sha256`
/// (V4), `x-oss-security-token` for STS credentials, then `Authorization`.
/// `headers` are the headers as they go on the wire; names in any case.
pub fn sign_headers(
    credentials: &Credentials,
    version: &SignatureVersion,
    target: &RequestTarget<'_>,
    headers: &mut Vec<(String, String)>,
    now: SystemTime,
) {
    sign_headers_with_additional(credentials, version, target, headers, now, &[]);
}

/// [`sign_headers`], with V4 additional headers (e.g. `host`) that are signed too; each must
/// be present in `headers`. V1 has no such notion and ignores them.
pub fn sign_headers_with_additional(
    credentials: &Credentials,
    version: &SignatureVersion,
    target: &RequestTarget<'_>,
    headers: &mut Vec<(String, String)>,
    now: SystemTime,
    additional_headers: &[&str],
) {
    if let Some(token) = credentials.security_token() {
        set_header(headers, HEADER_SECURITY_TOKEN, token);
    }
    let authorization = match version {
        SignatureVersion::V1 => {
            let date = http_date(now);
            set_header(headers, HEADER_DATE, &date);
            let resource = v1_canonical_resource(target.bucket, target.key, target.query);
            let string_to_sign = v1_string_to_sign(target.method, headers, &date, &resource);
            let signature = v1_signature(credentials.access_key_secret(), &string_to_sign);
            v1_authorization(credentials.access_key_id(), &signature)
        }
        SignatureVersion::V4 { region } => {
            let timestamp = v4_timestamp(now);
            set_header(headers, HEADER_OSS_DATE, &timestamp);
            if header_value(headers, HEADER_CONTENT_SHA256).is_none() {
                set_header(headers, HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD);
            }
            let additional = v4_additional_headers(additional_headers);
            let date = v4_date(now);
            let scope = v4_scope(&date, region);
            let canonical_request = v4_canonical_request(target, headers, &additional);
            let string_to_sign = v4_string_to_sign(&timestamp, &scope, &canonical_request);
            let key = v4_signing_key(credentials.access_key_secret(), &date, region);
            let signature = v4_signature(&key, &string_to_sign);
            v4_authorization(credentials.access_key_id(), &scope, &additional, &signature)
        }
    };
    set_header(headers, HEADER_AUTHORIZATION, &authorization);
}

/// Query parameters to append for a presigned URL valid for `expires_in_secs` from `now`.
/// `headers` are those the eventual requester must send (Content-Type, `x-oss-*`).
///
/// V1 returns `[security-token,] OSSAccessKeyId, Expires, Signature`; V4 returns
/// `[x-oss-security-token,] x-oss-date, x-oss-expires, x-oss-signature-version,
/// x-oss-credential, [x-oss-additional-headers,] x-oss-signature` (oss2's order). Values
/// are decoded; [`encode_query`] turns the full list into a query string.
pub fn presign_query(
    credentials: &Credentials,
    version: &SignatureVersion,
    target: &RequestTarget<'_>,
    headers: &[(String, String)],
    now: SystemTime,
    expires_in_secs: u64,
) -> Vec<(String, String)> {
    presign_query_with_additional(
        credentials,
        version,
        target,
        headers,
        now,
        expires_in_secs,
        &[],
    )
}

/// [`presign_query`], with V4 additional headers the requester must send and that are
/// signed too. V1 ignores them.
pub fn presign_query_with_additional(
    credentials: &Credentials,
    version: &SignatureVersion,
    target: &RequestTarget<'_>,
    headers: &[(String, String)],
    now: SystemTime,
    expires_in_secs: u64,
    additional_headers: &[&str],
) -> Vec<(String, String)> {
    let mut added: Vec<(String, String)> = Vec::new();
    match version {
        SignatureVersion::V1 => {
            if let Some(token) = credentials.security_token() {
                added.push((V1_QUERY_SECURITY_TOKEN.into(), token.into()));
            }
            let expires = unix_seconds(now).saturating_add(expires_in_secs);
            let query = joined(target.query, &added);
            let resource = v1_canonical_resource(target.bucket, target.key, &query);
            let string_to_sign =
                v1_string_to_sign(target.method, headers, &expires.to_string(), &resource);
            let signature = v1_signature(credentials.access_key_secret(), &string_to_sign);
            added.push((
                V1_QUERY_ACCESS_KEY_ID.into(),
                credentials.access_key_id().into(),
            ));
            added.push((V1_QUERY_EXPIRES.into(), expires.to_string()));
            added.push((V1_QUERY_SIGNATURE.into(), signature));
        }
        SignatureVersion::V4 { region } => {
            if let Some(token) = credentials.security_token() {
                added.push((V4_QUERY_SECURITY_TOKEN.into(), token.into()));
            }
            let timestamp = v4_timestamp(now);
            let date = v4_date(now);
            let scope = v4_scope(&date, region);
            let additional = v4_additional_headers(additional_headers);
            added.push((V4_QUERY_DATE.into(), timestamp.clone()));
            added.push((V4_QUERY_EXPIRES.into(), expires_in_secs.to_string()));
            added.push((V4_QUERY_SIGNATURE_VERSION.into(), V4_ALGORITHM.into()));
            added.push((
                V4_QUERY_CREDENTIAL.into(),
                format!("{}/{scope}", credentials.access_key_id()),
            ));
            if !additional.is_empty() {
                added.push((V4_QUERY_ADDITIONAL_HEADERS.into(), additional.join(";")));
            }
            let query = joined(target.query, &added);
            let signed_target = RequestTarget {
                query: &query,
                ..*target
            };
            let canonical_request = v4_canonical_request(&signed_target, headers, &additional);
            let string_to_sign = v4_string_to_sign(&timestamp, &scope, &canonical_request);
            let key = v4_signing_key(credentials.access_key_secret(), &date, region);
            added.push((
                V4_QUERY_SIGNATURE.into(),
                v4_signature(&key, &string_to_sign),
            ));
        }
    }
    added
}

fn joined(first: &[(String, String)], second: &[(String, String)]) -> Vec<(String, String)> {
    first.iter().chain(second).cloned().collect()
}

/// Replaces every header called `name` (any case) with one `name: value`.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
}

/// The first value of header `name` (any case).
pub fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------
// Encoding and time formats shared by both versions and by the server.
// ---------------------------------------------------------------------------------------

/// Percent-encodes everything but `A-Z a-z 0-9 - _ . ~` (upper-case hex), so `/` becomes
/// `%2F`: query names and values, and object keys in a URL path as oss2 sends them.
pub fn uri_encode(value: &str) -> String {
    utf8_percent_encode(value, ENCODE_ALL_BUT_UNRESERVED).to_string()
}

/// Like [`uri_encode`] but keeps `/` literal (the V4 canonical URI).
pub fn uri_encode_keep_slash(value: &str) -> String {
    utf8_percent_encode(value, ENCODE_ALL_BUT_UNRESERVED_AND_SLASH).to_string()
}

/// A query string from decoded parameters, in the given order: `name=value`, a bare `name`
/// for an empty value, each part encoded with [`uri_encode`], joined with `&`.
pub fn encode_query(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| {
            if value.is_empty() {
                uri_encode(name)
            } else {
                format!("{}={}", uri_encode(name), uri_encode(value))
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn utc(time: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(time)
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 1123 date as OSS wants it in `Date`: `Wed, 15 Jan 2025 12:00:00 GMT`.
pub fn http_date(time: SystemTime) -> String {
    // Formatting a valid date with a literal-only description cannot fail; the fallback
    // keeps this total anyway.
    utc(time)
        .format(HTTP_DATE_FORMAT)
        .unwrap_or_else(|_| httpdate::fmt_http_date(time))
}

/// Parses an RFC 1123 (or other HTTP) date; `None` when it is not one.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

/// V4 timestamp `YYYYMMDDTHHMMSSZ` (UTC), the `x-oss-date` value.
pub fn v4_timestamp(time: SystemTime) -> String {
    utc(time).format(V4_TIMESTAMP_FORMAT).unwrap_or_default()
}

/// V4 scope date `YYYYMMDD` (UTC).
pub fn v4_date(time: SystemTime) -> String {
    utc(time).format(V4_DATE_FORMAT).unwrap_or_default()
}

/// Parses a V4 timestamp `YYYYMMDDTHHMMSSZ`; `None` when malformed.
pub fn parse_v4_timestamp(value: &str) -> Option<SystemTime> {
    let parsed = PrimitiveDateTime::parse(value, V4_TIMESTAMP_FORMAT).ok()?;
    let seconds = parsed.assume_utc().unix_timestamp();
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lower-case names of headers signed in every request of the given kind, sorted, with
/// trimmed values; repeated headers are joined with `,`.
fn collect_signed_headers(
    headers: &[(String, String)],
    include: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut signed: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if !include(&name) {
            continue;
        }
        let value = value.trim();
        match signed.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => signed.push((name, value.to_owned())),
        }
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    signed
}

// ---------------------------------------------------------------------------------------
// V1 building blocks.
// ---------------------------------------------------------------------------------------

/// Whether a query parameter belongs in the V1 canonical resource: oss2's sub-resource
/// list, plus any parameter starting with `x-oss-`.
pub fn is_v1_subresource(name: &str) -> bool {
    name.starts_with("x-oss-") || V1_SUBRESOURCES.binary_search(&name).is_ok()
}

/// V1 canonical resource: `/bucket/key` with the raw key, `/bucket/` for a bucket, `/` for
/// the service, then `?` and the sub-resources sorted by name, raw values, bare names for
/// empty values.
pub fn v1_canonical_resource(
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
) -> String {
    let mut resource = match (bucket, key) {
        (Some(bucket), Some(key)) => format!("/{bucket}/{key}"),
        (Some(bucket), None) => format!("/{bucket}/"),
        (None, _) => "/".to_owned(),
    };
    let mut subresources: Vec<&(String, String)> = query
        .iter()
        .filter(|(name, _)| is_v1_subresource(name))
        .collect();
    subresources.sort_by(|a, b| a.0.cmp(&b.0));
    for (index, (name, value)) in subresources.into_iter().enumerate() {
        resource.push(if index == 0 { '?' } else { '&' });
        resource.push_str(name);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
    }
    resource
}

/// V1 canonicalized OSS headers: `name:value\n` for every `x-oss-*` header, sorted.
pub fn v1_canonical_headers(headers: &[(String, String)]) -> String {
    collect_signed_headers(headers, |name| name.starts_with("x-oss-"))
        .into_iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect()
}

/// V1 string to sign. `date_line` is the `Date` header value for header signing or the
/// absolute `Expires` (Unix seconds) for a presigned URL; Content-MD5, Content-Type and the
/// `x-oss-*` headers come from `headers`.
pub fn v1_string_to_sign(
    method: &str,
    headers: &[(String, String)],
    date_line: &str,
    canonical_resource: &str,
) -> String {
    let content_md5 = header_value(headers, HEADER_CONTENT_MD5).unwrap_or_default();
    let content_type = header_value(headers, HEADER_CONTENT_TYPE).unwrap_or_default();
    format!(
        "{method}\n{}\n{}\n{date_line}\n{}{canonical_resource}",
        content_md5.trim(),
        content_type.trim(),
        v1_canonical_headers(headers),
    )
}

/// V1 signature: Base64(HMAC-SHA1(secret, string to sign)).
pub fn v1_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(
        access_key_secret.as_bytes(),
        string_to_sign.as_bytes(),
    ))
}

/// `OSS <id>:<signature>`.
pub fn v1_authorization(access_key_id: &str, signature: &str) -> String {
    format!("OSS {access_key_id}:{signature}")
}

// ---------------------------------------------------------------------------------------
// V4 building blocks.
// ---------------------------------------------------------------------------------------

/// Whether a header is signed in V4 whatever the signer says: Content-Type, Content-MD5
/// and every `x-oss-*` header (lower-case name expected).
pub fn is_v4_default_signed_header(lower_name: &str) -> bool {
    lower_name == HEADER_CONTENT_TYPE
        || lower_name == HEADER_CONTENT_MD5
        || lower_name.starts_with("x-oss-")
}

/// Normalises V4 additional header names: lower-cased, sorted by full name, without
/// duplicates or default-signed headers (those are never repeated in the list).
pub fn v4_additional_headers<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut normalised: Vec<String> = names
        .iter()
        .map(|n| n.as_ref().trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && !is_v4_default_signed_header(n))
        .collect();
    normalised.sort();
    normalised.dedup();
    normalised
}

/// `<YYYYMMDD>/<region>/oss/aliyun_v4_request`.
pub fn v4_scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{V4_PRODUCT}/{V4_REQUEST_TERMINATOR}")
}

/// V4 canonical URI: `/bucket/key` (`/bucket/`, `/`), every byte but unreserved characters
/// and `/` percent-encoded.
pub fn v4_canonical_uri(bucket: Option<&str>, key: Option<&str>) -> String {
    let raw = match (bucket, key) {
        (Some(bucket), Some(key)) => format!("/{bucket}/{key}"),
        (Some(bucket), None) => format!("/{bucket}/"),
        (None, _) => "/".to_owned(),
    };
    uri_encode_keep_slash(&raw)
}

/// V4 canonical query: every parameter, name and value encoded, sorted by encoded name
/// (then value), `name=value` or a bare `name`, joined with `&`.
pub fn v4_canonical_query(query: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    encoded.sort();
    encoded
        .into_iter()
        .map(|(name, value)| {
            if value.is_empty() {
                name
            } else {
                format!("{name}={value}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// V4 canonical request. `additional_headers` must already be normalised
/// ([`v4_additional_headers`]); the payload line is `x-oss-content-sha256` or
/// `UNSIGNED-PAYLOAD`.
pub fn v4_canonical_request(
    target: &RequestTarget<'_>,
    headers: &[(String, String)],
    additional_headers: &[String],
) -> String {
    let canonical_headers: String = collect_signed_headers(headers, |name| {
        is_v4_default_signed_header(name) || additional_headers.iter().any(|a| a == name)
    })
    .into_iter()
    .map(|(name, value)| format!("{name}:{value}\n"))
    .collect();
    let payload = header_value(headers, HEADER_CONTENT_SHA256)
        .map(str::trim)
        .unwrap_or(UNSIGNED_PAYLOAD);
    format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{payload}",
        target.method,
        v4_canonical_uri(target.bucket, target.key),
        v4_canonical_query(target.query),
        additional_headers.join(";"),
    )
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// V4 string to sign: algorithm, timestamp, scope, SHA-256 of the canonical request.
pub fn v4_string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{V4_ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// V4 signing key: HMAC chain over date, region, `oss`, `aliyun_v4_request`, starting from
/// `aliyun_v4` + secret.
pub fn v4_signing_key(access_key_secret: &str, date: &str, region: &str) -> [u8; 32] {
    let date_key = hmac_sha256(
        format!("aliyun_v4{access_key_secret}").as_bytes(),
        date.as_bytes(),
    );
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let product_key = hmac_sha256(&region_key, V4_PRODUCT.as_bytes());
    hmac_sha256(&product_key, V4_REQUEST_TERMINATOR.as_bytes())
}

/// V4 signature: lower-case hex HMAC-SHA256(signing key, string to sign).
pub fn v4_signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// `OSS4-HMAC-SHA256 Credential=<id>/<scope>[,AdditionalHeaders=<a;b>],Signature=<hex>`.
pub fn v4_authorization(
    access_key_id: &str,
    scope: &str,
    additional_headers: &[String],
    signature: &str,
) -> String {
    let mut authorization = format!("{V4_ALGORITHM} Credential={access_key_id}/{scope}");
    if !additional_headers.is_empty() {
        authorization.push_str(",AdditionalHeaders=");
        authorization.push_str(&additional_headers.join(";"));
    }
    authorization.push_str(",Signature=");
    authorization.push_str(signature);
    authorization
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn subresource_list_is_sorted_for_binary_search() {
        assert!(V1_SUBRESOURCES.windows(2).all(|w| w[0] < w[1]));
        assert!(is_v1_subresource("uploadId"));
        assert!(is_v1_subresource("x-oss-anything"));
        assert!(!is_v1_subresource("max-parts"));
        assert!(!is_v1_subresource("uploadid"));
    }

    #[test]
    fn dates_round_trip() {
        let now = at(1_736_942_400);
        assert_eq!(http_date(now), "Wed, 15 Jan 2025 12:00:00 GMT");
        assert_eq!(v4_timestamp(now), "20250115T120000Z");
        assert_eq!(v4_date(now), "20250115");
        assert_eq!(parse_v4_timestamp("20250115T120000Z"), Some(now));
        assert_eq!(parse_http_date("Wed, 15 Jan 2025 12:00:00 GMT"), Some(now));
        assert_eq!(parse_v4_timestamp("2025-01-15T12:00:00Z"), None);
        // Single-digit days are zero-padded, as RFC 1123 requires.
        assert_eq!(
            http_date(at(1_704_153_600)),
            "Tue, 02 Jan 2024 00:00:00 GMT"
        );
    }

    #[test]
    fn sign_headers_replaces_stale_values() {
        let creds = Credentials::new("id", "secret");
        let query = Vec::new();
        let target = RequestTarget {
            method: "GET",
            bucket: Some("b"),
            key: Some("k"),
            query: &query,
        };
        let mut headers = vec![
            ("Date".to_owned(), "old".to_owned()),
            ("Authorization".to_owned(), "old".to_owned()),
        ];
        sign_headers(
            &creds,
            &SignatureVersion::V1,
            &target,
            &mut headers,
            at(1_736_942_400),
        );
        let dates: Vec<_> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("date"))
            .collect();
        assert_eq!(dates.len(), 1);
        assert_eq!(dates[0].1, "Wed, 15 Jan 2025 12:00:00 GMT");
        let auth = header_value(&headers, "authorization").unwrap_or_default();
        assert!(auth.starts_with("OSS id:"), "{auth}");
    }

    #[test]
    fn v4_authorization_lists_additional_headers_before_signature() {
        let additional = v4_additional_headers(&["ZAbc", "abc", "Content-Type", "abc"]);
        assert_eq!(additional, vec!["abc".to_owned(), "zabc".to_owned()]);
        assert_eq!(
            v4_authorization("ak", "20250115/r/oss/aliyun_v4_request", &additional, "f00"),
            "OSS4-HMAC-SHA256 Credential=ak/20250115/r/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=f00"
        );
    }
}
