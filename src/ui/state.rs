//! View models the window draws from, updated only by engine events (no I/O here).

use crate::engine::event::{EngineEvent, PartState, TransferId, TransferSnapshot, TransferState};
use crate::protocol::ObjectRef;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How many parts the part map builds at a time: a changed part costs its map the cells
/// of its chunk only.
pub const PARTS_PER_CHUNK: usize = 512;

/// One row of the transfers view: the engine's snapshot with progress folded in, plus
/// what only the window keeps.
#[derive(Debug, Clone)]
pub struct TransferRow {
    /// What the engine last said about the transfer (state, parts, bytes, error, result).
    pub snapshot: TransferSnapshot,
    /// The last component of the snapshot's source, computed once.
    pub file_name: String,
    /// Order of first appearance, so rows keep their place as states change.
    pub arrival: u64,
    /// Order in which rows reached the history, so the newest finished shows first.
    pub finished_order: Option<u64>,
    /// Goes up whenever `snapshot.parts` is replaced as a whole (a new snapshot), so the
    /// part map lays out all its cells again only then (together with `arrival` it names
    /// one version of one row's parts).
    pub parts_version: u64,
    /// One counter per [`PARTS_PER_CHUNK`] parts, going up when a part in that chunk
    /// changes, so the part map rebuilds only the chunks that changed: one part moving
    /// in a map of 10,000 costs the cells of its chunk, not all of them.
    chunk_versions: Vec<u64>,
    /// `snapshot.parts` counted by state, kept up to date as parts change so a frame
    /// does not count 10,000 parts per row.
    part_counts: PartCounts,
    /// A finished file the engine has let go of (its job counts it), kept here until
    /// Clear finished because it was named on its own.
    pub engine_let_go: bool,
}

impl TransferRow {
    fn from_snapshot(snapshot: TransferSnapshot, arrival: u64) -> Self {
        let file_name = snapshot
            .source
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| snapshot.source.display().to_string());
        let mut part_counts = PartCounts::default();
        for part in &snapshot.parts {
            part_counts.add(part, 1);
        }
        let chunk_versions = vec![0; snapshot.parts.len().div_ceil(PARTS_PER_CHUNK)];
        Self {
            snapshot,
            file_name,
            arrival,
            finished_order: None,
            parts_version: 0,
            chunk_versions,
            part_counts,
            engine_let_go: false,
        }
    }

    /// The counters of the row's part chunks (see [`PARTS_PER_CHUNK`]), in part order.
    pub fn chunk_versions(&self) -> &[u64] {
        &self.chunk_versions
    }

    /// Puts `part` in place of part `number` (1-based), keeping the counts.
    fn set_part(&mut self, number: u32, part: PartState) {
        if let Some(slot) = self.snapshot.part_mut(number) {
            let chunk = (number as usize).saturating_sub(1) / PARTS_PER_CHUNK;
            if let Some(version) = self.chunk_versions.get_mut(chunk) {
                *version = version.wrapping_add(1);
            }
            self.part_counts.add(slot, -1);
            self.part_counts.add(&part, 1);
            *slot = part;
        }
    }

    /// `oss://bucket/key`.
    pub fn destination_label(&self) -> String {
        ObjectRef::new(&self.snapshot.bucket, &self.snapshot.key).to_string()
    }

    /// Finished rows move to the history section.
    pub fn is_history(&self) -> bool {
        matches!(
            self.snapshot.state,
            TransferState::Done | TransferState::Skipped
        )
    }

    /// The state as the row shows it: "Cannot connect" rather than "Waiting for network"
    /// when the network is up but the server refuses or cannot be found.
    pub fn state_text(&self) -> String {
        let refused = self.snapshot.state == TransferState::WaitingForNetwork
            && self
                .snapshot
                .error
                .as_ref()
                .is_some_and(|e| e.is_cannot_connect());
        if refused {
            String::from("Cannot connect")
        } else {
            state_label(&self.snapshot.state)
        }
    }

    pub fn can_pause(&self) -> bool {
        matches!(
            self.snapshot.state,
            TransferState::Queued
                | TransferState::Preparing
                | TransferState::Uploading
                | TransferState::WaitingForNetwork
        )
    }

    pub fn can_resume(&self) -> bool {
        self.snapshot.state == TransferState::Paused
    }

    pub fn can_retry(&self) -> bool {
        self.snapshot.state == TransferState::Failed
    }

    /// Counts parts per state, for the accessible label and the summary line.
    pub fn part_counts(&self) -> PartCounts {
        self.part_counts
    }
}

