//! Benchmark (prints figures, asserts nothing; run by hand in release with
//! `cargo bench --bench folder_scale`): folders of many files through `ossup upload` to a
//! release `ossup serve` whose data lives on /dev/shm (when there is one), so the client's
//! own cost shows.
//!
//! - For each folder size in `OSSUP_SCALE_FILES` (comma list, default `100000`; empty
//!   for none, to run only the comparison below) of 100-byte files in subfolders of
//!   1,000: wall time, files/s, client CPU per file and peak RSS of the upload, then the
//!   time of an unchanged re-run with `--skip-unchanged` (one listing, nothing sent).
//! - 5,000 files of 1 KiB: ossup with default settings, next to Alibaba's Node SDK
//!   (ali-oss, 32 puts in flight) and Python SDK (oss2, 32 threads) against the same
//!   server in the same run. The SDKs are installed under the target dir on first use;
//!   a peer that cannot be installed is skipped with a line saying so (`OSSUP_SCALE_PEERS=0`
//!   skips them all).
//! - The queue store after long use: `OSSUP_STORE_ROWS` (default 100,000) finished files
//!   and as many history entries, next to an empty store. The time `QueueStore::open`
//!   takes on each, a small-files job's store work per file step by step, and the 5,000
//!   × 1 KiB upload again with each store in its home.

#[path = "harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{BUCKET, KEY_ID, KEY_SECRET, Measured, Server, measure, oss2_python};
use ossup::engine::store::{
    DATABASE_FILE_NAME, FileOutcome, FileRow, FullCheck, JobOptions, JobState, LeaseOwner,
    MAX_PAGE_ROWS, NewFile, NewHistory, NewJob, NewTarget, OpenOptions, QueueStore, TargetId,
    WalkState,
};

const FILES_PER_FOLDER: usize = 1000;
const SMALL_FILES: usize = 5000;
const PEER_IN_FLIGHT: &str = "32";

fn main() {
    let scratch = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm/ossup-folder-scale")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("folder_scale")
    };
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let server = Server::start(&scratch.join("server"), &[]);
    let home = scratch.join("home");
    println!(
        "folder_scale: ossup serve (release) at {}, data in {}",
        server.endpoint,
        scratch.display()
    );

    let sizes: Vec<usize> = std::env::var("OSSUP_SCALE_FILES")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![100_000]);
    println!(
        "{:<46} {:>8} {:>9} {:>14} {:>12} {:>17}",
        "run", "secs", "files/s", "CPU ms/file", "peak RSS MiB", "server ms/file"
    );
    for count in sizes {
        let folder = scratch.join(format!("tree-{count}"));
        make_files(&folder, count, 100, true);
        let destination = format!("oss://{BUCKET}/scale-{count}/");
        let first = measured(&server, ossup(&home, &server, &folder, &destination, &[]));
        print_row(
            &format!("ossup upload, {count} files of 100 B"),
            count,
            &first,
        );
        let again = measured(
            &server,
            ossup(&home, &server, &folder, &destination, &["--skip-unchanged"]),
        );
        print_row(
            &format!("unchanged re-run, {count} files (--skip-unchanged)"),
            count,
            &again,
        );
        let _ = std::fs::remove_dir_all(&folder);
    }

    let small = scratch.join("small");
    make_files(&small, SMALL_FILES, 1024, false);
    let ossup_small = measured(
        &server,
        ossup(
            &home,
            &server,
            &small,
            &format!("oss://{BUCKET}/small-ossup/"),
            &[],
        ),
    );
    print_row(
        &format!("ossup upload, {SMALL_FILES} × 1 KiB (defaults)"),
        SMALL_FILES,
        &ossup_small,
    );
    if std::env::var("OSSUP_SCALE_PEERS").is_ok_and(|v| v.trim() == "0") {
        println!("{:<46} skipped: OSSUP_SCALE_PEERS=0", "ali-oss and oss2");
    } else {
        peers(&server, &small);
    }
    store_scale(&scratch, &server, &small);
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The same 5,000 small files through Alibaba's Node and Python SDKs.
fn peers(server: &Server, small: &Path) {
    match ali_oss_dir() {
        Some(dir) => {
            let mut command = Command::new("node");
            command
                .current_dir(&dir)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/benches/ali_oss_small_files.js"
                ))
                .args([&server.endpoint, BUCKET, KEY_ID, KEY_SECRET])
                .arg(small)
                .args(["small-ali/", PEER_IN_FLIGHT])
                .env("NODE_PATH", dir.join("node_modules"));
            print_row(
                &format!("ali-oss put, {SMALL_FILES} × 1 KiB ({PEER_IN_FLIGHT} in flight)"),
                SMALL_FILES,
                &measured(server, command),
            );
        }
        None => println!("{:<46} skipped: ali-oss could not be installed", "ali-oss"),
    }
    match oss2_python() {
        Some(python) => {
            let mut command = Command::new(python);
            command
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/benches/oss2_small_files.py"
                ))
                .args([&server.endpoint, BUCKET, KEY_ID, KEY_SECRET])
                .arg(small)
                .args(["small-oss2/", PEER_IN_FLIGHT]);
            print_row(
                &format!("oss2 put_object, {SMALL_FILES} × 1 KiB ({PEER_IN_FLIGHT} threads)"),
                SMALL_FILES,
                &measured(server, command),
            );
        }
        None => println!("{:<46} skipped: oss2 could not be installed", "oss2"),
    }
}

