//! The history of finished uploads, kept in the queue store so it outlives the process.
//!
//! A job's files reach it with their batched outcomes; uploads outside a job (a file
//! added on its own, a stream) are batched here the same way, so a thousand small files
//! cost a few commits, not a thousand. Front ends read it a page at a time
//! ([`EngineCommand::LoadHistory`](super::EngineCommand::LoadHistory)) and hear
//! [`EngineEvent::HistoryChanged`] when entries land. Every store access runs on a
//! blocking thread: the engine's loop never waits for the disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::event::EngineEvent;
use super::jobs::lock;
use super::progress::Board;
use super::store::{NewHistory, QueueStore, WriteBatch};

/// The finished single uploads waiting for their shared commit.
type PendingEntries = Arc<Mutex<WriteBatch<NewHistory>>>;

/// The engine's side of the history.
pub(crate) struct History {
    /// The queue store (shared with the jobs); `None` when it could not be opened.
    store: Option<Arc<Mutex<QueueStore>>>,
    /// Taken only while the store's lock is held, so a write and a Clear never cross.
    pending: PendingEntries,
    /// A write is on a blocking thread; no second one starts meanwhile.
    writing: Arc<AtomicBool>,
    board: Board,
}

fn lock_pending(pending: &Mutex<WriteBatch<NewHistory>>) -> MutexGuard<'_, WriteBatch<NewHistory>> {
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl History {
    pub(crate) fn new(store: Option<Arc<Mutex<QueueStore>>>, board: Board) -> Self {
        Self {
            store,
            pending: Arc::default(),
            writing: Arc::default(),
            board,
        }
    }

    /// An upload outside a job finished: it is written with the next batch.
    pub(crate) fn record(&self, entry: NewHistory) {
        if self.store.is_none() {
            return;
        }
        let due = lock_pending(&self.pending).push(entry, Instant::now());
        if due {
            self.write();
        }
    }

    /// Writes the waiting entries once they are due; called on the engine's tick.
    pub(crate) fn tick(&self) {
        if lock_pending(&self.pending).is_due(Instant::now()) {
            self.write();
        }
    }

    /// Writes what is waiting on a blocking thread, unless a write runs already.
    fn write(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if self.writing.swap(true, Ordering::AcqRel) {
            return;
        }
        let pending = self.pending.clone();
        let writing = self.writing.clone();
        let board = self.board.clone();
        tokio::task::spawn_blocking(move || {
            write_pending(&store, &pending, &board);
            writing.store(false, Ordering::Release);
        });
    }

    /// Reads one page of the entries matching `search` and answers with
    /// [`EngineEvent::HistoryPage`].
    pub(crate) fn load(&self, search: String, offset: u64, limit: u32) {
        let Some(store) = self.store.clone() else {
            self.board.push_event(EngineEvent::HistoryPage {
                search,
                offset,
                total: 0,
                entries: Vec::new(),
            });
            return;
        };
        let board = self.board.clone();
        tokio::task::spawn_blocking(move || {
            let store = lock(&store);
            let page = store.history_count(&search).and_then(|total| {
                let entries = store.history_at(&search, offset, limit as usize)?;
                Ok((total, entries))
            });
            match page {
                Ok((total, entries)) => board.push_event(EngineEvent::HistoryPage {
                    search,
                    offset,
                    total,
                    entries,
                }),
                Err(error) => board.notice(format!("The history could not be read: {error}.")),
            }
        });
    }

    /// Forgets every entry, the ones waiting for their commit too.
    pub(crate) fn clear(&self) {
        let Some(store) = self.store.clone() else {
            return self
                .board
                .notice("There is no history to clear: the queue store is unavailable.");
        };
        let pending = self.pending.clone();
        let board = self.board.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = lock(&store);
            lock_pending(&pending).take();
            match store.clear_history() {
                Ok(_) => board.push_event(EngineEvent::HistoryChanged),
                Err(error) => board.notice(format!("The history could not be cleared: {error}.")),
            }
        });
    }

    /// Writes what is waiting before the engine ends.
    pub(crate) fn shutdown(&self) {
        if let Some(store) = &self.store {
            write_pending(store, &self.pending, &self.board);
        }
    }
}

/// Takes the waiting entries (with the store locked) and commits them in one transaction.
fn write_pending(
    store: &Mutex<QueueStore>,
    pending: &Mutex<WriteBatch<NewHistory>>,
    board: &Board,
) {
    let mut store = lock(store);
    let entries = lock_pending(pending).take();
    if entries.is_empty() {
        return;
    }
    match store.append_history_batch(&entries) {
        Ok(()) => board.push_event(EngineEvent::HistoryChanged),
        Err(error) => board.notice(format!(
            "{} finished upload(s) could not be added to the history: {error}.",
            entries.len()
        )),
    }
}
