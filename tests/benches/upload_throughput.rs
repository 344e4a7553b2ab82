//! Benchmark (prints figures, asserts nothing; run by hand in release with
//! `cargo bench --bench upload_throughput`): a 1 GiB upload to a release `ossup serve` on
//! 127.0.0.1 through `ossup upload`, next to Alibaba's SDK `oss2.resumable_upload` (same
//! part size, 4 threads) against the same server in the same run, and the peak memory with
//! 8 × 64 MiB parts in flight. An https row runs the same upload against a second
//! server with `--tls-self-signed`, through a profile that trusts its CA file, so the
//! client's cost of TLS shows next to plain http.
//!
//! Per client: wall time and throughput, CPU seconds per GiB (the child's user + system
//! time, from this process's `cutime`/`cstime` once the child is reaped) and peak RSS
//! (`VmHWM`, polled from /proc while the child runs). oss2 is installed into a virtualenv
//! under the target dir on first use; without network access that row is skipped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "bench";
const KEY_ID: &str = "BENCHKEYID";
const KEY_SECRET: &str = "bench-secret";
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn main() {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("upload_throughput");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let file = work.join("one-gib.bin");
    write_random_file(&file, GIB);

    let server = Server::start(&work.join("server"), &[]);
    println!(
        "upload_throughput: 1 GiB file, ossup serve (release) at {}",
        server.endpoint
    );
    println!(
        "{:<40} {:>8} {:>10} {:>14} {:>12}",
        "client", "secs", "MiB/s", "CPU s per GiB", "peak RSS MiB"
    );

    let home = work.join("home");
    let ossup_run = |part_size: &str, parallel: &str, key: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ossup"));
        command
            .args(["upload"])
            .arg(&file)
            .arg(format!("oss://{BUCKET}/{key}"))
            .args(["--part-size", part_size, "--parallel", parallel])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("OSS_ENDPOINT", &server.endpoint)
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", KEY_SECRET)
            .env_remove("OSS_REGION");
        measure(command)
    };

    let ossup = ossup_run("8MiB", "4", "ossup-8m.bin");
    print_row("ossup upload (8 MiB parts, 4 parallel)", GIB, &ossup);

    match oss2_python() {
        Some(python) => {
            let mut command = Command::new(python);
            command
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/benches/oss2_upload.py"
                ))
                .args([&server.endpoint, BUCKET, KEY_ID, KEY_SECRET])
                .arg(&file)
                .args(["oss2-8m.bin", &(8 * MIB).to_string(), "4"]);
            let oss2 = measure(command);
            print_row("oss2 resumable_upload (8 MiB, 4 threads)", GIB, &oss2);
        }
        None => println!(
            "{:<40} skipped: could not set up a virtualenv with oss2",
            "oss2 resumable_upload"
        ),
    }

    let wide = ossup_run("64MiB", "8", "ossup-64m.bin");
    print_row("ossup upload (64 MiB parts, 8 parallel)", GIB, &wide);
    drop(server);

    let tls_dir = work.join("tls-server");
    let tls_server = Server::start(&tls_dir, &["--tls-self-signed"]);
    let tls_home = work.join("tls-home");
    let config_dir = tls_home.join("config").join("ossup");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "default_profile = \"bench\"\n[profiles.bench]\nendpoint = \"{}\"\naccess_key_id = \"{KEY_ID}\"\naccess_key_secret = \"{KEY_SECRET}\"\nca_bundle = \"{}\"\n",
            tls_server.endpoint,
            tls_dir.join("tls").join("ca.pem").display()
        ),
    )
    .expect("bench profile");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ossup"));
    command
        .args(["upload"])
        .arg(&file)
        .arg(format!("oss://{BUCKET}/ossup-https-8m.bin"))
        .args(["--part-size", "8MiB", "--parallel", "4"])
        .env("HOME", &tls_home)
        .env("XDG_CONFIG_HOME", tls_home.join("config"))
        .env("XDG_DATA_HOME", tls_home.join("data"))
        .env_remove("OSS_ENDPOINT")
        .env_remove("OSS_ACCESS_KEY_ID")
        .env_remove("OSS_ACCESS_KEY_SECRET")
        .env_remove("OSS_REGION");
    let https = measure(command);
    print_row("ossup upload https (8 MiB parts, 4 par.)", GIB, &https);

    drop(tls_server);
    let _ = std::fs::remove_dir_all(&work);
}

struct Measured {
    wall: Duration,
    cpu_secs: f64,
    peak_rss_kib: u64,
    success: bool,
}

fn print_row(label: &str, bytes: u64, m: &Measured) {
    let secs = m.wall.as_secs_f64();
    let gib = bytes as f64 / GIB as f64;
    println!(
        "{label:<40} {secs:>8.2} {:>10.1} {:>14.2} {:>12.1}{}",
        bytes as f64 / MIB as f64 / secs,
        m.cpu_secs / gib,
        m.peak_rss_kib as f64 / 1024.0,
        if m.success { "" } else { "  (FAILED)" }
    );
}

/// Runs a child to its end, polling its VmHWM, and takes its CPU time from this
/// process's reaped-children counters.
fn measure(mut command: Command) -> Measured {
    let cpu_before = children_cpu_secs();
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm_kib(child.id()) {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        match child.try_wait().expect("child status") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    Measured {
        wall: started.elapsed(),
        cpu_secs: children_cpu_secs() - cpu_before,
        peak_rss_kib,
        success: status.success(),
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of this process's reaped children (`cutime` + `cstime`).
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields[13].parse::<f64>().unwrap_or(0.0) + fields[14].parse::<f64>().unwrap_or(0.0);
    ticks / clock_ticks_per_sec()
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn write_random_file(path: &Path, len: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut chunk = vec![0u8; MIB as usize];
    for _ in 0..len / MIB {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&chunk).expect("write");
    }
    out.flush().expect("flush");
}

/// A virtualenv with oss2 under the target dir, created on first use.
fn oss2_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oss2-venv");
    let python = venv.join("bin").join("python");
    let has_oss2 = |python: &Path| {
        Command::new(python)
            .args(["-c", "import oss2"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_oss2(&python) {
        return Some(python);
    }
    let created = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status();
    if !created.is_ok_and(|s| s.success()) {
        return None;
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "oss2"])
        .status();
    (installed.is_ok_and(|s| s.success()) && has_oss2(&python)).then_some(python)
}

struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(dir: &Path, extra_args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ossup"))
            .arg("serve")
            .arg("--dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--bucket", BUCKET])
            .args(["--access-key", &format!("{KEY_ID}:{KEY_SECRET}")])
            .args(extra_args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("ossup serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(endpoint) = line.strip_prefix("ossup serve listening on ") {
                    let _ = tx.send(endpoint.trim().to_owned());
                }
            }
        });
        let endpoint = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server endpoint");
        Self { child, endpoint }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
