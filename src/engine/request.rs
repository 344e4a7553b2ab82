//! One request to OSS as a transfer sends it: retried by the engine's policy, reported on
//! the transfer's row, given up promptly on cancel, and worded for a person when it fails.
//!
//! Every transfer step (file or stream, part or Complete) goes through [`request`], so
//! retries, network waits and error sentences are the same everywhere.

use tokio_util::sync::CancellationToken;

use super::context::EngineContext;
use super::event::{PartState, TransferError, TransferState};
use super::progress::Reporter;
use super::retry::RetryEvent;
use crate::protocol::OssError;
use crate::protocol::error::code;

/// Why a transfer step did not go on.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Cancelled: a pause (a file keeps its session) or a stop (a stream is discarded).
    Paused,
    Failed(TransferError),
    /// The object exists and overwriting is forbidden.
    Skipped,
    /// Complete refused one part (`InvalidPart`): a file upload sends it again.
    PartRefused {
        number: u32,
        error: TransferError,
    },
}

impl Stop {
    /// A failure found on our side (a file that cannot be read, a session that cannot be
    /// saved), not answered by the server.
    pub(crate) fn local(message: String) -> Stop {
        Stop::Failed(TransferError::local(message))
    }
}

/// A request that did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    Cancelled,
    Oss(OssError),
}

impl Failure {
    pub(crate) fn into_stop(self, what: &str) -> Stop {
        match self {
            Failure::Cancelled => Stop::Paused,
            Failure::Oss(error) => Stop::Failed(describe(&error, what)),
        }
    }
}

/// One sentence a person can act on, with the OSS code and request id when there are.
pub(crate) fn describe(error: &OssError, what: &str) -> TransferError {
    let message = match error.code() {
        Some(code::ACCESS_DENIED) => match denied_action(error) {
            Some((verb, action)) => {
                format!("Access was denied for {what}: this key may not {verb} ({action}).")
            }
            None => format!(
                "Access was denied while uploading {what}: the credentials are not allowed to write there."
            ),
        },
        Some(code::NO_SUCH_BUCKET) => {
            format!("The bucket of {what} does not exist on this endpoint.")
        }
        Some(code::SIGNATURE_DOES_NOT_MATCH) => format!(
            "The server rejected the signature while uploading {what}: the access key secret is probably wrong."
        ),
        Some(code::INVALID_ACCESS_KEY_ID) => {
            format!("The server does not know the access key id used for {what}.")
        }
        Some(code::NO_SUCH_UPLOAD) => format!(
            "The upload of {what} was aborted on the server; start over (Restart) to upload it again."
        ),
        _ => format!("Uploading {what} failed: {error}."),
    };
    TransferError {
        message,
        code: error.code().map(str::to_owned),
        request_id: error.request_id().map(str::to_owned),
        restart_suggested: error.is_code(code::NO_SUCH_UPLOAD),
    }
}

/// What the refused request would have done and the RAM action a key needs for it.
pub(crate) fn denied_action(error: &OssError) -> Option<(&'static str, &'static str)> {
    let OssError::Service { operation, .. } = error else {
        return None;
    };
    Some(match *operation {
        "PutObject" | "InitiateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            ("write objects", "oss:PutObject")
        }
        "GetObject" | "HeadObject" | "GetObjectMeta" => ("read objects", "oss:GetObject"),
        "ListParts" => ("list the parts of an upload", "oss:ListParts"),
        "ListMultipartUploads" => ("list in-progress uploads", "oss:ListMultipartUploads"),
        "AbortMultipartUpload" => ("abort uploads", "oss:AbortMultipartUpload"),
        "DeleteObject" => ("delete objects", "oss:DeleteObject"),
        "ListObjects" | "ListObjectsV2" => ("list objects", "oss:ListObjects"),
        _ => return None,
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
        RetryEvent::WaitingForNetwork { last_error, reason } => {
            tracing::info!(transfer = %reporter.id(), "cannot connect ({reason}): {last_error}");
            reporter.wait_for_network(TransferError::cannot_connect(&reason));
        }
        RetryEvent::NetworkBack => {
            if reporter.state() == Some(TransferState::WaitingForNetwork) {
                reporter.clear_error();
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
