//! Multipart uploads still open on the server, for cleanup: list them (every page),
//! total their parts, tell ours-and-resumable from orphans, abort one or many, and prune
//! those older than an age.
//!
//! Pure async functions over an [`OssClient`] and a list of local sessions; no tasks are
//! spawned, so a front end runs them where it likes (the engine's runtime, a CLI's own).
//! Unfinished uploads cost storage until aborted, which is why this exists.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use thiserror::Error;

use super::event::TransferId;
use super::retry::Retrier;
use super::session_store::{SessionError, SessionStore};
use super::tuning::RetryPolicy;
use crate::protocol::OssClient;
use crate::protocol::client::ListUploadsParams;
use crate::protocol::error::OssError;
use crate::protocol::error::code;
use crate::protocol::xml::PartSummary;

/// Tries per AbortMultipartUpload when the server answers with a retryable error.
const ABORT_ATTEMPTS: u32 = 4;
/// Wait before the second try; grows linearly.
const ABORT_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Listings are waited on by a person or a script: an outage is given up on after this.
const LISTING_OUTAGE_LIMIT: Duration = Duration::from_secs(30);

/// Why a listing could not be finished.
#[derive(Debug, Error)]
pub enum RemoteUploadsError {
    #[error(transparent)]
    Oss(#[from] OssError),
    #[error(
        "the server's listing of {what} did not advance past {marker:?} although it said more pages follow; stopping to avoid looping forever"
    )]
    StuckPagination { what: String, marker: String },
    /// The server answered `AccessDenied`: the key lacks the RAM action named.
    #[error("this key may not {what} ({action})")]
    Denied {
        what: &'static str,
        action: &'static str,
    },
}

/// What a key without `oss:ListMultipartUploads` cannot do.
pub const DENIED_LIST_UPLOADS: RemoteUploadsError = RemoteUploadsError::Denied {
    what: "list in-progress uploads",
    action: "oss:ListMultipartUploads",
};
/// What a key without `oss:ListParts` cannot do.
pub const DENIED_LIST_PARTS: RemoteUploadsError = RemoteUploadsError::Denied {
    what: "list the parts of an upload",
    action: "oss:ListParts",
};
/// What a key without `oss:AbortMultipartUpload` cannot do.
pub const DENIED_ABORT: RemoteUploadsError = RemoteUploadsError::Denied {
    what: "abort uploads",
    action: "oss:AbortMultipartUpload",
};

/// `denied` when the server refused with `AccessDenied`, else the error itself.
pub fn or_denied(error: OssError, denied: RemoteUploadsError) -> RemoteUploadsError {
    if error.is_code(code::ACCESS_DENIED) {
        denied
    } else {
        RemoteUploadsError::Oss(error)
    }
}

/// One in-progress multipart upload as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// As the server wrote it (ISO 8601).
    pub initiated: String,
    /// `initiated` parsed; `None` when the server's date could not be read.
    pub initiated_at: Option<SystemTime>,
}

impl RemoteUpload {
    /// How long ago the upload was started, or `None` when unknown (or in the future).
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        self.initiated_at.and_then(|at| now.duration_since(at).ok())
    }
}

/// A local session, reduced to what matching against the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    /// The transfer id, which names the session in the store.
    pub id: String,
    /// The endpoint the upload was started on.
    pub endpoint: String,
    pub local_path: PathBuf,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// How an upload on the server relates to this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadClass {
    /// A local session points to it and its file is still there: it can be resumed.
    Resumable(LocalSession),
    /// A local session points to it but the file it uploads is gone.
    LocalFileMissing(LocalSession),
    /// No local session knows it: started elsewhere, or left behind.
    Orphan,
}

impl UploadClass {
    pub fn session(&self) -> Option<&LocalSession> {
        match self {
            UploadClass::Resumable(s) | UploadClass::LocalFileMissing(s) => Some(s),
            UploadClass::Orphan => None,
        }
    }

    /// A short word for listings.
    pub fn label(&self) -> &'static str {
        match self {
            UploadClass::Resumable(_) => "resumable",
            UploadClass::LocalFileMissing(_) => "local file missing",
            UploadClass::Orphan => "orphan",
        }
    }
}

/// An upload and what it is to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedUpload {
    pub upload: RemoteUpload,
    pub class: UploadClass,
}

