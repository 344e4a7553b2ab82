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

#[path = "harness.rs"]
mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{BUCKET, KEY_ID, KEY_SECRET, Measured, Server, measure, oss2_python};
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
    // The profile holds a secret: private, as ossup asks of such a file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            config_dir.join("config.toml"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod 600");
    }
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
