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
//!   a peer that cannot be installed is skipped with a line saying so.

#[path = "harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{BUCKET, KEY_ID, KEY_SECRET, Measured, Server, measure, oss2_python};

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
                .arg(&small)
                .args(["small-ali/", PEER_IN_FLIGHT])
                .env("NODE_PATH", dir.join("node_modules"));
            print_row(
                &format!("ali-oss put, {SMALL_FILES} × 1 KiB ({PEER_IN_FLIGHT} in flight)"),
                SMALL_FILES,
                &measured(&server, command),
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
                .arg(&small)
                .args(["small-oss2/", PEER_IN_FLIGHT]);
            print_row(
                &format!("oss2 put_object, {SMALL_FILES} × 1 KiB ({PEER_IN_FLIGHT} threads)"),
                SMALL_FILES,
                &measured(&server, command),
            );
        }
        None => println!("{:<46} skipped: oss2 could not be installed", "oss2"),
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
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
