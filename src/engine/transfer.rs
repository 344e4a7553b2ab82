//! One file upload's state machine: wait for a slot → check the file → plan → initiate
//! (or reconcile a session with ListParts) → parts in parallel → complete → verify.
//!
//! The server is the truth on resume: a listed part counts only if its size matches the
//! plan and its CRC-64 matches the local bytes. A changed file or a forgotten upload stops
//! the transfer with a clear message instead of silently starting a second upload.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::completed_parts::CompletedParts;
use super::context::EngineContext;
use super::event::{TransferError, TransferId, TransferResult, TransferState};
use super::initiate;
use super::part_driver::{
    MultipartTarget, NextPart, PartSource, SentFrom, complete_and_verify, put_and_verify,
    send_parts,
};
use super::plan::{PartPlan, plan};
use super::progress::Reporter;
use super::request::{Failure, Stop, request};
use super::session_store::{
    CompletedPart, FORMAT_VERSION, FileIdentity, Session, SessionError, UploadOptions,
};
use super::source_file;
use super::store::JobId;
use crate::protocol::ObjectRef;
use crate::protocol::client::{Body, CHUNK_BYTES, InitiateOptions, PutOptions};
use crate::protocol::error::code;

/// A file no longer than one body chunk is read once, with its identity, and sent from
/// memory: the memory a streamed body holds anyway, without opening the file again.
const READ_WHOLE_UP_TO: u64 = CHUNK_BYTES as u64;

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
    /// The label of the target it uploads to.
    pub target: String,
    pub path: PathBuf,
    pub bucket: String,
    pub key: String,
    /// The job the file belongs to, recorded in its session.
    pub job: Option<JobId>,
    /// Its size when queued, if known: a file that fits one PutObject takes a small-file
    /// slot instead of a transfer slot.
    pub size: Option<u64>,
}

