//! Errors of the protocol layer: what OSS answered, or why we never got an answer.
//!
//! Every variant carries the operation and the target (`bucket/key`) so the message a
//! person reads says what failed; service errors also keep the OSS code, EC and request id
//! that support asks for.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use super::object_key::NameError;

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
}

impl OssError {
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
                        "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "SlowDown"
                    )
            }
            OssError::Transport { .. } | OssError::ChecksumMismatch { .. } => true,
            OssError::InvalidResponse { .. } => true,
            OssError::LocalIo { .. }
            | OssError::AnswerTooLong { .. }
            | OssError::InvalidName(_)
            | OssError::Config(_) => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> OssError {
        OssError::Service {
            operation: "UploadPart",
            target: "b/k".into(),
            error: ServiceError::new(status, code, "m"),
        }
    }

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
