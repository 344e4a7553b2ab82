//! One page of the in-progress uploads of a bucket, fetched and classified against the
//! local sessions off the UI thread (classifying checks whether local files exist).

use crate::engine::remote_uploads::{self, ClassifiedUpload, LocalSession, RemoteUpload};
use crate::protocol::OssClient;
use crate::protocol::client::ListUploadsParams;

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
    let (key_marker, upload_id_marker) = match after {
        Some((key, id)) => (Some(key), Some(id)),
        None => (None, None),
    };
    let params = ListUploadsParams {
        prefix: (!prefix.is_empty()).then_some(prefix),
        key_marker,
        upload_id_marker,
        max_uploads: Some(UPLOADS_PAGE_SIZE),
        ..ListUploadsParams::default()
    };
    let page = client
        .list_multipart_uploads(&bucket, &params)
        .await
        .map_err(|error| format!("Could not list the uploads of {bucket}: {error}"))?;
    let uploads: Vec<RemoteUpload> = page
        .uploads
        .into_iter()
        .map(|u| RemoteUpload {
            bucket: bucket.clone(),
            initiated_at: remote_uploads::parse_initiated(&u.initiated),
            key: u.key,
            upload_id: u.upload_id,
            initiated: u.initiated,
        })
        .collect();
    Ok(UploadsPage {
        uploads: remote_uploads::classify(uploads, &sessions),
        next: page
            .is_truncated
            .then_some((page.next_key_marker, page.next_upload_id_marker)),
        first,
    })
}
