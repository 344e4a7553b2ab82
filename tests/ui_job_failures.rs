//! A folder job's failed files in the window: unfolded from the job row, each with its
//! reason, read from the queue store a page at a time ("Show more"); Retry failed leaves
//! names that cannot be keys as they are. Against the real engine and the embedded endpoint.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::engine::JobSnapshot;
use ossup::ui::OssupApp;
use ossup::ui::job_failures::FAILURES_PAGE_ROWS;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(60);
/// More than one page, so "Show more" has a second one to read.
const BAD_NAMES: usize = FAILURES_PAGE_ROWS as usize + 20;

fn the_job(app: &OssupApp) -> Option<&JobSnapshot> {
    app.transfers().jobs.values().next()
}

fn failures_held(app: &OssupApp) -> usize {
    the_job(app)
        .and_then(|job| app.transfers_view().job_failures.held(job.id))
        .map_or(0, |held| held.rows.len())
}

#[test]
fn a_jobs_failed_files_unfold_with_their_reasons_a_page_at_a_time() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let folder = dirs.root.path().join("files").join("mixed");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("good.txt"), b"fine").unwrap();
    for index in 0..BAD_NAMES {
        // A line break cannot travel in an object key.
        std::fs::write(folder.join(format!("bad-\n{index:03}.txt")), b"x").unwrap();
    }
    let mut harness = harness(setup(&dirs, None));
    drop_files(&mut harness, std::slice::from_ref(&folder));
    wait_until(&mut harness, GENEROUS, "the job finished", |app| {
        the_job(app).is_some_and(|job| job.is_finished() && job.counts.failed == BAD_NAMES as u64)
    });
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("000.txt").is_none());

    click(&mut harness, "Show failures");
    wait_until(&mut harness, GENEROUS, "the first page", |app| {
        failures_held(app) == FAILURES_PAGE_ROWS as usize
    });
    harness.run_steps(2);
    harness.get_by_label("bad-\n000.txt");
    let reason = harness
        .state()
        .transfers_view()
        .job_failures
        .held(the_job(harness.state()).unwrap().id)
        .unwrap()
        .rows[0]
        .file
        .reason
        .clone()
        .expect("a reason");
    assert!(reason.contains("bad-\n000.txt"), "{reason}");
    assert!(harness.query_all_by_label(&reason).next().is_some());

    click(&mut harness, "Show more");
    wait_until(&mut harness, GENEROUS, "every failure", |app| {
        failures_held(app) == BAD_NAMES
    });
    harness.run_steps(2);
    assert!(
        harness.query_by_label("Show more").is_none(),
        "nothing more to read"
    );

    // Retry cannot help a name that cannot be a key: each keeps its failure and reason,
    // and nothing is sent under an empty key.
    click(&mut harness, &format!("Retry failed ({BAD_NAMES})"));
    wait_until(&mut harness, GENEROUS, "the answer to Retry", |app| {
        app.transfers()
            .notices
            .iter()
            .any(|n| n.starts_with("Nothing to retry"))
    });
    harness.run_steps(4);
    let job = the_job(harness.state()).unwrap().clone();
    assert_eq!(job.counts.failed, BAD_NAMES as u64, "{job:?}");
    assert!(harness.state().transfers().rows().is_empty());
    let held = harness
        .state()
        .transfers_view()
        .job_failures
        .held(job.id)
        .unwrap();
    assert!(
        held.rows.iter().all(|row| row
            .file
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("contains a control character"))),
        "{:?}",
        held.rows[0]
    );

    click(&mut harness, "Hide failures");
    assert!(harness.query_by_label_contains("000.txt").is_none());
    assert_eq!(failures_held(harness.state()), 0);
}

#[test]
fn retry_on_one_failed_file_sends_that_file_alone() {
    let dirs = TestDirs::new();
    dirs.write_config(SMALL_PARTS_CONFIG);
    let folder = dirs.root.path().join("files").join("album");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("first.jpg"), b"one").unwrap();
    std::fs::write(folder.join("second.jpg"), b"two").unwrap();
    let mut harness = harness(setup(&dirs, None));
    // A bucket that does not exist yet: both files fail at once.
    type_into(&mut harness, "Bucket", "later");
    drop_files(&mut harness, &[folder]);
    wait_until(&mut harness, GENEROUS, "both files failed", |app| {
        the_job(app).is_some_and(|job| job.is_finished() && job.counts.failed == 2)
    });
    let endpoint = connected_endpoint(&harness);
    let other = other_client(&endpoint);
    block_on(other.create_bucket("later")).expect("the bucket is made");

    click(&mut harness, "Show failures");
    wait_until(&mut harness, GENEROUS, "the failures listed", |app| {
        failures_held(app) == 2
    });
    harness.run_steps(2);
    click(&mut harness, "Retry second.jpg");
    wait_until(&mut harness, GENEROUS, "the one file sent", |app| {
        the_job(app).is_some_and(|job| job.is_finished() && job.counts.done == 1)
    });
    let job = the_job(harness.state()).unwrap().clone();
    assert_eq!(job.counts.failed, 1, "{job:?}");
    let sent = block_on(other.get_object("later", "album/second.jpg", None)).expect("sent");
    assert_eq!(&sent[..], b"two");
    assert!(block_on(other.head_object("later", "album/first.jpg")).is_err());
    wait_until(&mut harness, GENEROUS, "the list read again", |app| {
        failures_held(app) == 1
    });
    harness.run_steps(2);
    assert!(harness.query_by_label("Retry second.jpg").is_none());
    harness.get_by_label("Retry first.jpg");
}
