//! Uploading a stream of unknown length (stdin, a pipe): fixed-size parts read until EOF.
//!
//! Memory is bounded by parts in flight × part size. There is no session: a stream cannot
//! be re-read, so a stopped stream transfer aborts its upload rather than leave it behind.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::command::StreamSource;
use super::context::EngineContext;
use super::event::{PartState, TransferError, TransferId, TransferResult, TransferState};
use super::plan::MAX_PARTS;
use super::progress::Reporter;
use super::transfer::{Failure, Outcome, describe, request};
use crate::protocol::client::{
    Body, CompleteOptions, InitiateOptions, ProgressFn, PutOptions, UploadOutput,
};
use crate::protocol::crc64;
use crate::protocol::xml::CompletePart;

enum Stop {
    Cancelled,
    Failed(TransferError),
    Skipped,
}

fn failed(message: String) -> Stop {
    Stop::Failed(TransferError {
        message,
        code: None,
        request_id: None,
        restart_suggested: false,
    })
}

fn from_failure(failure: Failure, what: &str) -> Stop {
    match failure {
        Failure::Cancelled => Stop::Cancelled,
        Failure::Oss(e) if e.is_code("FileAlreadyExists") => Stop::Skipped,
        Failure::Oss(e) => Stop::Failed(describe(&e, what)),
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
    let slot = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        slot = ctx.scheduler.transfer_slot() => Some(slot),
    };
    let result = match slot {
        None => Err(Stop::Cancelled),
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
        Err(Stop::Cancelled) => {
            reporter.fail(TransferError {
                message: "The stream upload was stopped before its end; a stream cannot be resumed, so the partial upload was discarded.".into(),
                code: None,
                request_id: None,
                restart_suggested: false,
            });
            Outcome::Failed
        }
        Err(Stop::Failed(error)) => {
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
    let what = format!("{} to oss://{bucket}/{key}", source.label());
    let Some(mut reader) = source.take() else {
        return Err(failed(format!(
            "The stream {} was already used.",
            source.label()
        )));
    };
    let tuning = ctx.tuning();
    let part_size = tuning.part_size;
    let first = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(Stop::Cancelled),
        first = read_part(reader.as_mut(), part_size as usize) => first.map_err(|e| failed(format!("Could not read {}: {e}.", source.label())))?,
    };
    let content_type = super::source_file::content_type_for(key);

    if (first.len() as u64) < part_size {
        // The whole stream fits in one part: a single PutObject.
        let len = first.len() as u64;
        reporter.push_stream_part(len);
        reporter.set_state(TransferState::Uploading);
        let options = PutOptions {
            content_type,
            forbid_overwrite: tuning.forbid_overwrite,
            storage_class: tuning.storage_class.clone(),
            content_md5: false,
        };
        let progress = part_progress(reporter, 1);
        let output = request(ctx, reporter, cancel, Some(1), || {
            reporter.set_part(1, PartState::InFlight { bytes_sent: 0 });
            let body = Body::Bytes(first.clone());
            let progress = progress.clone();
            let options = &options;
            async move {
                ctx.client
                    .put_object(bucket, key, body, options, Some(progress))
                    .await
            }
        })
        .await
        .map_err(|f| from_failure(f, &what))?;
        reporter.part_done(1, len);
        let local = crc64::checksum(&first);
        reporter.set_state(TransferState::Verifying);
        let server = ctx
            .client
            .head_object(bucket, key)
            .await
            .ok()
            .and_then(|m| m.crc64);
        return Ok(finish(output.etag, server, local));
    }

    let initiate_options = InitiateOptions {
        content_type,
        forbid_overwrite: tuning.forbid_overwrite,
        storage_class: tuning.storage_class.clone(),
    };
    let initiated = request(ctx, reporter, cancel, None, || {
        ctx.client
            .initiate_multipart_upload(bucket, key, &initiate_options)
    })
    .await
    .map_err(|f| from_failure(f, &what))?;
    let upload_id = initiated.upload_id;
    *upload_id_out = Some(upload_id.clone());
    reporter.set_upload_id(Some(upload_id.clone()));
    reporter.set_layout(0, part_size, 0, &Default::default());
    reporter.set_state(TransferState::Uploading);

    let parts_cancel = cancel.child_token();
    let permits = ctx.scheduler.transfer_parts();
    let mut running: JoinSet<(u32, u64, Result<UploadOutput, Failure>)> = JoinSet::new();
    let mut finished: Vec<(u32, u64, UploadOutput)> = Vec::new();
    let mut next_chunk = Some(first);
    let mut next_number = 1u32;
    let mut failure: Option<Stop> = None;
    loop {
        let can_start = failure.is_none() && next_chunk.is_some();
        if !can_start && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(joined) = running.join_next(), if !running.is_empty() => match joined {
                Ok((number, len, Ok(output))) => {
                    reporter.part_done(number, len);
                    finished.push((number, len, output));
                }
                Ok((number, _, Err(f))) => {
                    if let Failure::Oss(e) = &f {
                        reporter.set_part(number, PartState::Failed { error: e.to_string() });
                    }
                    failure.get_or_insert(from_failure(f, &what));
                    parts_cancel.cancel();
                }
                Err(join) => {
                    failure.get_or_insert(failed(format!("A part task of {what} stopped unexpectedly: {join}.")));
                    parts_cancel.cancel();
                }
            },
            permit = permits.acquire(), if can_start => {
                let Some(chunk) = next_chunk.take() else { continue };
                if next_number > MAX_PARTS {
                    failure = Some(failed(format!(
                        "The stream is longer than 10,000 parts of {part_size} bytes; use a larger part size."
                    )));
                    parts_cancel.cancel();
                    continue;
                }
                let number = next_number;
                next_number += 1;
                let len = chunk.len() as u64;
                reporter.push_stream_part(len);
                let task_ctx = ctx.clone();
                let task_reporter = reporter.clone();
                let task_cancel = parts_cancel.clone();
                let bucket = bucket.to_owned();
                let key = key.to_owned();
                let upload_id = upload_id.clone();
                running.spawn(async move {
                    let _permit = permit;
                    let progress = part_progress(&task_reporter, number);
                    let result = request(&task_ctx, &task_reporter, &task_cancel, Some(number), || {
                        task_reporter.set_part(number, PartState::InFlight { bytes_sent: 0 });
                        let body = Body::Bytes(chunk.clone());
                        let progress = progress.clone();
                        let (ctx, bucket, key, upload_id) = (&task_ctx, &bucket, &key, &upload_id);
                        async move {
                            ctx.client.upload_part(bucket, key, upload_id, number, body, Some(progress)).await
                        }
                    })
                    .await;
                    (number, len, result)
                });
                // Read the next part while this one goes out; EOF ends the stream.
                let chunk = tokio::select! {
                    biased;
                    () = cancel.cancelled() => { failure.get_or_insert(Stop::Cancelled); parts_cancel.cancel(); continue; }
                    chunk = read_part(reader.as_mut(), part_size as usize) => chunk,
                };
                match chunk {
                    Ok(chunk) if chunk.is_empty() => {}
                    Ok(chunk) => next_chunk = Some(chunk),
                    Err(e) => {
                        failure.get_or_insert(failed(format!("Could not read {}: {e}.", source.label())));
                        parts_cancel.cancel();
                    }
                }
            }
            () = cancel.cancelled(), if failure.is_none() => {
                failure = Some(Stop::Cancelled);
                parts_cancel.cancel();
            }
        }
    }
    if let Some(stop) = failure {
        return Err(stop);
    }
    finished.sort_by_key(|(number, _, _)| *number);
    let parts: Vec<CompletePart> = finished
        .iter()
        .map(|(number, _, output)| CompletePart {
            part_number: *number,
            etag: output.etag.clone(),
        })
        .collect();
    let local = crc64::combine_parts(finished.iter().map(|(_, len, output)| (output.crc64, *len)));
    reporter.set_state(TransferState::Verifying);
    let options = CompleteOptions {
        forbid_overwrite: tuning.forbid_overwrite,
        acl: None,
    };
    let completed = request(ctx, reporter, cancel, None, || {
        ctx.client
            .complete_multipart_upload(bucket, key, &upload_id, &parts, &options)
    })
    .await
    .map_err(|f| from_failure(f, &what))?;
    *upload_id_out = None;
    let server = match completed.crc64 {
        Some(crc) => Some(crc),
        None => ctx
            .client
            .head_object(bucket, key)
            .await
            .ok()
            .and_then(|m| m.crc64),
    };
    match server {
        Some(server) if server != local => Err(failed(format!(
            "The object oss://{bucket}/{key} does not match the streamed data: the server's CRC-64 is {server:016x}, ours is {local:016x}."
        ))),
        _ => Ok(finish(completed.etag, server, local)),
    }
}

fn part_progress(reporter: &Reporter, number: u32) -> ProgressFn {
    let reporter = reporter.clone();
    Arc::new(move |bytes| reporter.part_sent(number, bytes))
}

fn finish(etag: String, server_crc: Option<u64>, local_crc: u64) -> TransferResult {
    TransferResult {
        etag,
        crc64: server_crc,
        verified: server_crc == Some(local_crc),
    }
}
