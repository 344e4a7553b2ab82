//! Desktop notifications when an upload ends, since it often ends while the window is out
//! of sight: what ended is judged from each engine event against the view model before the
//! event is folded in (pure, so it can be tested), and the notifications go out on a thread
//! of their own, because a notification service may be slow or missing.

use std::sync::mpsc::{self, SyncSender, TrySendError};

use crate::engine::JobSnapshot;
use crate::engine::event::{EngineEvent, TransferId, TransferState};
use crate::protocol::ObjectRef;

use super::format::{bytes_label, count_label};
use super::state::TransfersModel;

/// An upload that reached its end with this event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// A folder job's every file was sent (or skipped).
    JobFinished {
        files: u64,
        bytes: u64,
        skipped: u64,
        destination: String,
    },
    /// A folder job ended with files that could not be sent.
    JobFailed {
        failed: u64,
        sent: u64,
        destination: String,
    },
    /// A file added on its own (not part of a folder job) was uploaded.
    FileFinished {
        bucket: String,
        key: String,
        bytes: u64,
    },
    FileFailed {
        bucket: String,
        key: String,
        reason: String,
    },
}

/// What `event` ends, judged against `before`, the model as it was before the event. Only
/// a change counts: a job or file first seen already finished (loaded at start, or after a
/// reconnect) tells nothing new. Files of a folder job are told by their job.
pub fn outcome_of(before: &TransfersModel, event: &EngineEvent) -> Option<UploadOutcome> {
    match event {
        EngineEvent::Job(job) => {
            let was_running = before.jobs.get(&job.id).is_some_and(|j| !j.is_finished());
            (was_running && job.is_finished()).then(|| job_outcome(job))
        }
        EngineEvent::Snapshot(snapshot) => file_outcome(
            before,
            &snapshot.id,
            &snapshot.state,
            snapshot.error.as_ref(),
        ),
        EngineEvent::Progress { id, state, .. } => {
            let error = before.row(id).and_then(|row| row.snapshot.error.as_ref());
            file_outcome(before, id, state, error)
        }
        _ => None,
    }
}

fn job_outcome(job: &JobSnapshot) -> UploadOutcome {
    let destination = ObjectRef::new(&job.bucket, &job.prefix).to_string();
    let c = &job.counts;
    if c.failed > 0 {
        UploadOutcome::JobFailed {
            failed: c.failed,
            sent: c.done,
            destination,
        }
    } else {
        UploadOutcome::JobFinished {
            files: c.done,
            bytes: c.bytes_done,
            skipped: c.skipped,
            destination,
        }
    }
}

fn file_outcome(
    before: &TransfersModel,
    id: &TransferId,
    state: &TransferState,
    error: Option<&crate::engine::TransferError>,
) -> Option<UploadOutcome> {
    let row = before.row(id)?;
    let snapshot = &row.snapshot;
    if snapshot.job.is_some() || snapshot.state.is_terminal() {
        return None;
    }
    match state {
        TransferState::Done => Some(UploadOutcome::FileFinished {
            bucket: snapshot.bucket.clone(),
            key: snapshot.key.clone(),
            bytes: snapshot.size,
        }),
        TransferState::Failed => Some(UploadOutcome::FileFailed {
            bucket: snapshot.bucket.clone(),
            key: snapshot.key.clone(),
            reason: error.map_or_else(|| "the transfer failed".to_owned(), |e| e.message.clone()),
        }),
        _ => None,
    }
}

/// One notification as the desktop shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopNotification {
    /// "Upload finished" or "Upload failed".
    pub summary: String,
    pub body: String,
}

impl DesktopNotification {
    /// "Upload finished: 1,234 files, 5.6GiB to oss://bucket/prefix/".
    pub fn text(&self) -> String {
        format!("{}: {}", self.summary, self.body)
    }
}

const FINISHED: &str = "Upload finished";
const FAILED: &str = "Upload failed";

