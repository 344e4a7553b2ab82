//! The OSS wire protocol: signing, XML bodies, errors, CRC-64, key rules and an HTTP
//! client with one method per operation.
//!
//! This layer spawns no tasks and knows nothing of sessions or the window; both the
//! client and `ossup serve` build on it.

pub mod client;
pub mod crc64;
pub mod credentials;
pub mod credentials_provider;
pub mod error;
pub mod lifecycle;
pub mod limits;
pub mod object_key;
pub mod object_ref;
pub mod region;
pub mod signing;
pub mod xml;

pub use client::OssClient;
pub use credentials::Credentials;
pub use credentials_provider::{CredentialsError, CredentialsProvider};
pub use error::{OssError, ServiceError};
pub use object_ref::ObjectRef;
