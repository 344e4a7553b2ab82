//! What front ends see: a board of transfer rows that tasks update, and the publisher that
//! turns changes into coalesced events (a Snapshot when a row changes shape, otherwise at
//! most one Progress per transfer every [`PUBLISH_INTERVAL`] with only the changed parts).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::event::{
    EngineEvent, EventSink, PartState, TransferError, TransferId, TransferResult, TransferSnapshot,
    TransferState,
};
use crate::protocol::error::code;

/// How often progress is published per transfer (about 10 a second).
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// Weight of the newest measurement in the speed average.
const SPEED_SMOOTHING: f64 = 0.3;

#[derive(Debug)]
struct Row {
    snapshot: TransferSnapshot,
    /// Part numbers changed since the last event.
    changed_parts: BTreeSet<u32>,
    /// Retry states entered since the last event, sent before the parts' current states
    /// so a quick retry is still seen by the front end.
    retries: Vec<(u32, PartState)>,
    progress_dirty: bool,
    shape_dirty: bool,
    /// Bytes handed to the network, including parts later cancelled or retried.
    sent_total: u64,
    speed_sample: Option<(Instant, u64)>,
}

impl Row {
    fn in_flight_bytes(&self) -> u64 {
        self.snapshot
            .parts
            .iter()
            .map(|p| match p {
                PartState::InFlight { bytes_sent } => *bytes_sent,
                _ => 0,
            })
            .sum()
    }
}

#[derive(Debug, Default)]
struct BoardInner {
    rows: BTreeMap<TransferId, Row>,
    /// Events that are not row updates (removals, notices), in order.
    pending: Vec<EngineEvent>,
}

/// Shared display state of all transfers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Board {
    inner: Arc<Mutex<BoardInner>>,
    changed: Arc<Notify>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, BoardInner> {
        // Rows hold plain data; a panic elsewhere leaves them consistent enough to show.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces) a row; it is published as a Snapshot.
    pub(crate) fn insert(&self, snapshot: TransferSnapshot) {
        let id = snapshot.id.clone();
        self.lock().rows.insert(
            id,
            Row {
                snapshot,
                changed_parts: BTreeSet::new(),
                retries: Vec::new(),
                progress_dirty: false,
                shape_dirty: true,
                sent_total: 0,
                speed_sample: None,
            },
        );
        self.changed.notify_one();
    }

    pub(crate) fn remove(&self, id: &TransferId) {
        let mut inner = self.lock();
        inner.rows.remove(id);
        inner.pending.push(EngineEvent::Removed(id.clone()));
        drop(inner);
        self.changed.notify_one();
    }

    pub(crate) fn notice(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!("{message}");
        self.push_event(EngineEvent::Notice { message });
    }

    pub(crate) fn push_event(&self, event: EngineEvent) {
        self.lock().pending.push(event);
        self.changed.notify_one();
    }

    /// Removes a row after sending its final state, so a front end sees how it ended
    /// (a finished file of a job, which only the job's counts keep).
    pub(crate) fn retire(&self, id: &TransferId) {
        let mut inner = self.lock();
        if let Some(mut row) = inner.rows.remove(id) {
            let events = snapshot_events(&mut row);
            inner.pending.extend(events);
        }
        inner.pending.push(EngineEvent::Removed(id.clone()));
        drop(inner);
        self.changed.notify_one();
    }

    /// A copy of the row as it stands.
    pub(crate) fn snapshot(&self, id: &TransferId) -> Option<TransferSnapshot> {
        self.lock().rows.get(id).map(|row| row.snapshot.clone())
    }

    pub(crate) fn state(&self, id: &TransferId) -> Option<TransferState> {
        self.lock()
            .rows
            .get(id)
            .map(|row| row.snapshot.state.clone())
    }

    pub(crate) fn reporter(&self, id: TransferId) -> Reporter {
        Reporter {
            board: self.clone(),
            id,
        }
    }

    /// Whether any transfer is moving (so speeds need refreshing).
    fn any_active(&self) -> bool {
        self.lock().rows.values().any(|row| {
            matches!(
                row.snapshot.state,
                TransferState::Uploading
                    | TransferState::Preparing
                    | TransferState::Verifying
                    | TransferState::WaitingForNetwork
            )
        })
    }

    /// Turns everything changed since the last call into events, sends them and wakes
    /// the front end once. Returns whether anything was sent.
    pub(crate) fn publish(&self, sink: &EventSink, now: Instant) -> bool {
        let mut events = Vec::new();
        {
            let mut inner = self.lock();
            events.append(&mut inner.pending);
            for row in inner.rows.values_mut() {
                refresh_speed(row, now);
                if row.shape_dirty {
                    events.extend(snapshot_events(row));
                } else if row.progress_dirty {
                    row.progress_dirty = false;
                    let mut changed_parts: Vec<(u32, PartState)> = std::mem::take(&mut row.retries)
                        .into_iter()
                        .filter(|(number, state)| row.snapshot.part(*number) != Some(state))
                        .collect();
                    changed_parts.extend(
                        std::mem::take(&mut row.changed_parts)
                            .into_iter()
                            .filter_map(|number| {
                                let state = row.snapshot.part(number)?;
                                Some((number, state.clone()))
                            }),
                    );
                    events.push(EngineEvent::progress_of(&row.snapshot, changed_parts));
                }
            }
        }
        let sent = !events.is_empty();
        for event in events {
            sink.send(event);
        }
        if sent {
            sink.wake();
        }
        sent
    }

    /// Publishes changes until `stop` fires: waits for a change, then publishes at most
    /// once an interval while changes keep coming or transfers are active.
    pub(crate) async fn run_publisher(
        &self,
        sink: EventSink,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.changed.notified() => {}
            }
            // The first change after a quiet spell goes out at once; later ones are
            // gathered for an interval.
            loop {
                let sent = self.publish(&sink, Instant::now());
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(PUBLISH_INTERVAL) => {}
                }
                if !sent && !self.any_active() {
                    break;
                }
            }
        }
    }
}

