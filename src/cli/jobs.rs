//! `ossup jobs`: the folder jobs in the queue store, with where their files are; and the
//! unfinished jobs `ossup resume` continues.

use std::path::Path;

use crate::config::AppPaths;
use crate::config::units::format_bytes;
use crate::engine::store::{JobId, JobState, JobSummary, NewTarget, OpenOptions, QueueStore};

use super::args::TargetArgs;
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
        .list_unfinished_jobs()
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

/// Where job `id` uploads to, as stored (never a secret); refuses a job number the store
/// does not have.
pub fn target_of(dir: &Path, id: JobId) -> Result<NewTarget, CliError> {
    let store = open(dir)?;
    let unreadable = |e| CliError::Failed(format!("job {} cannot be read: {e}", id.0));
    let job = store.job(id).map_err(unreadable)?.ok_or_else(|| {
        CliError::Usage(format!("there is no job {}; `ossup jobs` lists them", id.0))
    })?;
    let target = store
        .target(job.spec.target)
        .map_err(unreadable)?
        .ok_or_else(|| CliError::Failed(format!("job {} has no target recorded", id.0)))?;
    Ok(target.target)
}

/// The target to resume job `id` on: the one given, or else the profile the job was
/// started with, so `ossup resume --job N` needs no more than the number.
pub fn target_args_for(
    dir: &Path,
    id: JobId,
    given: &TargetArgs,
) -> Result<(TargetArgs, NewTarget), CliError> {
    let recorded = target_of(dir, id)?;
    let named = given.profile.is_some() || given.endpoint.is_some();
    let args = match &recorded.profile {
        Some(profile) if !named => TargetArgs {
            profile: Some(profile.clone()),
            ..given.clone()
        },
        _ => given.clone(),
    };
    Ok((args, recorded))
}

/// How to name a job's target to a user who gave another one.
pub fn how_to_resume(id: JobId, recorded: &NewTarget) -> String {
    let flag = match &recorded.profile {
        Some(profile) => format!("--profile {profile}"),
        None => format!("--endpoint {}", recorded.endpoint),
    };
    format!(
        "job {} uploads to {}; resume it with {flag}",
        id.0, recorded.label
    )
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
        "{:>5}  {:<10}  {:>9}  {:>7}  {:>6}  {:>7}  {:>10}  {:<12}  DESTINATION  PATHS",
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