/// How many parts are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartCounts {
    pub queued: usize,
    pub in_flight: usize,
    pub done: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl PartCounts {
    /// Counts `part` once more (`by` = 1) or once less (`by` = -1).
    fn add(&mut self, part: &PartState, by: isize) {
        let count = match part {
            PartState::Queued => &mut self.queued,
            PartState::InFlight { .. } => &mut self.in_flight,
            PartState::Done => &mut self.done,
            PartState::Retrying { .. } => &mut self.retrying,
            PartState::Failed { .. } => &mut self.failed,
        };
        *count = count.saturating_add_signed(by);
    }
}

/// The engine's label for a state, capitalised for a column.
pub fn state_label(state: &TransferState) -> String {
    let label = state.label();
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// All transfers the engine told us about, in arrival order.
#[derive(Debug, Default)]
pub struct TransfersModel {
    rows: Vec<TransferRow>,
    index_by_id: HashMap<TransferId, usize>,
    next_arrival: u64,
    next_finish: u64,
    /// Messages the engine sent that belong to no transfer (e.g. a corrupt session),
    /// newest last.
    pub notices: Vec<String>,
    /// The engine said it stopped.
    pub engine_stopped: bool,
    /// Folder jobs by id: one row each, with counts; their files in flight are rows above.
    pub jobs: std::collections::BTreeMap<crate::engine::store::JobId, crate::engine::JobSnapshot>,
    /// What the window calls each target, by the engine's label.
    target_names: HashMap<String, String>,
    /// Each job's roots, to tell its files named on their own (listed as rows of their
    /// own, like any file) from the files found in its folders.
    job_roots: HashMap<crate::engine::store::JobId, std::collections::HashSet<PathBuf>>,
    /// How fast each job's finished bytes grow: the speed of a folder of small files,
    /// each of which ends before its own speed can be measured.
    job_rates: HashMap<crate::engine::store::JobId, FinishedBytesRate>,
}

/// The rate of a growing byte count, sampled when it changes and smoothed; it counts as
/// still once the count has not moved for a while.
#[derive(Debug, Clone, Copy, Default)]
pub struct FinishedBytesRate {
    sample: Option<(Instant, u64)>,
    bytes_per_sec: f64,
}

impl FinishedBytesRate {
    /// Shortest time between two samples, so one batch of outcomes is not a spike.
    const MIN_INTERVAL: Duration = Duration::from_secs(1);
    /// No change for this long means nothing is moving.
    const STILL_AFTER: Duration = Duration::from_secs(5);
    const SMOOTHING: f64 = 0.3;

    pub fn observe(&mut self, now: Instant, bytes: u64) {
        let Some((at, before)) = self.sample else {
            self.sample = Some((now, bytes));
            return;
        };
        if bytes < before {
            *self = Self::default();
            self.sample = Some((now, bytes));
            return;
        }
        let elapsed = now.saturating_duration_since(at);
        if elapsed < Self::MIN_INTERVAL || bytes == before && elapsed < Self::STILL_AFTER {
            return;
        }
        let instant = (bytes - before) as f64 / elapsed.as_secs_f64();
        self.bytes_per_sec = if self.bytes_per_sec == 0.0 {
            instant
        } else {
            self.bytes_per_sec * (1.0 - Self::SMOOTHING) + instant * Self::SMOOTHING
        };
        self.sample = Some((now, bytes));
    }

    /// Bytes a second at `now`: zero once the count has been still for a while.
    pub fn at(&self, now: Instant) -> f64 {
        match self.sample {
            Some((at, _)) if now.saturating_duration_since(at) < Self::STILL_AFTER => {
                self.bytes_per_sec
            }
            _ => 0.0,
        }
    }
}

impl TransfersModel {
    /// Names the target labelled `label` in the rows (a profile's name).
    pub fn name_target(&mut self, label: &str, name: String) {
        self.target_names.insert(label.to_owned(), name);
    }

    /// How fast `job`'s finished files add up, in bytes a second at `now`.
    pub fn job_rate(&self, job: crate::engine::store::JobId, now: Instant) -> f64 {
        self.job_rates.get(&job).map_or(0.0, |rate| rate.at(now))
    }

    /// What a row says its target is: its name, else its label.
    pub fn target_name<'a>(&'a self, label: &'a str) -> &'a str {
        self.target_names.get(label).map_or(label, String::as_str)
    }

    /// Whether `row` is a file named on its own (dropped, picked or added by path) rather
    /// than found in a folder of its job.
    pub fn is_named(&self, row: &TransferRow) -> bool {
        row.snapshot
            .job
            .and_then(|job| self.job_roots.get(&job))
            .is_some_and(|roots| roots.contains(&row.snapshot.source))
    }

    pub fn rows(&self) -> &[TransferRow] {
        &self.rows
    }

    pub fn row(&self, id: &TransferId) -> Option<&TransferRow> {
        self.index_by_id.get(id).map(|&index| &self.rows[index])
    }

    pub fn active_rows(&self) -> impl Iterator<Item = &TransferRow> {
        self.rows.iter().filter(|row| !row.is_history())
    }

    /// "3 active · 1 paused · 1,200 finished": paused rows apart from the running ones,
    /// and the finished files of folder jobs counted with the finished rows.
    pub fn status_line(&self) -> String {
        let (paused, active): (Vec<_>, Vec<_>) = self
            .active_rows()
            .partition(|row| row.snapshot.state == crate::engine::TransferState::Paused);
        // A job's finished files are counted by the job, listed or not.
        let done = self
            .rows
            .iter()
            .filter(|row| row.is_history() && row.snapshot.job.is_none())
            .count() as u64
            + self.jobs.values().map(|job| job.counts.done).sum::<u64>();
        let mut line = format!("{} active", active.len());
        if !paused.is_empty() {
            line.push_str(&format!(" · {} paused", paused.len()));
        }
        line.push_str(&format!(" · {done} finished"));
        line
    }

    /// Finished rows, the most recently finished first.
    pub fn history_rows(&self) -> Vec<&TransferRow> {
        let mut rows: Vec<&TransferRow> = self.rows.iter().filter(|row| row.is_history()).collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.finished_order));
        rows
    }

    /// Stamps a row the first time it reaches the history (and clears the stamp if it
    /// leaves it, e.g. after a restart).
    fn note_finish(&mut self, index: usize) {
        let row = &mut self.rows[index];
        match (row.is_history(), row.finished_order) {
            (true, None) => {
                row.finished_order = Some(self.next_finish);
                self.next_finish += 1;
            }
            (false, Some(_)) => row.finished_order = None,
            _ => {}
        }
    }

    /// Folds one engine event into the rows.
    pub fn apply(&mut self, event: EngineEvent) {
        self.apply_at(event, Instant::now());
    }

    /// [`Self::apply`] for an event that arrived at `now`.
    pub fn apply_at(&mut self, event: EngineEvent, now: Instant) {
        match event {
            EngineEvent::Snapshot(snapshot) => self.apply_snapshot(snapshot),
            EngineEvent::Progress {
                id,
                state,
                bytes_done,
                bytes_per_sec,
                eta_secs,
                changed_parts,
            } => {
                let Some(&index) = self.index_by_id.get(&id) else {
                    return;
                };
                let row = &mut self.rows[index];
                for (number, part) in changed_parts {
                    // Part numbers are 1-based on the wire and in events.
                    row.set_part(number, part);
                }
                let row = &mut row.snapshot;
                row.state = state;
                row.bytes_done = bytes_done;
                row.bytes_per_sec = bytes_per_sec;
                row.eta_secs = eta_secs;
                self.note_finish(index);
            }
            EngineEvent::Removed(id) => self.remove(&id),
            EngineEvent::Job(job) => {
                let rate = self.job_rates.entry(job.id).or_default();
                if job.state == crate::engine::store::JobState::Active {
                    rate.observe(now, job.counts.bytes_done);
                } else {
                    *rate = FinishedBytesRate::default();
                }
                self.job_roots
                    .entry(job.id)
                    .or_insert_with(|| job.roots.iter().cloned().collect());
                self.jobs.insert(job.id, job);
            }
            EngineEvent::SessionCorrupt {
                path,
                moved_to,
                error,
            } => {
                let aside = moved_to
                    .map(|to| format!(" It was moved aside to {}.", to.display()))
                    .unwrap_or_default();
                self.push_notice(format!(
                    "A saved upload session could not be read ({}): {error}.{aside}",
                    path.display()
                ));
            }
            EngineEvent::Notice { message } => self.push_notice(message),
            EngineEvent::Stopped => self.engine_stopped = true,
            // The history view's model takes these.
            EngineEvent::HistoryPage { .. }
            | EngineEvent::HistoryChanged
            | EngineEvent::JobFilesPage { .. } => {}
        }
    }

    /// Keeps the last few notices only.
    fn push_notice(&mut self, message: String) {
        const MAX_NOTICES: usize = 5;
        self.notices.push(message);
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    pub fn dismiss_notices(&mut self) {
        self.notices.clear();
    }

    fn apply_snapshot(&mut self, snapshot: TransferSnapshot) {
        match self.index_by_id.get(&snapshot.id) {
            Some(&index) => {
                let arrival = self.rows[index].arrival;
                let finished_order = self.rows[index].finished_order;
                let parts_version = self.rows[index].parts_version.wrapping_add(1);
                self.rows[index] = TransferRow::from_snapshot(snapshot, arrival);
                self.rows[index].finished_order = finished_order;
                self.rows[index].parts_version = parts_version;
                self.note_finish(index);
            }
            None => {
                let arrival = self.next_arrival;
                self.next_arrival += 1;
                self.index_by_id
                    .insert(snapshot.id.clone(), self.rows.len());
                self.rows
                    .push(TransferRow::from_snapshot(snapshot, arrival));
                self.note_finish(self.rows.len() - 1);
            }
        }
    }

    fn remove(&mut self, id: &TransferId) {
        // The engine lets go of a job's finished file at once; one named on its own stays
        // listed like any finished file, until Clear finished forgets it.
        if let Some(&index) = self.index_by_id.get(id) {
            let row = &self.rows[index];
            if !row.engine_let_go && row.is_history() && self.is_named(row) {
                self.rows[index].engine_let_go = true;
                return;
            }
        }
        if self.index_by_id.remove(id).is_none() {
            return;
        }
        self.rows.retain(|row| &row.snapshot.id != id);
        self.index_by_id = self
            .rows
            .iter()
            .enumerate()
            .map(|(index, row)| (row.snapshot.id.clone(), index))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn snapshot(id: &str, parts: usize, state: TransferState) -> TransferSnapshot {
        TransferSnapshot {
            part_size: 100,
            state,
            parts: vec![PartState::Queued; parts],
            ..TransferSnapshot::queued(
                TransferId(id.to_string()),
                PathBuf::from(format!("/data/{id}.bin")),
                crate::engine::event::SourceKind::File,
                "demo".into(),
                format!("in/{id}.bin"),
                parts as u64 * 100,
            )
        }
    }

    #[test]
    fn progress_updates_only_the_changed_parts_of_the_right_row() {
        let mut model = TransfersModel::default();
        model.apply(EngineEvent::Snapshot(snapshot(
            "a",
            3,
            TransferState::Queued,
        )));
        model.apply(EngineEvent::Snapshot(snapshot(
            "b",
            2,
            TransferState::Queued,
        )));
        model.apply(EngineEvent::Progress {
            id: TransferId("a".into()),
            state: TransferState::Uploading,
            bytes_done: 150,
            bytes_per_sec: 1000.0,
            eta_secs: Some(0.15),
            changed_parts: vec![
                (1, PartState::Done),
                (2, PartState::InFlight { bytes_sent: 50 }),
            ],
        });
        let a = model.row(&TransferId("a".into())).expect("row a exists");
        assert_eq!(a.snapshot.state, TransferState::Uploading);
        assert_eq!(a.snapshot.parts[0], PartState::Done);
        assert_eq!(a.snapshot.parts[1], PartState::InFlight { bytes_sent: 50 });
        assert_eq!(a.snapshot.parts[2], PartState::Queued);
        assert_eq!(a.snapshot.fraction_done(), 0.5);
        assert_eq!(
            a.part_counts(),
            PartCounts {
                queued: 1,
                in_flight: 1,
                done: 1,
                retrying: 0,
                failed: 0
            }
        );
        let b = model.row(&TransferId("b".into())).expect("row b exists");
        assert!(b.snapshot.parts.iter().all(|p| *p == PartState::Queued));
    }

    #[test]
    fn out_of_range_part_numbers_are_ignored() {
        let mut model = TransfersModel::default();
        model.apply(EngineEvent::Snapshot(snapshot(
            "a",
            1,
            TransferState::Queued,
        )));
        model.apply(EngineEvent::Progress {
            id: TransferId("a".into()),
            state: TransferState::Uploading,
            bytes_done: 0,
            bytes_per_sec: 0.0,
            eta_secs: None,
            changed_parts: vec![(0, PartState::Done), (9, PartState::Done)],
        });
        let a = model.row(&TransferId("a".into())).expect("row a exists");
        assert_eq!(a.snapshot.parts, vec![PartState::Queued]);
    }

    #[test]
    fn history_lists_the_most_recently_finished_first() {
        let mut model = TransfersModel::default();
        for id in ["a", "b", "c"] {
            model.apply(EngineEvent::Snapshot(snapshot(
                id,
                1,
                TransferState::Uploading,
            )));
        }
        let finish = |id: &str| EngineEvent::Progress {
            id: TransferId(id.into()),
            state: TransferState::Done,
            bytes_done: 100,
            bytes_per_sec: 0.0,
            eta_secs: None,
            changed_parts: vec![(1, PartState::Done)],
        };
        model.apply(finish("b"));
        model.apply(finish("a"));
        // A later snapshot of a finished row keeps its place.
        model.apply(EngineEvent::Snapshot(snapshot("b", 1, TransferState::Done)));
        let ids: Vec<_> = model
            .history_rows()
            .iter()
            .map(|r| r.snapshot.id.0.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(model.active_rows().count(), 1);
    }

    #[test]
    fn snapshots_keep_arrival_order_and_removal_reindexes() {
        let mut model = TransfersModel::default();
        for id in ["a", "b", "c"] {
            model.apply(EngineEvent::Snapshot(snapshot(
                id,
                1,
                TransferState::Queued,
            )));
        }
        model.apply(EngineEvent::Snapshot(snapshot("a", 1, TransferState::Done)));
        model.apply(EngineEvent::Removed(TransferId("b".into())));
        let ids: Vec<_> = model
            .rows()
            .iter()
            .map(|r| r.snapshot.id.0.as_str())
            .collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(model.history_rows().len(), 1);
        assert_eq!(model.active_rows().count(), 1);
        assert!(model.row(&TransferId("c".into())).is_some());
        assert!(model.row(&TransferId("b".into())).is_none());
    }

    #[test]
    fn the_status_line_counts_paused_apart_and_finished_job_files() {
        let mut model = TransfersModel::default();
        model.apply(EngineEvent::Snapshot(snapshot(
            "a",
            1,
            TransferState::Uploading,
        )));
        model.apply(EngineEvent::Snapshot(snapshot(
            "b",
            1,
            TransferState::Paused,
        )));
        model.apply(EngineEvent::Snapshot(snapshot("c", 1, TransferState::Done)));
        assert_eq!(model.status_line(), "1 active · 1 paused · 1 finished");
        model.apply(EngineEvent::Job(crate::engine::JobSnapshot {
            id: crate::engine::store::JobId(1),
            target: String::from("local"),
            roots: vec![PathBuf::from("/photos")],
            bucket: "demo".into(),
            prefix: String::new(),
            state: crate::engine::store::JobState::Active,
            walking: false,
            counts: crate::engine::store::JobCounts {
                done: 41,
                pending: 9,
                ..Default::default()
            },
            excluded: 0,
            locked_by: None,
            problem: None,
        }));
        assert_eq!(model.status_line(), "1 active · 1 paused · 42 finished");
        // A finished file of the job still listed is one of the job's 41.
        let mut of_job = snapshot("d", 1, TransferState::Done);
        of_job.job = Some(crate::engine::store::JobId(1));
        model.apply(EngineEvent::Snapshot(of_job));
        assert_eq!(model.status_line(), "1 active · 1 paused · 42 finished");
    }
}
