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
    let id = *second.jobs.keys().next().unwrap();
    second.send(ossup::engine::EngineCommand::ResumeJob(id));
    second.until_jobs_finished(1).await;
    let job = second.jobs[&id].clone();
    assert_eq!(job.counts.done, 80, "{job:?}");
    assert_eq!(t.read_back("shared/f42.txt").await, data(200, 42));
    second.stop().await;
}
