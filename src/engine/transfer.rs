//! One file upload's state machine: wait for a slot → check the file → plan → initiate
//! (or reconcile a session with ListParts) → parts in parallel → complete → verify.
//!
//! The server is the truth on resume: a listed part counts only if its size matches the
//! plan and its CRC-64 matches the local bytes. A changed file or a forgotten upload stops
//! the transfer with a clear message instead of silently starting a second upload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::context::EngineContext;
use super::event::{PartState, TransferError, TransferId, TransferResult, TransferState};
use super::plan::{PartPlan, plan};
use super::progress::Reporter;
use super::retry::RetryEvent;
use super::session_store::{
    CompletedPart, FORMAT_VERSION, FileIdentity, Session, SessionError, UploadOptions,
};
use super::source_file;
use crate::protocol::OssError;
use crate::protocol::client::{
    Body, CompleteOptions, InitiateOptions, ProgressFn, PutOptions, UploadOutput,
};
use crate::protocol::crc64;
use crate::protocol::xml::CompletePart;

/// Finished parts are written to the session at most this often (and when the parts
/// stop). Parts lost by a crash in between are found again by ListParts on resume.
const SESSION_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// How a transfer run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Paused,
    Failed,
    Skipped,
    /// Another process drives this session.
    LockedElsewhere,
}

/// Whether to continue an existing session or start over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartMode {
    Continue,
    /// Abort the session's upload id (if any), forget the session, upload from scratch.
    Fresh,
}

/// A file going to one object.
#[derive(Debug, Clone)]
pub(crate) struct FileTransfer {
    pub id: TransferId,
    pub path: PathBuf,
    pub bucket: String,
    pub key: String,
}

impl FileTransfer {
    /// "PATH to oss://BUCKET/KEY", the subject of this transfer's messages.
    fn describe(&self) -> String {
        format!(
            "{} to oss://{}/{}",
            self.path.display(),
            self.bucket,
            self.key
        )
    }
}

/// Why a step did not go on.
#[derive(Debug)]
pub(crate) enum Stop {
    Paused,
    Failed(TransferError),
    /// The object exists and overwriting is forbidden.
    Skipped,
}

/// A request that did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    Cancelled,
    Oss(OssError),
}

impl Failure {
    fn into_stop(self, what: &str) -> Stop {
        match self {
            Failure::Cancelled => Stop::Paused,
            Failure::Oss(error) => Stop::Failed(describe(&error, what)),
        }
    }
}

/// One sentence a person can act on, with the OSS code and request id when there are.
pub(crate) fn describe(error: &OssError, what: &str) -> TransferError {
    let message = match error.code() {
        Some("AccessDenied") => format!(
            "Access was denied while uploading {what}: the credentials are not allowed to write there."
        ),
        Some("NoSuchBucket") => {
            format!("The bucket of {what} does not exist on this endpoint.")
        }
        Some("SignatureDoesNotMatch") => format!(
            "The server rejected the signature while uploading {what}: the access key secret is probably wrong."
        ),
        Some("InvalidAccessKeyId") => {
            format!("The server does not know the access key id used for {what}.")
        }
        Some("NoSuchUpload") => format!(
            "The upload of {what} was aborted on the server; start over (Restart) to upload it again."
        ),
        _ => format!("Uploading {what} failed: {error}."),
    };
    TransferError {
        message,
        code: error.code().map(str::to_owned),
        request_id: error.request_id().map(str::to_owned),
        restart_suggested: error.is_code("NoSuchUpload"),
    }
}

fn local_failure(message: String, restart_suggested: bool) -> Stop {
    Stop::Failed(TransferError {
        message,
        code: None,
        request_id: None,
        restart_suggested,
    })
}

/// Runs one request with retries, reporting waits on the transfer (and on `part`), and
/// giving up promptly when `cancel` fires.
pub(crate) async fn request<T, F, Fut>(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    part: Option<u32>,
    send: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OssError>>,
{
    let retrier = ctx.retrier();
    let observe = |event: RetryEvent| match event {
        RetryEvent::Retrying {
            attempt,
            last_error,
        } => {
            tracing::info!(transfer = %reporter.id(), attempt, "retrying: {last_error}");
            if let Some(number) = part {
                reporter.set_part(
                    number,
                    PartState::Retrying {
                        attempt,
                        last_error,
                    },
                );
            }
        }
        RetryEvent::WaitingForNetwork { last_error } => {
            tracing::info!(transfer = %reporter.id(), "network down: {last_error}");
            reporter.set_state(TransferState::WaitingForNetwork);
        }
        RetryEvent::NetworkBack => {
            if reporter.state() == Some(TransferState::WaitingForNetwork) {
                reporter.set_state(if part.is_some() {
                    TransferState::Uploading
                } else {
                    TransferState::Preparing
                });
            }
        }
    };
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(Failure::Cancelled),
        result = retrier.run(send, observe) => result.map_err(Failure::Oss),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(std::io::Error::other(join.to_string())),
    }
}

fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs a file transfer until it is done, paused, failed or skipped, and leaves the row
/// in that state.
pub(crate) async fn run_file(
    ctx: Arc<EngineContext>,
    transfer: FileTransfer,
    mode: StartMode,
    cancel: CancellationToken,
) -> Outcome {
    let reporter = ctx.board.reporter(transfer.id.clone());
    reporter.set_state(TransferState::Queued);
    let slot = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        slot = ctx.scheduler.transfer_slot() => Some(slot),
    };
    let result = match slot {
        None => Err(Stop::Paused),
        Some(_slot) => {
            // Held until this run ends, so no other process drives the same session.
            let _lock = match ctx.store.try_lock(&transfer.id) {
                Ok(lock) => lock,
                Err(SessionError::Locked { .. }) => {
                    reporter.set_state(TransferState::LockedElsewhere);
                    ctx.board.notice(format!(
                        "{} to oss://{}/{} is being uploaded by another ossup process.",
                        transfer.path.display(),
                        transfer.bucket,
                        transfer.key
                    ));
                    return Outcome::LockedElsewhere;
                }
                Err(e) => {
                    reporter.fail(TransferError {
                        message: format!("Could not lock the session: {e}."),
                        code: None,
                        request_id: None,
                        restart_suggested: false,
                    });
                    return Outcome::Failed;
                }
            };
            reporter.clear_error();
            reporter.set_state(TransferState::Preparing);
            let result = upload_file(&ctx, &transfer, mode, &reporter, &cancel).await;
            // A run that ends without a session (single put, failure before Initiate)
            // leaves no lock file behind either.
            if !ctx.store.path_of(&transfer.id).exists()
                && let Err(e) = ctx.store.remove(&transfer.id)
            {
                tracing::warn!("{e}");
            }
            result
        }
    };
    match result {
        Ok(result) => {
            reporter.set_result(result);
            reporter.set_state(TransferState::Done);
            Outcome::Done
        }
        Err(Stop::Paused) => {
            reporter.requeue_unfinished();
            reporter.set_state(TransferState::Paused);
            Outcome::Paused
        }
        Err(Stop::Skipped) => {
            if let Err(e) = ctx.store.remove(&transfer.id) {
                tracing::warn!("{e}");
            }
            reporter.requeue_unfinished();
            reporter.skip(&transfer.bucket, &transfer.key);
            Outcome::Skipped
        }
        Err(Stop::Failed(error)) => {
            reporter.requeue_unfinished();
            reporter.fail(error);
            Outcome::Failed
        }
    }
}

