//! The failed files of folder jobs, as a job row shows them when unfolded: read from the
//! queue store a page at a time, only for the jobs whose failures are open, so a job of a
//! million files costs the window no more than the rows it shows.

use std::collections::HashMap;

use crate::engine::EngineCommand;
use crate::engine::event::EngineEvent;
use crate::engine::store::{FileId, FileRow, FileState, JobId};

/// Failed files asked for at a time.
pub const FAILURES_PAGE_ROWS: u32 = 100;

/// The failed files read so far for one job.
#[derive(Debug, Default)]
pub struct FailedFiles {
    /// In the order they were found.
    pub rows: Vec<FileRow>,
    /// A page was asked for and not answered yet.
    waiting: bool,
    /// The last page came back short: there are no more.
    complete: bool,
    /// The job's failed count when the first page was asked for; a different count
    /// (a retry, new failures) means the pages are read again.
    failed_count: u64,
}

impl FailedFiles {
    /// Whether "Show more" has anything to fetch.
    pub fn has_more(&self) -> bool {
        !self.complete
    }

    /// Whether the first page is still on its way.
    pub fn is_loading(&self) -> bool {
        self.waiting && self.rows.is_empty()
    }
}

/// Failed files per job, for the jobs unfolded.
#[derive(Debug, Default)]
pub struct JobFailures {
    jobs: HashMap<JobId, FailedFiles>,
}

impl JobFailures {
    /// The failures of `job` as shown while unfolded with `failed` failures counted: the
    /// first page is asked for when nothing (or an out-of-date list) is held.
    pub fn shown(
        &mut self,
        job: JobId,
        failed: u64,
        commands: &mut Vec<EngineCommand>,
    ) -> &FailedFiles {
        let held = self.jobs.entry(job).or_default();
        if held.failed_count != failed || (held.rows.is_empty() && !held.waiting && !held.complete)
        {
            *held = FailedFiles {
                waiting: true,
                failed_count: failed,
                ..FailedFiles::default()
            };
            commands.push(page_request(job, None));
        }
        held
    }

    /// The failures read for `job`, if it is unfolded.
    pub fn held(&self, job: JobId) -> Option<&FailedFiles> {
        self.jobs.get(&job)
    }

    /// Asks for the page after the rows held ("Show more").
    pub fn more(&mut self, job: JobId, commands: &mut Vec<EngineCommand>) {
        let Some(held) = self.jobs.get_mut(&job) else {
            return;
        };
        if held.waiting || held.complete {
            return;
        }
        held.waiting = true;
        commands.push(page_request(job, held.rows.last().map(|row| row.id)));
    }

    /// Forgets a job folded away (its pages are read again when it opens).
    pub fn close(&mut self, job: JobId) {
        self.jobs.remove(&job);
    }

    /// Takes a page the engine answered; pages for jobs no longer open, or that do not
    /// follow the rows held, are dropped.
    pub fn apply(&mut self, event: EngineEvent) {
        let EngineEvent::JobFilesPage {
            job,
            state: Some(FileState::Failed),
            after,
            files,
        } = event
        else {
            return;
        };
        let Some(held) = self.jobs.get_mut(&job) else {
            return;
        };
        if !held.waiting || after != held.rows.last().map(|row| row.id) {
            return;
        }
        held.waiting = false;
        held.complete = files.len() < FAILURES_PAGE_ROWS as usize;
        held.rows.extend(files);
    }
}

fn page_request(job: JobId, after: Option<FileId>) -> EngineCommand {
    EngineCommand::LoadJobFiles {
        job,
        state: Some(FileState::Failed),
        after,
        limit: FAILURES_PAGE_ROWS,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::engine::store::NewFile;

    fn failed_row(id: i64) -> FileRow {
        FileRow {
            id: FileId(id),
            job: JobId(1),
            file: NewFile::pending(
                PathBuf::from(format!("f{id}")),
                PathBuf::from(format!("/d/f{id}")),
                format!("f{id}"),
                1,
                0,
            )
            .not_sent(FileState::Failed, "denied"),
            attempts: 1,
            updated_unix_secs: 0,
        }
    }

    fn page(after: Option<i64>, ids: std::ops::Range<i64>) -> EngineEvent {
        EngineEvent::JobFilesPage {
            job: JobId(1),
            state: Some(FileState::Failed),
            after: after.map(FileId),
            files: ids.map(failed_row).collect(),
        }
    }

    #[test]
    fn pages_follow_one_another_and_a_new_count_reads_them_again() {
        let mut failures = JobFailures::default();
        let mut commands = Vec::new();
        failures.shown(JobId(1), 150, &mut commands);
        failures.shown(JobId(1), 150, &mut commands);
        assert_eq!(commands.len(), 1, "one request while it is on its way");

        failures.apply(page(None, 1..101));
        failures.more(JobId(1), &mut commands);
        assert!(matches!(
            commands.last(),
            Some(EngineCommand::LoadJobFiles {
                after: Some(FileId(100)),
                ..
            })
        ));
        // A page that does not follow what is held is dropped.
        failures.apply(page(Some(7), 500..510));
        failures.apply(page(Some(100), 101..151));
        let held = failures.shown(JobId(1), 150, &mut commands);
        assert_eq!(held.rows.len(), 150);
        assert!(!held.has_more());
        assert_eq!(commands.len(), 2);

        // After a retry the count changes: the list is read again from the start.
        let held = failures.shown(JobId(1), 3, &mut commands);
        assert!(held.is_loading());
        assert!(matches!(
            commands.last(),
            Some(EngineCommand::LoadJobFiles { after: None, .. })
        ));
    }
}
