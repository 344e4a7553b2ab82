//! Interoperability with Alibaba's official Python SDK: the real `ossup serve` binary on
//! 127.0.0.1, driven by unmodified `oss2` (tests/interop/oss2_check.py) with V1 and V4
//! signatures, a 4-thread resumable multipart upload with CRC checks, listing and abort,
//! presigned URLs, STS credentials, a wrong secret, an upload-only key (writes go
//! through, listings get AccessDenied), and `ObjectIteratorV2` paging
//! ListObjectsV2 over more than 1000 keys with and without a delimiter and with
//! fetch_owner, and lifecycle rules (put, get, delete).
//!
//! oss2 lives in a virtualenv under the target directory (`<target>/oss2-venv`), created
//! on first use with `python3 -m venv` and `pip install oss2`, then reused. When Python or
//! the package index is unavailable the test fails and says why; it never passes without
//! having run the SDK.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BUCKET: &str = "interop";
const ACCESS_KEY_ID: &str = "INTEROPKEYID";
const ACCESS_KEY_SECRET: &str = "interop-secret-for-oss2";
const REGION: &str = "cn-hangzhou";
/// A key that may only write (`oss:PutObject`); the script knows the same pair.
const WRITER_KEY_ID: &str = "INTEROPWRITERKEY";
const WRITER_KEY_SECRET: &str = "interop-writer-secret";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
const PIP_TIMEOUT: Duration = Duration::from_secs(900);

/// `<target>/oss2-venv`: beside the build output, so `cargo clean` removes it too.
fn venv_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("oss2-venv")
}

/// Runs a command to completion with a deadline; returns (success, stdout + stderr).
fn run_with_deadline(command: &mut Command, timeout: Duration, log_dir: &Path) -> (bool, String) {
    let out_path = log_dir.join(format!("out-{}.log", std::process::id()));
    let out = File::create(&out_path).expect("create a log file in the temp dir");
    let err = out.try_clone().expect("clone the log file handle");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for {command:?}: {e}"),
        }
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    match status {
        Some(status) => (status.success(), output),
        None => (
            false,
            format!(
                "{output}\n(stopped after {} s without finishing)",
                timeout.as_secs()
            ),
        ),
    }
}

/// The virtualenv's python with oss2 importable, creating the venv if needed.
fn oss2_python(log_dir: &Path) -> PathBuf {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let has_oss2 = |python: &Path| {
        Command::new(python)
            .args(["-c", "import oss2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_oss2(&python) {
        return python;
    }
    if !python.exists() {
        let (ok, output) = run_with_deadline(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            Duration::from_secs(120),
            log_dir,
        );
        assert!(
            ok,
            "could not create the oss2 virtualenv at {} with `python3 -m venv` \
             (is python3 with the venv module installed?):\n{output}",
            venv.display()
        );
    }
    let (ok, output) = run_with_deadline(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "oss2"]),
        PIP_TIMEOUT,
        log_dir,
    );
    assert!(
        ok,
        "`pip install oss2` failed, so the interop test cannot run (is the Python package \
         index reachable from this machine?):\n{output}"
    );
    assert!(
        has_oss2(&python),
        "pip reported success but oss2 cannot be imported from {}",
        python.display()
    );
    python
}

/// The `ossup serve` child process; killed when the test ends, pass or fail.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `http://127.0.0.1:<port>` in a line of the server's start-up output.
fn endpoint_in(line: &str) -> Option<String> {
    let start = line.find("http://127.0.0.1:")?;
    let rest = &line[start..];
    let port_start = "http://127.0.0.1:".len();
    let port_len = rest[port_start..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    (port_len > 0).then(|| rest[..port_start + port_len].to_owned())
}

fn start_server(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossup"))
        .arg("serve")
        .arg("--dir")
        .arg(data_dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--bucket",
            BUCKET,
            "--region",
            REGION,
        ])
        .arg("--access-key")
        .arg(format!("{ACCESS_KEY_ID}:{ACCESS_KEY_SECRET}"))
        .arg("--access-key")
        .arg(format!("{WRITER_KEY_ID}:{WRITER_KEY_SECRET}:upload-only"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start `ossup serve`");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    // Keep draining stdout for the server's whole life so it never blocks on a full pipe.
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    let mut seen = Vec::new();
    let mut server = Server {
        child,
        endpoint: String::new(),
    };
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(endpoint) = endpoint_in(&line) {
                    server.endpoint = endpoint;
                    return server;
                }
                seen.push(line);
            }
            Err(_) => break,
        }
    }
    let exited = server.child.try_wait().ok().flatten();
    panic!(
        "`ossup serve` printed no http://127.0.0.1:<port> endpoint within {} s (exit: {exited:?}); its output:\n{}",
        SERVER_START_TIMEOUT.as_secs(),
        seen.join("\n")
    );
}

#[test]
fn oss2_sdk_works_against_ossup_serve() {
    let work = tempfile::tempdir().expect("temp dir");
    let python = oss2_python(work.path());
    // The listing checks create a few thousand objects: keep their fsyncs in memory.
    let data_dir = support::server::in_memory_temp_dir();
    let client_dir = work.path().join("client");
    std::fs::create_dir_all(&client_dir).expect("create client dir");
    let server = start_server(data_dir.path());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oss2_check.py");
    let (ok, output) = run_with_deadline(
        Command::new(&python)
            .arg(&script)
            .args([
                server.endpoint.as_str(),
                BUCKET,
                ACCESS_KEY_ID,
                ACCESS_KEY_SECRET,
                REGION,
            ])
            .arg(&client_dir)
            // oss2 must talk to 127.0.0.1 directly, whatever proxy the machine has.
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1"),
        SCRIPT_TIMEOUT,
        work.path(),
    );
    println!("{output}");
    assert!(
        ok,
        "oss2 checks failed against {}:\n{output}",
        server.endpoint
    );
    for version in ["v1", "v4"] {
        for check in [
            "put_object/head_object",
            "resumable_upload/get_object",
            "list_multipart_uploads/list_parts/abort",
            "presigned urls",
            "sts token",
            "wrong secret",
            "list_objects_v2",
        ] {
            let line = format!("OK {version} {check}");
            assert!(
                output.lines().any(|l| l == line),
                "missing `{line}` in:\n{output}"
            );
        }
    }
    assert!(output.lines().any(|l| l == "ALL CHECKS PASSED"), "{output}");
    drop(server);
}

#[test]
fn endpoint_is_read_from_any_start_up_line() {
    assert_eq!(
        endpoint_in("ossup serve listening on http://127.0.0.1:40123 (bucket interop)"),
        Some("http://127.0.0.1:40123".to_owned())
    );
    assert_eq!(endpoint_in("endpoint: http://127.0.0.1:"), None);
    assert_eq!(endpoint_in("no endpoint here"), None);
}