async fn upload_file(
    ctx: &Arc<EngineContext>,
    transfer: &FileTransfer,
    mode: StartMode,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<TransferResult, Stop> {
    let what = transfer.describe();
    let path = transfer.path.clone();
    let identity = blocking(move || source_file::identify(&path))
        .await
        .map_err(|e| {
            local_failure(
                format!("Could not read {}: {e}.", transfer.path.display()),
                false,
            )
        })?;

    let stored = ctx.store.load(&transfer.id).map_err(|e| {
        local_failure(
            format!("The saved session of {what} could not be read: {e}."),
            true,
        )
    })?;
    let existing = match (mode, stored) {
        (StartMode::Fresh, Some(old)) => {
            abort_old_upload(ctx, reporter, cancel, &old).await?;
            None
        }
        (_, stored) => stored,
    };

    let tuning = ctx.tuning();
    let options = UploadOptions {
        content_type: source_file::content_type_for(&transfer.key),
        forbid_overwrite: tuning.forbid_overwrite,
        storage_class: tuning.storage_class.clone(),
    };

    let (session, plan) = match existing {
        Some(session) => {
            check_same_file(&session.file, &identity, &transfer.path)?;
            let plan = PartPlan::with_part_size(identity.size, session.part_size)
                .map_err(|e| local_failure(format!("Cannot resume {what}: {e}."), true))?;
            let session = reconcile(ctx, reporter, cancel, transfer, session, &plan).await?;
            (session, plan)
        }
        None => {
            let plan = plan(identity.size, tuning.part_size, tuning.single_put_threshold)
                .map_err(|e| local_failure(format!("Cannot upload {what}: {e}."), false))?;
            if plan.single_put {
                return single_put(ctx, reporter, cancel, transfer, &plan, &options).await;
            }
            reporter.set_layout(plan.size, plan.part_size, plan.part_count, &BTreeMap::new());
            let session =
                initiate(ctx, reporter, cancel, transfer, &identity, &plan, options).await?;
            (session, plan)
        }
    };
    let session = upload_parts(ctx, reporter, cancel, transfer, session, &plan).await?;
    // Parts read from a file that changed meanwhile would build an object nobody wrote.
    let path = transfer.path.clone();
    let identity_now = blocking(move || source_file::identify(&path))
        .await
        .map_err(|e| {
            local_failure(
                format!("Could not read {}: {e}.", transfer.path.display()),
                false,
            )
        })?;
    check_same_file(&session.file, &identity_now, &transfer.path)?;
    complete(ctx, reporter, transfer, session).await
}

fn check_same_file(recorded: &FileIdentity, now: &FileIdentity, path: &Path) -> Result<(), Stop> {
    let what_changed = if recorded.size != now.size {
        Some(format!(
            "its size went from {} to {} bytes",
            recorded.size, now.size
        ))
    } else if recorded.mtime_unix_nanos != now.mtime_unix_nanos {
        Some("its modification time changed".to_owned())
    } else if recorded.fingerprint != now.fingerprint {
        Some("its content changed".to_owned())
    } else {
        None
    };
    match what_changed {
        None => Ok(()),
        Some(change) => Err(local_failure(
            format!(
                "{} changed since the upload started ({change}); start over (Restart) to upload the new version.",
                path.display()
            ),
            true,
        )),
    }
}

async fn abort_old_upload(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    old: &Session,
) -> Result<(), Stop> {
    let aborted = request(ctx, reporter, cancel, None, || {
        ctx.client
            .abort_multipart_upload(&old.bucket, &old.key, &old.upload_id)
    })
    .await;
    match aborted {
        Ok(()) => {}
        Err(Failure::Oss(e)) if e.is_code("NoSuchUpload") => {}
        Err(failure) => return Err(failure.into_stop(&format!("oss://{}/{}", old.bucket, old.key))),
    }
    ctx.store
        .remove(&old.transfer_id())
        .map_err(|e| local_failure(format!("Could not delete the old session: {e}."), false))?;
    reporter.set_upload_id(None);
    Ok(())
}

async fn single_put(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    plan: &PartPlan,
    options: &UploadOptions,
) -> Result<TransferResult, Stop> {
    let what = format!("oss://{}/{}", transfer.bucket, transfer.key);
    let mut done = BTreeMap::new();
    reporter.set_layout(plan.size, plan.size, 1, &done);
    reporter.set_state(TransferState::Uploading);
    let put_options = PutOptions {
        content_type: options.content_type.clone(),
        forbid_overwrite: options.forbid_overwrite,
        storage_class: options.storage_class.clone(),
        content_md5: false,
    };
    let size = plan.size;
    let progress: ProgressFn = {
        let reporter = reporter.clone();
        Arc::new(move |bytes| reporter.part_sent(1, bytes))
    };
    let output = request(ctx, reporter, cancel, Some(1), || {
        reporter.set_part(1, PartState::InFlight { bytes_sent: 0 });
        let body = file_body(&transfer.path, 0, size);
        let progress = progress.clone();
        let put_options = &put_options;
        async move {
            ctx.client
                .put_object(
                    &transfer.bucket,
                    &transfer.key,
                    body,
                    put_options,
                    Some(progress),
                )
                .await
        }
    })
    .await;
    let output = match output {
        Ok(output) => output,
        Err(Failure::Oss(e)) if e.is_code("FileAlreadyExists") => return Err(Stop::Skipped),
        Err(failure) => {
            if let Failure::Oss(_) = failure {
                reporter.set_part(
                    1,
                    PartState::Failed {
                        error: "upload failed".into(),
                    },
                );
            }
            return Err(failure.into_stop(&what));
        }
    };
    done.insert(1, size);
    reporter.part_done(1, size);
    reporter.set_state(TransferState::Verifying);
    verify(
        ctx,
        reporter,
        cancel,
        transfer,
        output.etag,
        None,
        output.crc64,
    )
    .await
}

fn file_body(path: &Path, offset: u64, len: u64) -> Body {
    if len == 0 {
        Body::Bytes(Bytes::new())
    } else {
        Body::FileRange {
            path: path.to_path_buf(),
            offset,
            len,
        }
    }
}

async fn initiate(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    identity: &FileIdentity,
    plan: &PartPlan,
    options: UploadOptions,
) -> Result<Session, Stop> {
    let what = format!("oss://{}/{}", transfer.bucket, transfer.key);
    let initiate_options = InitiateOptions {
        content_type: options.content_type.clone(),
        forbid_overwrite: options.forbid_overwrite,
        storage_class: options.storage_class.clone(),
    };
    let initiated = request(ctx, reporter, cancel, None, || {
        ctx.client
            .initiate_multipart_upload(&transfer.bucket, &transfer.key, &initiate_options)
    })
    .await;
    let initiated = match initiated {
        Ok(initiated) => initiated,
        Err(Failure::Oss(e)) if e.is_code("FileAlreadyExists") => return Err(Stop::Skipped),
        Err(failure) => return Err(failure.into_stop(&what)),
    };
    let session = Session {
        format_version: FORMAT_VERSION,
        id: transfer.id.0.clone(),
        local_path: transfer.path.clone(),
        file: *identity,
        endpoint: ctx.endpoint_label.clone(),
        bucket: transfer.bucket.clone(),
        key: transfer.key.clone(),
        upload_id: initiated.upload_id,
        part_size: plan.part_size,
        completed_parts: Vec::new(),
        options,
        created_unix_secs: now_unix_secs(),
    };
    if let Err(e) = ctx.store.save(&session) {
        // Without a session the upload could never be resumed or cleaned up by us: undo it.
        let _ = ctx
            .client
            .abort_multipart_upload(&session.bucket, &session.key, &session.upload_id)
            .await;
        return Err(local_failure(
            format!("Could not save the session of {what}: {e}."),
            false,
        ));
    }
    reporter.set_upload_id(Some(session.upload_id.clone()));
    Ok(session)
}

/// Keeps only the parts the server lists whose size fits the plan and whose CRC-64
/// matches the local bytes.
async fn reconcile(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    mut session: Session,
    plan: &PartPlan,
) -> Result<Session, Stop> {
    let what = transfer.describe();
    reporter.set_upload_id(Some(session.upload_id.clone()));
    let recorded: BTreeMap<u32, CompletedPart> = session
        .completed_parts
        .iter()
        .map(|p| (p.number, p.clone()))
        .collect();
    let mut listed = Vec::new();
    let mut marker = 0u32;
    loop {
        let page = request(ctx, reporter, cancel, None, || {
            ctx.client.list_parts(
                &session.bucket,
                &session.key,
                &session.upload_id,
                marker,
                Some(1000),
            )
        })
        .await
        .map_err(|failure| failure.into_stop(&what))?;
        listed.extend(page.parts);
        if !page.is_truncated || page.next_part_number_marker <= marker {
            break;
        }
        marker = page.next_part_number_marker;
    }
    let mut kept = Vec::new();
    for part in listed {
        // Checking a large file takes a while; a pause should not wait for all of it.
        if cancel.is_cancelled() {
            return Err(Stop::Paused);
        }
        let number = part.part_number;
        if number == 0 || number > plan.part_count || part.size != plan.part_len(number) {
            continue;
        }
        let range = plan.part_range(number);
        let path = transfer.path.clone();
        let local_crc = blocking(move || {
            source_file::crc_of_range(&path, range.start, range.end - range.start)
        })
        .await
        .map_err(|e| {
            local_failure(
                format!("Could not read {}: {e}.", transfer.path.display()),
                false,
            )
        })?;
        // go2 and our server report each part's CRC; without it, trust our own record of
        // the same ETag.
        let server_crc = part.hash_crc64ecma.or_else(|| {
            recorded
                .get(&number)
                .filter(|r| r.etag == part.etag)
                .map(|r| r.crc64)
        });
        if server_crc == Some(local_crc) {
            kept.push(CompletedPart {
                number,
                size: part.size,
                etag: part.etag,
                crc64: local_crc,
            });
        }
    }
    session.completed_parts = kept;
    ctx.store
        .save(&session)
        .map_err(|e| local_failure(format!("Could not save the session of {what}: {e}."), false))?;
    let done: BTreeMap<u32, u64> = session
        .completed_parts
        .iter()
        .map(|p| (p.number, p.size))
        .collect();
    reporter.set_layout(plan.size, plan.part_size, plan.part_count, &done);
    Ok(session)
}

async fn upload_parts(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    mut session: Session,
    plan: &PartPlan,
) -> Result<Session, Stop> {
    let what = transfer.describe();
    reporter.set_state(TransferState::Uploading);
    let missing: Vec<u32> = (1..=plan.part_count)
        .filter(|n| {
            session
                .completed_parts
                .binary_search_by_key(n, |p| p.number)
                .is_err()
        })
        .collect();
    // Parts stop on pause or on the first part that fails for good.
    let parts_cancel = cancel.child_token();
    let permits = ctx.scheduler.transfer_parts();
    let mut running: JoinSet<(u32, Result<UploadOutput, Failure>)> = JoinSet::new();
    let mut pending = missing.into_iter().peekable();
    let mut first_failure: Option<Stop> = None;
    let mut unsaved_parts = false;
    let mut last_save = Instant::now();

    loop {
        let can_start = first_failure.is_none() && pending.peek().is_some();
        if !can_start && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(joined) = running.join_next(), if !running.is_empty() => {
                let (number, result) = match joined {
                    Ok(pair) => pair,
                    Err(join) => {
                        first_failure.get_or_insert(local_failure(format!("A part task of {what} stopped unexpectedly: {join}."), false));
                        parts_cancel.cancel();
                        continue;
                    }
                };
                match result {
                    Ok(output) => {
                        let len = plan.part_len(number);
                        session.record_part(CompletedPart {
                            number,
                            size: len,
                            etag: output.etag,
                            crc64: output.crc64,
                        });
                        reporter.part_done(number, len);
                        unsaved_parts = true;
                        if last_save.elapsed() >= SESSION_SAVE_INTERVAL {
                            if let Err(stop) = save_session(ctx, &session, &what).await {
                                first_failure.get_or_insert(stop);
                                parts_cancel.cancel();
                            }
                            unsaved_parts = false;
                            last_save = Instant::now();
                        }
                    }
                    Err(Failure::Cancelled) => {
                        reporter.set_part(number, PartState::Queued);
                    }
                    Err(Failure::Oss(error)) => {
                        reporter.set_part(number, PartState::Failed { error: error.to_string() });
                        let stop = if error.is_code("NoSuchUpload") {
                            Stop::Failed(describe(&error, &what))
                        } else {
                            Failure::Oss(error).into_stop(&what)
                        };
                        first_failure.get_or_insert(stop);
                        parts_cancel.cancel();
                    }
                }
            }
            permit = permits.acquire(), if can_start => {
                let Some(number) = pending.next() else { continue };
                if parts_cancel.is_cancelled() {
                    continue;
                }
                let range = plan.part_range(number);
                let task = PartTask {
                    ctx: ctx.clone(),
                    reporter: reporter.clone(),
                    cancel: parts_cancel.clone(),
                    path: transfer.path.clone(),
                    bucket: session.bucket.clone(),
                    key: session.key.clone(),
                    upload_id: session.upload_id.clone(),
                    number,
                    offset: range.start,
                    len: range.end - range.start,
                };
                running.spawn(async move {
                    let _permit = permit;
                    let result = task.run().await;
                    (number, result)
                });
            }
            () = cancel.cancelled(), if first_failure.is_none() => {
                first_failure = Some(Stop::Paused);
                parts_cancel.cancel();
            }
        }
    }
    if unsaved_parts && let Err(stop) = save_session(ctx, &session, &what).await {
        first_failure.get_or_insert(stop);
    }
    match first_failure {
        Some(stop) => Err(stop),
        None if cancel.is_cancelled() => Err(Stop::Paused),
        None => Ok(session),
    }
}

