//! V4's signed payload hash: when `x-oss-content-sha256` names a SHA-256 rather than
//! `UNSIGNED-PAYLOAD`, the body must be the bytes that were signed.
//!
//! The body streams to disk, so the hash is computed on the way and compared when the
//! body ends; a mismatch fails the body's last read, so the operation refuses it before
//! anything is stored, and the dispatcher answers with the error recorded here.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use sha2::{Digest, Sha256};

use super::errors;
use crate::protocol::ServiceError;
use crate::protocol::signing::UNSIGNED_PAYLOAD;

/// Where a refused payload's error waits for the dispatcher.
#[derive(Debug, Clone, Default)]
pub struct PayloadVerdict(Arc<Mutex<Option<ServiceError>>>);

impl PayloadVerdict {
    /// The error to answer with, if the body did not match its signed hash.
    pub fn refusal(&self) -> Option<ServiceError> {
        self.0.lock().ok()?.clone()
    }
}

/// Wraps `body` so it fails at its end unless it hashes to `claimed` (the header's
/// value). Returns `Ok(None)` when there is nothing to check, and refuses a value that
/// is neither `UNSIGNED-PAYLOAD` nor a SHA-256 in hex.
pub fn check(
    claimed: Option<&str>,
    body: &mut Body,
) -> Result<Option<PayloadVerdict>, ServiceError> {
    let Some(claimed) = claimed.map(str::trim) else {
        return Ok(None);
    };
    if claimed == UNSIGNED_PAYLOAD {
        return Ok(None);
    }
    let expected = hex::decode(claimed)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| errors::content_sha256_mismatch(claimed))?;
    let verdict = PayloadVerdict::default();
    *body = Body::new(HashedBody {
        inner: std::mem::take(body),
        claimed: claimed.to_owned(),
        expected,
        hasher: Some(Sha256::new()),
        verdict: verdict.clone(),
    });
    Ok(Some(verdict))
}

struct HashedBody {
    inner: Body,
    claimed: String,
    expected: [u8; 32],
    /// Taken when the body has ended and been compared.
    hasher: Option<Sha256>,
    verdict: PayloadVerdict,
}

impl HttpBody for HashedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(hasher)) = (frame.data_ref(), this.hasher.as_mut()) {
                    hasher.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => match this.hasher.take().map(|h| <[u8; 32]>::from(h.finalize())) {
                Some(digest) if digest != this.expected => {
                    if let Ok(mut verdict) = this.verdict.0.lock() {
                        *verdict = Some(errors::content_sha256_mismatch(&this.claimed));
                    }
                    Poll::Ready(Some(Err(axum::Error::new(
                        "the body does not match x-oss-content-sha256",
                    ))))
                }
                _ => Poll::Ready(None),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        // The end is where the comparison happens, so it is never announced early.
        self.hasher.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
