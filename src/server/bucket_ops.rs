//! Bucket-level operations: ListBuckets, PutBucket, DeleteBucket and ListObjects.

use axum::http::StatusCode;
use axum::response::Response;

use super::call::Call;
use super::errors;
use super::listing::{self, KeyListing};
use super::request::page_size;
use super::response;
use crate::protocol::ServiceError;
use crate::protocol::xml::XML_DECLARATION;

/// Default ListObjects page, as OSS.
const DEFAULT_MAX_KEYS: u32 = 100;

pub async fn list_buckets(call: &Call<'_>) -> Result<Response, ServiceError> {
    let names: Vec<String> = call
        .app
        .store
        .read(|index| index.buckets.keys().cloned().collect())
        .await;
    let region = &call.app.region;
    // Bucket names are `[a-z0-9-]` and the region comes from our own configuration, so
    // nothing here needs escaping.
    let mut body = format!(
        "{XML_DECLARATION}\n<ListAllMyBucketsResult>\n  <Owner><ID>ossup</ID><DisplayName>ossup</DisplayName></Owner>\n  <Buckets>\n"
    );
    for name in names {
        body.push_str(&format!(
            "    <Bucket><Name>{name}</Name><Location>oss-{region}</Location><Region>{region}</Region><StorageClass>Standard</StorageClass></Bucket>\n"
        ));
    }
    body.push_str("  </Buckets>\n</ListAllMyBucketsResult>\n");
    Ok(response::xml_text(body))
}

pub async fn put_bucket(call: &Call<'_>) -> Result<Response, ServiceError> {
    call.app.store.create_bucket(call.bucket()).await?;
    Ok(response::empty(StatusCode::OK))
}

pub async fn delete_bucket(call: &Call<'_>) -> Result<Response, ServiceError> {
    call.app.store.delete_bucket(call.bucket()).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

pub async fn list_objects(call: &Call<'_>) -> Result<Response, ServiceError> {
    let bucket = call.bucket();
    let listing = KeyListing {
        prefix: call.param("prefix").unwrap_or_default().to_owned(),
        delimiter: call.param("delimiter").unwrap_or_default().to_owned(),
        key_marker: call.param("marker").unwrap_or_default().to_owned(),
        upload_id_marker: String::new(),
        max: page_size(call.param("max-keys"), "max-keys", DEFAULT_MAX_KEYS)?,
        url_encoded: call.url_encoded(),
    };
    let result = call
        .app
        .store
        .read(|index| {
            index
                .buckets
                .get(bucket)
                .map(|contents| listing::list_objects(bucket, &contents.objects, &listing))
                .ok_or_else(|| errors::no_such_bucket(bucket))
        })
        .await?;
    Ok(response::xml_document(&result))
}
