//! Events from the engine to a front end: what a transfer list and its part maps need.

use std::path::PathBuf;

/// Identifies a transfer; stable across restarts (it names the session file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub String);

/// The state of one part, as a part map draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartState {
    Queued,
    InFlight { bytes_sent: u64 },
    Done,
    Retrying { attempt: u32, last_error: String },
    Failed { error: String },
}

/// Where a transfer is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    Queued,
    Uploading,
    Paused,
    WaitingForNetwork,
    Verifying,
    Done,
    Failed,
    /// The object exists and overwriting was forbidden.
    Skipped,
}

/// Everything about one transfer; sent when it appears or changes shape.
#[derive(Debug, Clone)]
pub struct TransferSnapshot {
    pub id: TransferId,
    pub source: PathBuf,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub part_size: u64,
    pub state: TransferState,
    pub parts: Vec<PartState>,
    pub bytes_done: u64,
}

/// What the engine tells its front ends.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A transfer appeared or changed shape (replace the whole row).
    Snapshot(TransferSnapshot),
    /// Coalesced progress: only the parts whose state changed since the last one.
    Progress {
        id: TransferId,
        state: TransferState,
        bytes_done: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
        changed_parts: Vec<(u32, PartState)>,
    },
    Removed(TransferId),
}