/// Every part of one upload, with their total size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadParts {
    pub parts: Vec<PartSummary>,
    pub total_bytes: u64,
}

/// One page of in-progress uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUploadsPage {
    pub uploads: Vec<RemoteUpload>,
    /// `(key marker, upload id marker)` of the next page; `None` after the last.
    pub next: Option<(String, String)>,
}

/// How listings are retried: the engine's policy, giving up on an outage after
/// [`LISTING_OUTAGE_LIMIT`].
pub fn listing_retrier(client: &OssClient) -> Retrier {
    Retrier::for_client(
        client,
        RetryPolicy {
            give_up_after_outage: Some(LISTING_OUTAGE_LIMIT),
            ..RetryPolicy::default()
        },
    )
}

/// Lists one page of the in-progress uploads of `bucket` under `prefix`, starting after
/// `after`, through `retrier`. `page_size` (1..=1000) is left to the server when `None`.
pub async fn list_uploads_page(
    client: &OssClient,
    retrier: &Retrier,
    bucket: &str,
    prefix: Option<&str>,
    after: Option<(String, String)>,
    page_size: Option<u32>,
) -> Result<RemoteUploadsPage, OssError> {
    let (key_marker, upload_id_marker) = match after {
        Some((key, id)) => (Some(key), Some(id)),
        None => (None, None),
    };
    let params = ListUploadsParams {
        prefix: prefix.filter(|p| !p.is_empty()).map(str::to_owned),
        key_marker,
        upload_id_marker,
        max_uploads: page_size,
        ..ListUploadsParams::default()
    };
    let page = retrier
        .run(|| client.list_multipart_uploads(bucket, &params), |_| {})
        .await?;
    let next = page
        .is_truncated
        .then_some((page.next_key_marker, page.next_upload_id_marker));
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| RemoteUpload {
            bucket: bucket.to_owned(),
            initiated_at: parse_initiated(&u.initiated),
            key: u.key,
            upload_id: u.upload_id,
            initiated: u.initiated,
        })
        .collect();
    Ok(RemoteUploadsPage { uploads, next })
}

/// Lists every in-progress upload of `bucket` under `prefix`, following all pages.
/// `page_size` (1..=1000) is left to the server (1000) when `None`.
pub async fn list_uploads(
    client: &OssClient,
    bucket: &str,
    prefix: Option<&str>,
    page_size: Option<u32>,
) -> Result<Vec<RemoteUpload>, RemoteUploadsError> {
    let retrier = listing_retrier(client);
    let mut uploads = Vec::new();
    let mut after = None;
    loop {
        let page = list_uploads_page(client, &retrier, bucket, prefix, after.clone(), page_size)
            .await
            .map_err(|error| or_denied(error, DENIED_LIST_UPLOADS))?;
        uploads.extend(page.uploads);
        match page.next {
            None => return Ok(uploads),
            Some(next) if after.as_ref() == Some(&next) => {
                return Err(RemoteUploadsError::StuckPagination {
                    what: format!("uploads in {bucket}"),
                    marker: next.0,
                });
            }
            Some(next) => after = Some(next),
        }
    }
}

/// Lists every part of one upload, following all pages, and totals their sizes.
pub async fn list_upload_parts(
    client: &OssClient,
    bucket: &str,
    key: &str,
    upload_id: &str,
    page_size: Option<u32>,
) -> Result<UploadParts, RemoteUploadsError> {
    let mut marker = 0;
    let mut parts = Vec::new();
    loop {
        let page = client
            .list_parts(bucket, key, upload_id, marker, page_size)
            .await
            .map_err(|error| or_denied(error, DENIED_LIST_PARTS))?;
        parts.extend(page.parts);
        if !page.is_truncated {
            break;
        }
        if page.next_part_number_marker <= marker {
            return Err(RemoteUploadsError::StuckPagination {
                what: format!("parts of {bucket}/{key}"),
                marker: marker.to_string(),
            });
        }
        marker = page.next_part_number_marker;
    }
    let total_bytes = parts.iter().map(|p| p.size).sum();
    Ok(UploadParts { parts, total_bytes })
}

/// The sessions saved in `store`, reduced for matching. Unusable sessions are skipped
/// here (they are flagged, and reported by whoever reads them first).
pub fn local_sessions(store: &SessionStore) -> Result<Vec<LocalSession>, SessionError> {
    let report = store.load_all()?;
    Ok(report
        .sessions
        .into_iter()
        .map(|session| LocalSession {
            id: session.id,
            endpoint: session.endpoint,
            local_path: session.local_path,
            bucket: session.bucket,
            key: session.key,
            upload_id: session.upload_id,
        })
        .collect())
}

