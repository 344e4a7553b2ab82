//! Uploading a stream of unknown length (stdin, a pipe): fixed-size parts read until EOF.
//!
//! Memory is bounded by parts in flight × part size. There is no session: a stream cannot
//! be re-read, so a stopped stream transfer aborts its upload rather than leave it behind.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::command::StreamSource;
use super::completed_parts::CompletedParts;
use super::context::EngineContext;
use super::event::{TransferError, TransferId, TransferResult, TransferState};
use super::initiate;
use super::part_driver::{
    MultipartTarget, NextPart, PartSource, SentFrom, complete_and_verify, put_and_verify,
    send_parts,
};
use super::plan::MAX_PARTS;
use super::progress::Reporter;
use super::request::{Failure, Stop, request};
use super::session_store::CompletedPart;
use super::transfer::Outcome;
use crate::protocol::ObjectRef;
use crate::protocol::client::{Body, InitiateOptions, PutOptions};
use crate::protocol::error::code;

/// A refusal to create the object (it exists and overwriting is forbidden) is a skip.
fn stop_for(failure: Failure, what: &str) -> Stop {
    match failure {
        Failure::Oss(e) if e.is_code(code::FILE_ALREADY_EXISTS) => Stop::Skipped,
        failure => failure.into_stop(what),
    }
}

/// Reads up to `len` bytes; fewer only at EOF.
async fn read_part(
    reader: &mut (dyn AsyncRead + Send + Unpin),
    len: usize,
) -> std::io::Result<Bytes> {
    let mut buffer = BytesMut::with_capacity(len);
    while buffer.len() < len {
        let want = len - buffer.len();
        let read = (&mut *reader)
            .take(want as u64)
            .read_buf(&mut buffer)
            .await?;
        if read == 0 {
            break;
        }
    }
    Ok(buffer.freeze())
}

pub(crate) async fn run_stream(
    ctx: Arc<EngineContext>,
    id: TransferId,
    source: StreamSource,
    bucket: String,
    key: String,
    cancel: CancellationToken,
) -> Outcome {
    let reporter = ctx.board.reporter(id);
    let slot = ctx.scheduler.transfer_slot_unless(&cancel).await;
    let result = match slot {
        None => Err(Stop::Paused),
        Some(_slot) => {
            reporter.set_state(TransferState::Preparing);
            let mut upload_id = None;
            let result = upload_stream(
                &ctx,
                &reporter,
                &cancel,
                &source,
                &bucket,
                &key,
                &mut upload_id,
            )
            .await;
            if result.is_err()
                && let Some(upload_id) = upload_id
            {
                {
                    // Nothing can resume a stream: never leave its parts behind.
                    let never = CancellationToken::new();
                    let _ = request(&ctx, &reporter, &never, None, || {
                        ctx.client.abort_multipart_upload(&bucket, &key, &upload_id)
                    })
                    .await;
                }
            }
            result
        }
    };
    reporter.requeue_unfinished();
    match result {
        Ok(result) => {
            reporter.set_result(result);
            reporter.set_state(TransferState::Done);
            Outcome::Done
        }
        Err(Stop::Skipped) => {
            reporter.skip(&bucket, &key);
            Outcome::Skipped
        }
        Err(Stop::Paused) => {
            reporter.fail(TransferError::local(
                "The stream upload was stopped before its end; a stream cannot be resumed, so the partial upload was discarded.",
            ));
            Outcome::Failed
        }
        Err(Stop::Failed(error) | Stop::PartRefused { error, .. }) => {
            reporter.fail(error);
            Outcome::Failed
        }
    }
}