/// `ossup upload FOLDER DESTINATION` with its own home and the bench key pair.
fn ossup(
    home: &Path,
    server: &Server,
    folder: &Path,
    destination: &str,
    extra: &[&str],
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ossup"));
    command
        .arg("upload")
        .arg(folder)
        .arg(destination)
        .args(extra)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("OSS_ENDPOINT", &server.endpoint)
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", KEY_SECRET)
        .env_remove("OSS_REGION");
    command
}

/// A client run, with the CPU the server spent on it meanwhile.
fn measured(server: &Server, command: Command) -> (Measured, f64) {
    let before = server.cpu_secs();
    let m = measure(command);
    (m, server.cpu_secs() - before)
}

fn print_row(label: &str, files: usize, (m, server_cpu_secs): &(Measured, f64)) {
    let secs = m.wall.as_secs_f64();
    println!(
        "{label:<46} {secs:>8.2} {:>9.0} {:>14.3} {:>12.1} {:>17.3}{}",
        files as f64 / secs,
        m.cpu_secs * 1000.0 / files as f64,
        m.peak_rss_kib as f64 / 1024.0,
        server_cpu_secs * 1000.0 / files as f64,
        if m.success { "" } else { "  (FAILED)" }
    );
}

/// `count` files of `len` bytes, in subfolders of [`FILES_PER_FOLDER`] when `nested`.
fn make_files(root: &Path, count: usize, len: usize, nested: bool) {
    let body: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    for index in 0..count {
        let dir = if nested {
            root.join(format!("d{:04}", index / FILES_PER_FOLDER))
        } else {
            root.to_path_buf()
        };
        if index % FILES_PER_FOLDER == 0 || !nested && index == 0 {
            std::fs::create_dir_all(&dir).expect("folder");
        }
        std::fs::write(dir.join(format!("f{index:07}.bin")), &body).expect("file");
    }
}

/// A folder with ali-oss installed by npm under the target dir, made on first use.
fn ali_oss_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ali-oss");
    if dir.join("node_modules").join("ali-oss").is_dir() {
        return Some(dir);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let installed = Command::new("npm")
        .current_dir(&dir)
        .args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "ali-oss@6",
        ])
        .status();
    (installed.is_ok_and(|s| s.success()) && dir.join("node_modules").join("ali-oss").is_dir())
        .then_some(dir)
}

