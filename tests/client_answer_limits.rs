//! `OssClient` against a hostile server on 127.0.0.1: a raw `TcpListener` that answers
//! with bodies that never end or announce far more than any answer needs. The client must
//! stop at its bound with one clear sentence instead of growing to the body's size, and
//! still download objects larger than the XML cap.

use std::time::Duration;

use bytes::Bytes;
use ossup::protocol::client::{
    ANSWER_LIMIT_BYTES, Body, ClientConfig, InitiateOptions, OssClient, PutOptions,
};
use ossup::protocol::{Credentials, OssError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for 9 MiB over loopback on a busy machine, short enough that a client
/// reading without end fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(10);

/// What the hostile server sends after the status line and headers.
#[derive(Clone)]
enum Hostile {
    /// `Transfer-Encoding: chunked`, chunks of 64 KiB until the client hangs up.
    EndlessChunked,
    /// `Content-Length` of 1 TiB, then bytes until the client hangs up.
    HugeLength,
    /// A well-formed body of exactly this many bytes.
    Exact(Bytes),
}

/// Starts the server: every connection gets `status` with `extra_headers`, then `body`.
async fn hostile_server(
    status: &'static str,
    extra_headers: &'static str,
    body: Hostile,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(answer(stream, status, extra_headers, body.clone()));
        }
    });
    format!("http://{addr}")
}

async fn answer(mut stream: TcpStream, status: &str, extra_headers: &str, body: Hostile) {
    // Read the request head (and whatever part of the body came with it).
    let mut head = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let framing = match &body {
        Hostile::EndlessChunked => "transfer-encoding: chunked\r\n".to_owned(),
        Hostile::HugeLength => format!("content-length: {}\r\n", 1u64 << 40),
        Hostile::Exact(bytes) => format!("content-length: {}\r\n", bytes.len()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\nx-oss-request-id: HOSTILE\r\n{extra_headers}{framing}\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let filler = vec![b'x'; 64 * 1024];
    match body {
        Hostile::EndlessChunked => {
            let mut chunk = format!("{:x}\r\n", filler.len()).into_bytes();
            chunk.extend_from_slice(&filler);
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
        }
        Hostile::HugeLength => while stream.write_all(&filler).await.is_ok() {},
        Hostile::Exact(bytes) => {
            let _ = stream.write_all(&bytes).await;
            // Keep the connection until the client is done with it.
            let _ = stream.read(&mut buf).await;
        }
    }
}

fn client(endpoint: String, answer_limit_bytes: u64) -> OssClient {
    let mut config = ClientConfig::new(endpoint, Credentials::new("HOSTILEKEY", "hostile-secret"));
    config.answer_limit_bytes = answer_limit_bytes;
    OssClient::new(config).expect("client")
}

async fn within_deadline<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("the client kept reading a body that never ends")
}

fn expect_too_long(error: OssError, sentence: &str) {
    assert!(
        matches!(error, OssError::AnswerTooLong { .. }),
        "not AnswerTooLong: {error}"
    );
    assert_eq!(error.to_string(), sentence);
    assert!(!error.is_retryable(), "{error}");
}

#[tokio::test]
async fn list_parts_with_an_endless_body_stops_at_the_default_cap() {
    assert_eq!(ANSWER_LIMIT_BYTES, 8 << 20);
    let endpoint = hostile_server("200 OK", "", Hostile::EndlessChunked).await;
    let error = within_deadline(
        client(endpoint, ANSWER_LIMIT_BYTES).list_parts("bucket", "big.bin", "UPLOAD", 0, None),
    )
    .await
    .expect_err("an endless answer is refused");
    expect_too_long(
        error,
        "the server's answer to ListParts of bucket/big.bin exceeded 8 MiB; stopped reading",
    );
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    let endpoint = hostile_server("200 OK", "", Hostile::HugeLength).await;
    let error = within_deadline(
        client(endpoint, ANSWER_LIMIT_BYTES).list_parts("bucket", "big.bin", "UPLOAD", 0, None),
    )
    .await
    .expect_err("a 1 TiB answer is refused");
    expect_too_long(
        error,
        "the server's answer to ListParts of bucket/big.bin exceeded 8 MiB; stopped reading",
    );
}

#[tokio::test]
async fn an_endless_error_body_stops_at_the_cap() {
    let endpoint = hostile_server("503 Service Unavailable", "", Hostile::EndlessChunked).await;
    let error = within_deadline(client(endpoint, 1 << 20).initiate_multipart_upload(
        "bucket",
        "big.bin",
        &InitiateOptions::default(),
    ))
    .await
    .expect_err("an endless error body is refused");
    expect_too_long(
        error,
        "the server's answer to InitiateMultipartUpload of bucket/big.bin exceeded 1 MiB; stopped reading",
    );
}

#[tokio::test]
async fn a_range_answer_longer_than_asked_is_an_error() {
    let endpoint = hostile_server(
        "206 Partial Content",
        "content-range: bytes 0-999/5000\r\n",
        Hostile::EndlessChunked,
    )
    .await;
    let error = within_deadline(client(endpoint, ANSWER_LIMIT_BYTES).get_object(
        "bucket",
        "big.bin",
        Some(0..1000),
    ))
    .await
    .expect_err("more bytes than the range are refused");
    expect_too_long(
        error,
        "the server's answer to GetObject of bucket/big.bin ran past the 1000 bytes announced for it; stopped reading",
    );
}

#[tokio::test]
async fn objects_larger_than_the_cap_still_download() {
    let object = Bytes::from((0..3u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let endpoint = hostile_server("200 OK", "", Hostile::Exact(object.clone())).await;
    let body = within_deadline(client(endpoint, 1 << 20).get_object("bucket", "big.bin", None))
        .await
        .expect("an object of 3 MiB downloads under a 1 MiB answer cap");
    assert_eq!(body, object);
}

#[tokio::test]
async fn an_upload_answer_with_an_endless_body_is_discarded_within_a_bound() {
    let endpoint = hostile_server("200 OK", "etag: \"E\"\r\n", Hostile::EndlessChunked).await;
    let error = within_deadline(client(endpoint, ANSWER_LIMIT_BYTES).put_object(
        "bucket",
        "small.txt",
        Body::Bytes(Bytes::from_static(b"hello")),
        &PutOptions::default(),
        None,
    ))
    .await
    .expect_err("an endless upload answer is refused");
    expect_too_long(
        error,
        "the server's answer to PutObject of bucket/small.txt exceeded 64 KiB; stopped reading",
    );
}
