//! The OSS error answers the server gives, one constructor per code, and the error type
//! of starting the server.
//!
//! Status codes, codes and EC values follow SPEC.md section 5; messages are our own.

use std::path::PathBuf;

use thiserror::Error;

use crate::protocol::ServiceError;
use crate::protocol::error::code;

/// Why the server could not start or keep running.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid server configuration: {0}")]
    Config(String),
    #[error("the server stopped unexpectedly: {0}")]
    Stopped(String),
    /// HTTPS could not be set up; the message names the file or what is wrong.
    #[error("{0}")]
    Tls(String),
}

pub fn no_such_bucket(bucket: &str) -> ServiceError {
    ServiceError::new(
        404,
        code::NO_SUCH_BUCKET,
        "The specified bucket does not exist.",
    )
    .with_detail("BucketName", bucket)
}

pub fn no_such_key(key: &str) -> ServiceError {
    ServiceError::new(404, code::NO_SUCH_KEY, "The specified key does not exist.")
        .with_detail("Key", key)
}

pub fn no_such_upload(upload_id: &str) -> ServiceError {
    ServiceError::new(
        404,
        code::NO_SUCH_UPLOAD,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
    .with_detail("UploadId", upload_id)
}

pub fn invalid_part(part_number: u32, etag: &str, why: &str) -> ServiceError {
    ServiceError::new(
        400,
        code::INVALID_PART,
        format!("One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag: {why}"),
    )
    .with_detail("PartNumber", part_number.to_string())
    .with_detail("ETag", etag)
}

pub fn invalid_part_order() -> ServiceError {
    let mut error = ServiceError::new(
        400,
        code::INVALID_PART_ORDER,
        "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
    );
    error.ec = Some("0042-00000209".into());
    error
}

pub fn entity_too_small(part_number: u32, size: u64) -> ServiceError {
    let mut error = ServiceError::new(
        400,
        code::ENTITY_TOO_SMALL,
        "Your proposed upload is smaller than the minimum allowed size: every part but the last must be at least 102400 bytes.",
    )
    .with_detail("PartNumber", part_number.to_string())
    .with_detail("ProposedSize", size.to_string())
    .with_detail("MinSizeAllowed", "102400");
    error.ec = Some("0042-00000213".into());
    error
}

pub fn entity_too_large(max: u64) -> ServiceError {
    ServiceError::new(
        400,
        code::ENTITY_TOO_LARGE,
        "Your proposed upload exceeds the maximum allowed size.",
    )
    .with_detail("MaxSizeAllowed", max.to_string())
}

pub fn invalid_digest(sent: &str) -> ServiceError {
    ServiceError::new(
        400,
        code::INVALID_DIGEST,
        "The Content-MD5 you specified did not match what we received.",
    )
    .with_detail("ContentMD5", sent)
}

pub fn file_already_exists(key: &str, during_complete: bool) -> ServiceError {
    let mut error = ServiceError::new(409, code::FILE_ALREADY_EXISTS, "The object already exists.")
        .with_detail("Key", key);
    if during_complete {
        error.ec = Some("0042-00000214".into());
    }
    error
}

pub fn invalid_argument(name: &str, value: &str, message: &str) -> ServiceError {
    ServiceError::new(400, code::INVALID_ARGUMENT, message)
        .with_detail("ArgumentName", name)
        .with_detail("ArgumentValue", value)
}

pub fn malformed_xml(why: &str) -> ServiceError {
    ServiceError::new(
        400,
        code::MALFORMED_XML,
        format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {why}"
        ),
    )
}

pub fn invalid_object_name(why: &str) -> ServiceError {
    ServiceError::new(400, code::INVALID_OBJECT_NAME, why)
}

pub fn invalid_bucket_name(why: &str) -> ServiceError {
    ServiceError::new(400, code::INVALID_BUCKET_NAME, why)
}

pub fn invalid_range(size: u64) -> ServiceError {
    ServiceError::new(
        416,
        code::INVALID_RANGE,
        "The requested range cannot be satisfied.",
    )
    .with_detail("ObjectSize", size.to_string())
}

pub fn bucket_not_empty(bucket: &str) -> ServiceError {
    ServiceError::new(
        409,
        code::BUCKET_NOT_EMPTY,
        "The bucket you tried to delete is not empty.",
    )
    .with_detail("BucketName", bucket)
}

pub fn method_not_allowed(method: &str) -> ServiceError {
    ServiceError::new(
        405,
        code::METHOD_NOT_ALLOWED,
        "The specified method is not allowed against this resource.",
    )
    .with_detail("Method", method)
}

pub fn internal_error(why: &str) -> ServiceError {
    ServiceError::new(
        500,
        code::INTERNAL_ERROR,
        format!("We encountered an internal error: {why}"),
    )
}

pub fn service_unavailable() -> ServiceError {
    ServiceError::new(
        503,
        code::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Please retry.",
    )
}

/// A V4 request whose `x-oss-content-sha256` is not the hash of its body (or not a hash).
pub fn content_sha256_mismatch(claimed: &str) -> ServiceError {
    let mut error = ServiceError::new(
        400,
        code::INVALID_ARGUMENT,
        "The x-oss-content-sha256 header does not match the request body: sign the body's SHA-256 or UNSIGNED-PAYLOAD.",
    )
    .with_detail("ArgumentName", "x-oss-content-sha256")
    .with_detail("ArgumentValue", claimed);
    error.ec = Some("0002-00000214".into());
    error
}

/// An OSS feature (a sub-resource such as `?lifecycle`) this server does not offer.
pub fn not_implemented(sub_resource: &str) -> ServiceError {
    ServiceError::new(
        501,
        code::NOT_IMPLEMENTED,
        format!("ossup serve does not implement the `{sub_resource}` sub-resource."),
    )
}

/// A connection beyond the server's cap.
pub fn too_many_connections() -> ServiceError {
    ServiceError::new(
        503,
        code::SERVICE_UNAVAILABLE,
        "The server has too many connections open. Please retry.",
    )
}

/// A request body that arrived slower than the server's minimum rate.
pub fn request_timeout() -> ServiceError {
    ServiceError::new(
        400,
        code::REQUEST_TIMEOUT,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    )
}

pub fn incomplete_body(received: u64) -> ServiceError {
    ServiceError::new(
        400,
        code::INCOMPLETE_BODY,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
    .with_detail("Received", received.to_string())
}

/// Logs a local I/O failure and turns it into the 500 a client sees.
pub fn io_failure(action: &str, error: &std::io::Error) -> ServiceError {
    tracing::error!("{action}: {error}");
    internal_error(action)
}
