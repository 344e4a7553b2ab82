//! Reading answers: turning non-2xx responses into `ServiceError`s (body, or the base64
//! `x-oss-err` header on HEAD), transport failures into `TransportKind`s, and the OSS
//! headers we rely on into typed values.

use base64::Engine as _;
use reqwest::header::HeaderMap;

use super::super::error::{OssError, ServiceError, TransportKind};
use super::super::xml;

pub const REQUEST_ID: &str = "x-oss-request-id";
pub const CRC64: &str = "x-oss-hash-crc64ecma";
const ERROR_HEADER: &str = "x-oss-err";
const EC_HEADER: &str = "x-oss-ec";

/// Longest error-body excerpt kept when the body is not an OSS `<Error>` document.
const EXCERPT_CHARS: usize = 200;

/// A header as text, if present and valid.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Builds the service error for a non-2xx answer from its status, headers and body.
pub fn service_error(status: u16, headers: &HeaderMap, body: &[u8]) -> ServiceError {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        xml::parse_error_body(status, body)
    };
    let mut error = from_body
        .or_else(|| error_from_header(status, headers))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.trim().chars().take(EXCERPT_CHARS).collect();
            let message = if excerpt.is_empty() {
                format!("HTTP {status} with no OSS error document")
            } else {
                excerpt
            };
            ServiceError::new(status, format!("Http{status}"), message)
        });
    if error.request_id.is_none() {
        error.request_id = header(headers, REQUEST_ID).map(str::to_owned);
    }
    if error.ec.is_none() {
        error.ec = header(headers, EC_HEADER).map(str::to_owned);
    }
    error
}

/// HEAD answers have no body; OSS puts the `<Error>` document base64-encoded in `x-oss-err`.
fn error_from_header(status: u16, headers: &HeaderMap) -> Option<ServiceError> {
    let encoded = header(headers, ERROR_HEADER)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    xml::parse_error_body(status, &decoded)
}

/// Classifies a reqwest failure.
pub fn transport_kind(error: &reqwest::Error) -> TransportKind {
    if error.is_connect() {
        TransportKind::Connect
    } else if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_body() || error.is_request() || error.is_decode() {
        TransportKind::Broken
    } else {
        TransportKind::Other
    }
}

/// The error and every cause below it, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// `x-oss-hash-crc64ecma` as a number: `Ok(None)` when absent, an error when garbled.
pub fn crc64_header(
    headers: &HeaderMap,
    operation: &'static str,
    target: &str,
) -> Result<Option<u64>, OssError> {
    match header(headers, CRC64) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| OssError::InvalidResponse {
                operation,
                target: target.to_owned(),
                message: format!("{CRC64} is {text:?}, not an unsigned 64-bit number"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn body_error_gets_request_id_and_ec_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("RID-HEADER"));
        headers.insert(EC_HEADER, HeaderValue::from_static("0042-00000001"));
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchUpload</Code><Message>m</Message><UploadId>U</UploadId></Error>";
        let error = service_error(404, &headers, body);
        assert_eq!(error.code, "NoSuchUpload");
        assert_eq!(error.status, 404);
        assert_eq!(error.request_id.as_deref(), Some("RID-HEADER"));
        assert_eq!(error.ec.as_deref(), Some("0042-00000001"));
        assert_eq!(error.detail("UploadId"), Some("U"));
    }

    #[test]
    fn non_xml_error_bodies_keep_status_and_text() {
        let error = service_error(502, &HeaderMap::new(), b"<html>Bad gateway</html>");
        assert_eq!(error.code, "Http502");
        assert_eq!(error.status, 502);
        assert!(error.message.contains("Bad gateway"));
        let empty = service_error(503, &HeaderMap::new(), b"");
        assert_eq!(empty.code, "Http503");
    }

    #[test]
    fn garbled_crc_header_is_an_invalid_response() {
        let mut headers = HeaderMap::new();
        assert_eq!(crc64_header(&headers, "PutObject", "b/k").unwrap(), None);
        headers.insert(CRC64, HeaderValue::from_static("18446744073709551615"));
        assert_eq!(
            crc64_header(&headers, "PutObject", "b/k").unwrap(),
            Some(u64::MAX)
        );
        headers.insert(CRC64, HeaderValue::from_static("-1"));
        assert!(matches!(
            crc64_header(&headers, "PutObject", "b/k"),
            Err(OssError::InvalidResponse { .. })
        ));
    }
}
