//! The one entry point every request goes through: address, operation, signature,
//! the key's permissions,
//! fault injection, then the operation; every answer gets its `x-oss-request-id`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::StreamExt;

use super::auth;
use super::call::{App, Call};
use super::connection::{BodyStall, ConnectionInfo};
use super::faults::{FaultTarget, InjectedFailure};
use super::payload_hash::{self, PayloadVerdict};
use super::request::{self, Address, DomainHost, Operation};
use super::{bucket_ops, errors, lifecycle_ops, multipart_ops, object_ops, response};
use crate::protocol::ServiceError;

/// The handler for every path and method.
pub async fn handle(app: Arc<App>, connection: ConnectionInfo, request: Request) -> Response {
    let request_id = response::new_request_id();
    let (parts, mut body) = request.into_parts();
    let is_head = parts.method == Method::HEAD;
    let host = request::host(&parts);
    let stall = parts.extensions.get::<BodyStall>().cloned();
    let mut payload = None;
    let mut answer = match serve(&app, connection, parts, &mut body, &mut payload).await {
        Ok(answer) => answer,
        Err(error) => {
            let error = if stall.is_some_and(|stall| stall.stalled()) {
                errors::request_timeout()
            } else {
                payload
                    .and_then(|payload| payload.refusal())
                    .unwrap_or(error)
            };
            tracing::debug!(code = %error.code, status = error.status, "request refused");
            drain(body).await;
            response::error(error, &request_id, &host, is_head)
        }
    };
    response::set_header(&mut answer, "x-oss-request-id", &request_id);
    response::set_header(&mut answer, "server", "ossup");
    answer
}

/// Reads and discards what is left of a refused request's body, so the client gets to
/// read the error instead of a reset connection. Gives up after [`DRAIN_LIMIT`].
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// Longest time spent discarding a refused body.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// `body` is taken (left empty) by the operations that consume it; whatever is left
/// when a request is refused is drained by the caller. `payload` is set when the body
/// must match a signed hash, and says why it was refused if it did not.
async fn serve(
    app: &App,
    connection: ConnectionInfo,
    parts: Parts,
    body: &mut Body,
    payload: &mut Option<PayloadVerdict>,
) -> Result<Response, ServiceError> {
    let host = request::header(&parts.headers, "host");
    let host_bucket = match request::domain_host(host, &app.virtual_host_domains) {
        DomainHost::Bucket(bucket) => Some(bucket),
        DomainHost::PathStyle => None,
        // A host like `photos.example` is virtual-hosted only if `photos` is one of
        // ours, so path-style clients on a dotted endpoint name keep working.
        DomainHost::Elsewhere => match request::virtual_host_candidate(host) {
            Some(candidate) => app
                .store
                .read(|index| index.buckets.contains_key(candidate))
                .await
                .then(|| candidate.to_owned()),
            None => None,
        },
    };
    let address = request::address(parts.uri.path(), host_bucket)?;
    let query = request::parse_query(parts.uri.query())?;
    let operation = request::classify(&parts.method, &address, &query)?;
    let caller = authorize(app, &parts, &address, &query)?;
    if let Err(denied) = app.permissions.check(
        &caller.access_key_id,
        operation,
        address.bucket.as_deref(),
        address.key.as_deref(),
    ) {
        // As OSS does, a bucket that does not exist is reported as such whatever the
        // key may do: that proves the target wrong, which a refusal would hide.
        if let Some(bucket) = address.bucket.as_deref()
            && operation != Operation::PutBucket
            && !app
                .store
                .read(|index| index.buckets.contains_key(bucket))
                .await
        {
            return Err(errors::no_such_bucket(bucket));
        }
        return Err(denied);
    }
    *payload = payload_hash::check(
        request::header(&parts.headers, "x-oss-content-sha256"),
        body,
    )?;

    let plan = app.faults.plan(match operation {
        Operation::UploadPart => FaultTarget::UploadPart,
        Operation::PutObject => FaultTarget::PutObject,
        Operation::InitiateMultipartUpload => FaultTarget::InitiateMultipartUpload,
        _ => FaultTarget::Other,
    });
    if let Some(failure) = plan.fail {
        tokio::time::sleep(plan.delay).await;
        return Err(match failure {
            InjectedFailure::InternalError => errors::internal_error("injected failure"),
            InjectedFailure::ServiceUnavailable => errors::service_unavailable(),
        });
    }

    let call = Call {
        app,
        parts,
        address,
        query,
        connection,
        cut_after_bytes: plan.cut_after_bytes,
        damage_body: plan.damage_body,
    };
    tracing::debug!(
        operation = operation.name(),
        bucket = call.bucket(),
        key = call.key()
    );
    let answer = match operation {
        Operation::ListBuckets => bucket_ops::list_buckets(&call).await,
        Operation::PutBucket => bucket_ops::put_bucket(&call).await,
        Operation::DeleteBucket => bucket_ops::delete_bucket(&call).await,
        Operation::ListObjects => bucket_ops::list_objects(&call).await,
        Operation::ListObjectsV2 => bucket_ops::list_objects_v2(&call).await,
        Operation::ListMultipartUploads => multipart_ops::list_uploads(&call).await,
        Operation::PutObject => object_ops::put_object(&call, body).await,
        Operation::GetObject => object_ops::get_object(&call, false).await,
        Operation::HeadObject => object_ops::get_object(&call, true).await,
        Operation::DeleteObject => object_ops::delete_object(&call).await,
        Operation::InitiateMultipartUpload => multipart_ops::initiate(&call).await,
        Operation::UploadPart => multipart_ops::upload_part(&call, body).await,
        Operation::CompleteMultipartUpload => multipart_ops::complete(&call, body).await,
        Operation::AbortMultipartUpload => multipart_ops::abort(&call).await,
        Operation::ListParts => multipart_ops::list_parts(&call).await,
        Operation::PutBucketLifecycle => lifecycle_ops::put_lifecycle(&call, body).await,
        Operation::GetBucketLifecycle => lifecycle_ops::get_lifecycle(&call).await,
        Operation::DeleteBucketLifecycle => lifecycle_ops::delete_lifecycle(&call).await,
    };
    tokio::time::sleep(plan.delay).await;
    if plan.lose_answer {
        return answer.map(lose_body);
    }
    answer
}

/// The answer's head with a body that fails at once, so the connection is cut before
/// the client can read a result.
fn lose_body(answer: Response) -> Response {
    let (mut parts, _) = answer.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::other("answer lost by fault injection"))
    });
    Response::from_parts(parts, Body::from_stream(failing))
}

/// Checks the request's signature against the configured keys, and the STS token of a
/// temporary key.
fn authorize(
    app: &App,
    parts: &Parts,
    address: &Address,
    query: &[(String, String)],
) -> Result<auth::Authenticated, ServiceError> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let incoming = auth::IncomingRequest {
        method: parts.method.as_str(),
        bucket: address.bucket.as_deref(),
        key: address.key.as_deref(),
        query,
        headers: &headers,
    };
    let caller = auth::authenticate(&incoming, &app.access_keys, &app.region, SystemTime::now())?;
    // Token expiry goes by the server's clock, which tests move forward.
    auth::check_security_token(&incoming, &caller, &app.access_keys, app.store.clock.now())?;
    Ok(caller)
}
