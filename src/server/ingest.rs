//! Receiving a request body: streamed to a temporary file while its MD5 and CRC-64 are
//! computed, so memory stays bounded by a small batch whatever the body's size.
//!
//! Bytes arrive in batches of about [`BATCH_BYTES`]; while one batch is hashed and
//! written on a blocking thread, the next one is being received. [`receive`] and
//! [`check_content_md5`] are what PutObject and UploadPart share around it.

use std::io::Write;

use axum::body::{Body, Bytes};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

use super::call::Call;
use super::errors;
use super::store::TempFile;
use crate::protocol::ServiceError;
use crate::protocol::crc64::Crc64;

/// Size of the batches handed to the writer thread.
pub const BATCH_BYTES: usize = 1 << 20;

/// What a fully received body was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedBody {
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

/// Why a body was not received.
#[derive(Debug)]
pub enum IngestError {
    /// Fault injection asked to drop the connection at this point.
    Cut,
    /// The client sent too much, too little, or went away; or the disk failed.
    Refused(ServiceError),
}

impl From<ServiceError> for IngestError {
    fn from(error: ServiceError) -> Self {
        IngestError::Refused(error)
    }
}

/// The file being written and the digests of everything written so far.
struct Sink {
    file: std::fs::File,
    md5: Md5,
    crc: Crc64,
}

impl Sink {
    fn absorb(mut self, batch: Vec<Bytes>) -> std::io::Result<Sink> {
        for chunk in &batch {
            self.md5.update(chunk);
            self.crc.update(chunk);
            self.file.write_all(chunk)?;
        }
        Ok(self)
    }
}

type PendingWrite = JoinHandle<std::io::Result<Sink>>;

async fn finish_pending(pending: PendingWrite) -> Result<Sink, ServiceError> {
    match pending.await {
        Ok(Ok(sink)) => Ok(sink),
        Ok(Err(e)) => Err(errors::io_failure("writing a request body", &e)),
        Err(e) => Err(errors::internal_error(&format!("body writer failed: {e}"))),
    }
}

/// Streams `body` into `file`. Refuses bodies over `max_bytes` (`EntityTooLarge`);
/// with `cut_after_bytes`, stops reading once that many bytes have arrived; with
/// `damage`, flips the first byte that arrives.
pub async fn receive_body(
    body: Body,
    file: &TempFile,
    max_bytes: u64,
    cut_after_bytes: Option<u64>,
    mut damage: bool,
) -> Result<ReceivedBody, IngestError> {
    let path = file.path().to_owned();
    let created = tokio::task::spawn_blocking(move || std::fs::File::create(path))
        .await
        .map_err(|e| errors::internal_error(&format!("body writer failed: {e}")))?;
    let file = created.map_err(|e| errors::io_failure("creating a body file", &e))?;

    let mut pending: PendingWrite = tokio::task::spawn_blocking(move || {
        Ok(Sink {
            file,
            md5: Md5::new(),
            crc: Crc64::new(),
        })
    });
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut received = 0u64;
    let mut stream = body.into_data_stream();

    while let Some(chunk) = stream.next().await {
        let mut chunk =
            chunk.map_err(|_| IngestError::Refused(errors::incomplete_body(received)))?;
        if damage && !chunk.is_empty() {
            damage = false;
            let mut damaged = bytes::BytesMut::from(&chunk[..]);
            damaged[0] ^= 0xFF;
            chunk = damaged.freeze();
        }
        if let Some(limit) = cut_after_bytes {
            let room = limit.saturating_sub(received);
            if chunk.len() as u64 >= room {
                return Err(IngestError::Cut);
            }
        }
        received += chunk.len() as u64;
        if received > max_bytes {
            return Err(errors::entity_too_large(max_bytes).into());
        }
        batch_len += chunk.len();
        batch.push(chunk);
        if batch_len >= BATCH_BYTES {
            let sink = finish_pending(pending).await?;
            let full = std::mem::take(&mut batch);
            batch_len = 0;
            pending = tokio::task::spawn_blocking(move || sink.absorb(full));
        }
    }
    if let Some(limit) = cut_after_bytes
        && received >= limit
    {
        return Err(IngestError::Cut);
    }
    let sink = finish_pending(pending).await?;
    let sink = finish_pending(tokio::task::spawn_blocking(move || sink.absorb(batch))).await?;
    let Sink { file, md5, crc } = sink;
    // Not flushed here: the store flushes the body as it moves it into place.
    drop(file);
    Ok(ReceivedBody {
        size: received,
        md5: md5.finalize().into(),
        crc64: crc.value(),
    })
}

/// Receives a request body into `file`, dropping the connection when fault injection
/// asks for it.
pub async fn receive(
    call: &Call<'_>,
    body: Body,
    file: &TempFile,
    max_bytes: u64,
) -> Result<ReceivedBody, ServiceError> {
    if let Some(length) = call
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        && length > max_bytes
    {
        return Err(errors::entity_too_large(max_bytes));
    }
    match receive_body(
        body,
        file,
        max_bytes,
        call.cut_after_bytes,
        call.damage_body,
    )
    .await
    {
        Ok(received) => Ok(received),
        Err(IngestError::Cut) => {
            call.connection.cut();
            Err(errors::internal_error("connection cut by fault injection"))
        }
        Err(IngestError::Refused(error)) => Err(error),
    }
}

/// Refuses the body when the client sent a Content-MD5 that does not match it.
pub fn check_content_md5(call: &Call<'_>, received: &ReceivedBody) -> Result<(), ServiceError> {
    let Some(sent) = call.header("content-md5") else {
        return Ok(());
    };
    match BASE64.decode(sent.trim()) {
        Ok(digest) if digest == received.md5 => Ok(()),
        _ => Err(errors::invalid_digest(sent)),
    }
}
