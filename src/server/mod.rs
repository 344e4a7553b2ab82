//! `ossup serve`: a local OSS-compatible endpoint.
//!
//! A real HTTP server storing objects and multipart uploads on disk, answering with the
//! same XML, headers, limits and error codes as OSS, and checking V1/V4 signatures. It is
//! the default target for a newcomer without an account, and the server every test uses.

pub mod auth;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Key pair used when none is configured; printed at start-up.
pub const DEFAULT_ACCESS_KEY_ID: &str = "OSSUPLOCALACCESSKEY";
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "ossup-local-secret-key-do-not-use-in-production";
/// Bucket created when none is named.
pub const DEFAULT_BUCKET: &str = "demo";

/// Everything `ossup serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where objects and in-progress uploads live.
    pub data_dir: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Buckets that exist from the start (created if missing).
    pub buckets: Vec<String>,
    /// Accepted `(AccessKeyId, AccessKeySecret)` pairs.
    pub access_keys: Vec<(String, String)>,
    /// Region answered to V4 requests (`cn-hangzhou` style); V4 scopes must match it.
    pub region: String,
}
