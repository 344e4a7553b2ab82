//! Whether the built-in local endpoint left anything unfinished: uploads paused against it
//! (saved sessions) or folder jobs not done. When the window starts on a profile, the
//! endpoint is started beside it only then, so its uploads stay in the one queue without
//! running a server nobody needs. Read off the UI thread (it reads the queue store).

use std::path::Path;

use crate::config::AppPaths;
use crate::engine::store::{JobState, OpenOptions, QueueStore};

/// Whether a saved session or an unfinished folder job names the target labelled
/// `label`, or session files of an earlier version wait to be brought into the store.
/// Anything that cannot be read counts as nothing left (the engine reports it when that
/// target is loaded).
pub fn anything_left_for(paths: &AppPaths, label: &str) -> bool {
    if legacy_session_files_in(&paths.sessions_dir) {
        return true;
    }
    if !paths.queue_dir.exists() {
        return false;
    }
    let Ok((store, _)) = QueueStore::open(&paths.queue_dir, OpenOptions::default()) else {
        return false;
    };
    store.has_sessions_for(label).unwrap_or(false) || unfinished_job_for(&store, label)
}

/// Session files an earlier version left, which the engine imports when it starts: they
/// may belong to the endpoint.
fn legacy_session_files_in(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
    })
}

fn unfinished_job_for(store: &QueueStore, label: &str) -> bool {
    let Ok(listing) = store.list_unfinished_jobs() else {
        return false;
    };
    listing.jobs.iter().any(|summary| {
        summary.job.state != JobState::Finished
            && store
                .target(summary.job.spec.target)
                .ok()
                .flatten()
                .is_some_and(|target| target.target.label == label)
    })
}
