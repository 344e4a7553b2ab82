//! Building answers the way OSS sends them: XML bodies with their declaration, error
//! bodies (or, for HEAD, the `x-oss-err` header), request ids and object headers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use super::clock::http_date;
use super::meta::ObjectMeta;
use crate::protocol::ServiceError;
use crate::protocol::xml;

/// A new request id: 24 upper-case hex characters, as OSS prints them.
pub fn new_request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode_upper(bytes)
}

/// Adds a header, skipping values that cannot travel in HTTP (they never come from us,
/// but user metadata is echoed back).
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// A 200 answer with an XML document body.
pub fn xml_document<T: Serialize>(value: &T) -> Response {
    xml_text(xml::to_xml_document(value))
}

/// A 200 answer with an XML body already written.
pub fn xml_text(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    set_header(&mut response, "content-type", "application/xml");
    response
}

/// The error answer: XML body, or for HEAD an empty body with the XML in `x-oss-err`.
pub fn error(mut error: ServiceError, request_id: &str, host_id: &str, is_head: bool) -> Response {
    error.request_id = Some(request_id.to_owned());
    error.host_id = Some(host_id.to_owned());
    let body = xml::error_body(&error);
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if is_head {
        let mut response = empty(status);
        set_header(&mut response, "x-oss-err", &BASE64.encode(body.as_bytes()));
        response
    } else {
        let mut response = xml_text(body);
        *response.status_mut() = status;
        response
    };
    if let Some(ec) = &error.ec {
        set_header(&mut response, "x-oss-ec", ec);
    }
    response
}

/// Headers every upload answer carries: ETag, CRC-64 and Content-MD5.
pub fn upload_headers(response: &mut Response, etag_hex: &str, crc64: u64, md5: &[u8; 16]) {
    set_header(response, "etag", &format!("\"{etag_hex}\""));
    set_header(response, "x-oss-hash-crc64ecma", &crc64.to_string());
    set_header(response, "content-md5", &BASE64.encode(md5));
}

/// HEAD and GET headers describing an object.
pub fn object_headers(response: &mut Response, object: &ObjectMeta) {
    let content_type = if object.attributes.content_type.is_empty() {
        "application/octet-stream"
    } else {
        &object.attributes.content_type
    };
    set_header(response, header::CONTENT_TYPE.as_str(), content_type);
    set_header(response, "etag", &format!("\"{}\"", object.etag));
    set_header(
        response,
        "last-modified",
        &http_date(object.last_modified_ms),
    );
    set_header(response, "accept-ranges", "bytes");
    set_header(response, "x-oss-object-type", object.object_type.as_str());
    set_header(
        response,
        "x-oss-storage-class",
        &object.attributes.storage_class,
    );
    set_header(response, "x-oss-hash-crc64ecma", &object.crc64.to_string());
    if let Some(md5) = &object.content_md5 {
        set_header(response, "content-md5", md5);
    }
    for (name, value) in &object.attributes.user_meta {
        set_header(response, name, value);
    }
}
