//! InitiateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
//! ListMultipartUploads and ListParts.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::call::Call;
use super::clock::now_ms;
use super::errors;
use super::ingest::{check_content_md5, receive};
use super::listing::{self, KeyListing, PartListing};
use super::meta::{FORMAT_VERSION, PartMeta};
use super::request::{MAX_PAGE, attributes_from_headers, forbids_overwrite, page_size};
use super::response;
use super::store::Index;
use crate::protocol::ServiceError;
use crate::protocol::xml::{
    self, CompleteMultipartUpload, CompleteMultipartUploadResult, InitiateMultipartUploadResult,
    url_encode_field,
};

use crate::protocol::limits::{MAX_PART_SIZE, MAX_PARTS};
/// Largest Complete body we read: 10,000 parts with room to spare.
const MAX_COMPLETE_BODY_BYTES: usize = 4 << 20;

fn upload_id<'c>(call: &'c Call<'_>) -> &'c str {
    call.param("uploadId").unwrap_or_default()
}

fn encode_if(call: &Call<'_>, value: &str) -> String {
    if call.url_encoded() {
        url_encode_field(value)
    } else {
        value.to_owned()
    }
}

pub async fn initiate(call: &Call<'_>) -> Result<Response, ServiceError> {
    let (bucket, key) = (call.bucket(), call.key());
    let upload = call
        .app
        .store
        .initiate(
            bucket,
            key,
            attributes_from_headers(&call.parts.headers, key),
            forbids_overwrite(&call.parts.headers),
        )
        .await?;
    Ok(response::xml_document(&InitiateMultipartUploadResult {
        bucket: bucket.to_owned(),
        key: encode_if(call, key),
        upload_id: upload.upload_id,
        encoding_type: call.url_encoded().then(|| "url".to_owned()),
    }))
}

pub async fn upload_part(call: &Call<'_>, body: &mut Body) -> Result<Response, ServiceError> {
    let (bucket, key, upload_id) = (call.bucket(), call.key(), upload_id(call));
    let raw_number = call.param("partNumber").unwrap_or_default();
    let part_number = match raw_number.parse::<u32>() {
        Ok(n) if (1..=MAX_PARTS).contains(&n) => n,
        _ => {
            let mut error = errors::invalid_argument(
                "partNumber",
                raw_number,
                "Part number must be an integer between 1 and 10000, inclusive.",
            );
            error.ec = Some("0017-00000220".into());
            return Err(error);
        }
    };
    let store = &call.app.store;
    store.check_upload(bucket, key, upload_id).await?;
    let file = store.new_temp_file();
    let received = receive(call, std::mem::take(body), &file, MAX_PART_SIZE).await?;
    check_content_md5(call, &received)?;
    let part = PartMeta {
        format_version: FORMAT_VERSION,
        part_number,
        blob: String::new(),
        size: received.size,
        md5_hex: hex::encode_upper(received.md5),
        crc64: received.crc64,
        last_modified_ms: now_ms(),
    };
    let part = store.put_part(bucket, key, upload_id, part, file).await?;
    let mut answer = response::empty(StatusCode::OK);
    response::upload_headers(&mut answer, &part.md5_hex, part.crc64, &received.md5);
    Ok(answer)
}

pub async fn complete(call: &Call<'_>, body: &mut Body) -> Result<Response, ServiceError> {
    let (bucket, key, upload_id) = (call.bucket(), call.key(), upload_id(call));
    let body = axum::body::to_bytes(std::mem::take(body), MAX_COMPLETE_BODY_BYTES)
        .await
        .map_err(|_| errors::malformed_xml("the body is too large or was cut short"))?;
    let complete_all = call
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let requested = if complete_all {
        if !body.is_empty() {
            return Err(errors::invalid_argument(
                "x-oss-complete-all",
                "yes",
                "With x-oss-complete-all the request body must be empty.",
            ));
        }
        None
    } else {
        let parsed: CompleteMultipartUpload =
            xml::from_xml(&body).map_err(|e| errors::malformed_xml(&e))?;
        Some(parsed.parts)
    };
    let object = call
        .app
        .store
        .complete(
            bucket,
            key,
            upload_id,
            requested.as_deref(),
            forbids_overwrite(&call.parts.headers),
        )
        .await?;
    let etag = format!("\"{}\"", object.etag);
    let mut answer = response::xml_document(&CompleteMultipartUploadResult {
        encoding_type: call.url_encoded().then(|| "url".to_owned()),
        location: format!(
            "http://{}/{}/{}",
            call.host(),
            bucket,
            url_encode_field(key)
        ),
        bucket: bucket.to_owned(),
        key: encode_if(call, key),
        etag: etag.clone(),
    });
    response::set_header(&mut answer, "etag", &etag);
    response::set_header(
        &mut answer,
        "x-oss-hash-crc64ecma",
        &object.crc64.to_string(),
    );
    Ok(answer)
}

pub async fn abort(call: &Call<'_>) -> Result<Response, ServiceError> {
    call.app
        .store
        .abort(call.bucket(), call.key(), upload_id(call))
        .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

pub async fn list_uploads(call: &Call<'_>) -> Result<Response, ServiceError> {
    let bucket = call.bucket();
    let listing = KeyListing {
        prefix: call.param("prefix").unwrap_or_default().to_owned(),
        delimiter: call.param("delimiter").unwrap_or_default().to_owned(),
        key_marker: call.param("key-marker").unwrap_or_default().to_owned(),
        upload_id_marker: call
            .param("upload-id-marker")
            .unwrap_or_default()
            .to_owned(),
        max: page_size(call.param("max-uploads"), "max-uploads", MAX_PAGE)?,
        url_encoded: call.url_encoded(),
    };
    xml_from_index(call, |index| {
        let contents = index
            .buckets
            .get(bucket)
            .ok_or_else(|| errors::no_such_bucket(bucket))?;
        let initiated = |id: &str| index.uploads.get(id).map_or(0, |u| u.meta.initiated_ms);
        Ok(listing::list_uploads(
            bucket,
            &contents.uploads,
            initiated,
            &listing,
        ))
    })
    .await
}

pub async fn list_parts(call: &Call<'_>) -> Result<Response, ServiceError> {
    let (bucket, key, upload_id) = (call.bucket(), call.key(), upload_id(call));
    let marker = match call.param("part-number-marker") {
        None | Some("") => 0,
        Some(raw) => raw.parse::<u32>().map_err(|_| {
            errors::invalid_argument(
                "part-number-marker",
                raw,
                "part-number-marker must be a non-negative integer",
            )
        })?,
    };
    let listing = PartListing {
        part_number_marker: marker,
        max: page_size(call.param("max-parts"), "max-parts", MAX_PAGE)?,
        url_encoded: call.url_encoded(),
    };
    xml_from_index(call, |index| {
        let upload = index.upload(bucket, key, upload_id)?;
        Ok(listing::list_parts(
            bucket,
            key,
            upload_id,
            &upload.meta.attributes.storage_class,
            &upload.parts,
            &listing,
        ))
    })
    .await
}

/// Answers with the XML document `view` builds from the index, or with its refusal.
async fn xml_from_index<T: serde::Serialize>(
    call: &Call<'_>,
    view: impl FnOnce(&Index) -> Result<T, ServiceError>,
) -> Result<Response, ServiceError> {
    let document = call.app.store.read(view).await?;
    Ok(response::xml_document(&document))
}