/// Matches uploads to local sessions by bucket, key and upload id.
pub fn classify(uploads: Vec<RemoteUpload>, sessions: &[LocalSession]) -> Vec<ClassifiedUpload> {
    uploads
        .into_iter()
        .map(|upload| {
            let session = sessions.iter().find(|s| {
                s.upload_id == upload.upload_id && s.bucket == upload.bucket && s.key == upload.key
            });
            let class = match session {
                Some(s) if s.local_path.is_file() => UploadClass::Resumable(s.clone()),
                Some(s) => UploadClass::LocalFileMissing(s.clone()),
                None => UploadClass::Orphan,
            };
            ClassifiedUpload { upload, class }
        })
        .collect()
}

/// What happened to one upload asked to be aborted.
#[derive(Debug)]
pub enum AbortResult {
    /// Aborted on the server; `session_removed` names the local session deleted.
    Aborted {
        session_removed: Option<String>,
    },
    /// Left alone: a local session points to it and aborting was not confirmed.
    NeedsConfirmation(LocalSession),
    /// The server no longer knew it (aborted or completed meanwhile); any local session
    /// pointing to it was removed, since it can never be resumed.
    AlreadyGone {
        session_removed: Option<String>,
    },
    /// Aborted on the server, but the local session could not be removed.
    SessionNotRemoved {
        id: String,
        error: String,
    },
    Failed(OssError),
}

impl AbortResult {
    /// Whether the upload is gone from the server now.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            AbortResult::Aborted { .. }
                | AbortResult::AlreadyGone { .. }
                | AbortResult::SessionNotRemoved { .. }
        )
    }
}

/// One line of an abort report.
#[derive(Debug)]
pub struct AbortOutcome {
    pub upload: RemoteUpload,
    pub result: AbortResult,
}

/// Aborts each upload in turn and reports per item; one failure does not stop the rest.
/// Uploads a local session points to are only aborted when `confirm_local_sessions`;
/// their session is then deleted from `sessions` so nothing tries to resume a dead upload
/// id.
pub async fn abort_uploads(
    client: &OssClient,
    sessions: &SessionStore,
    targets: &[ClassifiedUpload],
    confirm_local_sessions: bool,
) -> Vec<AbortOutcome> {
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in targets {
        let result = abort_one(client, sessions, target, confirm_local_sessions).await;
        outcomes.push(AbortOutcome {
            upload: target.upload.clone(),
            result,
        });
    }
    outcomes
}

async fn abort_one(
    client: &OssClient,
    sessions: &SessionStore,
    target: &ClassifiedUpload,
    confirm_local_sessions: bool,
) -> AbortResult {
    let session = target.class.session();
    if let Some(session) = session
        && !confirm_local_sessions
    {
        return AbortResult::NeedsConfirmation(session.clone());
    }
    let upload = &target.upload;
    let mut attempt = 1;
    let gone_already = loop {
        match client
            .abort_multipart_upload(&upload.bucket, &upload.key, &upload.upload_id)
            .await
        {
            Ok(()) => break false,
            Err(error) if error.is_code(code::NO_SUCH_UPLOAD) => break true,
            // Aborting is safe to repeat; a busy or flaky server gets a few more tries.
            Err(error) if error.is_retryable() && attempt < ABORT_ATTEMPTS => {
                tokio::time::sleep(ABORT_RETRY_DELAY * attempt).await;
                attempt += 1;
            }
            Err(error) => return AbortResult::Failed(error),
        }
    };
    let session_removed = match session {
        None => None,
        Some(session) => match remove_session(sessions, session) {
            Ok(removed) => removed,
            Err(error) => {
                return AbortResult::SessionNotRemoved {
                    id: session.id.clone(),
                    error: error.to_string(),
                };
            }
        },
    };
    if gone_already {
        AbortResult::AlreadyGone { session_removed }
    } else {
        AbortResult::Aborted { session_removed }
    }
}

/// Forgets the session (and its lock file); `None` when it was no longer saved.
fn remove_session(
    sessions: &SessionStore,
    session: &LocalSession,
) -> Result<Option<String>, SessionError> {
    let id = TransferId(session.id.clone());
    if !sessions.exists(&id)? {
        return Ok(None);
    }
    sessions.remove(&id)?;
    Ok(Some(session.id.clone()))
}

