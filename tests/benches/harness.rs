//! What the benchmarks share: a release `ossup serve` child on 127.0.0.1, running a
//! client child while its peak memory and CPU time are read, and Alibaba's oss2 SDK in a
//! virtualenv under the target dir.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "bench";
pub const KEY_ID: &str = "BENCHKEYID";
pub const KEY_SECRET: &str = "bench-secret";

/// How one client run went.
pub struct Measured {
    pub wall: Duration,
    pub cpu_secs: f64,
    pub peak_rss_kib: u64,
    pub success: bool,
}

/// Runs `command` to its end with its output discarded, reading its peak RSS from /proc
/// while it runs and its CPU time once it is reaped.
pub fn measure(mut command: Command) -> Measured {
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

pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of this process's reaped children (`cutime` + `cstime`).
pub fn children_cpu_secs() -> f64 {
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

/// A virtualenv with oss2 under the target dir, created on first use.
pub fn oss2_python() -> Option<PathBuf> {
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

/// A release `ossup serve` with the bench bucket and key pair, killed when dropped.
pub struct Server {
    child: Child,
    pub endpoint: String,
}

impl Server {
    pub fn start(dir: &Path, extra_args: &[&str]) -> Self {
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

impl Server {
    /// User + system CPU seconds the server has used so far (`utime` + `stime`).
    pub fn cpu_secs(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())) else {
            return 0.0;
        };
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 = fields
            .get(11)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0);
        ticks / clock_ticks_per_sec()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
