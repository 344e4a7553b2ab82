//! The transfer engine: a tokio runtime behind a handle. Front ends send
//! [`EngineCommand`]s and drain [`EngineEvent`]s; the engine never blocks them.
//!
//! ```text
//! let target = Target::new(label, profile, client);
//! let mut engine = Engine::spawn(EngineConfig { sessions_dir, queue_dir,
//!                                               targets: vec![target], tuning,
//!                                               waker: Some(repaint) })?;
//! let destination = Destination::new(label, bucket, prefix);
//! engine.send(EngineCommand::Add { paths, destination, options: AddOptions::default() })?;
//! // window: engine.drain() each frame; CLI: engine.recv().await or recv_timeout()
//! ```
//!
//! A row starts with a [`EngineEvent::Snapshot`]; [`EngineEvent::Progress`] then carries
//! only changed parts, about 10 times a second. A folder's job comes as
//! [`EngineEvent::Job`] with its counts; its files appear as rows while they are sent and
//! leave with a final Snapshot and [`EngineEvent::Removed`]. Dropping the handle pauses
//! everything and keeps the sessions and jobs, which load as Paused on the next start.
//!
//! Modules, one job each:
//! - [`plan`]: cut a size into parts within the OSS limits (pure).
//! - `transfer`: one file upload's state machine: plan → initiate or reconcile → parts →
//!   complete → verify; `stream` does the same for data of unknown length.
//! - `part_driver`: the one part loop and complete-and-verify step both use, fed by a
//!   file range or a stream chunk; `completed_parts` checks parts 1..=n before Complete;
//!   `request` runs each request through the retry policy and words its failure;
//!   `initiate` starts an upload once, adopting the one a lost answer left behind.
//! - `target`: a target (endpoint + credentials, one client each); `context`: what the
//!   tasks of one target share with all the others (limits, sessions, board).
//! - [`scheduler`]: transfer slots and part permits across all targets; pause by
//!   cancellation.
//! - [`retry`]: backoff with jitter, clock-skew repair, waiting out a network outage (for
//!   as long as the policy's outage limit allows).
//! - [`throttle`]: the shared bandwidth token bucket.
//! - [`session_store`]: multipart sessions kept in the queue store, with per-session lock
//!   files; the one way front ends open that store (bringing in older session files).
//! - [`store`]: the durable queue in SQLite: jobs, files, multipart sessions, history and
//!   leases.
//! - `history`: finished uploads outside a job batched into the store's history, and
//!   its pages read for front ends.
//! - `jobs`: an added folder as a job: walked into the store in batches, its files fed to
//!   the transfer table a few at a time, outcomes committed in batches, under a lease.
//! - [`folder_plan`]: the files a folder sends and their keys, or why not (window and CLI),
//!   with the include/exclude filters.
//! - `existing`: one listing of a destination prefix, and whether a file is skipped as
//!   existing or unchanged; [`existing_keys`] lists one bounded for a front end's question.
//! - [`source_file`]: file identity, range CRC-64 and content types.
//! - [`remote_uploads`]: in-progress uploads on the server, for cleanup.
//! - [`lifecycle`]: the bucket rule that aborts stale uploads, changed read-modify-write.
//! - `core` (commands and the transfer table), `progress` (coalesced events), `event`
//!   (what front ends receive, and the sink that carries it), `handle`
//!   (the front end's side).

pub mod command;
mod completed_parts;
mod context;
mod core;
pub mod event;
mod existing;
pub mod folder_plan;
mod handle;
mod history;
mod initiate;
mod jobs;
pub mod lifecycle;
mod part_driver;
pub mod plan;
mod progress;
pub mod remote_uploads;
mod request;
pub mod retry;
pub mod scheduler;
pub mod session_store;
pub mod source_file;
pub mod store;
mod stream;
mod target;
pub mod throttle;
mod transfer;
pub mod tuning;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

pub use command::{AddOptions, Destination, EngineCommand, OverwritePolicy, StreamSource};
pub use event::{
    EngineEvent, JobSnapshot, PartState, SourceKind, TransferError, TransferId, TransferResult,
    TransferSnapshot, TransferState,
};
pub(crate) use existing::common_prefix;
pub use existing::{ExistingKeys, existing_keys};
pub use handle::{CommandSender, EngineHandle};
pub use target::{Target, recorded_under};
pub use tuning::{RetryPolicy, Tuning};

/// Called after events are sent, so a window can `request_repaint`.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Everything the engine needs to start.
pub struct EngineConfig {
    /// Where earlier versions kept session files, brought into the queue store at start.
    pub sessions_dir: PathBuf,
    /// Where the queue store (jobs, their files, sessions, history) lives (created if
    /// missing).
    pub queue_dir: PathBuf,
    /// The targets known from the start (more come with [`EngineCommand::SetTarget`]);
    /// only their saved sessions and jobs are loaded.
    pub targets: Vec<Target>,
    pub tuning: Tuning,
    /// Called after each batch of events; `None` when the front end polls or awaits.
    pub waker: Option<Waker>,
}

/// Why the engine could not start or take a command.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("could not start the engine's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("could not use the sessions folder {}: {source}", path.display())]
    SessionsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid tuning: {0}")]
    InvalidTuning(String),
    #[error("the engine has stopped")]
    Stopped,
}

/// Starts engines.
pub struct Engine;

impl Engine {
    /// Starts the engine on its own multi-thread runtime, loads the sessions found in
    /// `config.sessions_dir` (as Paused transfers, or resuming when
    /// `tuning.resume_on_start`), and returns the handle that drives it.
    pub fn spawn(config: EngineConfig) -> Result<EngineHandle, EngineError> {
        handle::spawn(config)
    }
}
