//! The transfers list as the window shows it: which folder jobs and file rows are listed
//! under the chosen filter and in the chosen order, and what a bulk action (pause,
//! resume, retry, abort, clear finished) on the selected ones asks of the engine. Pure
//! functions of the model, so the buttons, the keyboard and the tests share them.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::engine::event::{TransferId, TransferState};
use crate::engine::store::{JobId, JobState};
use crate::engine::{EngineCommand, JobSnapshot};

use super::selection::Selection;
use super::state::{TransferRow, TransfersModel};

/// Names a row of the list: a folder job or a single transfer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Job(JobId),
    Transfer(TransferId),
}

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Arrival,
    Name,
    Size,
    State,
    Progress,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [
        SortKey::Arrival,
        SortKey::Name,
        SortKey::Size,
        SortKey::State,
        SortKey::Progress,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Arrival => "Arrival",
            SortKey::Name => "Name",
            SortKey::Size => "Size",
            SortKey::State => "State",
            SortKey::Progress => "Progress",
        }
    }
}

/// Where a row is in its life, as the state filter and the state sort group them (in
/// this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateGroup {
    Active,
    Paused,
    Failed,
    Done,
}

impl StateGroup {
    fn of_transfer(row: &TransferRow) -> Self {
        match row.snapshot.state {
            TransferState::Paused => StateGroup::Paused,
            TransferState::Failed => StateGroup::Failed,
            TransferState::Done | TransferState::Skipped => StateGroup::Done,
            TransferState::Queued
            | TransferState::Preparing
            | TransferState::Uploading
            | TransferState::WaitingForNetwork
            | TransferState::Verifying
            | TransferState::LockedElsewhere => StateGroup::Active,
        }
    }

    fn of_job(job: &JobSnapshot) -> Self {
        match job.state {
            JobState::Active => StateGroup::Active,
            JobState::Paused => StateGroup::Paused,
            JobState::Finished if job.counts.failed > 0 => StateGroup::Failed,
            JobState::Finished => StateGroup::Done,
        }
    }
}

/// Which rows the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    All,
    Only(StateGroup),
}

impl StateFilter {
    pub const ALL: [StateFilter; 5] = [
        StateFilter::All,
        StateFilter::Only(StateGroup::Active),
        StateFilter::Only(StateGroup::Paused),
        StateFilter::Only(StateGroup::Failed),
        StateFilter::Only(StateGroup::Done),
    ];

    pub fn label(self) -> &'static str {
        match self {
            StateFilter::All => "All",
            StateFilter::Only(StateGroup::Active) => "Active",
            StateFilter::Only(StateGroup::Paused) => "Paused",
            StateFilter::Only(StateGroup::Failed) => "Failed",
            StateFilter::Only(StateGroup::Done) => "Done",
        }
    }

    fn admits(self, group: StateGroup) -> bool {
        match self {
            StateFilter::All => true,
            StateFilter::Only(wanted) => wanted == group,
        }
    }
}

/// How the list is sorted and filtered.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub sort: SortKey,
    pub descending: bool,
    pub state: StateFilter,
    /// Rows whose name contains this, ignoring case; empty lists all.
    pub name_filter: String,
    /// Finished jobs taken off the list by Clear finished (they come back if they run
    /// again).
    pub cleared_jobs: HashSet<JobId>,
    /// Jobs opened to list their files in flight under them.
    pub open_jobs: HashSet<JobId>,
}