/// The row's whole state as a snapshot, then the retries since the last one replayed:
/// they already passed and would vanish in it, so each is followed by its part's current
/// state.
fn snapshot_events(row: &mut Row) -> Vec<EngineEvent> {
    row.shape_dirty = false;
    row.progress_dirty = false;
    row.changed_parts.clear();
    let retries = std::mem::take(&mut row.retries);
    let mut events = vec![EngineEvent::Snapshot(row.snapshot.clone())];
    if !retries.is_empty() {
        let mut changed_parts = Vec::with_capacity(retries.len() * 2);
        for (number, retry) in retries {
            let current = row.snapshot.part(number).cloned();
            changed_parts.push((number, retry));
            changed_parts.extend(current.map(|state| (number, state)));
        }
        events.push(EngineEvent::progress_of(&row.snapshot, changed_parts));
    }
    events
}

/// Part `number` (1-based) of a part list.
fn refresh_speed(row: &mut Row, now: Instant) {
    let moving = matches!(
        row.snapshot.state,
        TransferState::Uploading | TransferState::WaitingForNetwork | TransferState::Verifying
    );
    if !moving {
        if row.snapshot.bytes_per_sec != 0.0 || row.snapshot.eta_secs.is_some() {
            row.snapshot.bytes_per_sec = 0.0;
            row.snapshot.eta_secs = None;
            row.progress_dirty = true;
        }
        row.speed_sample = None;
        return;
    }
    match row.speed_sample {
        None => row.speed_sample = Some((now, row.sent_total)),
        Some((at, sent)) => {
            let seconds = now.saturating_duration_since(at).as_secs_f64();
            if seconds < PUBLISH_INTERVAL.as_secs_f64() * 0.5 {
                return;
            }
            let instant = (row.sent_total - sent) as f64 / seconds;
            let speed = if row.snapshot.bytes_per_sec == 0.0 {
                instant
            } else {
                row.snapshot.bytes_per_sec * (1.0 - SPEED_SMOOTHING) + instant * SPEED_SMOOTHING
            };
            row.speed_sample = Some((now, row.sent_total));
            let remaining = row
                .snapshot
                .size
                .saturating_sub(row.snapshot.bytes_done + row.in_flight_bytes());
            let eta = (speed > 1.0).then(|| remaining as f64 / speed);
            if (speed - row.snapshot.bytes_per_sec).abs() > 1.0 || eta != row.snapshot.eta_secs {
                row.snapshot.bytes_per_sec = speed;
                row.snapshot.eta_secs = eta;
                row.progress_dirty = true;
            }
        }
    }
}

