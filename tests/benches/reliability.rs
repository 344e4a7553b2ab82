//! Reliability run (run by hand, never in CI: `nice cargo bench --bench reliability`, or
//! `cargo test --bench reliability` for a debug build). A job of 200 files (4 × 24 MiB and
//! 196 from 1 KiB to 2 MiB, deterministic content) goes up through `ossup upload DIR
//! oss://demo/rel/` to an `ossup serve` process on 127.0.0.1, while the CLI is killed with
//! SIGKILL 20 times and the server 10 times at random moments (seeded: set
//! `OSSUP_RELIABILITY_SEED` to replay a run). Each is restarted: the server on the same
//! port and data directory, the CLI alternately with `ossup resume --all` and by running
//! the same upload again. Then the job is resumed to the end and checked:
//!
//! - every object is byte-identical to its local file (GET and compare), and there is no
//!   object under the prefix that is not in the job;
//! - no multipart upload is left in progress (ListMultipartUploads, all pages);
//! - no CLI run said "CRC-64 verified" for an object that does not match.
//!
//! It prints what it did and what it found, and exits 1 on any mismatch.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ossup::protocol::client::{ClientConfig, ListObjectsV2Params, ListUploadsParams};
use ossup::protocol::{Credentials, OssClient};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const BUCKET: &str = "demo";
const PREFIX: &str = "rel/";
/// The job's folder; `ossup upload DIR oss://demo/rel/` keys its files `rel/DIR/…`.
const JOB_DIR: &str = "job";
const KEY_ID: &str = "RELIABILITYKEY";
const KEY_SECRET: &str = "reliability-secret";
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const BIG_FILES: usize = 4;
const BIG_BYTES: u64 = 24 * MIB;
const SMALL_FILES: usize = 196;
const CLI_KILLS: usize = 20;
const SERVER_KILLS: usize = 10;
/// Small parts so that kills land between, inside and around many parts and Completes;
/// the rate limit keeps the job running long enough for every kill to land mid-job;
/// `--verbose` prints a line per file, so every "CRC-64 verified" claim can be checked.
const CLI_FLAGS: [&str; 7] = [
    "--part-size",
    "1MiB",
    "--parallel",
    "4",
    "--limit-rate",
    "3MiB",
    "--verbose",
];
/// How long the CLI runs (after it started) before a kill, in milliseconds.
const KILL_AFTER_MS: std::ops::Range<u64> = 200..2500;
/// Longest a final run may take before the run is declared hung.
const FINAL_RUN_LIMIT: Duration = Duration::from_secs(600);
const FINAL_RUNS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Cli,
    Server,
}

