//! OSS request signatures: V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256), as headers or as
//! presigned URLs. The clock is always passed in, so published vectors can pin it.
//!
//! The functions that build the string to sign / canonical request are public because
//! `ossup serve` verifies signatures by recomputing them.

use std::time::SystemTime;

use super::credentials::Credentials;

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
    let _ = (credentials, version, target, headers, now);
    todo!("signing")
}

/// Query parameters to append for a presigned URL valid for `expires_in_secs` from `now`.
/// `headers` are those the eventual requester must send (Content-Type, `x-oss-*`).
pub fn presign_query(
    credentials: &Credentials,
    version: &SignatureVersion,
    target: &RequestTarget<'_>,
    headers: &[(String, String)],
    now: SystemTime,
    expires_in_secs: u64,
) -> Vec<(String, String)> {
    let _ = (credentials, version, target, headers, now, expires_in_secs);
    todo!("presign")
}