/// The notifications for what ended in one batch of events: one per job, and the files
/// added on their own together, so a dropped handful of files ends in one notification,
/// not one each.
pub fn notifications_for(outcomes: &[UploadOutcome]) -> Vec<DesktopNotification> {
    let mut notifications = Vec::new();
    let mut finished_files: Vec<(&str, &str)> = Vec::new();
    let mut finished_bytes: u64 = 0;
    let mut failed_files: Vec<(&str, &str)> = Vec::new();
    let mut failure_reason = "";
    for outcome in outcomes {
        match outcome {
            UploadOutcome::JobFinished {
                files,
                bytes,
                skipped,
                destination,
            } => {
                let mut body = format!(
                    "{}, {} to {destination}",
                    files_label(*files),
                    bytes_label(*bytes)
                );
                if *skipped > 0 {
                    body.push_str(&format!(" ({} skipped)", count_label(*skipped)));
                }
                notifications.push(DesktopNotification {
                    summary: FINISHED.into(),
                    body,
                });
            }
            UploadOutcome::JobFailed {
                failed,
                sent,
                destination,
            } => notifications.push(DesktopNotification {
                summary: FAILED.into(),
                body: format!(
                    "{} failed in {destination} ({} sent)",
                    files_label(*failed),
                    count_label(*sent)
                ),
            }),
            UploadOutcome::FileFinished { bucket, key, bytes } => {
                finished_files.push((bucket.as_str(), key.as_str()));
                finished_bytes += *bytes;
            }
            UploadOutcome::FileFailed {
                bucket,
                key,
                reason,
            } => {
                failed_files.push((bucket.as_str(), key.as_str()));
                failure_reason = reason.as_str();
            }
        }
    }
    if !finished_files.is_empty() {
        notifications.push(DesktopNotification {
            summary: FINISHED.into(),
            body: format!(
                "{}, {} to {}",
                files_label(finished_files.len() as u64),
                bytes_label(finished_bytes),
                common_destination(&finished_files)
            ),
        });
    }
    if !failed_files.is_empty() {
        let mut body = format!(
            "{} failed in {}",
            files_label(failed_files.len() as u64),
            common_destination(&failed_files)
        );
        // Several reasons do not fit one line; the window lists them.
        if failed_files.len() == 1 {
            body.push_str(&format!(": {failure_reason}"));
        }
        notifications.push(DesktopNotification {
            summary: FAILED.into(),
            body,
        });
    }
    notifications
}

/// "1 file", "1,234 files".
fn files_label(count: u64) -> String {
    match count {
        1 => String::from("1 file"),
        _ => format!("{} files", count_label(count)),
    }
}

/// `oss://bucket/key` for one object; for several, the folder they share in their bucket
/// (`oss://bucket/photos/`), or just the bucket.
fn common_destination(objects: &[(&str, &str)]) -> String {
    let Some(&(bucket, first_key)) = objects.first() else {
        return String::new();
    };
    if objects.len() == 1 {
        return ObjectRef::new(bucket, first_key).to_string();
    }
    if objects.iter().any(|&(other, _)| other != bucket) {
        return String::from("several buckets");
    }
    // Bytes of the first key every other key starts with.
    let mut shared = first_key.len();
    for &(_, key) in &objects[1..] {
        let same = first_key
            .char_indices()
            .zip(key.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((index, c), _)| index + c.len_utf8());
        shared = shared.min(same);
    }
    let folder = first_key[..shared]
        .rfind('/')
        .map_or("", |slash| &first_key[..=slash]);
    ObjectRef::new(bucket, folder).to_string()
}

/// Notifications waiting for the desktop at most; more are dropped (a service that does
/// not answer must not make the window hold on to them).
const QUEUE_LIMIT: usize = 16;

/// Hands notifications to a thread that shows them; started at the first one.
#[derive(Default)]
pub struct Notifier {
    queue: Option<SyncSender<DesktopNotification>>,
}