/// The queue store as it is after months of daily uploads, next to a fresh one: the time
/// to open it, and what a small-files job costs in it per file, step by step, driven the
/// way the engine drives it; then the same `ossup upload` of small files with either
/// store in its home.
fn store_scale(scratch: &Path, server: &Server, small: &Path) {
    let rows: usize = std::env::var("OSSUP_STORE_ROWS")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100_000);
    let fresh_home = scratch.join("home-fresh");
    let large_home = scratch.join("home-large");
    let queue_dir = |home: &Path| home.join("data").join("ossup").join("queue");
    let started = Instant::now();
    build_large_store(&queue_dir(&large_home), rows);
    let size_mib = std::fs::metadata(queue_dir(&large_home).join(DATABASE_FILE_NAME))
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    println!(
        "\nqueue store: {rows} finished files and {rows} history entries ({size_mib:.0} MiB, \
         built in {:.1} s) next to an empty one",
        started.elapsed().as_secs_f64()
    );
    println!("{:<46} {:>14} {:>14}", "step", "empty store", "large store");
    let opens = [&fresh_home, &large_home].map(|home| open_times(&queue_dir(home)));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<46} {:>11.2} ms {:>11.2} ms",
        format!(
            "QueueStore::open, first (full check: {})",
            opens[1].1.map_or("none".into(), |why| format!("{why:?}"))
        ),
        ms(opens[0].0),
        ms(opens[1].0)
    );
    println!(
        "{:<46} {:>11.2} ms {:>11.2} ms",
        "QueueStore::open, again (median of 5)",
        ms(opens[0].2),
        ms(opens[1].2)
    );
    let steps = [&fresh_home, &large_home].map(|home| small_job_steps(&queue_dir(home)));
    for (index, (label, _)) in steps[0].iter().enumerate() {
        let per_file = |s: &[(&str, Duration)]| s[index].1.as_secs_f64() * 1e6 / SMALL_FILES as f64;
        println!(
            "{:<46} {:>8.2} µs/f {:>8.2} µs/f",
            label,
            per_file(&steps[0]),
            per_file(&steps[1])
        );
    }
    let total = |s: &[(&str, Duration)]| {
        s.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>() * 1e6 / SMALL_FILES as f64
    };
    println!(
        "{:<46} {:>8.2} µs/f {:>8.2} µs/f",
        format!("all store work of a {SMALL_FILES}-file job"),
        total(&steps[0]),
        total(&steps[1])
    );
    println!(
        "{:<46} {:>8} {:>9} {:>14} {:>12} {:>17}",
        "run", "secs", "files/s", "CPU ms/file", "peak RSS MiB", "server ms/file"
    );
    for (label, home) in [("empty", &fresh_home), ("large", &large_home)] {
        let destination = format!("oss://{BUCKET}/store-{label}/");
        print_row(
            &format!("ossup upload, {SMALL_FILES} × 1 KiB, {label} store"),
            SMALL_FILES,
            &measured(server, ossup(home, server, small, &destination, &[])),
        );
    }
}

/// Fills `queue_dir` with `rows` finished files in jobs of at most 250,000, each with its
/// history entry, through the store's own batched writes.
fn build_large_store(queue_dir: &Path, rows: usize) {
    const JOB_FILES: usize = 250_000;
    const BATCH: usize = MAX_PAGE_ROWS;
    let (mut store, _) = QueueStore::open(queue_dir, OpenOptions::default()).expect("store");
    let target = store
        .find_or_create_target(&bench_target())
        .expect("target");
    let now = unix_secs();
    let mut left = rows;
    let mut job_index = 0;
    while left > 0 {
        let in_job = left.min(JOB_FILES);
        left -= in_job;
        let root = PathBuf::from(format!("/data/daily-{job_index}"));
        let job = store
            .create_job(&bench_job(
                target,
                root.clone(),
                &format!("daily-{job_index}/"),
                now,
            ))
            .expect("job");
        job_index += 1;
        let mut made = 0;
        while made < in_job {
            let files: Vec<NewFile> = (made..(made + BATCH).min(in_job))
                .map(|i| {
                    let relative = PathBuf::from(format!("d{:04}/f{i:07}.bin", i / 1000));
                    NewFile::pending(
                        relative.clone(),
                        root.join(&relative),
                        format!("daily-{job_index}/{}", relative.display()),
                        100,
                        1_700_000_000_000_000_000,
                    )
                })
                .collect();
            made += store.insert_files(job, &files, now).expect("insert");
        }
        store
            .set_walk_state(job, WalkState::Walked)
            .expect("walked");
        loop {
            let claimed = store.claim_pending(job, BATCH, now).expect("claim");
            if claimed.is_empty() {
                break;
            }
            let outcomes: Vec<FileOutcome> = claimed.iter().map(|row| done(row, now)).collect();
            store.record_outcomes(&outcomes, now).expect("record");
        }
        store
            .set_job_state(job, JobState::Finished)
            .expect("finish");
    }
}

/// The first open (which checks every page when the store has no record of a passed
/// check) with why it checked, then the median of five more (each store dropped before
/// the next open).
fn open_times(queue_dir: &Path) -> (Duration, Option<FullCheck>, Duration) {
    let timed = || {
        let started = Instant::now();
        let (store, report) = QueueStore::open(queue_dir, OpenOptions::default()).expect("open");
        let elapsed = started.elapsed();
        drop(store);
        (elapsed, report.full_check)
    };
    let (first, why) = timed();
    let mut again: Vec<Duration> = (0..5).map(|_| timed().0).collect();
    again.sort();
    (first, why, again[2])
}