impl FileTransfer {
    pub(crate) fn object(&self) -> ObjectRef<'_> {
        ObjectRef::new(&self.bucket, &self.key)
    }

    /// "PATH to oss://BUCKET/KEY", the subject of this transfer's messages.
    fn describe(&self) -> String {
        format!("{} to {}", self.path.display(), self.object())
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
    let small = transfer
        .size
        .is_some_and(|size| size < ctx.tuning().single_put_threshold)
        && !ctx.store.exists(&transfer.id).unwrap_or(false);
    let slot = if small {
        ctx.scheduler.small_file_slot_unless(&cancel).await
    } else {
        ctx.scheduler
            .transfer_slot_unless(&cancel)
            .await
            .map(Into::into)
    };
    let result = match slot {
        None => Err(Stop::Paused),
        // One PutObject with no session: nothing to lock, nothing left behind.
        Some(_slot) if small => {
            reporter.clear_error();
            reporter.set_state(TransferState::Preparing);
            upload_file(&ctx, &transfer, mode, false, &reporter, &cancel).await
        }
        Some(_slot) => {
            // Held until this run ends, so no other process drives the same session.
            let _lock = match ctx.store.try_lock(&transfer.id) {
                Ok(lock) => lock,
                Err(SessionError::Locked { .. }) => {
                    reporter.set_state(TransferState::LockedElsewhere);
                    ctx.board.notice(format!(
                        "{} is being uploaded by another ossup process.",
                        transfer.describe()
                    ));
                    return Outcome::LockedElsewhere;
                }
                Err(e) => {
                    reporter.fail(TransferError::local(format!(
                        "Could not lock the session: {e}."
                    )));
                    return Outcome::Failed;
                }
            };
            reporter.clear_error();
            reporter.set_state(TransferState::Preparing);
            let result = upload_file(&ctx, &transfer, mode, true, &reporter, &cancel).await;
            // A run that ends without a session (single put, failure before Initiate)
            // leaves no lock file behind either.
            if let Err(e) = ctx.store.release_unsaved(&transfer.id) {
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
        Err(Stop::Failed(error) | Stop::PartRefused { error, .. }) => {
            reporter.requeue_unfinished();
            reporter.fail(error);
            Outcome::Failed
        }
    }
}

/// Uploads the file, continuing its saved session if there is one. `may_have_session` is
/// false when the caller has just found none (a small file), so it is not looked for again.
async fn upload_file(
    ctx: &Arc<EngineContext>,
    transfer: &FileTransfer,
    mode: StartMode,
    may_have_session: bool,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<TransferResult, Stop> {
    let what = transfer.describe();
    let stored = if may_have_session {
        match ctx.store.load(&transfer.id) {
            Ok(stored) => stored,
            // Nothing can have been saved: a small file still goes as one PutObject, and a
            // large one stops when its session cannot be saved, saying why.
            Err(SessionError::Unavailable(_)) => None,
            Err(e) => {
                return Err(Stop::Failed(
                    TransferError::local(format!(
                        "The saved session of {what} could not be read: {e}."
                    ))
                    .suggesting_restart(),
                ));
            }
        }
    } else {
        None
    };
    let tuning = ctx.tuning();
    // Without a session the file may go as one PutObject: read it whole if it is that small.
    let read_up_to = if stored.is_none() {
        READ_WHOLE_UP_TO.min(tuning.single_put_threshold.saturating_sub(1))
    } else {
        0
    };
    let path = transfer.path.clone();
    let (identity, content) = blocking(move || source_file::identify_and_read(&path, read_up_to))
        .await
        .map_err(|e| Stop::local(format!("Could not read {}: {e}.", transfer.path.display())))?;

    let existing = match (mode, stored) {
        (StartMode::Fresh, Some(old)) => {
            abort_old_upload(ctx, reporter, cancel, &old).await?;
            None
        }
        (_, stored) => stored,
    };

    let options = UploadOptions {
        content_type: source_file::content_type_for(&transfer.key),
        forbid_overwrite: tuning.forbid_overwrite,
        storage_class: tuning.storage_class.clone(),
    };

    let (session, plan) = match existing {
        Some(session) if session.is_initiating() => {
            // The run that saved it died before learning its upload id: initiate again,
            // adopting the upload that run may have created.
            let plan = plan(identity.size, tuning.part_size, tuning.single_put_threshold)
                .map_err(|e| Stop::local(format!("Cannot upload {what}: {e}.")))?;
            if plan.single_put {
                let _ = ctx.store.remove(&transfer.id);
                return single_put(
                    ctx, reporter, cancel, transfer, &identity, None, &plan, &options,
                )
                .await;
            }
            reporter.set_layout(plan.size, plan.part_size, plan.part_count, &BTreeMap::new());
            let earlier = UNIX_EPOCH + Duration::from_secs(session.created_unix_secs);
            let session = initiate(
                ctx,
                reporter,
                cancel,
                transfer,
                &identity,
                &plan,
                options,
                Some(earlier),
            )
            .await?;
            (session, plan)
        }
        Some(session) => {
            check_same_file(&session.file, &identity, &transfer.path)?;
            let plan = PartPlan::with_part_size(identity.size, session.part_size).map_err(|e| {
                Stop::Failed(
                    TransferError::local(format!("Cannot resume {what}: {e}."))
                        .suggesting_restart(),
                )
            })?;
            match reconcile(ctx, reporter, cancel, transfer, session, &plan).await? {
                Reconciled::Resume(session) => (*session, plan),
                Reconciled::AlreadyComplete(result) => return Ok(result),
            }
        }
        None => {
            let plan = plan(identity.size, tuning.part_size, tuning.single_put_threshold)
                .map_err(|e| Stop::local(format!("Cannot upload {what}: {e}.")))?;
            if plan.single_put {
                return single_put(
                    ctx, reporter, cancel, transfer, &identity, content, &plan, &options,
                )
                .await;
            }
            reporter.set_layout(plan.size, plan.part_size, plan.part_count, &BTreeMap::new());
            let session = initiate(
                ctx, reporter, cancel, transfer, &identity, &plan, options, None,
            )
            .await?;
            (session, plan)
        }
    };
    let mut session = upload_parts(ctx, reporter, cancel, transfer, session, &plan).await?;
    let mut resent = BTreeSet::new();
    loop {
        // Parts read from a file that changed meanwhile would build an object nobody wrote.
        let path = transfer.path.clone();
        let identity_now = blocking(move || source_file::identify(&path))
            .await
            .map_err(|e| {
                Stop::local(format!("Could not read {}: {e}.", transfer.path.display()))
            })?;
        check_same_file(&session.file, &identity_now, &transfer.path)?;
        match complete(ctx, reporter, transfer, session.clone(), &plan).await {
            // A part recorded but not (or no longer) on the server, which a resume that
            // could not list parts trusted: send it again, once.
            Err(Stop::PartRefused { number, error }) if resent.insert(number) => {
                ctx.board.notice(format!(
                    "The server refused part {number} of {what} when completing ({}); sending that part again.",
                    error.message
                ));
                session.completed_parts.retain(|p| p.number != number);
                save_session(ctx, &session, &what).await?;
                let done: BTreeMap<u32, u64> = session
                    .completed_parts
                    .iter()
                    .map(|p| (p.number, p.size))
                    .collect();
                reporter.set_layout(plan.size, plan.part_size, plan.part_count, &done);
                session = upload_parts(ctx, reporter, cancel, transfer, session, &plan).await?;
            }
            other => return other,
        }
    }
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
        Some(change) => Err(Stop::Failed(TransferError::local(format!(
                "{} changed since the upload started ({change}); start over (Restart) to upload the new version.",
                path.display()
            )).suggesting_restart())),
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
        Err(Failure::Oss(e)) if e.is_code(code::NO_SUCH_UPLOAD) => {}
        Err(failure) => {
            return Err(failure.into_stop(&ObjectRef::new(&old.bucket, &old.key).to_string()));
        }
    }
    ctx.store
        .remove(&old.transfer_id())
        .map_err(|e| Stop::local(format!("Could not delete the old session: {e}.")))?;
    reporter.set_upload_id(None);
    Ok(())
}

/// Sends the file as one PutObject: from `content` when it was read whole (the bytes its
/// identity was taken from), else streamed from the file.
#[allow(clippy::too_many_arguments)]
async fn single_put(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    identity: &FileIdentity,
    content: Option<Bytes>,
    plan: &PartPlan,
    options: &UploadOptions,
) -> Result<TransferResult, Stop> {
    reporter.set_layout(plan.size, plan.size, 1, &BTreeMap::new());
    let put_options = PutOptions {
        content_type: options.content_type.clone(),
        forbid_overwrite: options.forbid_overwrite,
        storage_class: options.storage_class.clone(),
        content_md5: false,
        mtime_unix_secs: Some(identity.mtime_unix_secs()),
    };
    put_and_verify(
        ctx,
        reporter,
        cancel,
        transfer.object(),
        match content {
            Some(bytes) if bytes.len() as u64 == plan.size => Body::Bytes(bytes),
            _ => file_body(&transfer.path, 0, plan.size),
        },
        plan.size,
        &put_options,
        SentFrom::LocalFile,
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

/// Starts the multipart upload. The session is saved first with no upload id, so a run
/// that dies before hearing the answer leaves the next one a way to find the upload it
/// may have created (`earlier_attempt`: that run's Initiate).
#[allow(clippy::too_many_arguments)]
async fn initiate(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    identity: &FileIdentity,
    plan: &PartPlan,
    options: UploadOptions,
    earlier_attempt: Option<SystemTime>,
) -> Result<Session, Stop> {
    let what = transfer.object().to_string();
    let initiate_options = InitiateOptions {
        content_type: options.content_type.clone(),
        forbid_overwrite: options.forbid_overwrite,
        storage_class: options.storage_class.clone(),
        mtime_unix_secs: Some(identity.mtime_unix_secs()),
    };
    let created_unix_secs = earlier_attempt
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or_else(now_unix_secs, |d| d.as_secs());
    let mut session = Session {
        format_version: FORMAT_VERSION,
        id: transfer.id.0.clone(),
        local_path: transfer.path.clone(),
        file: *identity,
        endpoint: ctx.endpoint_label.clone(),
        bucket: transfer.bucket.clone(),
        key: transfer.key.clone(),
        upload_id: String::new(),
        part_size: plan.part_size,
        completed_parts: Vec::new(),
        options,
        created_unix_secs,
        job: transfer.job.map(|job| job.0),
    };
    save_session(ctx, &session, &what).await?;
    let initiated = initiate::initiate(
        ctx,
        reporter,
        cancel,
        &transfer.bucket,
        &transfer.key,
        &initiate_options,
        earlier_attempt,
    )
    .await;
    session.upload_id = match initiated {
        Ok(upload_id) => upload_id,
        Err(not) => {
            // With the upload id unknown the session stays, so the next run looks for
            // the upload; an answer that created nothing leaves nothing behind.
            if !not.upload_may_exist {
                let _ = ctx.store.remove(&transfer.id);
            }
            return Err(match not.failure {
                Failure::Oss(e) if e.is_code(code::FILE_ALREADY_EXISTS) => Stop::Skipped,
                failure => failure.into_stop(&what),
            });
        }
    };
    if let Err(e) = ctx.store.save(&session) {
        // Without a session the upload could never be resumed or cleaned up by us: undo it.
        let _ = ctx
            .client
            .abort_multipart_upload(&session.bucket, &session.key, &session.upload_id)
            .await;
        let _ = ctx.store.remove(&transfer.id);
        return Err(Stop::local(format!(
            "Could not save the session of {what}: {e}."
        )));
    }
    reporter.set_upload_id(Some(session.upload_id.clone()));
    Ok(session)
}

/// What the server's view of a saved session leaves to do.
enum Reconciled {
    /// Upload the parts still missing.
    Resume(Box<Session>),
    /// A previous run completed the upload but stopped before forgetting the session: the
    /// object on the server has the local file's size and CRC-64.
    AlreadyComplete(TransferResult),
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
) -> Result<Reconciled, Stop> {
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
        let answer = request(ctx, reporter, cancel, None, || {
            ctx.client.list_parts(
                &session.bucket,
                &session.key,
                &session.upload_id,
                marker,
                Some(1000),
            )
        })
        .await;
        let page = match answer {
            Ok(page) => page,
            // A key that may only write cannot list parts: the session's own record is
            // what is left, and Complete with the whole-object CRC-64 checks it.
            Err(Failure::Oss(e)) if e.is_code(code::ACCESS_DENIED) && marker == 0 => {
                ctx.board.notice(format!(
                    "This key may not list the parts of {what} (oss:ListParts); resuming from the {} part(s) this machine recorded.",
                    recorded.len()
                ));
                let session =
                    trust_recorded(ctx, reporter, cancel, transfer, session, plan).await?;
                return Ok(Reconciled::Resume(Box::new(session)));
            }
            Err(Failure::Oss(e)) if e.is_code(code::NO_SUCH_UPLOAD) => {
                return match completed_earlier(ctx, reporter, cancel, transfer, &session, plan)
                    .await?
                {
                    Some(result) => Ok(Reconciled::AlreadyComplete(result)),
                    None => Err(Failure::Oss(e).into_stop(&what)),
                };
            }
            Err(failure) => return Err(failure.into_stop(&what)),
        };
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
        let Some(local_crc) = local_part_crc(transfer, plan, number, part.size).await? else {
            continue;
        };
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
    keep_parts(ctx, reporter, &mut session, kept, plan, &what).await?;
    Ok(Reconciled::Resume(Box::new(session)))
}

/// The CRC-64 of part `number` of the local file, or `None` when a part of `size` bytes
/// with that number does not fit the plan.
async fn local_part_crc(
    transfer: &FileTransfer,
    plan: &PartPlan,
    number: u32,
    size: u64,
) -> Result<Option<u64>, Stop> {
    if number == 0 || number > plan.part_count || size != plan.part_len(number) {
        return Ok(None);
    }
    let range = plan.part_range(number);
    let path = transfer.path.clone();
    let local_crc =
        blocking(move || source_file::crc_of_range(&path, range.start, range.end - range.start))
            .await
            .map_err(|e| {
                Stop::local(format!("Could not read {}: {e}.", transfer.path.display()))
            })?;
    Ok(Some(local_crc))
}

/// Records `kept` as the session's completed parts, saves the session and shows them in
/// the progress layout.
async fn keep_parts(
    ctx: &EngineContext,
    reporter: &Reporter,
    session: &mut Session,
    kept: Vec<CompletedPart>,
    plan: &PartPlan,
    what: &str,
) -> Result<(), Stop> {
    session.completed_parts = kept;
    save_session(ctx, session, what).await?;
    let done: BTreeMap<u32, u64> = session
        .completed_parts
        .iter()
        .map(|p| (p.number, p.size))
        .collect();
    reporter.set_layout(plan.size, plan.part_size, plan.part_count, &done);
    Ok(())
}

/// The upload id is gone: when the object holds exactly the local file's bytes (size and
/// CRC-64 compared), a previous run completed it and was stopped before forgetting the
/// session; the session is removed and the result reported as verified.
async fn completed_earlier(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    session: &Session,
    plan: &PartPlan,
) -> Result<Option<TransferResult>, Stop> {
    let head = request(ctx, reporter, cancel, None, || {
        ctx.client.head_object(&session.bucket, &session.key)
    })
    .await;
    let Ok(meta) = head else {
        return Ok(None);
    };
    let Some(server_crc) = meta.crc64.filter(|_| meta.size == plan.size) else {
        return Ok(None);
    };
    let path = transfer.path.clone();
    let size = plan.size;
    let local_crc = blocking(move || source_file::crc_of_range(&path, 0, size))
        .await
        .map_err(|e| Stop::local(format!("Could not read {}: {e}.", transfer.path.display())))?;
    if local_crc != server_crc {
        return Ok(None);
    }
    if let Err(e) = ctx.store.remove(&transfer.id) {
        tracing::warn!("{e}");
    }
    Ok(Some(TransferResult {
        etag: meta.etag,
        crc64: Some(server_crc),
        verified: true,
    }))
}

/// Keeps the recorded parts that fit the plan and whose CRC-64 still matches the local
/// bytes, for a resume that cannot ask the server which parts it holds.
async fn trust_recorded(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    mut session: Session,
    plan: &PartPlan,
) -> Result<Session, Stop> {
    let what = transfer.describe();
    let mut kept = Vec::new();
    for part in std::mem::take(&mut session.completed_parts) {
        if cancel.is_cancelled() {
            return Err(Stop::Paused);
        }
        let Some(local_crc) = local_part_crc(transfer, plan, part.number, part.size).await? else {
            continue;
        };
        if local_crc == part.crc64 {
            kept.push(part);
        }
    }
    keep_parts(ctx, reporter, &mut session, kept, plan, &what).await?;
    Ok(session)
}

async fn upload_parts(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    transfer: &FileTransfer,
    session: Session,
    plan: &PartPlan,
) -> Result<Session, Stop> {
    let what = transfer.describe();
    let target = MultipartTarget {
        bucket: session.bucket.clone(),
        key: session.key.clone(),
        upload_id: session.upload_id.clone(),
    };
    let missing: VecDeque<u32> = (1..=plan.part_count)
        .filter(|n| {
            session
                .completed_parts
                .binary_search_by_key(n, |p| p.number)
                .is_err()
        })
        .collect();
    let mut source = FileParts {
        ctx,
        path: transfer.path.clone(),
        plan: *plan,
        missing,
        session,
        unsaved_parts: false,
        last_save: Instant::now(),
        what: what.clone(),
    };
    let finished = CompletedParts::from_finished(source.session.completed_parts.clone());
    send_parts(ctx, reporter, cancel, &target, &mut source, finished, &what).await?;
    Ok(source.session)
}

/// The parts of a file still missing from its upload; finished parts go into the
/// session, written at most every [`SESSION_SAVE_INTERVAL`] and when the parts stop.
struct FileParts<'a> {
    ctx: &'a EngineContext,
    path: PathBuf,
    plan: PartPlan,
    /// Part numbers still to send, in order.
    missing: VecDeque<u32>,
    session: Session,
    unsaved_parts: bool,
    last_save: Instant,
    what: String,
}

impl PartSource for FileParts<'_> {
    fn has_next(&self) -> bool {
        !self.missing.is_empty()
    }

    fn take_next(&mut self) -> Result<Option<NextPart>, Stop> {
        Ok(self.missing.pop_front().map(|number| {
            let range = self.plan.part_range(number);
            let len = range.end - range.start;
            NextPart {
                number,
                len,
                body: file_body(&self.path, range.start, len),
            }
        }))
    }

    async fn prepare_next(&mut self) -> Result<(), Stop> {
        Ok(())
    }

    async fn part_done(&mut self, part: &CompletedPart) -> Result<(), Stop> {
        self.session.record_part(part.clone());
        self.unsaved_parts = true;
        if self.last_save.elapsed() < SESSION_SAVE_INTERVAL {
            return Ok(());
        }
        self.unsaved_parts = false;
        self.last_save = Instant::now();
        save_session(self.ctx, &self.session, &self.what).await
    }

    async fn parts_stopped(&mut self) -> Result<(), Stop> {
        if !self.unsaved_parts {
            return Ok(());
        }
        self.unsaved_parts = false;
        save_session(self.ctx, &self.session, &self.what).await
    }
}

/// Writes the session on a blocking thread.
async fn save_session(ctx: &EngineContext, session: &Session, what: &str) -> Result<(), Stop> {
    let store = ctx.store.clone();
    let snapshot = session.clone();
    blocking(move || store.save(&snapshot).map_err(std::io::Error::other))
        .await
        .map_err(|e| Stop::local(format!("Could not save the session of {what}: {e}.")))
}

async fn complete(
    ctx: &EngineContext,
    reporter: &Reporter,
    transfer: &FileTransfer,
    session: Session,
    plan: &PartPlan,
) -> Result<TransferResult, Stop> {
    let target = MultipartTarget {
        bucket: session.bucket.clone(),
        key: session.key.clone(),
        upload_id: session.upload_id.clone(),
    };
    complete_and_verify(
        ctx,
        reporter,
        &target,
        CompletedParts::from_finished(session.completed_parts),
        plan.part_count,
        session.options.forbid_overwrite,
        SentFrom::LocalFile,
        || {
            // Completed on the server: the session has nothing left to resume.
            if let Err(e) = ctx.store.remove(&transfer.id) {
                tracing::warn!("{e}");
            }
        },
    )
    .await
}