async fn upload_stream(
    ctx: &Arc<EngineContext>,
    reporter: &Reporter,
    cancel: &CancellationToken,
    source: &StreamSource,
    bucket: &str,
    key: &str,
    upload_id_out: &mut Option<String>,
) -> Result<TransferResult, Stop> {
    let object = ObjectRef::new(bucket, key);
    let what = format!("{} to {object}", source.label());
    let Some(mut reader) = source.take() else {
        return Err(Stop::local(format!(
            "The stream {} was already used.",
            source.label()
        )));
    };
    let tuning = ctx.tuning();
    let part_size = tuning.part_size;
    let read_error = |e| Stop::local(format!("Could not read {}: {e}.", source.label()));
    let first = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(Stop::Paused),
        first = read_part(reader.as_mut(), part_size as usize) => first.map_err(read_error)?,
    };
    let content_type = super::source_file::content_type_for(key);

    if (first.len() as u64) < part_size {
        // The whole stream fits in one part: a single PutObject.
        let len = first.len() as u64;
        reporter.push_stream_part(len);
        let options = PutOptions {
            content_type,
            forbid_overwrite: tuning.forbid_overwrite,
            storage_class: tuning.storage_class.clone(),
            content_md5: false,
            mtime_unix_secs: None,
        };
        return put_and_verify(
            ctx,
            reporter,
            cancel,
            object,
            Body::Bytes(first),
            len,
            &options,
            SentFrom::Stream,
        )
        .await;
    }

    let initiate_options = InitiateOptions {
        content_type,
        forbid_overwrite: tuning.forbid_overwrite,
        storage_class: tuning.storage_class.clone(),
        mtime_unix_secs: None,
    };
    let upload_id = initiate::initiate(ctx, reporter, cancel, bucket, key, &initiate_options, None)
        .await
        .map_err(|not| stop_for(not.failure, &what))?;
    let target = MultipartTarget {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        upload_id,
    };
    *upload_id_out = Some(target.upload_id.clone());
    reporter.set_upload_id(Some(target.upload_id.clone()));
    reporter.set_layout(0, part_size, 0, &Default::default());

    let mut chunks = StreamParts {
        reader: reader.as_mut(),
        label: source.label(),
        reporter,
        part_size,
        next: Some(first),
        parts_taken: 0,
    };
    let finished = send_parts(
        ctx,
        reporter,
        cancel,
        &target,
        &mut chunks,
        CompletedParts::default(),
        &what,
    )
    .await?;
    let part_count = chunks.parts_taken;
    let result = complete_and_verify(
        ctx,
        reporter,
        &target,
        finished,
        part_count,
        tuning.forbid_overwrite,
        SentFrom::Stream,
        || *upload_id_out = None,
    )
    .await;
    if matches!(result, Err(Stop::Skipped)) {
        // Completing refused to overwrite and already aborted the upload.
        *upload_id_out = None;
    }
    result
}

/// Parts cut from a stream as it is read: one chunk is read ahead while the parts before
/// it are sent, so memory stays at the parts in flight plus one.
struct StreamParts<'a> {
    reader: &'a mut (dyn AsyncRead + Send + Unpin),
    label: &'a str,
    reporter: &'a Reporter,
    part_size: u64,
    /// The chunk read ahead; `None` at the end of the stream.
    next: Option<Bytes>,
    parts_taken: u32,
}

impl PartSource for StreamParts<'_> {
    fn has_next(&self) -> bool {
        self.next.is_some()
    }

    fn take_next(&mut self) -> Result<Option<NextPart>, Stop> {
        let Some(chunk) = self.next.take() else {
            return Ok(None);
        };
        if self.parts_taken >= MAX_PARTS {
            return Err(Stop::local(format!(
                "The stream is longer than 10,000 parts of {} bytes; use a larger part size.",
                self.part_size
            )));
        }
        self.parts_taken += 1;
        let len = chunk.len() as u64;
        self.reporter.push_stream_part(len);
        Ok(Some(NextPart {
            number: self.parts_taken,
            len,
            body: Body::Bytes(chunk),
        }))
    }

    async fn prepare_next(&mut self) -> Result<(), Stop> {
        let chunk = read_part(&mut *self.reader, self.part_size as usize)
            .await
            .map_err(|e| Stop::local(format!("Could not read {}: {e}.", self.label)))?;
        // EOF ends the stream.
        self.next = (!chunk.is_empty()).then_some(chunk);
        Ok(())
    }

    async fn part_done(&mut self, _part: &CompletedPart) -> Result<(), Stop> {
        Ok(())
    }

    async fn parts_stopped(&mut self) -> Result<(), Stop> {
        Ok(())
    }
}
