//! `ossup serve` against clients that hold connections open: half a request line, no
//! request at all, a body that stops arriving, and more connections than the cap. Raw
//! sockets on 127.0.0.1 with limits of a few hundred milliseconds, so a server that
//! never times out fails here within seconds instead of hanging.

use std::time::{Duration, Instant};

use ossup::protocol::Credentials;
use ossup::protocol::signing::RequestTarget;
use ossup::server::{ConnectionLimits, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

use support::server::{TestServer, sign_v1};

/// Longest any test waits for the server to act on a limit of a few hundred ms.
const PATIENCE: Duration = Duration::from_secs(5);

async fn start(limits: ConnectionLimits) -> TestServer {
    TestServer::start_with(|config| config.limits = limits).await
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(300),
        min_body_bytes_per_sec: 1000,
        body_rate_window: Duration::from_millis(200),
        max_connections: 16,
    }
}

/// Reads until the server closes the connection; returns what it sent and how long that took.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the server kept the connection open for {PATIENCE:?}"
    );
    (received, started.elapsed())
}

/// A signed V1 request head for `method /demo/key`, with `extra` header lines.
fn signed_head(method: &str, key: &str, extra: &[(&str, &str)]) -> String {
    let credentials = Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    let mut headers: Vec<(String, String)> = extra
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let target = RequestTarget {
        method,
        bucket: Some("demo"),
        key: Some(key),
        query: &[],
    };
    sign_v1(&credentials, &target, &mut headers);
    let mut head = format!("{method} /demo/{key} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends `bytes` on a new connection and returns everything the server sent back
/// before closing it.
async fn exchange(server: &TestServer, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let (received, _) = read_until_closed(&mut stream).await;
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn half_a_request_line_is_closed_after_the_header_timeout() {
    let server = start(ConnectionLimits {
        idle_timeout: Duration::from_secs(30),
        ..short_limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(b"GET /demo/a HT").await.unwrap();
    let (_, took) = read_until_closed(&mut stream).await;
    assert!(took >= Duration::from_millis(150), "closed after {took:?}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let server = start(short_limits()).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let (received, took) = read_until_closed(&mut stream).await;
    assert!(received.is_empty());
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    // A kept-alive connection is timed again between requests.
    let text = exchange(&server, signed_head("HEAD", "missing", &[]).as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_is_cut_with_request_timeout() {
    let server = start(short_limits()).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let head = signed_head("PUT", "stalled", &[("content-length", "100000")]);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 10]).await.unwrap();
    let (received, _) = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");

    // Nothing was stored.
    let text = exchange(
        &server,
        signed_head("HEAD", "stalled", &[("connection", "close")]).as_bytes(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_and_a_freed_slot_serves_again() {
    let server = start(ConnectionLimits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..short_limits()
    })
    .await;
    let first = TcpStream::connect(server.addr()).await.unwrap();
    let _second = TcpStream::connect(server.addr()).await.unwrap();

    let text = exchange(&server, signed_head("HEAD", "missing", &[]).as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("<Code>ServiceUnavailable</Code>"), "{text}");

    drop(first);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = exchange(
            &server,
            signed_head("HEAD", "missing", &[("connection", "close")]).as_bytes(),
        )
        .await;
        if text.starts_with("HTTP/1.1 404") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was never freed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.server.shutdown().await;
}
