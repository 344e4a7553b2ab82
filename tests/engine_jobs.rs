//! Two engines on one queue store (the window and the CLI): a job is driven by one at a
//! time, the other sees it as in use; once the first lets go, the second continues it.

mod support;

use std::time::Duration;

use ossup::engine::store::JobState;
use ossup::server::faults::{FaultConfig, FaultScope};
use support::data::{data, write_file};
use support::engine::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_driven_by_one_engine_is_shown_in_use_by_another_then_taken_over() {
    let t = EngineFixture::start().await;
    t.server.faults().set(FaultConfig {
        delay: Duration::from_millis(100),
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    let root = t.files.path().join("shared");
    for index in 0..80 {
        write_file(&root, &format!("f{index:02}.txt"), &data(200, index));
    }
    let mut first = t.engine();
    first.add(vec![root.clone()], "");
    first
        .until("the first engine to send files", |w| {
            w.jobs.values().any(|j| j.counts.in_flight > 0)
        })
        .await;
    // Hold the first engine's next requests so that it cannot end the job before the
    // second engine has looked, however slow the machine.
    t.server.faults().set(FaultConfig {
        delay: Duration::from_secs(600),
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });

    // A second engine (another sessions folder, the same queue) asks for the same job.
    let sessions = tempfile::tempdir().unwrap();
    let mut second = spawn_engine(
        t.client.clone(),
        &t.endpoint(),
        sessions.path(),
        t.queue.path(),
        tuning(),
    );
    second.add(vec![root.clone()], "");
    second
        .until("the job to show as in use", |w| {
            w.jobs
                .values()
                .any(|j| j.locked_by == Some(std::process::id()))
        })
        .await;
    assert!(second.rows.is_empty(), "the second engine sends nothing");

    // The first stops (its lease is released); the second resumes the job and ends it.
    first.send(ossup::engine::EngineCommand::PauseAll);
    first
        .until("the first engine to pause", |w| {
            w.jobs.values().all(|j| j.state == JobState::Paused) && w.rows.is_empty()
        })
        .await;
    first.stop().await;
    t.server.faults().clear();
    let id = *second.jobs.keys().next().unwrap();
    second.send(ossup::engine::EngineCommand::ResumeJob(id));
    second.until_jobs_finished(1).await;
    let job = second.jobs[&id].clone();
    assert_eq!(job.counts.done, 80, "{job:?}");
    assert_eq!(t.read_back("shared/f42.txt").await, data(200, 42));
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_sends_a_finished_jobs_failed_files_again() {
    let t = EngineFixture::start().await;
    let root = t.files.path().join("flaky");
    for index in 0..6 {
        write_file(&root, &format!("f{index}.txt"), &data(100, index));
    }
    // Every PutObject fails until the retries run out.
    t.server.faults().set(FaultConfig {
        fail_rate: 1.0,
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    let mut watcher = t.engine();
    watcher.add(vec![root], "");
    watcher.until_jobs_finished(1).await;
    let id = *watcher.jobs.keys().next().unwrap();
    assert_eq!(watcher.jobs[&id].counts.failed, 6);

    t.server.faults().clear();
    watcher.send(ossup::engine::EngineCommand::RetryJob(id));
    watcher
        .until("the failed files to be sent again", |w| {
            w.jobs[&id].is_finished() && w.jobs[&id].counts.done == 6
        })
        .await;
    assert_eq!(watcher.jobs[&id].counts.failed, 0);
    assert_eq!(t.read_back("flaky/f3.txt").await, data(100, 3));
    watcher.stop().await;
}