/// A transfer task's handle on its own row.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    board: Board,
    id: TransferId,
}

impl Reporter {
    pub(crate) fn id(&self) -> &TransferId {
        &self.id
    }

    /// Edits the row; `shape` says whether a full Snapshot is due.
    fn edit(&self, shape: bool, change: impl FnOnce(&mut Row)) {
        let mut inner = self.board.lock();
        if let Some(row) = inner.rows.get_mut(&self.id) {
            change(row);
            if shape {
                row.shape_dirty = true;
            } else {
                row.progress_dirty = true;
            }
            drop(inner);
            self.board.changed.notify_one();
        }
    }

    pub(crate) fn state(&self) -> Option<TransferState> {
        self.board.state(&self.id)
    }

    pub(crate) fn set_state(&self, state: TransferState) {
        let mut inner = self.board.lock();
        let Some(row) = inner.rows.get_mut(&self.id) else {
            return;
        };
        if row.snapshot.state == state {
            return;
        }
        row.snapshot.state = state;
        row.shape_dirty = true;
        drop(inner);
        self.board.changed.notify_one();
    }

    pub(crate) fn fail(&self, error: TransferError) {
        tracing::warn!(transfer = %self.id, "{error}");
        self.edit(true, |row| {
            row.snapshot.state = TransferState::Failed;
            row.snapshot.error = Some(error);
        });
    }

    /// Ends the transfer as Skipped because the object exists and may not be replaced.
    pub(crate) fn skip(&self, bucket: &str, key: &str) {
        let reason = TransferError {
            message: format!(
                "oss://{bucket}/{key} already exists and overwriting is forbidden; skipped."
            ),
            code: Some(code::FILE_ALREADY_EXISTS.into()),
            request_id: None,
            restart_suggested: false,
        };
        self.skip_because(reason);
    }

    /// Ends the transfer as Skipped, saying why (e.g. the object is unchanged).
    pub(crate) fn skip_because(&self, reason: TransferError) {
        self.edit(true, |row| {
            row.snapshot.state = TransferState::Skipped;
            row.snapshot.error = Some(reason);
        });
    }

    /// Waits for the server to answer, with the reason the row shows meanwhile (a full
    /// Snapshot only when the state or the reason changed).
    pub(crate) fn wait_for_network(&self, reason: TransferError) {
        let changed = {
            let inner = self.board.lock();
            inner.rows.get(&self.id).is_some_and(|row| {
                row.snapshot.state != TransferState::WaitingForNetwork
                    || row.snapshot.error.as_ref() != Some(&reason)
            })
        };
        if changed {
            self.edit(true, |row| {
                row.snapshot.state = TransferState::WaitingForNetwork;
                row.snapshot.error = Some(reason);
            });
        }
    }

    pub(crate) fn clear_error(&self) {
        self.edit(true, |row| row.snapshot.error = None);
    }

    /// New size and part layout (after planning or reconciling). `done` lists the part
    /// numbers already on the server.
    pub(crate) fn set_layout(
        &self,
        size: u64,
        part_size: u64,
        part_count: u32,
        done: &BTreeMap<u32, u64>,
    ) {
        self.edit(true, |row| {
            row.snapshot.size = size;
            row.snapshot.part_size = part_size;
            row.snapshot.parts = PartState::map_of(part_count, done);
            row.snapshot.bytes_done = done.values().sum();
        });
    }

    /// A stream grew by one part of `len` bytes.
    pub(crate) fn push_stream_part(&self, len: u64) {
        self.edit(true, |row| {
            row.snapshot.size += len;
            row.snapshot.parts.push(PartState::Queued);
        });
    }