/// Writes the session on a blocking thread.
async fn save_session(ctx: &EngineContext, session: &Session, what: &str) -> Result<(), Stop> {
    let store = ctx.store.clone();
    let snapshot = session.clone();
    blocking(move || store.save(&snapshot).map_err(std::io::Error::other))
        .await
        .map_err(|e| local_failure(format!("Could not save the session of {what}: {e}."), false))
}

/// Uploads one part of a file, with retries.
struct PartTask {
    ctx: Arc<EngineContext>,
    reporter: Reporter,
    cancel: CancellationToken,
    path: PathBuf,
    bucket: String,
    key: String,
    upload_id: String,
    number: u32,
    offset: u64,
    len: u64,
}

impl PartTask {
    async fn run(self) -> Result<UploadOutput, Failure> {
        let progress: ProgressFn = {
            let reporter = self.reporter.clone();
            let number = self.number;
            Arc::new(move |bytes| reporter.part_sent(number, bytes))
        };
        let ctx = &self.ctx;
        let task = &self;
        request(ctx, &self.reporter, &self.cancel, Some(self.number), || {
            task.reporter
                .set_part(task.number, PartState::InFlight { bytes_sent: 0 });
            let body = file_body(&task.path, task.offset, task.len);
            let progress = progress.clone();
            async move {
                ctx.client
                    .upload_part(
                        &task.bucket,
                        &task.key,
                        &task.upload_id,
                        task.number,
                        body,
                        Some(progress),
                    )
                    .await
            }
        })
        .await
    }
}

