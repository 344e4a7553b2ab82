//! Sends an upload's bytes, whatever they come from: a range of a file or chunks read
//! from a stream. One loop runs the parts in parallel under the scheduler's permits, one
//! step completes the upload and checks the whole object's CRC-64, and one step sends a
//! source small enough for a single PutObject.
//!
//! The source decides what the next part is and what a finished part means to it (a file
//! writes it into its session); the loop, the retries, the failure rules and the
//! verification are the same for both.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::completed_parts::CompletedParts;
use super::context::EngineContext;
use super::event::{PartState, TransferError, TransferResult, TransferState};
use super::progress::Reporter;
use super::request::{Failure, Stop, describe, request};
use super::session_store::CompletedPart;
use crate::protocol::ObjectRef;
use crate::protocol::client::{Body, CompleteOptions, ProgressFn, PutOptions, UploadOutput};
use crate::protocol::error::code;

/// One part ready to be sent.
pub(crate) struct NextPart {
    pub number: u32,
    pub len: u64,
    pub body: Body,
}

/// Where part bytes come from, and what a finished part means to their owner.
pub(crate) trait PartSource {
    /// Whether another part is ready to be taken.
    fn has_next(&self) -> bool;

    /// Takes the ready part (`None` when there is none after all); a source that would
    /// go past the part limit says why.
    fn take_next(&mut self) -> Result<Option<NextPart>, Stop>;

    /// Gets the following part ready while the taken one goes out (a stream reads it).
    async fn prepare_next(&mut self) -> Result<(), Stop>;

    /// A part was accepted by the server.
    async fn part_done(&mut self, part: &CompletedPart) -> Result<(), Stop>;

    /// The parts have stopped, finished or not: the last chance to record them.
    async fn parts_stopped(&mut self) -> Result<(), Stop>;
}

/// The multipart upload parts go to.
#[derive(Debug, Clone)]
pub(crate) struct MultipartTarget {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

impl MultipartTarget {
    pub fn object(&self) -> ObjectRef<'_> {
        ObjectRef::new(&self.bucket, &self.key)
    }
}

/// What the bytes were read from, for the sentence that says they do not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SentFrom {
    LocalFile,
    Stream,
}

/// Sends every part the source has, up to the transfer's share of permits, and returns
/// `finished` with the accepted parts added. Parts stop on cancel (a pause) or on the
/// first part that fails for good.
pub(crate) async fn send_parts(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    target: &MultipartTarget,
    source: &mut impl PartSource,
    mut finished: CompletedParts,
    what: &str,
) -> Result<CompletedParts, Stop> {
    reporter.set_state(TransferState::Uploading);
    let parts_cancel = cancel.child_token();
    let permits = ctx.scheduler.transfer_parts();
    let target = Arc::new(target.clone());
    let mut running: JoinSet<(u32, u64, Result<UploadOutput, Failure>)> = JoinSet::new();
    let mut first_failure: Option<Stop> = None;

    loop {
        let can_start = first_failure.is_none() && source.has_next();
        if !can_start && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(joined) = running.join_next(), if !running.is_empty() => {
                let (number, len, result) = match joined {
                    Ok(joined) => joined,
                    Err(join) => {
                        first_failure.get_or_insert(Stop::local(format!(
                            "A part task of {what} stopped unexpectedly: {join}."
                        )));
                        parts_cancel.cancel();
                        continue;
                    }
                };
                match result {
                    Ok(output) => {
                        let part = CompletedPart {
                            number,
                            size: len,
                            etag: output.etag,
                            crc64: output.crc64,
                        };
                        reporter.part_done(number, len);
                        if let Err(stop) = source.part_done(&part).await {
                            first_failure.get_or_insert(stop);
                            parts_cancel.cancel();
                        }
                        finished.push(part);
                    }
                    Err(Failure::Cancelled) => {
                        reporter.set_part(number, PartState::Queued);
                    }
                    Err(Failure::Oss(error)) => {
                        reporter.set_part(number, PartState::Failed { error: error.to_string() });
                        first_failure.get_or_insert(Stop::Failed(describe(&error, what)));
                        parts_cancel.cancel();
                    }
                }
            }
            permit = permits.acquire(), if can_start => {
                let part = match source.take_next() {
                    Ok(Some(part)) => part,
                    Ok(None) => continue,
                    Err(stop) => {
                        first_failure.get_or_insert(stop);
                        parts_cancel.cancel();
                        continue;
                    }
                };
                if parts_cancel.is_cancelled() {
                    continue;
                }
                let task = PartTask {
                    ctx: ctx.clone(),
                    reporter: reporter.clone(),
                    cancel: parts_cancel.clone(),
                    target: target.clone(),
                    number: part.number,
                    body: part.body,
                };
                running.spawn(async move {
                    let _permit = permit;
                    let result = task.run().await;
                    (part.number, part.len, result)
                });
                let prepared = tokio::select! {
                    biased;
                    () = cancel.cancelled() => Err(Stop::Paused),
                    prepared = source.prepare_next() => prepared,
                };
                if let Err(stop) = prepared {
                    first_failure.get_or_insert(stop);
                    parts_cancel.cancel();
                }
            }
            () = cancel.cancelled(), if first_failure.is_none() => {
                first_failure = Some(Stop::Paused);
                parts_cancel.cancel();
            }
        }
    }
    if let Err(stop) = source.parts_stopped().await {
        first_failure.get_or_insert(stop);
    }
    match first_failure {
        Some(stop) => Err(stop),
        None if cancel.is_cancelled() => Err(Stop::Paused),
        None => Ok(finished),
    }
}

