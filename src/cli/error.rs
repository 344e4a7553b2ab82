//! Errors of the command line and the exit codes they map to.

use thiserror::Error;

use crate::config::ConfigError;
use crate::engine::remote_uploads::RemoteUploadsError;
use crate::protocol::OssError;

/// Exit code when everything worked.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code when some transfers (or aborts) failed.
pub const EXIT_SOME_FAILED: u8 = 1;
/// Exit code for a bad command line or configuration; nothing was sent.
pub const EXIT_USAGE: u8 = 2;
/// Exit code after Ctrl-C (128 + SIGINT), with the sessions saved.
pub const EXIT_INTERRUPTED: u8 = 130;

/// How a command ended when it ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    SomeFailed,
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => EXIT_SUCCESS,
            Outcome::SomeFailed => EXIT_SOME_FAILED,
            Outcome::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

/// Why a command could not run or finish. Display is one sentence for the user.
#[derive(Debug, Error)]
pub enum CliError {
    /// The command line asks for something impossible; nothing was sent.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Oss(Box<OssError>),
    #[error(transparent)]
    Remote(Box<RemoteUploadsError>),
    #[error("{0}")]
    Failed(String),
}

// Boxed: protocol errors are large and most results here are small.
impl From<OssError> for CliError {
    fn from(error: OssError) -> Self {
        CliError::Oss(Box::new(error))
    }
}

impl From<RemoteUploadsError> for CliError {
    fn from(error: RemoteUploadsError) -> Self {
        CliError::Remote(Box::new(error))
    }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Config(_) => EXIT_USAGE,
            CliError::Oss(_) | CliError::Remote(_) | CliError::Failed(_) => EXIT_SOME_FAILED,
        }
    }
}
