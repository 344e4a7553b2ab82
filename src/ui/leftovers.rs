//! Whether the built-in local endpoint left anything unfinished: uploads paused against it
//! (saved sessions) or folder jobs not done. When the window starts on a profile, the
//! endpoint is started beside it only then, so its uploads stay in the one queue without
//! running a server nobody needs. Read off the UI thread (it reads the session files and
//! the queue store).

use crate::config::AppPaths;
use crate::engine::session_store::SessionStore;
use crate::engine::store::{JobState, OpenOptions, QueueStore};

/// Whether a saved session or an unfinished folder job names the target labelled
/// `label`. Anything that cannot be read counts as nothing left (the engine reports it
/// when that target is loaded).
pub fn anything_left_for(paths: &AppPaths, label: &str) -> bool {
    let owns = |recorded: &str| recorded == label;
    let sessions_left = SessionStore::new(paths.sessions_dir.clone())
        .load_all(false)
        .is_ok_and(|report| report.sessions.iter().any(|s| owns(&s.endpoint)));
    sessions_left || unfinished_job_for(paths, &owns)
}

fn unfinished_job_for(paths: &AppPaths, owns: &dyn Fn(&str) -> bool) -> bool {
    if !paths.queue_dir.exists() {
        return false;
    }
    let Ok((store, _)) = QueueStore::open(&paths.queue_dir, OpenOptions::default()) else {
        return false;
    };
    let Ok(listing) = store.list_jobs() else {
        return false;
    };
    listing.jobs.iter().any(|summary| {
        summary.job.state != JobState::Finished
            && store
                .target(summary.job.spec.target)
                .ok()
                .flatten()
                .is_some_and(|target| owns(&target.target.label))
    })
}