/// One shown row.
#[derive(Debug, Clone, Copy)]
pub enum ListEntry<'a> {
    Job(&'a JobSnapshot),
    Transfer(&'a TransferRow),
    /// A file in flight of the open job listed just above it.
    JobFile(&'a TransferRow),
}

impl ListEntry<'_> {
    pub fn key(&self) -> RowKey {
        match self {
            ListEntry::Job(job) => RowKey::Job(job.id),
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => {
                RowKey::Transfer(row.snapshot.id.clone())
            }
        }
    }

    fn group(&self) -> StateGroup {
        match self {
            ListEntry::Job(job) => StateGroup::of_job(job),
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => StateGroup::of_transfer(row),
        }
    }

    fn name(&self) -> String {
        match self {
            ListEntry::Job(job) => job_name(job),
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => row.file_name.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            ListEntry::Job(job) => job.counts.bytes_total,
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => row.snapshot.size,
        }
    }

    fn progress(&self) -> f64 {
        match self {
            ListEntry::Job(job) if job.counts.bytes_total == 0 => 0.0,
            ListEntry::Job(job) => job.counts.bytes_done as f64 / job.counts.bytes_total as f64,
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => row.snapshot.fraction_done(),
        }
    }

    fn arrival(&self) -> i64 {
        match self {
            ListEntry::Job(job) => job.id.0,
            ListEntry::Transfer(row) | ListEntry::JobFile(row) => row.arrival as i64,
        }
    }
}

/// The names of a job's folders, as its row shows them.
pub fn job_name(job: &JobSnapshot) -> String {
    let names: Vec<String> = job
        .roots
        .iter()
        .map(|root| {
            root.file_name().map_or_else(
                || root.display().to_string(),
                |n| n.to_string_lossy().into(),
            )
        })
        .collect();
    names.join(", ")
}

/// The rows to show: folder jobs first (a finished one until Clear finished takes it
/// off), then every other transfer, each group filtered and sorted by `options`. A
/// job's files are listed under it while it is open and hidden while it is closed; a
/// file whose job is filtered out is listed on its own, so a search by name finds it.
/// Files named on their own are listed like any transfer, and a job whose every path
/// is such a listed file has no row of its own: it is those files.
pub fn visible_entries<'a>(model: &'a TransfersModel, options: &ListOptions) -> Vec<ListEntry<'a>> {
    let needle = options.name_filter.trim().to_lowercase();
    let admitted = |entry: &ListEntry| {
        options.state.admits(entry.group())
            && (needle.is_empty() || entry.name().to_lowercase().contains(&needle))
    };
    let mut named_rows: HashMap<JobId, usize> = HashMap::new();
    for row in model.rows().iter().filter(|row| model.is_named(row)) {
        if let Some(job) = row.snapshot.job {
            *named_rows.entry(job).or_insert(0) += 1;
        }
    }
    let mut jobs: Vec<ListEntry> = model
        .jobs
        .values()
        .filter(|job| !(job.is_finished() && options.cleared_jobs.contains(&job.id)))
        .filter(|job| named_rows.get(&job.id).is_none_or(|&n| n < job.roots.len()))
        .map(ListEntry::Job)
        .filter(admitted)
        .collect();
    let listed_jobs: HashSet<JobId> = jobs
        .iter()
        .filter_map(|entry| match entry {
            ListEntry::Job(job) => Some(job.id),
            _ => None,
        })
        .collect();
    let mut job_files: HashMap<JobId, Vec<ListEntry>> = HashMap::new();
    let mut transfers: Vec<ListEntry> = Vec::new();
    for row in model.rows() {
        let job = row.snapshot.job.filter(|job| listed_jobs.contains(job));
        match job.filter(|_| !model.is_named(row)) {
            Some(job) if options.open_jobs.contains(&job) => {
                job_files
                    .entry(job)
                    .or_default()
                    .push(ListEntry::JobFile(row));
            }
            Some(_) => {}
            None => transfers.push(ListEntry::Transfer(row)),
        }
    }
    transfers.retain(admitted);
    sort_entries(&mut jobs, options);
    sort_entries(&mut transfers, options);
    let mut entries = Vec::with_capacity(jobs.len() + transfers.len());
    for job in jobs {
        let files = match job {
            ListEntry::Job(snapshot) => job_files.remove(&snapshot.id),
            _ => None,
        };
        entries.push(job);
        if let Some(mut files) = files {
            sort_entries(&mut files, options);
            entries.extend(files);
        }
    }
    entries.extend(transfers);
    entries
}

/// How many files of each job are in the list of transfers (in flight, or finished and
/// not yet cleared), for the job row's Show files button.
pub fn files_per_job(model: &TransfersModel) -> HashMap<JobId, usize> {
    let mut counts = HashMap::new();
    let found_in_folders = model.rows().iter().filter(|row| !model.is_named(row));
    for job in found_in_folders.filter_map(|row| row.snapshot.job) {
        *counts.entry(job).or_insert(0) += 1;
    }
    counts
}

