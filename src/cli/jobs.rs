//! `ossup jobs`: the folder jobs in the queue store, with where their files are; and the
//! unfinished jobs `ossup resume` continues.

use std::path::Path;

use crate::config::AppPaths;
use crate::config::units::format_bytes;
use crate::engine::store::{JobId, JobState, JobSummary, OpenOptions, QueueStore};

use super::error::{CliError, Outcome};

/// Opens the queue store, saying so when a damaged one was set aside.
fn open(dir: &Path) -> Result<QueueStore, CliError> {
    let (store, report) = QueueStore::open(dir, OpenOptions::default())
        .map_err(|e| CliError::Failed(format!("the queue store cannot be opened: {e}")))?;
    if let Some(sentence) = report.sentence() {
        eprintln!("warning: {sentence}");
    }
    Ok(store)
}

/// The unfinished jobs of the target that `owns` their recorded label, oldest first.
pub fn unfinished(dir: &Path, owns: impl Fn(&str) -> bool) -> Result<Vec<JobId>, CliError> {
    let store = open(dir)?;
    let listing = store
        .list_jobs()
        .map_err(|e| CliError::Failed(format!("the jobs cannot be listed: {e}")))?;
    for unreadable in &listing.unreadable {
        eprintln!("warning: {}", unreadable.reason);
    }
    let mut ids = Vec::new();
    for summary in listing.jobs {
        if summary.job.state == JobState::Finished {
            continue;
        }
        let target = store
            .target(summary.job.spec.target)
            .map_err(|e| CliError::Failed(e.to_string()))?;
        if target.is_some_and(|t| owns(&t.target.label)) {
            ids.push(summary.job.id);
        }
    }
    Ok(ids)
}

/// Refuses a job number the store does not have.
pub fn check_exists(dir: &Path, id: JobId) -> Result<(), CliError> {
    let store = open(dir)?;
    match store.job(id) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CliError::Usage(format!(
            "there is no job {}; `ossup jobs` lists them",
            id.0
        ))),
        Err(e) => Err(CliError::Failed(format!(
            "job {} cannot be read: {e}",
            id.0
        ))),
    }
}

fn state_word(summary: &JobSummary) -> &'static str {
    match summary.job.state {
        JobState::Active if summary.counts.all_settled() => "ending",
        JobState::Active => "unfinished",
        JobState::Paused => "paused",
        JobState::Finished => "finished",
    }
}

pub fn run() -> Result<Outcome, CliError> {
    let paths = AppPaths::for_user()?;
    let store = open(&paths.queue_dir)?;
    let listing = store
        .list_jobs()
        .map_err(|e| CliError::Failed(format!("the jobs cannot be listed: {e}")))?;
    for unreadable in &listing.unreadable {
        eprintln!("warning: {}", unreadable.reason);
    }
    if listing.jobs.is_empty() {
        println!("No jobs in the queue.");
        return Ok(Outcome::Success);
    }
    println!(
        "{:>5}  {:<10}  {:>9}  {:>7}  {:>6}  {:>7}  {:>10}  {:<12}  DESTINATION  FOLDERS",
        "JOB", "STATE", "DONE", "SKIPPED", "FAILED", "PENDING", "BYTES", "TARGET"
    );
    for summary in &listing.jobs {
        let c = &summary.counts;
        // The profile's name where there is one, else the endpoint.
        let target = match store.target(summary.job.spec.target) {
            Ok(Some(stored)) => stored.target.profile.unwrap_or(stored.target.label),
            _ => String::from("?"),
        };
        let total = c.done + c.skipped + c.failed + c.pending + c.in_flight;
        let roots: Vec<String> = summary
            .job
            .spec
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        println!(
            "{:>5}  {:<10}  {:>9}  {:>7}  {:>6}  {:>7}  {:>10}  {target:<12}  oss://{}/{}  {}",
            summary.job.id.0,
            state_word(summary),
            format!("{}/{total}", c.done),
            c.skipped,
            c.failed,
            c.pending + c.in_flight,
            format_bytes(c.bytes_done),
            summary.job.spec.bucket,
            summary.job.spec.prefix,
            roots.join(", ")
        );
    }
    println!("`ossup resume --job N` continues one, `ossup resume --all` every unfinished one.");
    Ok(if listing.unreadable.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
