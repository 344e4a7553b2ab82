//! Two engines on one queue store (the window and the CLI): a job is driven by one at a
//! time, the other sees it as in use; once the first lets go, the second continues it.

mod support;

use std::path::Path;
use std::time::Duration;

use ossup::engine::folder_plan::{FilterRule, PathFilters};
use ossup::engine::store::{FileState, JobId, JobState};
use ossup::engine::{AddOptions, Destination, EngineCommand, TransferState};
use ossup::server::faults::{FaultConfig, FaultScope};
use support::data::{data, write_file};
use support::engine::*;
use support::server::BUCKET;

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
    first.until_jobs_paused().await;
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
    let (mut watcher, id) = a_job_whose_files_all_failed(&t, 6).await;
    assert_eq!(watcher.jobs[&id].counts.failed, 6);
    watcher.send(ossup::engine::EngineCommand::RetryJob {
        job: id,
        file: None,
    });
    watcher
        .until("the failed files to be sent again", |w| {
            w.jobs[&id].is_finished() && w.jobs[&id].counts.done == 6
        })
        .await;
    assert_eq!(watcher.jobs[&id].counts.failed, 0);
    assert_eq!(t.read_back("flaky/f3.txt").await, data(100, 3));
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_of_one_failed_file_sends_it_alone() {
    let t = EngineFixture::start().await;
    let (mut watcher, id) = a_job_whose_files_all_failed(&t, 4).await;

    let failed = watcher.job_file_rows(id, FileState::Failed).await;
    assert_eq!(failed.len(), 4);
    let chosen = failed
        .iter()
        .find(|row| row.file.key == "flaky/f2.txt")
        .expect("f2 failed")
        .id;
    watcher.send(EngineCommand::RetryJob {
        job: id,
        file: Some(chosen),
    });
    watcher
        .until("the one file to be sent again", |w| {
            w.jobs[&id].is_finished() && w.jobs[&id].counts.done == 1
        })
        .await;
    assert_eq!(watcher.jobs[&id].counts.failed, 3);
    assert_eq!(t.read_back("flaky/f2.txt").await, data(100, 2));
    assert!(t.client.head_object(BUCKET, "flaky/f1.txt").await.is_err());
    let still_failed = watcher.job_file_rows(id, FileState::Failed).await;
    assert!(still_failed.iter().all(|row| row.id != chosen));
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_folders_added_again_with_other_filters_continue_the_job_under_them() {
    let t = EngineFixture::start().await;
    let root = t.files.path().join("mixed");
    for index in 0..6 {
        write_file(&root, &format!("keep{index}.txt"), &data(100, index));
        write_file(
            &root,
            &format!("scratch{index}.tmp"),
            &data(100, 10 + index),
        );
    }
    let id = a_job_paused_before_anything_was_stored(&t, &root).await;

    // The same folder again, now without the scratch files: the job is continued and
    // its pending scratch files are not sent.
    let mut second = t.engine();
    second.send(EngineCommand::Add {
        paths: vec![root],
        destination: Destination::new(&second.target, BUCKET, ""),
        options: AddOptions {
            filters: PathFilters::new(vec![FilterRule::Exclude("*.tmp".into())]).unwrap(),
            ..AddOptions::default()
        },
    });
    second.until_jobs_finished(1).await;
    let job = second.jobs[&id].clone();
    assert_eq!(job.counts.done, 6, "{job:?}");
    assert_eq!(job.counts.failed, 0, "{job:?}");
    assert_eq!(t.read_back("mixed/keep4.txt").await, data(100, 4));
    for index in 0..6 {
        let key = format!("mixed/scratch{index}.tmp");
        assert!(
            t.client.head_object(BUCKET, &key).await.is_err(),
            "{key} was sent"
        );
    }
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_job_added_again_with_the_same_options_runs_to_the_end() {
    let t = EngineFixture::start().await;
    let root = t.files.path().join("again");
    for index in 0..6 {
        write_file(&root, &format!("f{index}.txt"), &data(100, index));
    }
    a_job_paused_before_anything_was_stored(&t, &root).await;

    let mut second = t.engine();
    second.add(vec![root], "");
    second.until_jobs_finished(1).await;
    let job = second.jobs.values().next().unwrap().clone();
    assert_eq!(job.counts.done, 6, "{job:?}");
    assert_eq!(t.read_back("again/f5.txt").await, data(100, 5));
    second.stop().await;
}

/// A finished job of `count` files under `flaky/` whose every PutObject failed until the
/// retries ran out; the server takes uploads again afterwards.
async fn a_job_whose_files_all_failed(t: &EngineFixture, count: u64) -> (Watcher, JobId) {
    let root = t.files.path().join("flaky");
    for index in 0..count {
        write_file(&root, &format!("f{index}.txt"), &data(100, index));
    }
    t.server.faults().set(FaultConfig {
        fail_rate: 1.0,
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    let mut watcher = t.engine();
    watcher.add(vec![root], "");
    watcher.until_jobs_finished(1).await;
    let id = *watcher.jobs.keys().next().unwrap();
    t.server.faults().clear();
    (watcher, id)
}

/// Adds `root` in an engine that is paused and stopped with files in flight before any
/// is stored (its requests are held, then would fail); returns the job.
async fn a_job_paused_before_anything_was_stored(t: &EngineFixture, root: &Path) -> JobId {
    t.server.faults().set(FaultConfig {
        delay: Duration::from_secs(600),
        fail_rate: 1.0,
        scope: FaultScope::PutObject,
        ..FaultConfig::default()
    });
    let mut first = t.engine();
    first.add(vec![root.to_path_buf()], "");
    first
        .until("the first run to send files", |w| {
            w.jobs
                .values()
                .any(|j| j.counts.in_flight > 0 && !j.walking)
        })
        .await;
    first.send(EngineCommand::PauseAll);
    first.until_jobs_paused().await;
    let id = *first.jobs.keys().next().unwrap();
    first.stop().await;
    t.server.faults().clear();
    id
}

/// A folder `album` of one multipart file (returned with its bytes, made from `seed`) and
/// `small` small files; the server answers parts slowly, so a pause lands partway.
fn album(t: &EngineFixture, small: u64, seed: u64) -> (std::path::PathBuf, Vec<u8>) {
    t.server.slow_parts();
    let root = t.files.path().join("album");
    let big = data(PART as usize * 12 + 5, seed);
    write_file(&root, "big.bin", &big);
    for index in 0..small {
        write_file(&root, &format!("s{index}.txt"), &data(300, index));
    }
    (root, big)
}

/// Pausing one file of a job holds that file: its row stays Paused with its upload kept
/// while the rest of the job goes on, and the job ends only once it is resumed and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_paused_on_its_own_stays_paused_while_its_job_goes_on() {
    let t = EngineFixture::start().await;
    let (root, big) = album(&t, 5, 7);
    let mut watcher = t.engine();
    watcher.add(vec![root.clone()], "");
    let paused = watcher.pause_partway("album/big.bin").await;
    watcher
        .until("the job's other files to be sent", |w| {
            w.jobs.values().any(|j| j.counts.done == 5)
        })
        .await;

    // Several job ticks: a paused file that went back to the queue is taken up again.
    let taken_up_again = tokio::time::timeout(
        Duration::from_millis(800),
        watcher.until("the paused file to move", |w| {
            w.row_for_key("album/big.bin")
                .is_none_or(|row| row.state != TransferState::Paused)
        }),
    )
    .await;
    assert!(taken_up_again.is_err(), "the paused file was sent again");
    let job = watcher.jobs.values().next().unwrap().clone();
    assert!(!job.is_finished(), "{job:?}");
    assert_eq!(job.counts.in_flight, 1, "{job:?}");

    watcher.send(EngineCommand::Resume(paused.id.clone()));
    watcher.until_jobs_finished(1).await;
    let finished = watcher.row_for_key("album/big.bin").unwrap();
    assert_eq!(
        finished.upload_id, paused.upload_id,
        "the same upload went on"
    );
    assert_eq!(t.read_back("album/big.bin").await, big);
    watcher.stop().await;
}

/// A job's file paused on its own, then aborted: its upload goes from the server and the
/// job ends with it recorded as aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_file_of_a_job_aborted_ends_the_job_without_leaving_its_upload() {
    let t = EngineFixture::start().await;
    let (root, _) = album(&t, 1, 8);
    let mut watcher = t.engine();
    watcher.add(vec![root.clone()], "");
    let paused = watcher.pause_partway("album/big.bin").await;
    assert_eq!(t.uploads_in_progress().await.uploads.len(), 1);

    watcher.send(EngineCommand::Abort(paused.id.clone()));
    watcher.until_jobs_finished(1).await;
    let job = watcher.jobs.values().next().unwrap().clone();
    assert_eq!((job.counts.done, job.counts.failed), (1, 1), "{job:?}");
    watcher.until_removed(&paused.id).await;
    assert!(t.uploads_in_progress().await.uploads.is_empty());
    let files = watcher.job_files();
    assert_eq!(
        files[0],
        (
            "album/big.bin".to_owned(),
            FileState::Failed,
            Some("The upload was aborted.".to_owned())
        )
    );
    watcher.stop().await;
}

/// A job paused while one of its files was paused on its own lets go of everything: another
/// engine on the same queue takes the job over and ends it, continuing that file's upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_paused_after_one_of_its_files_can_be_taken_over() {
    let t = EngineFixture::start().await;
    let (root, big) = album(&t, 1, 9);
    let mut first = t.engine();
    first.add(vec![root.clone()], "");
    let paused = first.pause_partway("album/big.bin").await;
    let job = *first.jobs.keys().next().unwrap();
    first.send(EngineCommand::PauseJob(job));
    first
        .until("the job to pause and hand its file back", |w| {
            w.jobs[&job].state == JobState::Paused && w.jobs[&job].counts.in_flight == 0
        })
        .await;

    let sessions = tempfile::tempdir().unwrap();
    let mut second = spawn_engine(
        t.client.clone(),
        &t.endpoint(),
        sessions.path(),
        t.queue.path(),
        tuning(),
    );
    second.add(vec![root.clone()], "");
    second.until_jobs_finished(1).await;
    assert_eq!(second.jobs[&job].counts.done, 2);
    let finished = second.row_for_key("album/big.bin").unwrap();
    assert_eq!(
        finished.upload_id, paused.upload_id,
        "the same upload went on"
    );
    assert_eq!(t.read_back("album/big.bin").await, big);
    first.stop().await;
    second.stop().await;
}

/// A file added on its own is a job of that one file: stored with its row, shown paused by
/// a restarted engine from its saved upload, and continued through its job from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_added_on_its_own_is_a_job_a_restarted_engine_continues() {
    let t = EngineFixture::start().await;
    t.server.slow_parts();
    let bytes = data(PART as usize * 12 + 3, 21);
    let path = t.file("alone.bin", &bytes);
    let mut first = t.engine();
    first.add(vec![path.clone()], "solo/");
    let paused = first.pause_partway("solo/alone.bin").await;
    let job = first.jobs.values().next().unwrap().clone();
    assert_eq!(job.roots, [std::path::absolute(&path).unwrap()]);
    assert_eq!(paused.job, Some(job.id));
    first.stop().await;

    let mut second = t.engine();
    let loaded = second
        .until_key_state("solo/alone.bin", TransferState::Paused)
        .await;
    assert_eq!(
        (loaded.job, &loaded.upload_id),
        (Some(job.id), &paused.upload_id)
    );
    second.send(EngineCommand::Resume(loaded.id.clone()));
    second.until_jobs_finished(1).await;
    let finished = second.row_for_key("solo/alone.bin").unwrap();
    assert_eq!(
        finished.upload_id, paused.upload_id,
        "the same upload went on"
    );
    assert_eq!(t.read_back("solo/alone.bin").await, bytes);
    let files = second.job_files();
    assert_eq!(files.len(), 1);
    assert_eq!(
        (files[0].0.as_str(), files[0].1),
        ("solo/alone.bin", FileState::Done)
    );
    second.stop().await;
}