fn sort_entries(entries: &mut [ListEntry], options: &ListOptions) {
    let order = |a: &ListEntry, b: &ListEntry| -> Ordering {
        match options.sort {
            SortKey::Arrival => Ordering::Equal,
            SortKey::Name => a.name().to_lowercase().cmp(&b.name().to_lowercase()),
            SortKey::Size => a.size().cmp(&b.size()),
            SortKey::State => a.group().cmp(&b.group()),
            SortKey::Progress => a.progress().total_cmp(&b.progress()),
        }
    };
    entries.sort_by(|a, b| {
        let ordering = order(a, b).then_with(|| a.arrival().cmp(&b.arrival()));
        if options.descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

/// What a bulk button or key does to the selected rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAction {
    Pause,
    Resume,
    /// Pause when any selected row is moving, else resume (the Space key).
    PauseOrResume,
    Retry,
    /// Ask, then abort the selected uploads.
    Abort,
    /// Remove the finished (done or skipped) rows from the list.
    ClearFinished,
    /// Put the keyboard into the name filter.
    FocusFilter,
}

/// The selected jobs and transfers that still exist.
fn selected<'a>(
    model: &'a TransfersModel,
    selection: &Selection<RowKey>,
) -> (Vec<&'a JobSnapshot>, Vec<&'a TransferRow>) {
    let mut jobs = Vec::new();
    let mut rows = Vec::new();
    for key in selection.iter() {
        match key {
            RowKey::Job(id) => jobs.extend(model.jobs.get(id)),
            RowKey::Transfer(id) => rows.extend(model.row(id)),
        }
    }
    // The selection is a set: keep what is sent in the order the engine saw them.
    jobs.sort_by_key(|job| job.id);
    rows.sort_by_key(|row| row.arrival);
    (jobs, rows)
}

fn job_controllable(job: &JobSnapshot) -> bool {
    job.locked_by.is_none() && !job.is_finished()
}

/// Whether any selected row is moving (so Space pauses).
fn any_running(jobs: &[&JobSnapshot], rows: &[&TransferRow]) -> bool {
    rows.iter().any(|row| row.can_pause())
        || jobs
            .iter()
            .any(|job| job_controllable(job) && job.state == JobState::Active)
}

/// The engine commands `action` gives for the selection; Abort, ClearFinished and
/// FocusFilter are not sent straight away and give none here.
pub fn bulk_commands(
    action: ListAction,
    model: &TransfersModel,
    selection: &Selection<RowKey>,
) -> Vec<EngineCommand> {
    let (jobs, rows) = selected(model, selection);
    let action = match action {
        ListAction::PauseOrResume if any_running(&jobs, &rows) => ListAction::Pause,
        ListAction::PauseOrResume => ListAction::Resume,
        other => other,
    };
    type JobCommand = fn(&JobSnapshot) -> Option<EngineCommand>;
    type RowCommand = fn(&TransferRow) -> Option<EngineCommand>;
    let (job_command, row_command): (JobCommand, RowCommand) = match action {
        ListAction::Pause => (
            |job| {
                (job_controllable(job) && job.state == JobState::Active)
                    .then_some(EngineCommand::PauseJob(job.id))
            },
            |row| {
                row.can_pause()
                    .then(|| EngineCommand::Pause(row.snapshot.id.clone()))
            },
        ),
        ListAction::Resume => (
            |job| {
                (job_controllable(job) && job.state == JobState::Paused)
                    .then_some(EngineCommand::ResumeJob(job.id))
            },
            |row| {
                row.can_resume()
                    .then(|| EngineCommand::Resume(row.snapshot.id.clone()))
            },
        ),
        ListAction::Retry => (
            |job| {
                (job.locked_by.is_none() && job.counts.failed > 0).then_some(
                    EngineCommand::RetryJob {
                        job: job.id,
                        file: None,
                    },
                )
            },
            |row| {
                row.can_retry()
                    .then(|| EngineCommand::Retry(row.snapshot.id.clone()))
            },
        ),
        ListAction::PauseOrResume
        | ListAction::Abort
        | ListAction::ClearFinished
        | ListAction::FocusFilter => return Vec::new(),
    };
    jobs.into_iter()
        .filter_map(job_command)
        .chain(rows.into_iter().filter_map(row_command))
        .collect()
}

/// The selected uploads an abort would stop: neither finished nor driven by another
/// process. Folder jobs have no abort; their files in flight are rows of their own.
pub fn abortable_selection(
    model: &TransfersModel,
    selection: &Selection<RowKey>,
) -> Vec<TransferId> {
    let (_, rows) = selected(model, selection);
    rows.into_iter()
        .filter(|row| can_abort(row))
        .map(|row| row.snapshot.id.clone())
        .collect()
}

/// Whether the row's Abort does anything: finished rows have nothing left to abort.
pub fn can_abort(row: &TransferRow) -> bool {
    !row.is_history() && row.snapshot.state != TransferState::LockedElsewhere
}

/// The finished jobs with nothing left to retry, which Clear finished takes off the list.
pub fn clearable_jobs(model: &TransfersModel) -> impl Iterator<Item = JobId> + '_ {
    model
        .jobs
        .values()
        .filter(|job| job.is_finished() && job.counts.failed == 0)
        .map(|job| job.id)
}