impl Notifier {
    /// Never blocks: the notification is queued for the thread, or dropped (and logged)
    /// when the thread cannot take it.
    pub fn send(&mut self, notification: DesktopNotification) {
        if self.queue.is_none() {
            self.queue = start_sender();
        }
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send(notification) {
            Ok(()) => {}
            Err(TrySendError::Full(dropped)) => {
                tracing::debug!("desktop notification dropped, too many waiting: {dropped:?}");
            }
            Err(TrySendError::Disconnected(dropped)) => {
                tracing::debug!(
                    "desktop notification dropped, the thread showing them has ended: {dropped:?}"
                );
                self.queue = None;
            }
        }
    }
}

/// The thread that shows notifications, until the window drops its [`Notifier`].
fn start_sender() -> Option<SyncSender<DesktopNotification>> {
    let (queue, waiting) = mpsc::sync_channel::<DesktopNotification>(QUEUE_LIMIT);
    let started = std::thread::Builder::new()
        .name("notifications".into())
        .spawn(move || {
            for notification in waiting {
                show(&notification);
            }
        });
    match started {
        Ok(_) => Some(queue),
        Err(error) => {
            tracing::debug!("no thread for desktop notifications: {error}");
            None
        }
    }
}

/// Blocks until the desktop answers; without a notification service (no D-Bus session,
/// as on servers and in CI) it fails, which is no reason to bother anyone.
fn show(notification: &DesktopNotification) {
    let shown = notify_rust::Notification::new()
        .appname("ossup")
        .icon("ossup")
        .summary(&notification.summary)
        .body(&notification.body)
        .show();
    if let Err(error) = shown {
        tracing::debug!("desktop notification not shown: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::engine::TransferError;
    use crate::engine::event::{SourceKind, TransferSnapshot};
    use crate::engine::store::{JobCounts, JobId, JobState};

    use super::*;

    fn file(id: &str, key: &str, state: TransferState) -> TransferSnapshot {
        TransferSnapshot {
            state,
            ..TransferSnapshot::queued(
                TransferId(id.into()),
                PathBuf::from(format!("/data/{id}")),
                SourceKind::File,
                "demo".into(),
                key.into(),
                2048,
            )
        }
    }

    fn job(state: JobState, failed: u64) -> JobSnapshot {
        JobSnapshot {
            id: JobId(3),
            target: String::from("local"),
            roots: vec![PathBuf::from("/photos")],
            bucket: "demo".into(),
            prefix: "backup/photos/".into(),
            state,
            walking: false,
            counts: JobCounts {
                done: 1_234,
                failed,
                bytes_done: 6 << 30,
                bytes_total: 6 << 30,
                ..Default::default()
            },
            excluded: 0,
            locked_by: None,
            problem: None,
        }
    }

    /// Folds `events` into a model, collecting what each one ended.
    fn outcomes(events: Vec<EngineEvent>) -> Vec<UploadOutcome> {
        let mut model = TransfersModel::default();
        let mut ended = Vec::new();
        for event in events {
            ended.extend(outcome_of(&model, &event));
            model.apply(event);
        }
        ended
    }

    /// The notifications' text, as the desktop shows them.
    fn texts(outcomes: &[UploadOutcome]) -> Vec<String> {
        notifications_for(outcomes)
            .iter()
            .map(DesktopNotification::text)
            .collect()
    }

    fn progress(id: &str, state: TransferState) -> EngineEvent {
        EngineEvent::Progress {
            id: TransferId(id.into()),
            state,
            bytes_done: 2048,
            bytes_per_sec: 0.0,
            eta_secs: None,
            changed_parts: Vec::new(),
        }
    }

    #[test]
    fn a_job_that_finishes_is_told_once_and_one_finished_before_is_not() {
        let ended = outcomes(vec![
            EngineEvent::Job(job(JobState::Active, 0)),
            EngineEvent::Job(job(JobState::Finished, 0)),
            // Later snapshots of the same finished job tell nothing new.
            EngineEvent::Job(job(JobState::Finished, 0)),
        ]);
        assert_eq!(
            ended,
            [UploadOutcome::JobFinished {
                files: 1_234,
                bytes: 6 << 30,
                skipped: 0,
                destination: "oss://demo/backup/photos/".into(),
            }]
        );
        // Loaded at start already finished, e.g. one with failures still shown.
        assert!(outcomes(vec![EngineEvent::Job(job(JobState::Finished, 3))]).is_empty());
        // Paused is not an end.
        assert!(
            outcomes(vec![
                EngineEvent::Job(job(JobState::Active, 0)),
                EngineEvent::Job(job(JobState::Paused, 0)),
            ])
            .is_empty()
        );
    }

    #[test]
    fn a_job_with_failed_files_is_a_failure_and_a_retry_is_told_again() {
        let ended = outcomes(vec![
            EngineEvent::Job(job(JobState::Active, 0)),
            EngineEvent::Job(job(JobState::Finished, 3)),
            EngineEvent::Job(job(JobState::Active, 0)),
            EngineEvent::Job(job(JobState::Finished, 0)),
        ]);
        assert_eq!(
            texts(&ended),
            [
                "Upload failed: 3 files failed in oss://demo/backup/photos/ (1,234 sent)",
                "Upload finished: 1,234 files, 6GiB to oss://demo/backup/photos/",
            ]
        );
    }

    #[test]
    fn a_single_file_is_told_when_it_finishes_or_fails_but_a_jobs_file_is_not() {
        let mut of_job = file("j", "backup/photos/x.jpg", TransferState::Uploading);
        of_job.job = Some(JobId(3));
        let mut failed = file("b", "b.bin", TransferState::Failed);
        failed.error = Some(TransferError::local("The local file changed."));
        let ended = outcomes(vec![
            EngineEvent::Snapshot(file("a", "a.bin", TransferState::Uploading)),
            EngineEvent::Snapshot(file("b", "b.bin", TransferState::Uploading)),
            EngineEvent::Snapshot(of_job),
            progress("a", TransferState::Done),
            // The final snapshot of a finished row repeats its state: not a second end.
            EngineEvent::Snapshot(file("a", "a.bin", TransferState::Done)),
            EngineEvent::Snapshot(failed),
            progress("j", TransferState::Done),
        ]);
        assert_eq!(
            ended,
            [
                UploadOutcome::FileFinished {
                    bucket: "demo".into(),
                    key: "a.bin".into(),
                    bytes: 2048,
                },
                UploadOutcome::FileFailed {
                    bucket: "demo".into(),
                    key: "b.bin".into(),
                    reason: "The local file changed.".into(),
                },
            ]
        );
        assert_eq!(
            texts(&ended),
            [
                "Upload finished: 1 file, 2KiB to oss://demo/a.bin",
                "Upload failed: 1 file failed in oss://demo/b.bin: The local file changed.",
            ]
        );
        // Sessions loaded at start already done tell nothing.
        assert!(
            outcomes(vec![EngineEvent::Snapshot(file(
                "a",
                "a.bin",
                TransferState::Done
            ))])
            .is_empty()
        );
    }

    #[test]
    fn files_ending_together_make_one_notification_naming_their_folder() {
        let finished = |bucket: &str, key: &str| UploadOutcome::FileFinished {
            bucket: bucket.into(),
            key: key.into(),
            bytes: 1024,
        };
        assert_eq!(
            texts(&[
                finished("demo", "in/2026/a.bin"),
                finished("demo", "in/2026/ab.bin"),
                finished("demo", "in/2025/c.bin"),
            ]),
            ["Upload finished: 3 files, 3KiB to oss://demo/in/"]
        );
        assert_eq!(
            texts(&[finished("demo", "a"), finished("other", "a")]),
            ["Upload finished: 2 files, 2KiB to several buckets"]
        );
        assert_eq!(
            texts(&[finished("demo", "abc"), finished("demo", "abd")]),
            ["Upload finished: 2 files, 2KiB to oss://demo/"]
        );
    }
}
