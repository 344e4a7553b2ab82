//! One page of the in-progress uploads of a bucket, and the lifecycle rule that aborts
//! them, fetched through the engine's listing
//! (with its retries) and classified against the local sessions off the UI thread
//! (classifying checks whether local files exist).

use crate::engine::lifecycle::{self, AbortProtection};
use crate::engine::remote_uploads::{self, ClassifiedUpload, LocalSession};
use crate::protocol::OssClient;

/// Uploads listed per page in the cleanup view.
pub const UPLOADS_PAGE_SIZE: u32 = 100;

/// What to list.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub bucket: String,
    /// Empty: the whole bucket.
    pub prefix: String,
    /// `(key marker, upload id marker)` of the page to continue from; `None` for the first.
    pub after: Option<(String, String)>,
    /// Sessions the engine knows, to tell ours from orphans.
    pub sessions: Vec<LocalSession>,
}

/// One page of in-progress uploads.
#[derive(Debug)]
pub struct UploadsPage {
    pub uploads: Vec<ClassifiedUpload>,
    /// Markers for the next page; `None` when this was the last.
    pub next: Option<(String, String)>,
    /// Whether this page starts a new listing (replace) or continues one (append).
    pub first: bool,
}

/// Fetches and classifies one page; the error is a sentence for the view.
pub async fn fetch_uploads_page(
    client: &OssClient,
    request: PageRequest,
) -> Result<UploadsPage, String> {
    let PageRequest {
        bucket,
        prefix,
        after,
        sessions,
    } = request;
    let first = after.is_none();
    let page = remote_uploads::list_uploads_page(
        client,
        &remote_uploads::listing_retrier(client),
        &bucket,
        Some(&prefix),
        after,
        Some(UPLOADS_PAGE_SIZE),
    )
    .await
    .map_err(|error| remote_uploads::or_denied(error, remote_uploads::DENIED_LIST_UPLOADS))
    .map_err(|error| format!("Could not list the uploads of {bucket}: {error}"))?;
    Ok(UploadsPage {
        uploads: remote_uploads::classify(page.uploads, &sessions),
        next: page.next,
        first,
    })
}

/// The rule that aborts stale uploads under `prefix`, if any.
pub async fn fetch_protection(
    client: &OssClient,
    bucket: &str,
    prefix: &str,
) -> Result<Option<AbortProtection>, String> {
    let config = lifecycle::get_lifecycle(client, bucket)
        .await
        .map_err(|error| format!("Could not read the lifecycle rules of {bucket}: {error}"))?;
    Ok(lifecycle::protection(config.as_ref(), prefix))
}

/// Sets our rule for `prefix` to `days` (or removes it with `None`), keeping the other
/// rules, and answers what protects the prefix afterwards.
pub async fn change_auto_abort(
    client: &OssClient,
    bucket: &str,
    prefix: &str,
    days: Option<i64>,
) -> Result<Option<AbortProtection>, String> {
    let changed = match days {
        Some(days) => lifecycle::set_auto_abort(client, bucket, prefix, days)
            .await
            .map(drop),
        None => lifecycle::remove_auto_abort(client, bucket, prefix)
            .await
            .map(drop),
    };
    changed
        .map_err(|error| format!("Could not change the lifecycle rules of {bucket}: {error}"))?;
    fetch_protection(client, bucket, prefix).await
}
