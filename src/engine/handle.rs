//! The front end's side of the engine: send commands, drain or await events.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::event::EventSink;
use super::{EngineCommand, EngineConfig, EngineError, EngineEvent};

/// How long dropping the handle waits for transfers to stop and sessions to be saved.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A cloneable way to send commands (e.g. from a Ctrl-C handler or another thread).
#[derive(Clone, Debug)]
pub struct CommandSender {
    commands: mpsc::UnboundedSender<EngineCommand>,
}

impl CommandSender {
    pub fn send(&self, command: EngineCommand) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::Stopped)
    }
}

/// The engine, seen from a front end. Dropping it pauses everything, saves the sessions
/// and stops the runtime.
pub struct EngineHandle {
    commands: CommandSender,
    events: std_mpsc::Receiver<EngineEvent>,
    notify: Arc<Notify>,
    /// Closed (sender dropped) once the engine's main task has finished.
    finished: std_mpsc::Receiver<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl EngineHandle {
    pub fn send(&self, command: EngineCommand) -> Result<(), EngineError> {
        self.commands.send(command)
    }

    /// A cloneable command sender.
    pub fn commands(&self) -> CommandSender {
        self.commands.clone()
    }

    /// The next event if one is waiting; never blocks (for the window's frame loop).
    pub fn try_recv(&mut self) -> Option<EngineEvent> {
        self.events.try_recv().ok()
    }

    /// Every event waiting right now.
    pub fn drain(&mut self) -> Vec<EngineEvent> {
        self.events.try_iter().collect()
    }

    /// Waits for the next event; `None` once the engine has stopped and all events were
    /// read. Safe to call from any async runtime.
    pub async fn recv(&mut self) -> Option<EngineEvent> {
        loop {
            match self.events.try_recv() {
                Ok(event) => return Some(event),
                Err(std_mpsc::TryRecvError::Disconnected) => return None,
                Err(std_mpsc::TryRecvError::Empty) => self.notify.notified().await,
            }
        }
    }

    /// Blocks the thread until the next event or `timeout`; `None` on timeout or when the
    /// engine has stopped. Not for use inside an async task.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<EngineEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Blocks until the next event; `None` once the engine has stopped.
    pub fn recv_blocking(&mut self) -> Option<EngineEvent> {
        self.events.recv().ok()
    }

    /// The engine's runtime, for running other async work (e.g. remote-upload listing)
    /// off the window's thread.
    pub fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }

    /// Pauses everything, saves the sessions, and stops the engine, waiting up to a few
    /// seconds. Events sent meanwhile (Snapshots, then `Stopped`) can still be drained.
    pub fn shutdown(&mut self) {
        let _ = self.commands.send(EngineCommand::Shutdown);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // The main task drops its sender when done; Disconnected is the signal.
        while let Err(std_mpsc::RecvTimeoutError::Timeout) = self
            .finished
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if Instant::now() >= deadline {
                break;
            }
        }
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so it is safe even when dropped inside another runtime.
            runtime.shutdown_background();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(crate) fn spawn(config: EngineConfig) -> Result<EngineHandle, EngineError> {
    config
        .tuning
        .validate()
        .map_err(EngineError::InvalidTuning)?;
    std::fs::create_dir_all(&config.sessions_dir).map_err(|source| EngineError::SessionsDir {
        path: config.sessions_dir.clone(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ossup-engine")
        .enable_all()
        .build()
        .map_err(EngineError::Runtime)?;
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = std_mpsc::channel();
    let (finished_tx, finished_rx) = std_mpsc::channel::<()>();
    let notify = Arc::new(Notify::new());
    let sink = EventSink::new(event_tx, notify.clone(), config.waker.clone());
    runtime.spawn(async move {
        super::core::run(config, command_rx, sink).await;
        drop(finished_tx);
    });
    Ok(EngineHandle {
        commands: CommandSender {
            commands: command_tx,
        },
        events: event_rx,
        notify,
        finished: finished_rx,
        runtime: Some(runtime),
    })
}
