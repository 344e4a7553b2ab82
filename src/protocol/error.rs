//! Errors of the protocol layer: what OSS answered, or why we never got an answer.
//!
//! Every variant carries the operation and the target (`bucket/key`) so the message a
//! person reads says what failed; service errors also keep the OSS code, EC and request id
//! that support asks for. The OSS error codes every layer builds or branches on are named
//! once, in [`code`].

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use super::credentials_provider::CredentialsError;
use super::object_key::NameError;

/// The OSS error codes this crate builds or branches on, named once so a typo does not
/// compile.
pub mod code {
    /// The credentials may not do this (or a presigned URL has expired).
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// The bucket to delete still holds objects.
    pub const BUCKET_NOT_EMPTY: &str = "BucketNotEmpty";
    /// A part (every one but the last) is below the minimum part size.
    pub const ENTITY_TOO_SMALL: &str = "EntityTooSmall";
    /// A body is larger than the operation allows.
    pub const ENTITY_TOO_LARGE: &str = "EntityTooLarge";
    /// A forbid-overwrite write found an object already at the key.
    pub const FILE_ALREADY_EXISTS: &str = "FileAlreadyExists";
    /// The body ended before the announced Content-Length.
    pub const INCOMPLETE_BODY: &str = "IncompleteBody";
    /// The server failed on its side; retrying may help.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// The access key id is unknown to the server.
    pub const INVALID_ACCESS_KEY_ID: &str = "InvalidAccessKeyId";
    /// A parameter or header has a value the operation refuses.
    pub const INVALID_ARGUMENT: &str = "InvalidArgument";
    /// The bucket name breaks the naming rules.
    pub const INVALID_BUCKET_NAME: &str = "InvalidBucketName";
    /// The Content-MD5 does not match the body.
    pub const INVALID_DIGEST: &str = "InvalidDigest";
    /// The object key breaks the naming rules.
    pub const INVALID_OBJECT_NAME: &str = "InvalidObjectName";
    /// A part named in CompleteMultipartUpload is missing or has another ETag.
    pub const INVALID_PART: &str = "InvalidPart";
    /// The parts of CompleteMultipartUpload are not in ascending order.
    pub const INVALID_PART_ORDER: &str = "InvalidPartOrder";
    /// The requested byte range lies outside the object.
    pub const INVALID_RANGE: &str = "InvalidRange";
    /// A request body is not the XML the operation expects.
    pub const MALFORMED_XML: &str = "MalformedXML";
    /// The HTTP method is not allowed on this resource.
    pub const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
    /// The bucket does not exist on this endpoint.
    pub const NO_SUCH_BUCKET: &str = "NoSuchBucket";
    /// No object at the key.
    pub const NO_SUCH_KEY: &str = "NoSuchKey";
    /// The multipart upload id is unknown: aborted, completed or never started.
    pub const NO_SUCH_UPLOAD: &str = "NoSuchUpload";
    /// The server does not offer this operation or sub-resource.
    pub const NOT_IMPLEMENTED: &str = "NotImplemented";
    /// The body arrived too slowly; retrying may help.
    pub const REQUEST_TIMEOUT: &str = "RequestTimeout";
    /// Our clock differs too much from the server's.
    pub const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";
    /// The STS security token has expired.
    pub const SECURITY_TOKEN_EXPIRED: &str = "SecurityTokenExpired";
    /// The server is temporarily unavailable (or has too many connections); retry.
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
    /// The signature the server computed differs from ours.
    pub const SIGNATURE_DOES_NOT_MATCH: &str = "SignatureDoesNotMatch";
    /// The server asks us to send fewer requests; retry later.
    pub const SLOW_DOWN: &str = "SlowDown";
}

/// An error answer from OSS (or from `ossup serve`): the `<Error>` body plus the status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceError {
    /// HTTP status of the answer.
    pub status: u16,
    /// OSS error code such as `NoSuchUpload`; branch on this, never on `message`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub host_id: Option<String>,
    /// Alibaba's detailed error code, e.g. `0002-00000040`.
    pub ec: Option<String>,
    /// Every other child element of `<Error>` (UploadId, StringToSign, ArgumentName, …).
    pub details: Vec<(String, String)>,
}

impl ServiceError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// Adds an operation-specific child element such as `UploadId` or `ArgumentName`.
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.push((name.into(), value.into()));
        self
    }

    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}", self.code, self.status)?;
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        if let Some(ec) = &self.ec {
            write!(f, ", EC {ec}")?;
        }
        write!(f, ")")?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// How a request failed to get an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not connect (refused, unreachable, DNS).
    Connect,
    /// No answer in time.
    Timeout,
    /// The connection broke while sending or receiving.
    Broken,
    /// Anything else the HTTP stack reported.
    Other,
}