    pub(crate) fn set_job(&self, job: Option<super::store::JobId>) {
        self.edit(true, |row| row.snapshot.job = job);
    }

    pub(crate) fn set_upload_id(&self, upload_id: Option<String>) {
        self.edit(true, |row| row.snapshot.upload_id = upload_id);
    }

    pub(crate) fn set_result(&self, result: TransferResult) {
        self.edit(true, |row| {
            row.snapshot.result = Some(result);
            row.snapshot.error = None;
        });
    }

    pub(crate) fn set_part(&self, number: u32, state: PartState) {
        self.edit(false, |row| {
            let Some(slot) = row.snapshot.part_mut(number) else {
                return;
            };
            if *slot == state {
                return;
            }
            if let PartState::Retrying { .. } = state {
                row.retries.push((number, state.clone()));
            }
            *slot = state;
            row.changed_parts.insert(number);
        });
    }

    /// Part `number` finished with `len` bytes.
    pub(crate) fn part_done(&self, number: u32, len: u64) {
        self.edit(false, |row| {
            let Some(slot) = row.snapshot.part_mut(number) else {
                return;
            };
            if *slot != PartState::Done {
                *slot = PartState::Done;
                row.snapshot.bytes_done += len;
                row.changed_parts.insert(number);
            }
        });
    }

    /// `bytes` more of part `number` went out.
    pub(crate) fn part_sent(&self, number: u32, bytes: u64) {
        self.edit(false, |row| {
            row.sent_total += bytes;
            let Some(slot) = row.snapshot.part_mut(number) else {
                return;
            };
            let bytes_sent = match slot {
                PartState::InFlight { bytes_sent } => *bytes_sent + bytes,
                _ => bytes,
            };
            *slot = PartState::InFlight { bytes_sent };
            row.changed_parts.insert(number);
        });
    }

