//! How fast `ossup serve` takes data in, and how much memory it needs to do so.
//!
//! Runs the real binary as a child process (`ossup serve` on 127.0.0.1, a temporary data
//! directory), then sends 1 GiB as one PutObject and as 8 MiB parts with 4 in flight,
//! times Complete, and reads the server's peak RSS (VmHWM) from /proc. Prints figures;
//! asserts nothing about them.
//!
//! `cargo bench --bench server_ingest` (set OSSUP_BENCH_MIB to change the size).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use futures_util::StreamExt;
use ossup::protocol::Credentials;
use ossup::protocol::signing::{RequestTarget, SignatureVersion, sign_headers};
use ossup::protocol::xml::{
    self, CompleteMultipartUpload, CompletePart, InitiateMultipartUploadResult,
};
use ossup::server::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_BUCKET};

const MIB: u64 = 1 << 20;
const PART_BYTES: u64 = 8 * MIB;
const PARTS_IN_FLIGHT: usize = 4;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Client {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    /// One block of pseudo-random bytes, repeated to make bodies of any size.
    block: Bytes,
}

impl Client {
    fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(String, String)],
        mut headers: Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        let target = RequestTarget {
            method,
            bucket: Some(DEFAULT_BUCKET),
            key: Some(key),
            query,
        };
        sign_headers(
            &self.credentials,
            &SignatureVersion::V1,
            &target,
            &mut headers,
            SystemTime::now(),
        );
        let mut url = format!("{}/{DEFAULT_BUCKET}/{key}", self.endpoint);
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(n, v)| {
                    if v.is_empty() {
                        n.clone()
                    } else {
                        format!("{n}={v}")
                    }
                })
                .collect();
            url = format!("{url}?{}", pairs.join("&"));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = self.http.request(method, url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
    }

    /// A body of `len` bytes made of repeated blocks, streamed, never held whole.
    fn body(&self, len: u64) -> reqwest::Body {
        let block = self.block.clone();
        let chunks = (0..len.div_ceil(block.len() as u64)).map(move |i| {
            let start = i * block.len() as u64;
            let take = (len - start).min(block.len() as u64) as usize;
            Ok::<_, std::io::Error>(block.slice(..take))
        });
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
    }

    async fn send_body(
        &self,
        key: &str,
        query: &[(String, String)],
        len: u64,
    ) -> BenchResult<reqwest::Response> {
        let response = self
            .request("PUT", key, query, Vec::new())
            .header("content-length", len)
            .body(self.body(len))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("upload answered {}", response.status()).into());
        }
        Ok(response)
    }
}

/// Peak resident memory of a process, from /proc/PID/status.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn start_server(dir: &std::path::Path) -> BenchResult<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossup"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    // Keep reading the rest of the banner so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let endpoint = first
        .trim()
        .strip_prefix("ossup serve listening on ")
        .ok_or_else(|| format!("unexpected first line: {first:?}"))?
        .to_owned();
    Ok((child, endpoint))
}

fn mb_per_sec(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

async fn run(total: u64, client: &Client, pid: u32) -> BenchResult<()> {
    println!(
        "server ingest, {} MiB over loopback, server pid {pid}",
        total / MIB
    );
    println!(
        "peak RSS at start: {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(f64::NAN)
    );

    let started = Instant::now();
    client.send_body("bench/single.bin", &[], total).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "PutObject, one request: {:.2} s, {:.0} MB/s",
        seconds,
        mb_per_sec(total, seconds)
    );
    println!(
        "peak RSS after PutObject: {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(f64::NAN)
    );

    let key = "bench/multipart.bin";
    let answer = client
        .request(
            "POST",
            key,
            &[("uploads".into(), String::new())],
            Vec::new(),
        )
        .send()
        .await?
        .bytes()
        .await?;
    let upload_id = xml::from_xml::<InitiateMultipartUploadResult>(&answer)?.upload_id;
    let part_count = total.div_ceil(PART_BYTES);
    let started = Instant::now();
    let results: Vec<BenchResult<(u32, String)>> = futures_util::stream::iter(1..=part_count)
        .map(|number| {
            let upload_id = upload_id.clone();
            async move {
                let len = (total - (number - 1) * PART_BYTES).min(PART_BYTES);
                let query = [
                    ("partNumber".to_owned(), number.to_string()),
                    ("uploadId".to_owned(), upload_id),
                ];
                let response = client.send_body(key, &query, len).await?;
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("no ETag")?
                    .to_owned();
                Ok((number as u32, etag))
            }
        })
        .buffer_unordered(PARTS_IN_FLIGHT)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut parts = results.into_iter().collect::<BenchResult<Vec<_>>>()?;
    parts.sort();
    println!(
        "UploadPart, {part_count} x {} MiB, {PARTS_IN_FLIGHT} in flight: {:.2} s, {:.0} MB/s",
        PART_BYTES / MIB,
        seconds,
        mb_per_sec(total, seconds)
    );

    let body = CompleteMultipartUpload {
        parts: parts
            .into_iter()
            .map(|(part_number, etag)| CompletePart { part_number, etag })
            .collect(),
    }
    .to_xml();
    let started = Instant::now();
    let response = client
        .request("POST", key, &[("uploadId".into(), upload_id)], Vec::new())
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let seconds = started.elapsed().as_secs_f64();
    if !status.is_success() {
        return Err(format!("Complete answered {status}").into());
    }
    println!(
        "CompleteMultipartUpload of {part_count} parts: {:.1} ms",
        seconds * 1000.0
    );
    println!(
        "peak RSS of the server (VmHWM): {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(f64::NAN)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total = std::env::var("OSSUP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        * MIB;
    let dir = tempfile::tempdir()?;
    let (mut child, endpoint) = start_server(dir.path())?;
    let pid = child.id();

    let mut block = vec![0u8; MIB as usize];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for byte in &mut block {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let client = Client {
        http: reqwest::Client::builder().build()?,
        endpoint,
        credentials: Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
        block: Bytes::from(block),
    };
    let outcome = run(total, &client, pid).await;

    // Stop it the way a person does, with Ctrl-C (SIGINT), and check it exits cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !interrupted {
        let _ = child.kill();
    }
    let exit = child.wait()?;
    println!("server exit after SIGINT: {exit}");
    outcome
}
