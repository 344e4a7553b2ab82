//! The per-request context every operation receives.
//!
//! It lives apart from the dispatcher so that the operations depend only on this
//! context and the dispatcher depends on the operations, never the other way round.

use std::sync::Arc;

use axum::http::request::Parts;

use super::auth::KeyStore;
use super::connection::ConnectionInfo;
use super::faults::FaultHandle;
use super::permissions::PermissionTable;
use super::request::{self, Address};
use super::store::Store;

/// What every request handler shares.
#[derive(Debug)]
pub struct App {
    pub store: Arc<Store>,
    pub faults: FaultHandle,
    /// Accepted key pairs.
    pub access_keys: KeyStore,
    /// The RAM actions each key may perform.
    pub permissions: PermissionTable,
    /// Region V4 signatures must be scoped to.
    pub region: String,
    /// Domains whose subdomains name buckets (`demo.oss-test.local` → `demo`), lower-cased.
    pub virtual_host_domains: Vec<String>,
}

/// One request, decoded.
pub struct Call<'a> {
    pub app: &'a App,
    pub parts: Parts,
    pub address: Address,
    pub query: Vec<(String, String)>,
    pub connection: ConnectionInfo,
    /// Drop the connection after this many body bytes (fault injection).
    pub cut_after_bytes: Option<u64>,
    /// Flip a byte of the body as it arrives (fault injection).
    pub damage_body: bool,
}

impl Call<'_> {
    /// The bucket, which the operation's classification guarantees.
    pub fn bucket(&self) -> &str {
        self.address.bucket.as_deref().unwrap_or_default()
    }

    /// The key, which the operation's classification guarantees.
    pub fn key(&self) -> &str {
        self.address.key.as_deref().unwrap_or_default()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        request::param(&self.query, name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        request::header(&self.parts.headers, name)
    }

    pub fn url_encoded(&self) -> bool {
        self.param("encoding-type") == Some("url")
    }

    /// The host the client addressed, for `Location` and `HostId`.
    pub fn host(&self) -> String {
        request::host(&self.parts)
    }
}
