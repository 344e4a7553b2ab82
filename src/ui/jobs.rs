//! Work the window hands off (file dialogs, listings, aborts, saves, reconnecting) and
//! the messages that bring results back. Each finished job wakes the frame loop.

use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc;

use crate::config::ConfigFile;
use crate::engine::lifecycle::AbortProtection;
use crate::engine::remote_uploads::{AbortOutcome, UploadParts};

use super::command::PickKind;
use super::connection::{Connection, EmbeddedEndpoint};
use super::overwrite::{ExistingCount, HeldAdd};
use super::profile_probe::ConnectionReport;
use super::remote_page::UploadsPage;

/// A finished background job.
pub enum JobResult {
    /// `None`: cancelled, or no dialog service is available.
    Picked(PickKind, Option<Vec<PathBuf>>),
    UploadsPage(Result<UploadsPage, String>),
    UploadParts {
        upload_id: String,
        result: Result<UploadParts, String>,
    },
    Aborted(Vec<AbortOutcome>),
    /// What aborts stale uploads of the cleanup view's bucket and prefix.
    AutoAbort(Result<Option<AbortProtection>, String>),
    SettingsSaved(Result<ConfigFile, String>),
    /// How many of a held Add's files already exist at the destination.
    ExistingChecked {
        add: HeldAdd,
        found: Result<ExistingCount, String>,
    },
    /// A connection test of the profile the settings form described at `generation`.
    ConnectionTested {
        generation: u64,
        report: Result<ConnectionReport, String>,
    },
    /// The buckets for the picker, listed for the form's `generation`.
    Buckets {
        generation: u64,
        result: Result<Vec<String>, String>,
    },
    /// Ctrl-C, SIGTERM or SIGHUP arrived: pause everything (saving every finished part)
    /// and close.
    StopRequested,
    /// A target resolved: to hand to the engine, and with `make_current` to become the
    /// target of new drops.
    Resolved {
        result: Result<Connection, String>,
        make_current: bool,
    },
    /// Connected to the embedded endpoint, which had to be started first.
    EmbeddedConnected(Result<(Connection, EmbeddedEndpoint), String>),
    /// The embedded endpoint started beside the current target because it had uploads
    /// or jobs left (`None`: it had none, and was not started).
    EmbeddedLeftovers(Option<Result<(Connection, EmbeddedEndpoint), String>>),
}

/// Sends job results to the frame loop and wakes it.
#[derive(Clone)]
pub struct JobSender {
    sender: mpsc::Sender<JobResult>,
    ctx: egui::Context,
}

impl JobSender {
    pub fn send(&self, result: JobResult) {
        // A closed receiver means the window is gone; the result has nobody to tell.
        let _ = self.sender.send(result);
        self.ctx.request_repaint();
    }

    /// Runs `future` on `runtime` and sends what it yields.
    pub fn spawn_on<F>(&self, runtime: &tokio::runtime::Handle, future: F)
    where
        F: Future<Output = JobResult> + Send + 'static,
    {
        let sender = self.clone();
        runtime.spawn(async move { sender.send(future.await) });
    }

    /// Runs `future` on a thread of its own (with a small runtime), for work that must not
    /// wait for, or need, a connected engine; sends what it yields, or what `failed`
    /// makes of the reason when no runtime could be made.
    pub fn spawn_detached<F, E>(&self, future: F, failed: E)
    where
        F: Future<Output = JobResult> + Send + 'static,
        E: FnOnce(String) -> JobResult + Send + 'static,
    {
        self.spawn_blocking(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(future),
                Err(error) => failed(format!("could not start background work: {error}")),
            }
        });
    }

    /// Runs blocking `work` on its own thread and sends what it returns.
    pub fn spawn_blocking<W>(&self, work: W)
    where
        W: FnOnce() -> JobResult + Send + 'static,
    {
        let sender = self.clone();
        std::thread::spawn(move || sender.send(work()));
    }
}

/// The receiving end, drained once per frame.
pub struct Jobs {
    sender: JobSender,
    receiver: mpsc::Receiver<JobResult>,
}

impl Jobs {
    pub fn new(ctx: egui::Context) -> Self {
        let (sender, receiver) = mpsc::channel();
        Self {
            sender: JobSender { sender, ctx },
            receiver,
        }
    }

    pub fn sender(&self) -> &JobSender {
        &self.sender
    }

    /// Every result waiting right now; never blocks.
    pub fn drain(&self) -> Vec<JobResult> {
        self.receiver.try_iter().collect()
    }
}