/// Uploads one part, with retries.
struct PartTask {
    ctx: Arc<EngineContext>,
    reporter: Reporter,
    cancel: CancellationToken,
    target: Arc<MultipartTarget>,
    number: u32,
    body: Body,
}

impl PartTask {
    async fn run(self) -> Result<UploadOutput, Failure> {
        let progress = part_progress(&self.reporter, self.number);
        let (ctx, task) = (&self.ctx, &self);
        request(ctx, &self.reporter, &self.cancel, Some(self.number), || {
            task.reporter
                .set_part(task.number, PartState::InFlight { bytes_sent: 0 });
            let body = task.body.clone();
            let progress = progress.clone();
            async move {
                ctx.client
                    .upload_part(
                        &task.target.bucket,
                        &task.target.key,
                        &task.target.upload_id,
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

fn part_progress(reporter: &Reporter, number: u32) -> ProgressFn {
    let reporter = reporter.clone();
    Arc::new(move |bytes| reporter.part_sent(number, bytes))
}

#[allow(clippy::too_many_arguments)]
/// Completes the upload from exactly parts 1 to `part_count` and compares the object's
/// CRC-64 on the server with the one combined from ours. `completed` runs once the server
/// has built the object, before verification: the upload id is gone from then on.
///
/// Once Complete is on its way it is seen through, whatever the transfer's cancel says: a
/// pause now would leave the server and the session disagreeing about whether the upload
/// still exists.
pub(crate) async fn complete_and_verify(
    ctx: &EngineContext,
    reporter: &Reporter,
    target: &MultipartTarget,
    finished: CompletedParts,
    part_count: u32,
    forbid_overwrite: bool,
    sent_from: SentFrom,
    completed: impl FnOnce(),
) -> Result<TransferResult, Stop> {
    let what = target.object().to_string();
    reporter.set_state(TransferState::Verifying);
    let ready = finished
        .into_ready(part_count)
        .map_err(|e| Stop::local(format!("Cannot complete {what}: {e}.")))?;
    let never = &CancellationToken::new();
    let parts = ready.to_complete_list();
    let local_crc = ready.crc64();
    let options = CompleteOptions {
        forbid_overwrite,
        acl: None,
    };
    let (bucket, key, upload_id) = (&target.bucket, &target.key, &target.upload_id);
    let answer = request(ctx, reporter, never, None, || {
        ctx.client
            .complete_multipart_upload(bucket, key, upload_id, &parts, &options)
    })
    .await;
    let (etag, server_crc) = match answer {
        Ok(output) => (output.etag, output.crc64),
        Err(Failure::Oss(e)) if e.is_code(code::FILE_ALREADY_EXISTS) => {
            // The parts would stay on the server forever: abort them.
            let _ = request(ctx, reporter, never, None, || {
                ctx.client.abort_multipart_upload(bucket, key, upload_id)
            })
            .await;
            return Err(Stop::Skipped);
        }
        // A retried Complete whose first attempt went through: the object is there.
        Err(Failure::Oss(e)) if e.is_code(code::NO_SUCH_UPLOAD) => {
            let head = request(ctx, reporter, never, None, || {
                ctx.client.head_object(bucket, key)
            })
            .await;
            match head {
                Ok(meta) if meta.crc64 == Some(local_crc) && meta.size == ready.size() => {
                    (meta.etag, meta.crc64)
                }
                _ => return Err(Stop::Failed(describe(&e, &what))),
            }
        }
        Err(Failure::Oss(e)) if e.is_code(code::INVALID_PART) => {
            let error = describe(&e, &what);
            let number = e
                .service()
                .and_then(|s| s.detail("PartNumber"))
                .and_then(|n| n.parse().ok());
            return Err(match number {
                Some(number) => Stop::PartRefused { number, error },
                None => Stop::Failed(error),
            });
        }
        Err(failure) => return Err(failure.into_stop(&what)),
    };
    completed();
    verify(
        ctx,
        reporter,
        never,
        target.object(),
        etag,
        server_crc,
        local_crc,
        sent_from,
    )
    .await
}

/// Sends a whole source as one PutObject (a small file, a stream that fits in one part)
/// and verifies it like a completed upload.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn put_and_verify(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    object: ObjectRef<'_>,
    body: Body,
    len: u64,
    options: &PutOptions,
    sent_from: SentFrom,
) -> Result<TransferResult, Stop> {
    let what = object.to_string();
    reporter.set_state(TransferState::Uploading);
    let progress = part_progress(reporter, 1);
    let output = request(ctx, reporter, cancel, Some(1), || {
        reporter.set_part(1, PartState::InFlight { bytes_sent: 0 });
        let body = body.clone();
        let progress = progress.clone();
        async move {
            ctx.client
                .put_object(object.bucket, object.key, body, options, Some(progress))
                .await
        }
    })
    .await;
    let output = match output {
        Ok(output) => output,
        Err(Failure::Oss(e)) if e.is_code(code::FILE_ALREADY_EXISTS) => return Err(Stop::Skipped),
        Err(failure) => {
            if let Failure::Oss(e) = &failure {
                reporter.set_part(
                    1,
                    PartState::Failed {
                        error: e.to_string(),
                    },
                );
            }
            return Err(failure.into_stop(&what));
        }
    };
    reporter.part_done(1, len);
    reporter.set_state(TransferState::Verifying);
    // The answer's CRC-64 is the server's own of what it stored: compared already, so
    // HeadObject is asked only when the answer had none.
    verify(
        ctx,
        reporter,
        cancel,
        object,
        output.etag,
        output.server_crc64,
        output.crc64,
        sent_from,
    )
    .await
}

/// Compares the object's CRC-64 on the server (from the answer, or HeadObject when the
/// answer had none) with the one computed from our bytes.
#[allow(clippy::too_many_arguments)]
async fn verify(
    ctx: &EngineContext,
    reporter: &Reporter,
    cancel: &CancellationToken,
    object: ObjectRef<'_>,
    etag: String,
    server_crc: Option<u64>,
    local_crc: u64,
    sent_from: SentFrom,
) -> Result<TransferResult, Stop> {
    let server_crc = match server_crc {
        Some(crc) => Some(crc),
        None => request(ctx, reporter, cancel, None, || {
            ctx.client.head_object(object.bucket, object.key)
        })
        .await
        .ok()
        .and_then(|meta| meta.crc64),
    };
    match server_crc {
        Some(server) if server != local_crc => {
            let (ours, advice) = match sent_from {
                SentFrom::LocalFile => ("the local file", " Upload it again."),
                SentFrom::Stream => ("the streamed data", ""),
            };
            let error = TransferError::local(format!(
                "The object {object} does not match {ours}: the server's CRC-64 is {server:016x}, ours is {local_crc:016x}.{advice}"
            ));
            Err(Stop::Failed(match sent_from {
                SentFrom::LocalFile => error.suggesting_restart(),
                SentFrom::Stream => error,
            }))
        }
        _ => Ok(TransferResult {
            etag,
            crc64: server_crc,
            verified: server_crc == Some(local_crc),
        }),
    }
}