/// One small-files job through the store as the engine drives it, timed step by step:
/// opening and loading the jobs, the walk's batches of 1,000, claims of 36 (the default
/// capacity) whenever half of it is free, outcomes with their history in batches of 512,
/// and the final count that finishes the job.
fn small_job_steps(queue_dir: &Path) -> Vec<(&'static str, Duration)> {
    const WALK_BATCH: usize = 1000;
    const CAPACITY: usize = 36;
    const OUTCOME_BATCH: usize = 512;
    let mut times = Vec::new();
    let mut step = |label, started: Instant| times.push((label, started.elapsed()));
    let now = unix_secs();

    let started = Instant::now();
    let (mut store, _) = QueueStore::open(queue_dir, OpenOptions::default()).expect("open");
    step("open the store", started);
    let started = Instant::now();
    let target = store
        .find_or_create_target(&bench_target())
        .expect("target");
    let listing = store.list_unfinished_jobs().expect("list jobs");
    assert!(listing.unreadable.is_empty());
    step("load the unfinished jobs", started);

    let started = Instant::now();
    let root = PathBuf::from("/data/small");
    let job = store
        .create_job(&bench_job(target, root.clone(), "small/", now))
        .expect("job");
    let lease = store
        .acquire_lease(
            job,
            LeaseOwner::this_process(),
            now,
            Duration::from_secs(30),
        )
        .expect("lease");
    for first in (0..SMALL_FILES).step_by(WALK_BATCH) {
        let files: Vec<NewFile> = (first..(first + WALK_BATCH).min(SMALL_FILES))
            .map(|i| {
                let relative = PathBuf::from(format!("f{i:07}.bin"));
                NewFile::pending(
                    relative.clone(),
                    root.join(&relative),
                    format!("small/{}", relative.display()),
                    1024,
                    1_700_000_000_000_000_000,
                )
            })
            .collect();
        store.insert_files(job, &files, now).expect("insert");
    }
    store
        .set_walk_state(job, WalkState::Walked)
        .expect("walked");
    step("create the job, insert its files", started);

    let mut claim_time = Duration::ZERO;
    let mut record_time = Duration::ZERO;
    let mut in_flight: Vec<FileRow> = Vec::new();
    let mut outcomes = Vec::new();
    loop {
        if in_flight.len() <= CAPACITY / 2 {
            let started = Instant::now();
            let claimed = store
                .claim_pending(job, CAPACITY - in_flight.len(), now)
                .expect("claim");
            claim_time += started.elapsed();
            in_flight.extend(claimed);
        }
        if in_flight.is_empty() {
            break;
        }
        // Half of what is in flight ends before the next claim.
        let ended = in_flight.len().div_ceil(2);
        outcomes.extend(in_flight.drain(..ended).map(|row| done(&row, now)));
        if outcomes.len() >= OUTCOME_BATCH {
            let started = Instant::now();
            store.record_outcomes(&outcomes, now).expect("record");
            record_time += started.elapsed();
            outcomes.clear();
        }
    }
    let started = Instant::now();
    store.record_outcomes(&outcomes, now).expect("record");
    record_time += started.elapsed();
    times.push(("claim the files (36 in flight)", claim_time));
    times.push(("record outcomes + history (batches of 512)", record_time));

    let started = Instant::now();
    let counts = store.job_counts(job).expect("counts");
    assert_eq!(counts.done, SMALL_FILES as u64);
    store
        .set_job_state(job, JobState::Finished)
        .expect("finish");
    store.release_lease(lease).expect("release");
    times.push(("count, finish the job", started.elapsed()));
    times
}

fn bench_target() -> NewTarget {
    NewTarget {
        label: "bench".into(),
        endpoint: "http://127.0.0.1:1".into(),
        region: None,
        profile: None,
        credentials_ref: Some("env".into()),
    }
}

fn bench_job(target: TargetId, root: PathBuf, prefix: &str, now: u64) -> NewJob {
    NewJob {
        target,
        roots: vec![root],
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        options: JobOptions::default(),
        created_unix_secs: now,
    }
}

/// The outcome the engine records for a file sent and verified.
fn done(row: &FileRow, now: u64) -> FileOutcome {
    FileOutcome::done(
        row.id,
        NewHistory {
            finished_unix_secs: now,
            duration_ms: 3,
            bytes: row.file.size,
            etag: "\"5D41402ABC4B2A76B9719D911017C592\"".into(),
            crc64_verified: true,
            url: format!("oss://{BUCKET}/{}", row.file.key),
            target_label: "bench".into(),
            local_path: row.file.absolute_path.clone(),
        },
    )
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