/// The uploads started more than `older_than` before `now`. Uploads whose start time
/// is unknown are never selected: pruning must not guess.
pub fn select_older_than(
    uploads: &[ClassifiedUpload],
    older_than: Duration,
    now: SystemTime,
) -> Vec<ClassifiedUpload> {
    uploads
        .iter()
        .filter(|u| u.upload.age(now).is_some_and(|age| age > older_than))
        .cloned()
        .collect()
}

/// What a prune found and did.
#[derive(Debug)]
pub struct PruneReport {
    /// Every upload older than the limit, whether or not it was touched.
    pub selected: Vec<ClassifiedUpload>,
    /// Empty on a dry run.
    pub outcomes: Vec<AbortOutcome>,
    pub dry_run: bool,
}

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneRequest<'a> {
    pub bucket: &'a str,
    pub prefix: Option<&'a str>,
    /// Uploads started longer ago than this are selected.
    pub older_than: Duration,
    pub now: SystemTime,
    /// Only report what would be aborted.
    pub dry_run: bool,
    /// Also abort uploads that a local session points to (and remove the session).
    pub confirm_local_sessions: bool,
}

/// Lists the uploads of the bucket/prefix, selects those older than the limit, and
/// (unless a dry run) aborts them. Uploads with a local session are left alone unless
/// confirmed.
pub async fn prune(
    client: &OssClient,
    request: &PruneRequest<'_>,
    store: &SessionStore,
    sessions: &[LocalSession],
) -> Result<PruneReport, RemoteUploadsError> {
    let listed = list_uploads(client, request.bucket, request.prefix, None).await?;
    let uploads = classify(listed, sessions);
    let selected = select_older_than(&uploads, request.older_than, request.now);
    let outcomes = if request.dry_run {
        Vec::new()
    } else {
        abort_uploads(client, store, &selected, request.confirm_local_sessions).await
    };
    Ok(PruneReport {
        selected,
        outcomes,
        dry_run: request.dry_run,
    })
}

/// Reads OSS's `2025-01-15T12:00:00.000Z` (RFC 3339).
pub fn parse_initiated(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(key: &str, id: &str, initiated: &str) -> RemoteUpload {
        RemoteUpload {
            bucket: "b".into(),
            key: key.into(),
            upload_id: id.into(),
            initiated: initiated.into(),
            initiated_at: parse_initiated(initiated),
        }
    }

    #[test]
    fn initiated_dates_parse() {
        let at = parse_initiated("2025-01-15T12:00:00.000Z").expect("parses");
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after epoch")
            .as_secs();
        assert_eq!(secs, 1_736_942_400);
        assert_eq!(parse_initiated("yesterday"), None);
    }

    #[test]
    fn classification_and_age_selection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let present = dir.path().join("present.bin");
        std::fs::write(&present, b"x").expect("writes");
        let session = |id: &str, path: PathBuf| LocalSession {
            id: id.into(),
            endpoint: "http://127.0.0.1:1".into(),
            local_path: path,
            bucket: "b".into(),
            key: format!("k-{id}"),
            upload_id: id.into(),
        };
        let sessions = [
            session("U1", present.clone()),
            session("U2", dir.path().join("gone.bin")),
        ];
        let uploads = vec![
            upload("k-U1", "U1", "2025-01-01T00:00:00.000Z"),
            upload("k-U2", "U2", "2025-01-10T00:00:00.000Z"),
            upload("k-U3", "U3", "2025-01-14T00:00:00.000Z"),
            // Same upload id, different key: not ours.
            upload("other", "U1", "not a date"),
        ];
        let classified = classify(uploads, &sessions);
        let labels: Vec<_> = classified.iter().map(|c| c.class.label()).collect();
        assert_eq!(
            labels,
            ["resumable", "local file missing", "orphan", "orphan"]
        );

        let now = parse_initiated("2025-01-15T00:00:00.000Z").expect("parses");
        let old = select_older_than(&classified, Duration::from_secs(3 * 86_400), now);
        let ids: Vec<_> = old.iter().map(|c| c.upload.upload_id.as_str()).collect();
        assert_eq!(ids, ["U1", "U2"], "the undated upload is never selected");
    }
}