/// Forgets every finished (done or skipped) row; the objects stay in the bucket.
pub fn clear_finished_commands(model: &TransfersModel) -> Vec<EngineCommand> {
    model
        .rows()
        .iter()
        .filter(|row| row.is_history())
        .map(|row| EngineCommand::Forget(row.snapshot.id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::engine::event::{EngineEvent, PartState, SourceKind, TransferSnapshot};
    use crate::engine::store::JobCounts;

    use super::*;

    fn snapshot(id: &str, size: u64, bytes_done: u64, state: TransferState) -> TransferSnapshot {
        TransferSnapshot {
            part_size: 100,
            state,
            bytes_done,
            parts: vec![PartState::Queued; 1],
            ..TransferSnapshot::queued(
                TransferId(id.to_string()),
                PathBuf::from(format!("/data/{id}.bin")),
                SourceKind::File,
                "demo".into(),
                format!("in/{id}.bin"),
                size,
            )
        }
    }

    fn job(id: i64, root: &str, state: JobState, failed: u64) -> JobSnapshot {
        JobSnapshot {
            id: JobId(id),
            target: "local".into(),
            roots: vec![PathBuf::from(root)],
            bucket: "demo".into(),
            prefix: String::new(),
            state,
            walking: false,
            counts: JobCounts {
                failed,
                pending: 1,
                bytes_total: 1000,
                ..Default::default()
            },
            excluded: 0,
            locked_by: None,
            problem: None,
        }
    }

    fn model() -> TransfersModel {
        let mut model = TransfersModel::default();
        for (id, size, done, state) in [
            ("Beta", 300, 150, TransferState::Uploading),
            ("alpha", 100, 0, TransferState::Paused),
            ("gamma", 200, 200, TransferState::Done),
            ("delta", 50, 10, TransferState::Failed),
        ] {
            model.apply(EngineEvent::Snapshot(snapshot(id, size, done, state)));
        }
        model.apply(EngineEvent::Job(job(1, "/photos", JobState::Paused, 0)));
        model.apply(EngineEvent::Job(job(2, "/done", JobState::Finished, 0)));
        model
    }

    fn names(entries: &[ListEntry]) -> Vec<String> {
        entries.iter().map(ListEntry::name).collect()
    }

    #[test]
    fn sorts_by_each_key_with_arrival_breaking_ties() {
        let model = model();
        let order = |sort, descending| {
            let options = ListOptions {
                sort,
                descending,
                ..ListOptions::default()
            };
            names(&visible_entries(&model, &options))
        };
        // Jobs come first, the finished one too until it is cleared.
        assert_eq!(
            order(SortKey::Arrival, false),
            [
                "photos",
                "done",
                "Beta.bin",
                "alpha.bin",
                "gamma.bin",
                "delta.bin"
            ]
        );
        assert_eq!(
            order(SortKey::Name, false),
            [
                "done",
                "photos",
                "alpha.bin",
                "Beta.bin",
                "delta.bin",
                "gamma.bin"
            ]
        );
        assert_eq!(
            order(SortKey::Size, true),
            [
                "done",
                "photos",
                "Beta.bin",
                "gamma.bin",
                "alpha.bin",
                "delta.bin"
            ]
        );
        assert_eq!(
            order(SortKey::State, false),
            [
                "photos",
                "done",
                "Beta.bin",
                "alpha.bin",
                "delta.bin",
                "gamma.bin"
            ]
        );
        assert_eq!(
            order(SortKey::Progress, false),
            [
                "photos",
                "done",
                "alpha.bin",
                "delta.bin",
                "Beta.bin",
                "gamma.bin"
            ]
        );
        let cleared = ListOptions {
            cleared_jobs: clearable_jobs(&model).collect(),
            ..ListOptions::default()
        };
        assert_eq!(
            names(&visible_entries(&model, &cleared)),
            ["photos", "Beta.bin", "alpha.bin", "gamma.bin", "delta.bin"]
        );
    }

    #[test]
    fn filters_by_state_group_and_name_ignoring_case() {
        let model = model();
        let shown = |state, name: &str| {
            let options = ListOptions {
                state,
                name_filter: name.into(),
                ..ListOptions::default()
            };
            names(&visible_entries(&model, &options))
        };
        assert_eq!(
            shown(StateFilter::Only(StateGroup::Paused), ""),
            ["photos", "alpha.bin"]
        );
        assert_eq!(
            shown(StateFilter::Only(StateGroup::Done), ""),
            ["done", "gamma.bin"]
        );
        assert_eq!(
            shown(StateFilter::Only(StateGroup::Failed), ""),
            ["delta.bin"]
        );
        assert_eq!(shown(StateFilter::All, "  BET "), ["Beta.bin"]);
        assert!(shown(StateFilter::Only(StateGroup::Active), "alp").is_empty());
    }

    #[test]
    fn a_jobs_files_are_listed_under_it_while_open_and_on_their_own_when_it_is_filtered_out() {
        let mut model = model();
        let mut in_photos = snapshot("cat", 10, 0, TransferState::Uploading);
        in_photos.job = Some(JobId(1));
        model.apply(EngineEvent::Snapshot(in_photos));
        let shown = |open: &[i64], name: &str| {
            let options = ListOptions {
                name_filter: name.into(),
                open_jobs: open.iter().map(|&id| JobId(id)).collect(),
                ..ListOptions::default()
            };
            names(&visible_entries(&model, &options))
        };
        let singles = ["Beta.bin", "alpha.bin", "gamma.bin", "delta.bin"];
        assert_eq!(shown(&[], ""), [&["photos", "done"][..], &singles].concat());
        assert_eq!(
            shown(&[1], ""),
            [&["photos", "cat.bin", "done"][..], &singles].concat()
        );
        assert_eq!(shown(&[], "cat"), ["cat.bin"]);
        assert_eq!(files_per_job(&model).get(&JobId(1)), Some(&1));
    }

    #[test]
    fn files_named_on_their_own_are_rows_of_their_own_and_their_job_shows_only_for_the_rest() {
        let mut model = TransfersModel::default();
        // A drop of two files and a folder: one job, its roots the three paths.
        let mut dropped = job(7, "/data/one.bin", JobState::Active, 0);
        dropped.roots = ["/data/one.bin", "/data/two.bin", "/trip"]
            .map(PathBuf::from)
            .to_vec();
        model.apply(EngineEvent::Job(dropped.clone()));
        for (id, state) in [
            ("one", TransferState::Uploading),
            ("two", TransferState::Done),
        ] {
            let mut row = snapshot(id, 10, 0, state);
            row.job = Some(JobId(7));
            model.apply(EngineEvent::Snapshot(row));
        }
        let mut found = snapshot("in-trip", 10, 0, TransferState::Uploading);
        found.source = PathBuf::from("/trip/in-trip.bin");
        found.job = Some(JobId(7));
        model.apply(EngineEvent::Snapshot(found));
        let options = ListOptions::default();
        // The folder's file stays under the closed job; the named files are listed.
        assert_eq!(
            names(&visible_entries(&model, &options)),
            ["one.bin, two.bin, trip", "one.bin", "two.bin"]
        );
        assert_eq!(files_per_job(&model).get(&JobId(7)), Some(&1));

        // A job of named files only, each listed: no row of its own.
        let mut files_only = dropped;
        files_only.roots.pop();
        model.apply(EngineEvent::Removed(TransferId("in-trip".into())));
        let mut model_files_only = TransfersModel::default();
        model_files_only.apply(EngineEvent::Job(files_only));
        for row in model.rows() {
            model_files_only.apply(EngineEvent::Snapshot(row.snapshot.clone()));
        }
        assert_eq!(
            names(&visible_entries(&model_files_only, &options)),
            ["one.bin", "two.bin"]
        );
        // The engine lets go of a finished file; the window keeps it until it is cleared.
        model_files_only.apply(EngineEvent::Removed(TransferId("two".into())));
        assert_eq!(
            names(&visible_entries(&model_files_only, &options)),
            ["one.bin", "two.bin"]
        );
        // One whose row went (paused with its job, say) brings the job's row back.
        model_files_only.apply(EngineEvent::Removed(TransferId("one".into())));
        assert_eq!(
            names(&visible_entries(&model_files_only, &options)),
            ["one.bin, two.bin", "two.bin"]
        );
        // Clear finished forgets it: the engine's answer takes the row off.
        model_files_only.apply(EngineEvent::Removed(TransferId("two".into())));
        assert_eq!(
            names(&visible_entries(&model_files_only, &options)),
            ["one.bin, two.bin"]
        );
    }

    fn select(keys: &[RowKey]) -> Selection<RowKey> {
        let mut selection = Selection::default();
        for key in keys {
            selection.click(key, egui::Modifiers::COMMAND, keys);
        }
        selection
    }

    fn transfer(id: &str) -> RowKey {
        RowKey::Transfer(TransferId(id.into()))
    }

    #[test]
    fn pause_or_resume_pauses_when_anything_selected_moves_else_resumes() {
        let model = model();
        let mixed = select(&[transfer("Beta"), transfer("alpha"), RowKey::Job(JobId(1))]);
        let commands = bulk_commands(ListAction::PauseOrResume, &model, &mixed);
        assert!(
            matches!(commands.as_slice(), [EngineCommand::Pause(id)] if id.0 == "Beta"),
            "{commands:?}"
        );
        let paused = select(&[transfer("alpha"), RowKey::Job(JobId(1)), transfer("gamma")]);
        let commands = bulk_commands(ListAction::PauseOrResume, &model, &paused);
        assert!(
            matches!(
                commands.as_slice(),
                [EngineCommand::ResumeJob(JobId(1)), EngineCommand::Resume(id)] if id.0 == "alpha"
            ),
            "{commands:?}"
        );
    }

    #[test]
    fn abort_and_clear_finished_leave_finished_rows_and_jobs_alone_or_take_only_them() {
        let model = model();
        let all = select(&[
            transfer("Beta"),
            transfer("alpha"),
            transfer("gamma"),
            transfer("delta"),
            RowKey::Job(JobId(1)),
        ]);
        let ids: Vec<String> = abortable_selection(&model, &all)
            .into_iter()
            .map(|id| id.0)
            .collect();
        assert_eq!(ids, ["Beta", "alpha", "delta"]);
        let cleared = clear_finished_commands(&model);
        assert!(
            matches!(cleared.as_slice(), [EngineCommand::Forget(id)] if id.0 == "gamma"),
            "{cleared:?}"
        );
        let retried = bulk_commands(ListAction::Retry, &model, &all);
        assert!(
            matches!(retried.as_slice(), [EngineCommand::Retry(id)] if id.0 == "delta"),
            "{retried:?}"
        );
    }
}
