//! Bucket-level operations: ListBuckets, PutBucket, DeleteBucket, ListObjects and
//! ListObjectsV2.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;

use super::call::Call;
use super::errors;
use super::listing::{self, KeyListing, OWNER_ID, ObjectListingV2};
use super::meta::ObjectMeta;
use super::request::page_size;
use super::response;
use crate::protocol::ServiceError;
use crate::protocol::xml::XML_DECLARATION;

/// Default ListObjects and ListObjectsV2 page, as OSS.
const DEFAULT_MAX_KEYS: u32 = 100;

pub async fn list_buckets(call: &Call<'_>) -> Result<Response, ServiceError> {
    let names: Vec<String> = call
        .app
        .store
        .read(|index| index.buckets.keys().cloned().collect())
        .await;
    let region = &call.app.region;
    // Bucket names are `[a-z0-9-]`; the owner and region come from our own configuration,
    // so nothing here needs escaping.
    let mut body = format!(
        "{XML_DECLARATION}\n<ListAllMyBucketsResult>\n  <Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_ID}</DisplayName></Owner>\n  <Buckets>\n"
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

/// Prefix, delimiter, page size and encoding: what ListObjects and ListObjectsV2 share.
fn key_listing(call: &Call<'_>, key_marker: String) -> Result<KeyListing, ServiceError> {
    Ok(KeyListing {
        prefix: call.param("prefix").unwrap_or_default().to_owned(),
        delimiter: call.param("delimiter").unwrap_or_default().to_owned(),
        key_marker,
        upload_id_marker: String::new(),
        max: page_size(call.param("max-keys"), "max-keys", DEFAULT_MAX_KEYS)?,
        url_encoded: call.url_encoded(),
    })
}

/// Runs `view` over the objects of the call's bucket, under the store's read lock.
async fn read_objects<T>(
    call: &Call<'_>,
    view: impl FnOnce(&BTreeMap<String, ObjectMeta>) -> T,
) -> Result<T, ServiceError> {
    let bucket = call.bucket();
    call.app
        .store
        .read(|index| {
            index
                .buckets
                .get(bucket)
                .map(|contents| view(&contents.objects))
                .ok_or_else(|| errors::no_such_bucket(bucket))
        })
        .await
}

pub async fn list_objects(call: &Call<'_>) -> Result<Response, ServiceError> {
    let bucket = call.bucket();
    let marker = call.param("marker").unwrap_or_default().to_owned();
    let listing = key_listing(call, marker)?;
    let result = read_objects(call, |objects| {
        listing::list_objects(bucket, objects, &listing)
    })
    .await?;
    Ok(response::xml_document(&result))
}

/// `GET /bucket?list-type=2`. A continuation token wins over `start-after`; empty values
/// count as absent, since SDKs send every parameter, set or not.
pub async fn list_objects_v2(call: &Call<'_>) -> Result<Response, ServiceError> {
    let bucket = call.bucket();
    let given = |name: &str| {
        call.param(name)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let continuation_token = given("continuation-token");
    let start_after = given("start-after");
    let marker = match &continuation_token {
        Some(token) => listing::token_marker(token).ok_or_else(|| {
            errors::invalid_argument(
                "continuation-token",
                token,
                "the continuation-token is not one this server gave",
            )
        })?,
        None => start_after.clone().unwrap_or_default(),
    };
    let fetch_owner = match call.param("fetch-owner") {
        None | Some("") => false,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) => {
            return Err(errors::invalid_argument(
                "fetch-owner",
                value,
                "fetch-owner must be true or false",
            ));
        }
    };
    let listing = ObjectListingV2 {
        keys: key_listing(call, marker)?,
        start_after,
        continuation_token,
        fetch_owner,
    };
    let result = read_objects(call, |objects| {
        listing::list_objects_v2(bucket, objects, &listing)
    })
    .await?;
    Ok(response::xml_document(&result))
}