/// Errors from the protocol layer.
#[derive(Debug, Error)]
pub enum OssError {
    #[error("{operation} of {target} was refused by the server: {error}")]
    Service {
        operation: &'static str,
        target: String,
        error: ServiceError,
    },
    #[error("{operation} of {target} got no answer ({kind:?}): {message}")]
    Transport {
        operation: &'static str,
        target: String,
        kind: TransportKind,
        message: String,
    },
    #[error("{operation}: could not read {}: {source}", path.display())]
    LocalIo {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{operation} of {target}: CRC-64 mismatch, we computed {local} but the server reports {server}; the data was damaged in transit"
    )]
    ChecksumMismatch {
        operation: &'static str,
        target: String,
        local: u64,
        server: u64,
    },
    #[error("{operation} of {target}: the server's answer could not be understood: {message}")]
    InvalidResponse {
        operation: &'static str,
        target: String,
        message: String,
    },
    /// The answer's body went past what the call can accept (`limit` says how much that
    /// was); the rest was left unread so a hostile or broken server cannot fill memory.
    #[error("the server's answer to {operation} of {target} {limit}; stopped reading")]
    AnswerTooLong {
        operation: &'static str,
        target: String,
        limit: String,
    },
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The credentials source (an external command) gave nothing to sign with.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

impl OssError {
    /// Whether the request may have reached the server and taken effect although no
    /// answer was read: the connection broke or timed out after connecting, or the
    /// answer was garbled. A refused connection or an error answer did nothing.
    pub fn answer_may_be_lost(&self) -> bool {
        match self {
            OssError::Transport { kind, .. } => *kind != TransportKind::Connect,
            OssError::InvalidResponse { .. } | OssError::AnswerTooLong { .. } => true,
            _ => false,
        }
    }

    /// The service error behind this one, if the server answered.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            OssError::Service { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The OSS error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        self.service().map(|e| e.code.as_str())
    }

    pub fn request_id(&self) -> Option<&str> {
        self.service().and_then(|e| e.request_id.as_deref())
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Whether sending the same request again may succeed: server-side trouble (5xx,
    /// throttling), lost connections, timeouts and corrupted transfers. Errors that cannot
    /// heal by themselves (bad credentials, missing bucket, refused arguments) are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            OssError::Service { error, .. } => {
                error.status >= 500
                    || error.status == 429
                    || matches!(
                        error.code.as_str(),
                        code::REQUEST_TIMEOUT
                            | code::INTERNAL_ERROR
                            | code::SERVICE_UNAVAILABLE
                            | code::SLOW_DOWN
                    )
            }
            OssError::Transport { .. } | OssError::ChecksumMismatch { .. } => true,
            OssError::InvalidResponse { .. } => true,
            OssError::LocalIo { .. }
            | OssError::AnswerTooLong { .. }
            | OssError::InvalidName(_)
            | OssError::Config(_)
            | OssError::Credentials(_) => false,
        }
    }

    /// Whether the failure means the network (not the server) is unreachable, so a
    /// transfer should wait for connectivity rather than spend its retry budget.
    pub fn is_network_down(&self) -> bool {
        matches!(
            self,
            OssError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        )
    }
}

/// Errors as an `UploadPart` of `b/k` meets them, for the unit tests of every layer.
#[cfg(test)]
pub(crate) mod testing {
    use super::{OssError, ServiceError, TransportKind};

    /// The server refused with this status and code.
    pub(crate) fn service(status: u16, code: &str) -> OssError {
        OssError::Service {
            operation: "UploadPart",
            target: "b/k".into(),
            error: ServiceError::new(status, code, "m"),
        }
    }

    /// No answer came, for this reason.
    pub(crate) fn transport(kind: TransportKind) -> OssError {
        OssError::Transport {
            operation: "UploadPart",
            target: "b/k".into(),
            kind,
            message: "x".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::service;
    use super::*;

    #[test]
    fn retry_classification() {
        assert!(service(500, "InternalError").is_retryable());
        assert!(service(503, "ServiceUnavailable").is_retryable());
        assert!(service(429, "TooManyRequests").is_retryable());
        assert!(!service(403, "AccessDenied").is_retryable());
        assert!(!service(403, "SignatureDoesNotMatch").is_retryable());
        assert!(!service(404, "NoSuchBucket").is_retryable());
        assert!(!service(404, "NoSuchUpload").is_retryable());
        let cut = OssError::Transport {
            operation: "UploadPart",
            target: "b/k".into(),
            kind: TransportKind::Broken,
            message: "reset".into(),
        };
        assert!(cut.is_retryable());
        assert!(!cut.is_network_down());
    }

    #[test]
    fn message_names_code_and_request_id() {
        let mut error = ServiceError::new(404, "NoSuchUpload", "gone");
        error.request_id = Some("RID123".into());
        let shown = OssError::Service {
            operation: "ListParts",
            target: "b/k".into(),
            error,
        }
        .to_string();
        assert!(shown.contains("ListParts of b/k"), "{shown}");
        assert!(shown.contains("NoSuchUpload"), "{shown}");
        assert!(shown.contains("RID123"), "{shown}");
    }
}