    /// Parts that were in flight or retrying go back to Queued (after a pause).
    pub(crate) fn requeue_unfinished(&self) {
        self.edit(false, |row| {
            for (index, part) in row.snapshot.parts.iter_mut().enumerate() {
                if matches!(
                    part,
                    PartState::InFlight { .. } | PartState::Retrying { .. }
                ) {
                    *part = PartState::Queued;
                    row.changed_parts.insert(index as u32 + 1);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::SourceKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn row(id: &str, parts: u32) -> TransferSnapshot {
        TransferSnapshot {
            part_size: 10,
            state: TransferState::Uploading,
            parts: vec![PartState::Queued; parts as usize],
            ..TransferSnapshot::queued(
                TransferId(id.into()),
                "/f".into(),
                SourceKind::File,
                "b".into(),
                "k".into(),
                u64::from(parts) * 10,
            )
        }
    }

    /// A board holding one uploading row of `parts` parts, and that row's reporter.
    fn board_with(id: &str, parts: u32) -> (Board, Reporter) {
        let board = Board::default();
        board.insert(row(id, parts));
        let reporter = board.reporter(TransferId(id.into()));
        (board, reporter)
    }

    #[test]
    fn snapshot_first_then_only_changed_parts() {
        let wakes = Arc::new(AtomicU32::new(0));
        let counter = wakes.clone();
        let (sink, events) = EventSink::channel(Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })));
        let (board, reporter) = board_with("a", 4);
        reporter.part_sent(2, 5);
        let start = Instant::now();
        assert!(board.publish(&sink, start));
        let first: Vec<_> = events.try_iter().collect();
        assert!(
            matches!(&first[..], [EngineEvent::Snapshot(s)] if s.parts[1] == PartState::InFlight { bytes_sent: 5 })
        );
        assert_eq!(wakes.load(Ordering::SeqCst), 1);

        // Nothing changed: nothing sent, nobody woken.
        assert!(!board.publish(&sink, start));
        assert_eq!(wakes.load(Ordering::SeqCst), 1);

        reporter.part_sent(2, 5);
        reporter.part_done(2, 10);
        reporter.set_part(
            3,
            PartState::Retrying {
                attempt: 2,
                last_error: "500".into(),
            },
        );
        reporter.set_part(3, PartState::InFlight { bytes_sent: 0 });
        assert!(board.publish(&sink, start + Duration::from_millis(100)));
        match events.try_iter().collect::<Vec<_>>().as_slice() {
            [
                EngineEvent::Progress {
                    bytes_done,
                    changed_parts,
                    ..
                },
            ] => {
                assert_eq!(*bytes_done, 10);
                assert_eq!(
                    changed_parts,
                    &vec![
                        (
                            3,
                            PartState::Retrying {
                                attempt: 2,
                                last_error: "500".into()
                            }
                        ),
                        (2, PartState::Done),
                        (3, PartState::InFlight { bytes_sent: 0 }),
                    ]
                );
            }
            other => panic!("expected one progress event, got {other:?}"),
        }
    }

    #[test]
    fn retries_are_not_lost_behind_a_snapshot() {
        let (sink, events) = EventSink::channel(None);
        let (board, reporter) = board_with("a", 2);
        board.publish(&sink, Instant::now());
        let _ = events.try_iter().count();
        let retrying = PartState::Retrying {
            attempt: 2,
            last_error: "503".into(),
        };
        reporter.set_part(1, retrying.clone());
        reporter.part_done(1, 10);
        reporter.set_state(TransferState::Verifying);
        board.publish(&sink, Instant::now());
        let sent: Vec<_> = events.try_iter().collect();
        assert!(
            matches!(&sent[..], [EngineEvent::Snapshot(_), EngineEvent::Progress { changed_parts, .. }] if changed_parts == &vec![(1, retrying.clone()), (1, PartState::Done)]),
            "{sent:?}"
        );
    }

    #[test]
    fn a_retired_row_still_reports_its_retries() {
        let (sink, events) = EventSink::channel(None);
        let (board, reporter) = board_with("a", 2);
        board.publish(&sink, Instant::now());
        let _ = events.try_iter().count();
        let retrying = PartState::Retrying {
            attempt: 2,
            last_error: "503".into(),
        };
        reporter.set_part(1, retrying.clone());
        reporter.part_done(1, 10);
        board.retire(&TransferId("a".into()));
        board.publish(&sink, Instant::now());
        let sent: Vec<_> = events.try_iter().collect();
        assert!(
            matches!(&sent[..], [EngineEvent::Snapshot(_), EngineEvent::Progress { changed_parts, .. }, EngineEvent::Removed(_)] if changed_parts == &vec![(1, retrying.clone()), (1, PartState::Done)]),
            "{sent:?}"
        );
    }

    #[test]
    fn requeue_after_pause_keeps_bytes_done() {
        let (sink, events) = EventSink::channel(None);
        let (board, reporter) = board_with("a", 3);
        reporter.part_done(1, 10);
        reporter.part_sent(2, 7);
        board.publish(&sink, Instant::now());
        reporter.requeue_unfinished();
        reporter.set_state(TransferState::Paused);
        board.publish(&sink, Instant::now());
        let last = events.try_iter().last().unwrap();
        match last {
            EngineEvent::Snapshot(s) => {
                assert_eq!(s.bytes_done, 10);
                assert_eq!(
                    s.parts,
                    vec![PartState::Done, PartState::Queued, PartState::Queued]
                );
                assert_eq!(s.state, TransferState::Paused);
            }
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    #[test]
    fn speed_and_eta_follow_bytes_sent() {
        let (sink, events) = EventSink::channel(None);
        let (board, reporter) = board_with("a", 100);
        let start = Instant::now();
        board.publish(&sink, start);
        reporter.part_sent(1, 100);
        board.publish(&sink, start + Duration::from_secs(1));
        let speed = events
            .try_iter()
            .filter_map(|e| match e {
                EngineEvent::Progress {
                    bytes_per_sec,
                    eta_secs,
                    ..
                } => Some((bytes_per_sec, eta_secs)),
                _ => None,
            })
            .last()
            .unwrap();
        assert!((speed.0 - 100.0).abs() < 1e-6, "{speed:?}");
        // 1000 bytes, 100 in flight: 900 left at 100 B/s.
        assert!((speed.1.unwrap() - 9.0).abs() < 1e-6, "{speed:?}");
    }
}
