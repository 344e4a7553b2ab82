//! Events from the engine to a front end: what a transfer list and its part maps need,
//! and the sink that carries them, so the tasks that publish events depend on the events
//! alone and not on the front end's handle.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use tokio::sync::Notify;

use super::Waker;
use super::retry::ConnectFailure;
use super::store::{FileId, FileRow, FileState, HistoryEntry, JobCounts, JobId, JobState};

/// Identifies a transfer; stable across restarts (it names the saved session).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub String);

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state of one part, as a part map draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartState {
    Queued,
    InFlight {
        bytes_sent: u64,
    },
    Done,
    /// Waiting before attempt number `attempt` (2 = first retry).
    Retrying {
        attempt: u32,
        last_error: String,
    },
    Failed {
        error: String,
    },
}

impl PartState {
    /// The part map of `part_count` parts: those in `done` (number → size) done, the
    /// rest queued.
    pub fn map_of(part_count: u32, done: &BTreeMap<u32, u64>) -> Vec<PartState> {
        (1..=part_count)
            .map(|n| {
                if done.contains_key(&n) {
                    PartState::Done
                } else {
                    PartState::Queued
                }
            })
            .collect()
    }
}

/// Where a transfer is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    /// Waiting for a free transfer slot.
    Queued,
    /// Checking the file, planning, initiating or reconciling with the server.
    Preparing,
    Uploading,
    Paused,
    /// The network is unreachable; probing and resuming without spending retries.
    WaitingForNetwork,
    /// Completing the upload and comparing the server's CRC-64 with ours.
    Verifying,
    Done,
    Failed,
    /// Not sent: the object exists and overwriting was forbidden or skipped, or it is
    /// unchanged (the reason is in the row's error).
    Skipped,
    /// Another process drives this session; visible here but not controllable.
    LockedElsewhere,
}

impl TransferState {
    /// A short lower-case word for lists and logs.
    pub fn label(&self) -> &'static str {
        match self {
            TransferState::Queued => "queued",
            TransferState::Preparing => "preparing",
            TransferState::Uploading => "uploading",
            TransferState::Paused => "paused",
            TransferState::WaitingForNetwork => "waiting for network",
            TransferState::Verifying => "verifying",
            TransferState::Done => "done",
            TransferState::Failed => "failed",
            TransferState::Skipped => "exists, skipped",
            TransferState::LockedElsewhere => "in use by another process",
        }
    }

    /// No more work will happen without a command.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TransferState::Done | TransferState::Failed | TransferState::Skipped
        )
    }
}

/// Starts the reason of a transfer whose server refuses or cannot be found.
const CANNOT_CONNECT_PREFIX: &str = "Cannot connect: ";
/// Starts the reason of a transfer waiting for the network to come back.
const NETWORK_DOWN_PREFIX: &str = "Waiting for the network: ";

/// Why a transfer stopped: one sentence a person can act on, plus what support asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferError {
    pub message: String,
    /// OSS error code (`AccessDenied`, `NoSuchUpload`, …) when the server answered.
    pub code: Option<String>,
    pub request_id: Option<String>,
    /// A `Restart` command (start over, aborting the old upload id) is the way out, e.g.
    /// the local file changed or the server no longer knows the upload.
    pub restart_suggested: bool,
}

impl TransferError {
    /// An error found on our side (a file, a session, a limit), with no OSS code.
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
            request_id: None,
            restart_suggested: false,
        }
    }

    /// Why a transfer waits for its server: "Waiting for the network: …" when the network
    /// is really down, "Cannot connect: connection refused by ADDR" (no such host, …)
    /// otherwise. Either way it is retried by itself.
    pub fn cannot_connect(reason: &ConnectFailure) -> Self {
        let message = if reason.network_is_down() {
            format!("{NETWORK_DOWN_PREFIX}{reason}; trying again by itself.")
        } else {
            format!("{CANNOT_CONNECT_PREFIX}{reason}; trying again by itself.")
        };
        Self::local(message)
    }

    /// Made by [`TransferError::cannot_connect`] for a server that cannot be reached while
    /// the network is up (refused, unknown host).
    pub fn is_cannot_connect(&self) -> bool {
        self.message.starts_with(CANNOT_CONNECT_PREFIX)
    }

    /// The same error, pointing at Restart as the way out.
    pub fn suggesting_restart(mut self) -> Self {
        self.restart_suggested = true;
        self
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}")?;
            if let Some(id) = &self.request_id {
                write!(f, ", request id {id}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// What a finished upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferResult {
    pub etag: String,
    /// The object's CRC-64 as the server reports it.
    pub crc64: Option<u64>,
    /// The server's CRC-64 equals the one we computed from the bytes we sent.
    pub verified: bool,
}

/// What kind of source feeds a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    File,
    /// A stream of unknown length: no resume after the engine stops.
    Stream,
}