fn main() -> ExitCode {
    let seed: u64 = std::env::var("OSSUP_RELIABILITY_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20261201);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("logs")).expect("work dir");

    let job = work.join(JOB_DIR);
    let files = make_job(&job, &mut rng);
    let total_bytes: u64 = files.values().map(|path| file_len(path)).sum();
    println!(
        "reliability: seed {seed}, {} files ({:.1} MiB, {BIG_FILES} × {} MiB), {} to oss://{BUCKET}/{PREFIX}",
        files.len(),
        total_bytes as f64 / MIB as f64,
        BIG_BYTES / MIB,
        CLI_FLAGS.join(" "),
    );

    let port = free_port();
    let mut server = Server::start(&work.join("server"), port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut cli = Cli::new(&work, &job, &endpoint);

    let mut plan: Vec<Victim> = std::iter::repeat_n(Victim::Cli, CLI_KILLS)
        .chain(std::iter::repeat_n(Victim::Server, SERVER_KILLS))
        .collect();
    plan.shuffle(&mut rng);
    let (mut cli_kills, mut server_kills, mut cli_starts) = (0usize, 0usize, 0usize);
    let mut exits: Vec<String> = Vec::new();
    let mut finished_early = false;
    let mut timeline: Vec<String> = Vec::new();

    for victim in plan {
        // A CLI that exited by itself (done, or refused by a server that was down at its
        // preflight) is started again so every kill lands on a running job.
        if !cli.running() {
            cli.start(cli_starts % 2 == 1);
            cli_starts += 1;
        }
        let wait = Duration::from_millis(rng.random_range(KILL_AFTER_MS));
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(status) = cli.try_exit() {
                exits.push(describe(status));
                if status.success() && cli.job_done() {
                    finished_early = true;
                    break;
                }
                cli.start(cli_starts % 2 == 1);
                cli_starts += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if finished_early {
            break;
        }
        match victim {
            Victim::Cli => {
                if cli.kill() {
                    cli_kills += 1;
                    timeline.push(format!("cli@{:.1}s", started.elapsed().as_secs_f64()));
                }
            }
            Victim::Server => {
                server.kill();
                server_kills += 1;
                timeline.push(format!("server@{:.1}s", started.elapsed().as_secs_f64()));
                // Down for a moment, up again on the same port and data directory.
                std::thread::sleep(Duration::from_millis(rng.random_range(0..800)));
                server = Server::start(&work.join("server"), port);
            }
        }
    }
    let kills_elapsed = started.elapsed();
    if finished_early {
        println!(
            "the job finished before every kill was made ({cli_kills} CLI, {server_kills} server)"
        );
    }

    // Resume to the end: the same upload again until it reports success.
    let mut final_runs = 0;
    let mut final_ok = cli.running() && cli.wait_for(FINAL_RUN_LIMIT).is_some_and(|s| s.success());
    while !final_ok && final_runs < FINAL_RUNS {
        cli.start(false);
        cli_starts += 1;
        final_runs += 1;
        let status = cli.wait_for(FINAL_RUN_LIMIT);
        exits.push(status.map_or("hung".into(), describe));
        final_ok = status.is_some_and(|s| s.success());
    }
    let elapsed = started.elapsed();
    println!(
        "did: {cli_kills} CLI kills, {server_kills} server kills, {cli_starts} CLI runs ({} by `resume --all`), {} server starts; kills over {:.1}s, {:.1}s in all",
        cli.resume_runs,
        server.starts,
        kills_elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!("kills (SIGKILL): {}", timeline.join(" "));
    let mut exit_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for exit in &exits {
        *exit_counts.entry(exit.as_str()).or_default() += 1;
    }
    println!("CLI runs that ended by themselves: {exit_counts:?}");

    let found = check(&endpoint, &files, &cli.verified_claims());
    drop(server);
    let mut failures = found.failures;
    if !final_ok {
        failures.push(format!(
            "the final `ossup upload` did not succeed within {FINAL_RUNS} runs (see {})",
            work.join("logs").display()
        ));
    }
    println!(
        "found: {}/{} objects byte-identical, {} unfinished multipart uploads, {} objects not in the job, {} \"CRC-64 verified\" claims ({} for objects that do not match)",
        found.identical,
        files.len(),
        found.in_progress,
        found.extra,
        found.claims,
        found.false_claims
    );
    if failures.is_empty() {
        println!("reliability: OK");
        ExitCode::SUCCESS
    } else {
        for failure in failures.iter().take(20) {
            println!("FAILED: {failure}");
        }
        if failures.len() > 20 {
            println!("… and {} more", failures.len() - 20);
        }
        ExitCode::FAILURE
    }
}

/// Writes the job's files; returns relative path (the key below `PREFIX/JOB_DIR/`) → local file.
fn make_job(dir: &Path, rng: &mut StdRng) -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    let mut add = |relative: String, len: u64, seed: u64| {
        let path = dir.join(&relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("job dir");
        write_file(&path, len, seed);
        files.insert(relative, path);
    };
    for index in 0..BIG_FILES {
        add(format!("big/b{index}.bin"), BIG_BYTES, index as u64 + 1);
    }
    for index in 0..SMALL_FILES {
        // Log-uniform between 1 KiB and 2 MiB, so sizes below, at and above a part mix.
        let exponent: f64 = rng.random_range(10.0..=21.0);
        let len = (2f64.powf(exponent) as u64).clamp(KIB, 2 * MIB);
        add(
            format!("small/s{}/f{index:03}.bin", index % 7),
            len,
            1000 + index as u64,
        );
    }
    files
}

fn write_file(path: &Path, len: u64, seed: u64) {
    let mut out = BufWriter::new(File::create(path).expect("create"));
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        let take = left.min(8) as usize;
        out.write_all(&bytes[..take]).expect("write");
        left -= take as u64;
    }
    out.flush().expect("flush");
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => "killed".into(),
    }
}

struct Server {
    child: Child,
    /// Every start of this run, so the summary can say how many there were.
    starts: usize,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Self {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let starts = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .expect("server log");
        let child = Command::new(env!("CARGO_BIN_EXE_ossup"))
            .arg("serve")
            .arg("--dir")
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--bucket", BUCKET])
            .args(["--access-key", &format!("{KEY_ID}:{KEY_SECRET}")])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("ossup serve starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "ossup serve did not listen on {port} within 60s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, starts }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The CLI runs, one at a time, each with its own log.
struct Cli {
    job: PathBuf,
    logs: PathBuf,
    home: PathBuf,
    endpoint: String,
    child: Option<Child>,
    runs: usize,
    resume_runs: usize,
    /// The log of the last run, to tell whether it finished the job.
    last_log: Option<PathBuf>,
}

impl Cli {
    fn new(work: &Path, job: &Path, endpoint: &str) -> Self {
        Self {
            job: job.to_owned(),
            logs: work.join("logs"),
            home: work.join("home"),
            endpoint: endpoint.to_owned(),
            child: None,
            runs: 0,
            resume_runs: 0,
            last_log: None,
        }
    }

    fn start(&mut self, by_resume: bool) {
        self.runs += 1;
        let log_path = self.logs.join(format!("cli-{:03}.log", self.runs));
        let log = File::create(&log_path).expect("cli log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ossup"));
        if by_resume {
            self.resume_runs += 1;
            // The same pace, so a resumed job runs as long as an upload would.
            command.args(["resume", "--all"]).args(CLI_FLAGS);
        } else {
            command
                .arg("upload")
                .arg(&self.job)
                .arg(format!("oss://{BUCKET}/{PREFIX}"))
                .args(CLI_FLAGS);
        }
        command
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("OSS_ENDPOINT", &self.endpoint)
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", KEY_SECRET)
            .env_remove("OSS_REGION")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(command.spawn().expect("ossup runs"));
        self.last_log = Some(log_path);
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The exit status, once, if the current run has ended.
    fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    /// SIGKILL; false when there was nothing running to kill.
    fn kill(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let was_running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill();
        let _ = child.wait();
        was_running
    }

    /// Whether the last run ended with every file of the job uploaded (an upload run's
    /// summary), not merely with nothing left to resume.
    fn job_done(&self) -> bool {
        let expected = format!(
            "{} of {} uploaded",
            BIG_FILES + SMALL_FILES,
            BIG_FILES + SMALL_FILES
        );
        self.last_log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .is_some_and(|text| text.contains(&expected))
    }

    /// Every "uploaded LABEL (…, CRC-64 verified)" line of every run, as labels.
    fn verified_claims(&self) -> Vec<String> {
        let mut claims = Vec::new();
        for run in 1..=self.runs {
            let path = self.logs.join(format!("cli-{run:03}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("uploaded ")
                    && rest.ends_with(", CRC-64 verified)")
                    && let Some((label, _)) = rest.rsplit_once(" (")
                {
                    claims.push(label.to_owned());
                }
            }
        }
        claims
    }
}

#[derive(Default)]
struct Found {
    identical: usize,
    in_progress: usize,
    extra: usize,
    claims: usize,
    false_claims: usize,
    failures: Vec<String>,
}

fn check(endpoint: &str, files: &BTreeMap<String, PathBuf>, claims: &[String]) -> Found {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = OssClient::new(ClientConfig::new(
        endpoint,
        Credentials::new(KEY_ID, KEY_SECRET),
    ))
    .expect("client");
    let mut found = Found::default();
    runtime.block_on(async {
        let mut matching = std::collections::BTreeSet::new();
        for (relative, path) in files {
            let key = format!("{PREFIX}{JOB_DIR}/{relative}");
            let local = std::fs::read(path).expect("local file");
            match client.get_object(BUCKET, &key, None).await {
                Ok(remote) if remote[..] == local[..] => {
                    found.identical += 1;
                    matching.insert(relative.clone());
                }
                Ok(remote) => found.failures.push(format!(
                    "{key}: the server holds {} bytes that differ from the local {} bytes",
                    remote.len(),
                    local.len()
                )),
                Err(error) => found.failures.push(format!("{key}: {error}")),
            }
        }

        let mut params = ListUploadsParams {
            prefix: Some(PREFIX.into()),
            ..ListUploadsParams::default()
        };
        loop {
            match client.list_multipart_uploads(BUCKET, &params).await {
                Ok(page) => {
                    for upload in &page.uploads {
                        found.in_progress += 1;
                        found.failures.push(format!(
                            "multipart upload {} of {} is still in progress",
                            upload.upload_id, upload.key
                        ));
                    }
                    if !page.is_truncated {
                        break;
                    }
                    params.key_marker = Some(page.next_key_marker);
                    params.upload_id_marker = Some(page.next_upload_id_marker);
                }
                Err(error) => {
                    found
                        .failures
                        .push(format!("ListMultipartUploads: {error}"));
                    break;
                }
            }
        }

        let mut params = ListObjectsV2Params {
            prefix: Some(PREFIX.into()),
            max_keys: Some(1000),
            ..ListObjectsV2Params::default()
        };
        loop {
            match client.list_objects_v2(BUCKET, &params).await {
                Ok(page) => {
                    for object in &page.contents {
                        let relative = object
                            .key
                            .strip_prefix(&format!("{PREFIX}{JOB_DIR}/"))
                            .unwrap_or(&object.key);
                        if !files.contains_key(relative) {
                            found.extra += 1;
                            found
                                .failures
                                .push(format!("{} is not a file of the job", object.key));
                        }
                    }
                    match page.next_continuation_token.filter(|_| page.is_truncated) {
                        Some(token) => params.continuation_token = Some(token),
                        None => break,
                    }
                }
                Err(error) => {
                    found.failures.push(format!("ListObjectsV2: {error}"));
                    break;
                }
            }
        }

        for label in claims {
            found.claims += 1;
            let relative = files
                .keys()
                .find(|relative| label == *relative || label.ends_with(&format!("/{relative}")));
            match relative {
                Some(relative) if matching.contains(relative) => {}
                Some(relative) => {
                    found.false_claims += 1;
                    found.failures.push(format!(
                        "{relative} was reported \"CRC-64 verified\" but does not match"
                    ));
                }
                None => found.failures.push(format!(
                    "\"CRC-64 verified\" reported for {label:?}, which is no file of the job"
                )),
            }
        }
    });
    found
}
