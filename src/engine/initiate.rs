//! Starting a multipart upload once, even when an answer is lost.
//!
//! When an Initiate reaches the server but its answer is lost (the server died right
//! after storing it, or the connection broke on the way back), a plain retry starts a
//! second upload and leaves the first one behind: an orphan only a cleanup or a lifecycle
//! rule removes. So before sending an Initiate again after an attempt that got no
//! answer, the engine looks for an upload of the same key, started since the first
//! attempt, that no session of ours owns, and adopts it; an abort of such a session
//! aborts that upload. Nothing is adopted or aborted on a guess: when the key may not list
//! uploads, the listing fails, or more than one upload fits, the Initiate is simply sent
//! again (or, for an abort, the upload is left to a cleanup).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::context::EngineContext;
use super::progress::Reporter;
use super::remote_uploads::parse_initiated;
use super::request::{Failure, request};
use crate::protocol::client::{InitiateOptions, ListUploadsParams};

/// How far before our first attempt an upload may have been stamped and still be ours:
/// the server's clock is not ours.
const CLOCK_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Initiates a multipart upload of `bucket`/`key` through the retry policy and returns
/// its upload id. A retry after an attempt whose answer was lost first adopts the upload
/// that attempt may have created; an error answer means nothing was created.
/// `earlier_attempt` is when a run that died before hearing the answer sent its own
/// Initiate: the upload it may have created is looked for first.
pub(crate) async fn initiate(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    bucket: &str,
    key: &str,
    options: &InitiateOptions,
    earlier_attempt: Option<SystemTime>,
) -> Result<String, NotInitiated> {
    let first_attempt = earlier_attempt.unwrap_or_else(SystemTime::now);
    // Set when an attempt got no readable answer, so it may have created an upload.
    let answer_lost = AtomicBool::new(earlier_attempt.is_some());
    // Set once an attempt is on its way: a cancel after that may cut off its answer.
    let sent = AtomicBool::new(false);
    let result = request(ctx, reporter, cancel, None, || {
        let answer_lost = &answer_lost;
        let sent = &sent;
        async move {
            if answer_lost.load(Ordering::Relaxed)
                && let Some(upload_id) = find_unanswered(ctx, bucket, key, first_attempt).await
            {
                return Ok(upload_id);
            }
            sent.store(true, Ordering::Relaxed);
            let result = ctx
                .client
                .initiate_multipart_upload(bucket, key, options)
                .await;
            if let Err(error) = &result
                && error.answer_may_be_lost()
            {
                answer_lost.store(true, Ordering::Relaxed);
            }
            result.map(|initiated| initiated.upload_id)
        }
    })
    .await;
    result.map_err(|failure| NotInitiated {
        upload_may_exist: answer_lost.load(Ordering::Relaxed)
            || (matches!(failure, Failure::Cancelled) && sent.load(Ordering::Relaxed)),
        failure,
    })
}

/// An Initiate that did not succeed, and whether the server may hold an upload from it
/// all the same (an answer was lost, or cut off by a pause).
#[derive(Debug)]
pub(crate) struct NotInitiated {
    pub failure: Failure,
    pub upload_may_exist: bool,
}

/// The upload id of the one in-progress upload of `bucket`/`key` initiated since
/// `first_attempt` that no local session names, if there is exactly one.
pub(crate) async fn find_unanswered(
    ctx: &EngineContext,
    bucket: &str,
    key: &str,
    first_attempt: SystemTime,
) -> Option<String> {
    let params = ListUploadsParams {
        prefix: Some(key.to_owned()),
        ..ListUploadsParams::default()
    };
    let page = match ctx.client.list_multipart_uploads(bucket, &params).await {
        Ok(page) => page,
        Err(error) => {
            tracing::info!(%bucket, %key, "cannot look for an unanswered initiate: {error}");
            return None;
        }
    };
    let ours = match ctx.store.upload_ids_of(bucket, key) {
        Ok(ours) => ours,
        Err(error) => {
            tracing::info!("cannot read the sessions to match an unanswered initiate: {error}");
            return None;
        }
    };
    let earliest = first_attempt.checked_sub(CLOCK_MARGIN)?;
    let mut candidates = page.uploads.into_iter().filter(|upload| {
        upload.key == key
            && parse_initiated(&upload.initiated).is_some_and(|at| at >= earliest)
            && !ours.contains(&upload.upload_id)
    });
    let found = candidates.next()?;
    if candidates.next().is_some() {
        tracing::info!(%bucket, %key, "more than one upload could be ours; starting another");
        return None;
    }
    tracing::info!(%bucket, %key, "adopting the upload an unanswered initiate created");
    Some(found.upload_id)
}