/// Everything about one transfer; sent when it appears or changes shape.
#[derive(Debug, Clone)]
pub struct TransferSnapshot {
    pub id: TransferId,
    /// The label of the [`crate::engine::Target`] it uploads to.
    pub target: String,
    pub source: PathBuf,
    pub source_kind: SourceKind,
    pub bucket: String,
    pub key: String,
    /// Total bytes (for a stream: bytes read so far).
    pub size: u64,
    /// Part `n` (1-based) covers `[(n-1) * part_size, min(n * part_size, size))`.
    pub part_size: u64,
    pub state: TransferState,
    /// Index `i` is part number `i + 1`. Empty until planned; one part for a single
    /// PutObject; grows as a stream is read.
    pub parts: Vec<PartState>,
    /// Bytes of finished parts (never goes backwards on pause/resume).
    pub bytes_done: u64,
    pub bytes_per_sec: f64,
    pub eta_secs: Option<f64>,
    pub upload_id: Option<String>,
    pub error: Option<TransferError>,
    pub result: Option<TransferResult>,
    /// Whether the transfer can continue after the engine stops (false for streams).
    pub resumable_after_restart: bool,
    /// The job it belongs to (a file of an added folder), if any.
    pub job: Option<JobId>,
}

impl TransferSnapshot {
    /// A row for a transfer that has just been added: queued, not planned yet. Files can
    /// continue after the engine stops; streams cannot.
    pub fn queued(
        id: TransferId,
        source: PathBuf,
        source_kind: SourceKind,
        bucket: String,
        key: String,
        size: u64,
    ) -> Self {
        Self {
            id,
            target: String::new(),
            source,
            resumable_after_restart: source_kind == SourceKind::File,
            source_kind,
            bucket,
            key,
            size,
            part_size: 0,
            state: TransferState::Queued,
            parts: Vec::new(),
            bytes_done: 0,
            bytes_per_sec: 0.0,
            eta_secs: None,
            upload_id: None,
            error: None,
            result: None,
            job: None,
        }
    }

    /// The state of part `number` (1-based), if the plan has it.
    pub fn part(&self, number: u32) -> Option<&PartState> {
        (number as usize)
            .checked_sub(1)
            .and_then(|index| self.parts.get(index))
    }

    /// The state of part `number` (1-based) to change, if the plan has it.
    pub fn part_mut(&mut self, number: u32) -> Option<&mut PartState> {
        (number as usize)
            .checked_sub(1)
            .and_then(|index| self.parts.get_mut(index))
    }

    /// Bytes of part `number` (1-based) within the source.
    pub fn part_range(&self, number: u32) -> Range<u64> {
        super::plan::part_range(self.size, self.part_size, number)
    }

    /// Fraction of the bytes done, 0.0 to 1.0 (1.0 for an empty finished source).
    pub fn fraction_done(&self) -> f64 {
        if self.size == 0 {
            return if self.state == TransferState::Done {
                1.0
            } else {
                0.0
            };
        }
        (self.bytes_done as f64 / self.size as f64).clamp(0.0, 1.0)
    }
}

/// A folder added in one action, as front ends show it: what was asked, how many of its
/// files are where, and whether it runs. Its files in flight come as transfer rows
/// carrying its id; finished ones are only counted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSnapshot {
    pub id: JobId,
    /// The label of the [`crate::engine::Target`] it uploads to.
    pub target: String,
    /// The folders that were added.
    pub roots: Vec<PathBuf>,
    pub bucket: String,
    /// The destination prefix the folders' names are appended to.
    pub prefix: String,
    /// Active, Paused (also after a store failure, see `problem`) or Finished.
    pub state: JobState,
    /// The folders are still being walked: totals grow.
    pub walking: bool,
    pub counts: JobCounts,
    /// Files the filters left out (counted by this process's walk).
    pub excluded: u64,
    /// Another live process drives it (its pid); this engine only shows it.
    pub locked_by: Option<u32>,
    /// Why it stopped, when the queue store failed under it.
    pub problem: Option<String>,
}

impl JobSnapshot {
    /// Every file reached an end and nothing more will be walked.
    pub fn is_finished(&self) -> bool {
        self.state == JobState::Finished
    }
}