async fn complete(
    ctx: &EngineContext,
    reporter: &Reporter,
    transfer: &FileTransfer,
    session: Session,
) -> Result<TransferResult, Stop> {
    let what = format!("oss://{}/{}", session.bucket, session.key);
    reporter.set_state(TransferState::Verifying);
    // Once Complete is on its way it is seen through: a pause now would leave the
    // server and the session disagreeing about whether the upload still exists.
    let cancel = &CancellationToken::new();
    let parts: Vec<CompletePart> = session
        .completed_parts
        .iter()
        .map(|p| CompletePart {
            part_number: p.number,
            etag: p.etag.clone(),
        })
        .collect();
    let local_crc = crc64::combine_parts(session.completed_parts.iter().map(|p| (p.crc64, p.size)));
    let options = CompleteOptions {
        forbid_overwrite: session.options.forbid_overwrite,
        acl: None,
    };
    let completed = request(ctx, reporter, cancel, None, || {
        ctx.client.complete_multipart_upload(
            &session.bucket,
            &session.key,
            &session.upload_id,
            &parts,
            &options,
        )
    })
    .await;
    let (etag, server_crc) = match completed {
        Ok(output) => (output.etag, output.crc64),
        Err(Failure::Oss(e)) if e.is_code("FileAlreadyExists") => {
            // The parts would stay on the server forever: abort them.
            let _ = request(ctx, reporter, cancel, None, || {
                ctx.client
                    .abort_multipart_upload(&session.bucket, &session.key, &session.upload_id)
            })
            .await;
            return Err(Stop::Skipped);
        }
        // A retried Complete whose first attempt went through: the object is there.
        Err(Failure::Oss(e)) if e.is_code("NoSuchUpload") => {
            let head = request(ctx, reporter, cancel, None, || {
                ctx.client.head_object(&session.bucket, &session.key)
            })
            .await;
            match head {
                Ok(meta) if meta.crc64 == Some(local_crc) && meta.size == session.file.size => {
                    (meta.etag, meta.crc64)
                }
                _ => return Err(Stop::Failed(describe(&e, &what))),
            }
        }
        Err(failure) => return Err(failure.into_stop(&what)),
    };
    let result = verify(ctx, reporter, cancel, transfer, etag, server_crc, local_crc).await;
    if !matches!(result, Err(Stop::Paused)) {
        // Completed on the server: the session has nothing left to resume.
        if let Err(e) = ctx.store.remove(&transfer.id) {
            tracing::warn!("{e}");
        }
    }
    result
}

/// Compares the object's CRC-64 on the server with the one computed from our bytes.
async fn verify(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    etag: String,
    server_crc: Option<u64>,
    local_crc: u64,
) -> Result<TransferResult, Stop> {
    let server_crc = match server_crc {
        Some(crc) => Some(crc),
        None => request(ctx, reporter, cancel, None, || {
            ctx.client.head_object(&transfer.bucket, &transfer.key)
        })
        .await
        .ok()
        .and_then(|meta| meta.crc64),
    };
    match server_crc {
        Some(server) if server != local_crc => Err(local_failure(
            format!(
                "The object oss://{}/{} does not match the local file: the server's CRC-64 is {server:016x}, ours is {local_crc:016x}. Upload it again.",
                transfer.bucket, transfer.key
            ),
            true,
        )),
        _ => Ok(TransferResult {
            etag,
            crc64: server_crc,
            verified: server_crc == Some(local_crc),
        }),
    }
}
