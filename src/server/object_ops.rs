//! PutObject, GetObject (with Range), HeadObject and DeleteObject.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::call::Call;
use super::clock::now_ms;
use super::errors;
use super::ingest::{check_content_md5, receive};
use super::meta::{FORMAT_VERSION, ObjectMeta, ObjectType};
use super::object_reader;
use super::request::{attributes_from_headers, forbids_overwrite};
use super::response;
use crate::protocol::ServiceError;

use crate::protocol::limits::MAX_PUT_OBJECT_SIZE;

pub async fn put_object(call: &Call<'_>, body: &mut Body) -> Result<Response, ServiceError> {
    let store = &call.app.store;
    let (bucket, key) = (call.bucket(), call.key());
    let forbid = forbids_overwrite(&call.parts.headers);
    // Refuse before receiving the body when the answer is already known.
    store
        .read(|index| match index.buckets.get(bucket) {
            None => Err(errors::no_such_bucket(bucket)),
            Some(b) if forbid && b.objects.contains_key(key) => {
                Err(errors::file_already_exists(key, false))
            }
            Some(_) => Ok(()),
        })
        .await?;
    let file = store.new_temp_file();
    let received = receive(call, std::mem::take(body), &file, MAX_PUT_OBJECT_SIZE).await?;
    check_content_md5(call, &received)?;
    let etag = hex::encode_upper(received.md5);
    let object = ObjectMeta {
        format_version: FORMAT_VERSION,
        key: key.to_owned(),
        size: received.size,
        etag: etag.clone(),
        crc64: received.crc64,
        content_md5: Some(BASE64.encode(received.md5)),
        last_modified_ms: now_ms(),
        object_type: ObjectType::Normal,
        attributes: attributes_from_headers(&call.parts.headers, key),
        segments: Vec::new(),
    };
    store.put_object(bucket, object, file, forbid).await?;
    let mut answer = response::empty(StatusCode::OK);
    response::upload_headers(&mut answer, &etag, received.crc64, &received.md5);
    Ok(answer)
}

/// Which bytes a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    Whole,
    /// `start` and length, within the object.
    Part(u64, u64),
    Unsatisfiable,
}

/// Reads a `Range` header as OSS does: one `bytes=` range; anything it cannot read means
/// the whole object; a start past the end cannot be satisfied.
pub fn parse_range(value: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        (true, true) => ByteRange::Whole,
        (true, false) => match number(last) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(suffix) => {
                let len = suffix.min(size);
                ByteRange::Part(size - len, len)
            }
        },
        (false, _) => {
            let Some(start) = number(first) else {
                return ByteRange::Whole;
            };
            let end = if last.is_empty() {
                size.saturating_sub(1)
            } else {
                match number(last) {
                    Some(end) if end >= start => end.min(size.saturating_sub(1)),
                    _ => return ByteRange::Whole,
                }
            };
            if start >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(start, end - start + 1)
            }
        }
    }
}

pub async fn get_object(call: &Call<'_>, head_only: bool) -> Result<Response, ServiceError> {
    let store = &call.app.store;
    let (bucket, key) = (call.bucket(), call.key());
    let object = store.object(bucket, key).await?;
    let range = if head_only {
        ByteRange::Whole
    } else {
        parse_range(call.header("range"), object.size)
    };
    let (status, start, len) = match range {
        ByteRange::Whole => (StatusCode::OK, 0, object.size),
        ByteRange::Part(start, len) => (StatusCode::PARTIAL_CONTENT, start, len),
        ByteRange::Unsatisfiable => return Err(errors::invalid_range(object.size)),
    };
    let mut answer = if head_only {
        response::empty(status)
    } else {
        let segments: Vec<_> = object
            .segments
            .iter()
            .map(|s| (store.blob_path(bucket, &s.blob), s.size))
            .collect();
        let slices = object_reader::slices(&segments, start, len);
        let mut answer = Response::new(Body::from_stream(object_reader::stream_slices(slices)));
        *answer.status_mut() = status;
        answer
    };
    response::object_headers(&mut answer, &object);
    response::set_header(&mut answer, "content-length", &len.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        response::set_header(
            &mut answer,
            "content-range",
            &format!("bytes {}-{}/{}", start, start + len - 1, object.size),
        );
        // The MD5 describes the whole object, not this range.
        answer.headers_mut().remove("content-md5");
    }
    Ok(answer)
}

pub async fn delete_object(call: &Call<'_>) -> Result<Response, ServiceError> {
    call.app
        .store
        .delete_object(call.bucket(), call.key())
        .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), ByteRange::Part(0, 5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), ByteRange::Part(5, 5));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), ByteRange::Part(8, 2));
        assert_eq!(parse_range(Some("bytes=-3"), 10), ByteRange::Part(7, 3));
        assert_eq!(parse_range(Some("bytes=-30"), 10), ByteRange::Part(0, 10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), ByteRange::Whole);
    }
}