/// What the engine tells its front ends.
// Snapshots are rare next to Progress events; boxing them would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A transfer appeared or changed shape (replace the whole row).
    Snapshot(TransferSnapshot),
    /// Coalesced progress (about 10 a second): only the parts whose state changed since
    /// the last event, as `(part number, state)` with part numbers starting at 1, to be
    /// applied in order (a retry that already passed comes before the part's current state).
    Progress {
        id: TransferId,
        state: TransferState,
        bytes_done: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
        changed_parts: Vec<(u32, PartState)>,
    },
    /// The transfer is gone (aborted, forgotten, or a finished file of a job, which the
    /// job's counts and the history keep).
    Removed(TransferId),
    /// A job appeared or its counts changed (coalesced with the engine's tick).
    Job(JobSnapshot),
    /// A saved session cannot be used: a session file of an earlier version (renamed to
    /// `moved_to`), or a row of the queue store (`path`), flagged and kept where it is.
    SessionCorrupt {
        path: PathBuf,
        moved_to: Option<PathBuf>,
        error: String,
    },
    /// The page of history a [`LoadHistory`](super::EngineCommand::LoadHistory) asked for:
    /// `total` entries match `search`, `entries` are those from `offset` on.
    HistoryPage {
        search: String,
        offset: u64,
        total: u64,
        entries: Vec<HistoryEntry>,
    },
    /// Entries were added to the history or it was cleared: pages shown are out of date.
    HistoryChanged,
    /// The page of a job's files a [`LoadJobFiles`](super::EngineCommand::LoadJobFiles)
    /// asked for; fewer than its limit means there are no more.
    JobFilesPage {
        job: JobId,
        state: Option<FileState>,
        after: Option<FileId>,
        files: Vec<FileRow>,
    },
    /// Something the user should read that belongs to no transfer (an unreadable path
    /// in an Add, an invalid key, a command for an unknown id).
    Notice { message: String },
    /// The engine has shut down; no more events follow.
    Stopped,
}

impl EngineEvent {
    /// A progress event carrying the snapshot's state, bytes, speed and ETA, with the parts
    /// whose state changed.
    pub fn progress_of(snapshot: &TransferSnapshot, changed_parts: Vec<(u32, PartState)>) -> Self {
        EngineEvent::Progress {
            id: snapshot.id.clone(),
            state: snapshot.state.clone(),
            bytes_done: snapshot.bytes_done,
            bytes_per_sec: snapshot.bytes_per_sec,
            eta_secs: snapshot.eta_secs,
            changed_parts,
        }
    }
}

/// Sends events to the front end and wakes it.
#[derive(Clone)]
pub(crate) struct EventSink {
    events: std_mpsc::Sender<EngineEvent>,
    notify: Arc<Notify>,
    waker: Option<Waker>,
}

impl EventSink {
    pub(crate) fn new(
        events: std_mpsc::Sender<EngineEvent>,
        notify: Arc<Notify>,
        waker: Option<Waker>,
    ) -> Self {
        Self {
            events,
            notify,
            waker,
        }
    }

    /// Queues events without waking; call [`EventSink::wake`] after a batch.
    pub(crate) fn send(&self, event: EngineEvent) {
        // A closed receiver means the front end is gone; nothing left to tell.
        let _ = self.events.send(event);
    }

    /// A sink whose events land in the returned receiver (for unit tests).
    #[cfg(test)]
    pub(crate) fn channel(waker: Option<Waker>) -> (Self, std_mpsc::Receiver<EngineEvent>) {
        let (events, receiver) = std_mpsc::channel();
        (Self::new(events, Arc::new(Notify::new()), waker), receiver)
    }

    pub(crate) fn wake(&self) {
        self.notify.notify_one();
        if let Some(waker) = &self.waker {
            waker();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(size: u64, part_size: u64, bytes_done: u64) -> TransferSnapshot {
        TransferSnapshot {
            part_size,
            state: TransferState::Uploading,
            bytes_done,
            ..TransferSnapshot::queued(
                TransferId("t".into()),
                "/f".into(),
                SourceKind::File,
                "b".into(),
                "k".into(),
                size,
            )
        }
    }

    #[test]
    fn part_ranges_and_fraction() {
        let s = snapshot(250, 100, 100);
        assert_eq!(s.part_range(1), 0..100);
        assert_eq!(s.part_range(3), 200..250);
        assert_eq!(s.part_range(4), 250..250);
        assert!((s.fraction_done() - 0.4).abs() < 1e-9);
        assert_eq!(snapshot(0, 0, 0).fraction_done(), 0.0);
    }

    #[test]
    fn error_display_names_code_and_request_id() {
        let error = TransferError {
            message: "Access was denied.".into(),
            code: Some("AccessDenied".into()),
            request_id: Some("RID".into()),
            restart_suggested: false,
        };
        assert_eq!(
            error.to_string(),
            "Access was denied. [AccessDenied, request id RID]"
        );
        assert_eq!(TransferState::Skipped.label(), "exists, skipped");
    }
}
