//! `ossup serve` over real HTTP: every operation's happy path and every error code it
//! answers, provoked by real conditions, with raw signed requests from reqwest.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use ossup::protocol::Credentials;
use ossup::protocol::error::ServiceError;
use ossup::protocol::signing::{RequestTarget, SignatureVersion, sign_headers};
use ossup::protocol::xml::{
    self, CompleteMultipartUpload, CompletePart, InitiateMultipartUploadResult, ListBucketResult,
    ListMultipartUploadsResult, ListObjectsV2Result, ListPartsResult,
};
use ossup::server::{
    self, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, FailStatus, FaultConfig,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

mod support;

use support::data::data;
use support::server::{TestServer, raw_http, sign_v1};

const BUCKET: &str = "demo";
const MIN_PART: usize = 102_400;

/// Everything but `A-Za-z0-9-_.~` is escaped, `/` included, as oss2 does.
const KEY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error this answer carries, from the body or (HEAD) the `x-oss-err` header.
    fn error(&self) -> ServiceError {
        let body = if self.body.is_empty() {
            let encoded = self.header("x-oss-err").expect("an x-oss-err header");
            BASE64.decode(encoded).expect("x-oss-err is base64")
        } else {
            self.body.clone()
        };
        xml::parse_error_body(self.status, &body)
            .unwrap_or_else(|| panic!("not an error body: {}", String::from_utf8_lossy(&body)))
    }

    fn expect_error(&self, status: u16, code: &str) -> ServiceError {
        let error = self.error();
        assert_eq!(
            (self.status, error.code.as_str()),
            (status, code),
            "{error:?}"
        );
        let request_id = self.header("x-oss-request-id").unwrap_or_default();
        assert_eq!(error.request_id.as_deref(), Some(request_id));
        error
    }

    fn xml<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        xml::from_xml(&self.body).expect("an XML answer")
    }

    fn crc64(&self) -> u64 {
        self.header("x-oss-hash-crc64ecma")
            .and_then(|v| v.parse().ok())
            .expect("an x-oss-hash-crc64ecma header")
    }
}

struct Harness {
    server: TestServer,
    http: reqwest::Client,
    credentials: Credentials,
}

struct Req<'a> {
    method: &'a str,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl<'a> Req<'a> {
    fn new(method: &'a str, key: Option<&'a str>) -> Self {
        Self {
            method,
            bucket: Some(BUCKET),
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn bucket(mut self, bucket: &'a str) -> Self {
        self.bucket = Some(bucket);
        self
    }
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode_upper(md5_of(data)))
}

/// CRC-64/XZ from an independent implementation.
fn crc64_oracle(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(data)
}

async fn start_on(dir: tempfile::TempDir) -> Harness {
    let http = raw_http(|builder| builder.timeout(Duration::from_secs(60)));
    let server = TestServer::start_in(dir, |_| {}).await;
    Harness {
        server,
        http,
        credentials: Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
    }
}

async fn start() -> Harness {
    start_on(tempfile::tempdir().expect("temp dir")).await
}

impl Harness {
    fn url(&self, bucket: Option<&str>, key: Option<&str>, query: &[(String, String)]) -> String {
        let mut url = self.server.endpoint();
        url.push('/');
        if let Some(bucket) = bucket {
            url.push_str(bucket);
            url.push('/');
        }
        if let Some(key) = key {
            url.push_str(&utf8_percent_encode(key, KEY_ESCAPE).to_string());
        }
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(n, v)| {
                    let n = utf8_percent_encode(n, KEY_ESCAPE);
                    if v.is_empty() {
                        n.to_string()
                    } else {
                        format!("{n}={}", utf8_percent_encode(v, KEY_ESCAPE))
                    }
                })
                .collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }

    fn build(&self, req: Req<'_>, credentials: &Credentials) -> reqwest::RequestBuilder {
        let mut headers = req.headers.clone();
        let target = RequestTarget {
            method: req.method,
            bucket: req.bucket,
            key: req.key,
            query: &req.query,
        };
        sign_v1(credentials, &target, &mut headers);
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("method");
        let mut builder = self
            .http
            .request(method, self.url(req.bucket, req.key, &req.query));
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.body(req.body)
    }

    async fn send_with(&self, req: Req<'_>, credentials: &Credentials) -> Answer {
        let response = self
            .build(req, credentials)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a whole body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn send(&self, req: Req<'_>) -> Answer {
        let credentials = self.credentials.clone();
        self.send_with(req, &credentials).await
    }

    async fn put(&self, key: &str, body: &[u8]) -> Answer {
        self.send(Req::new("PUT", Some(key)).body(body)).await
    }

    async fn initiate(&self, key: &str) -> String {
        let answer = self
            .send(Req::new("POST", Some(key)).query("uploads", ""))
            .await;
        answer.xml::<InitiateMultipartUploadResult>().upload_id
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u32, body: &[u8]) -> Answer {
        self.send(
            Req::new("PUT", Some(key))
                .query("partNumber", &number.to_string())
                .query("uploadId", upload_id)
                .body(body),
        )
        .await
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[(u32, String)]) -> Answer {
        let body = CompleteMultipartUpload {
            parts: parts
                .iter()
                .map(|(n, etag)| CompletePart {
                    part_number: *n,
                    etag: etag.clone(),
                })
                .collect(),
        }
        .to_xml();
        self.send(
            Req::new("POST", Some(key))
                .query("uploadId", upload_id)
                .body(body),
        )
        .await
    }

    async fn list_parts(&self, key: &str, upload_id: &str, marker: u32) -> Answer {
        self.send(
            Req::new("GET", Some(key))
                .query("uploadId", upload_id)
                .query("part-number-marker", &marker.to_string()),
        )
        .await
    }
}

#[tokio::test]
async fn put_head_get_range_delete() {
    let h = start().await;
    let body = data(300_000, 1);
    let answer = h
        .send(
            Req::new("PUT", Some("docs/report.pdf"))
                .header("Content-MD5", &BASE64.encode(md5_of(&body)))
                .header("x-oss-meta-owner", "alice")
                .body(body.clone()),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("etag"), Some(quoted_md5(&body).as_str()));
    assert_eq!(answer.crc64(), crc64_oracle(&body));
    assert_eq!(
        answer.header("content-md5"),
        Some(BASE64.encode(md5_of(&body)).as_str())
    );
    let request_id = answer.header("x-oss-request-id").unwrap_or_default();
    assert_eq!(request_id.len(), 24);
    assert!(request_id.bytes().all(|b| b.is_ascii_hexdigit()));

    let head = h.send(Req::new("HEAD", Some("docs/report.pdf"))).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("300000"));
    assert_eq!(head.header("content-type"), Some("application/pdf"));
    assert_eq!(head.header("x-oss-object-type"), Some("Normal"));
    assert_eq!(head.header("x-oss-storage-class"), Some("Standard"));
    assert_eq!(head.header("x-oss-meta-owner"), Some("alice"));
    assert_eq!(head.header("etag"), Some(quoted_md5(&body).as_str()));
    assert_eq!(head.crc64(), crc64_oracle(&body));
    let modified = head.header("last-modified").expect("Last-Modified");
    assert!(httpdate::parse_http_date(modified).is_ok(), "{modified}");

    let get = h.send(Req::new("GET", Some("docs/report.pdf"))).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body, body);

    let range = h
        .send(Req::new("GET", Some("docs/report.pdf")).header("Range", "bytes=1000-1999"))
        .await;
    assert_eq!(range.status, 206);
    assert_eq!(
        range.header("content-range"),
        Some("bytes 1000-1999/300000")
    );
    assert_eq!(range.body, body[1000..2000]);
    let suffix = h
        .send(Req::new("GET", Some("docs/report.pdf")).header("Range", "bytes=-10"))
        .await;
    assert_eq!(suffix.body, body[body.len() - 10..]);
    h.send(Req::new("GET", Some("docs/report.pdf")).header("Range", "bytes=300000-"))
        .await
        .expect_error(416, "InvalidRange");

    let delete = h.send(Req::new("DELETE", Some("docs/report.pdf"))).await;
    assert_eq!(delete.status, 204);
    let gone = h.send(Req::new("HEAD", Some("docs/report.pdf"))).await;
    assert!(gone.body.is_empty());
    gone.expect_error(404, "NoSuchKey");
    h.send(Req::new("GET", Some("docs/report.pdf")))
        .await
        .expect_error(404, "NoSuchKey");
}

#[tokio::test]
async fn keys_with_slashes_unicode_and_plus() {
    let h = start().await;
    let key = "dir/sub dir/a+b ü 文件.txt";
    assert_eq!(h.put(key, b"payload").await.status, 200);
    // The same key with its slashes literal in the path.
    let literal = format!(
        "{}/{BUCKET}/{}",
        h.server.endpoint(),
        key.split('/')
            .map(|s| utf8_percent_encode(s, KEY_ESCAPE).to_string())
            .collect::<Vec<_>>()
            .join("/")
    );
    let mut headers = Vec::new();
    let target = RequestTarget {
        method: "GET",
        bucket: Some(BUCKET),
        key: Some(key),
        query: &[],
    };
    sign_v1(&h.credentials, &target, &mut headers);
    let mut request = h.http.get(literal);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"payload");

    let listed: ListBucketResult = h
        .send(
            Req::new("GET", None)
                .query("prefix", "dir/sub dir/")
                .query("encoding-type", "url"),
        )
        .await
        .xml();
    assert_eq!(listed.contents.len(), 1);
    assert_eq!(listed.contents[0].key, xml::url_encode_field(key));
}

#[tokio::test]
async fn name_and_digest_errors() {
    let h = start().await;
    h.send(
        Req::new("PUT", Some("k"))
            .bucket("missing-bucket")
            .body("x"),
    )
    .await
    .expect_error(404, "NoSuchBucket");
    h.send(Req::new("PUT", Some("k")).bucket("Bad_Bucket").body("x"))
        .await
        .expect_error(400, "InvalidBucketName");
    h.send(Req::new("PUT", None).bucket("a"))
        .await
        .expect_error(400, "InvalidBucketName");
    h.send(Req::new("PUT", Some("/leading-slash")).body("x"))
        .await
        .expect_error(400, "InvalidObjectName");
    let long_key = "k".repeat(1024);
    h.send(Req::new("PUT", Some(&long_key)).body("x"))
        .await
        .expect_error(400, "InvalidObjectName");
    h.send(
        Req::new("PUT", Some("digest"))
            .header("Content-MD5", &BASE64.encode(md5_of(b"other")))
            .body("x"),
    )
    .await
    .expect_error(400, "InvalidDigest");
    // A refused body leaves nothing behind.
    h.send(Req::new("HEAD", Some("digest")))
        .await
        .expect_error(404, "NoSuchKey");

    assert_eq!(h.put("taken", b"first").await.status, 200);
    h.send(
        Req::new("PUT", Some("taken"))
            .header("x-oss-forbid-overwrite", "true")
            .body("second"),
    )
    .await
    .expect_error(409, "FileAlreadyExists");
    h.send(
        Req::new("POST", Some("taken"))
            .query("uploads", "")
            .header("x-oss-forbid-overwrite", "true"),
    )
    .await
    .expect_error(409, "FileAlreadyExists");
    assert_eq!(
        h.send(Req::new("GET", Some("taken"))).await.body,
        b"first".to_vec()
    );
    // Overwriting without the header replaces the object.
    assert_eq!(h.put("taken", b"second").await.status, 200);
    assert_eq!(
        h.send(Req::new("GET", Some("taken"))).await.body,
        b"second".to_vec()
    );
}

#[tokio::test]
async fn buckets_are_created_and_listed() {
    let h = start().await;
    assert_eq!(
        h.send(Req::new("PUT", None).bucket("photos")).await.status,
        200
    );
    assert_eq!(
        h.send(Req::new("PUT", Some("a.jpg")).bucket("photos").body("img"))
            .await
            .status,
        200
    );
    let listed: ListBucketResult = h.send(Req::new("GET", None).bucket("photos")).await.xml();
    assert_eq!(listed.name, "photos");
    assert_eq!(listed.contents.len(), 1);
    let service = h
        .send(Req {
            bucket: None,
            ..Req::new("GET", None)
        })
        .await;
    let text = String::from_utf8_lossy(&service.body);
    assert!(text.contains("<Name>photos</Name>") && text.contains("<Name>demo</Name>"));

    // Virtual-hosted style: the bucket in the Host header, the key alone in the path.
    let mut headers = vec![("Host".to_owned(), "photos.localhost".to_owned())];
    let target = RequestTarget {
        method: "GET",
        bucket: Some("photos"),
        key: Some("a.jpg"),
        query: &[],
    };
    sign_v1(&h.credentials, &target, &mut headers);
    let mut request = h.http.get(format!("{}/a.jpg", h.server.endpoint()));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"img");
}

#[tokio::test]
async fn list_objects_pages_with_delimiter() {
    let h = start().await;
    for key in ["a.txt", "logs/1", "logs/2", "m.txt", "photos/x/1", "z.txt"] {
        assert_eq!(h.put(key, key.as_bytes()).await.status, 200);
    }
    let mut marker = String::new();
    let mut seen = Vec::new();
    loop {
        let page: ListBucketResult = h
            .send(
                Req::new("GET", None)
                    .query("delimiter", "/")
                    .query("max-keys", "2")
                    .query("marker", &marker),
            )
            .await
            .xml();
        seen.extend(page.contents.iter().map(|o| o.key.clone()));
        seen.extend(page.common_prefixes.iter().map(|p| p.prefix.clone()));
        if !page.is_truncated {
            break;
        }
        marker = page.next_marker.expect("NextMarker on a truncated page");
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "logs/", "m.txt", "photos/", "z.txt"]);
    h.send(Req::new("GET", None).query("max-keys", "1001"))
        .await
        .expect_error(400, "InvalidArgument");
}

#[tokio::test]
async fn list_objects_v2_as_sdks_send_it() {
    let h = start().await;
    for key in ["a b.txt", "logs/1", "logs/2", "z+.txt"] {
        assert_eq!(h.put(key, b"").await.status, 200);
    }
    // oss2 sends every parameter, empty or not, and a signed bare `continuation-token`.
    let v2 = |continuation_token: &str, fetch_owner: &str, max_keys: &str| {
        Req::new("GET", None)
            .query("list-type", "2")
            .query("prefix", "")
            .query("delimiter", "/")
            .query("continuation-token", continuation_token)
            .query("start-after", "")
            .query("fetch-owner", fetch_owner)
            .query("max-keys", max_keys)
            .query("encoding-type", "url")
    };
    let first = h.send(v2("", "false", "2")).await;
    let text = String::from_utf8(first.body.clone()).unwrap();
    assert!(text.contains("<KeyCount>2</KeyCount>"), "{text}");
    assert!(text.contains("<Key>a%20b.txt</Key>"), "{text}");
    assert!(!text.contains("<Owner>"), "{text}");
    assert!(
        !text.contains("<ContinuationToken>"),
        "nothing to echo: {text}"
    );
    let first: ListObjectsV2Result = first.xml();
    assert_eq!(first.common_prefixes[0].prefix, "logs%2F");
    let token = first.next_continuation_token.expect("a truncated page");

    let second = h.send(v2(&token, "true", "2")).await;
    let text = String::from_utf8(second.body.clone()).unwrap();
    assert!(
        text.contains("<Owner>") && text.contains("<ID>ossup</ID>"),
        "{text}"
    );
    let second: ListObjectsV2Result = second.xml();
    assert_eq!(second.continuation_token.as_deref(), Some(token.as_str()));
    assert_eq!(second.contents[0].key, "z%2B.txt");
    assert!(!second.is_truncated);

    for (name, value) in [
        ("max-keys", "-1"),
        ("max-keys", "0"),
        ("max-keys", "1001"),
        ("max-keys", "ten"),
        ("fetch-owner", "yes"),
        ("continuation-token", "not-ours"),
    ] {
        let error = h
            .send(
                Req::new("GET", None)
                    .query("list-type", "2")
                    .query(name, value),
            )
            .await
            .expect_error(400, "InvalidArgument");
        assert_eq!(error.detail("ArgumentName"), Some(name), "{error:?}");
    }
}

#[tokio::test]
async fn multipart_upload_complete_and_read_across_parts() {
    let h = start().await;
    let key = "video/movie.mp4";
    let upload_id = h.initiate(key).await;
    let parts = [data(MIN_PART, 1), data(MIN_PART + 7, 2), data(5_000, 3)];

    // Part 2 first with other bytes, then replaced: the second upload wins.
    let stale = h.upload_part(key, &upload_id, 2, &data(MIN_PART, 9)).await;
    assert_eq!(stale.status, 200);
    let mut etags = Vec::new();
    for (index, part) in parts.iter().enumerate().rev() {
        let number = index as u32 + 1;
        let answer = h
            .send(
                Req::new("PUT", Some(key))
                    .query("partNumber", &number.to_string())
                    .query("uploadId", &upload_id)
                    .header("Content-MD5", &BASE64.encode(md5_of(part)))
                    .body(part.clone()),
            )
            .await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.header("etag"), Some(quoted_md5(part).as_str()));
        assert_eq!(answer.crc64(), crc64_oracle(part));
        etags.push((number, quoted_md5(part)));
    }
    etags.reverse();

    let listed: ListPartsResult = h.list_parts(key, &upload_id, 0).await.xml();
    assert_eq!(listed.parts.len(), 3);
    for (summary, part) in listed.parts.iter().zip(&parts) {
        assert_eq!(summary.size, part.len() as u64);
        assert_eq!(summary.etag, quoted_md5(part));
        assert_eq!(summary.hash_crc64ecma, Some(crc64_oracle(part)));
    }

    let uploads: ListMultipartUploadsResult = h
        .send(Req::new("GET", None).query("uploads", ""))
        .await
        .xml();
    assert_eq!(uploads.uploads.len(), 1);
    assert_eq!(uploads.uploads[0].upload_id, upload_id);

    let completed = h.complete(key, &upload_id, &etags).await;
    let whole: Vec<u8> = parts.concat();
    let mut binary_md5s = Vec::new();
    for part in &parts {
        binary_md5s.extend_from_slice(&md5_of(part));
    }
    let expected_etag = format!("\"{}-3\"", hex::encode_upper(md5_of(&binary_md5s)));
    assert_eq!(completed.header("etag"), Some(expected_etag.as_str()));
    assert_eq!(completed.crc64(), crc64_oracle(&whole));
    let result: xml::CompleteMultipartUploadResult = completed.xml();
    assert_eq!(result.etag, expected_etag);
    assert_eq!(result.key, key);

    let head = h.send(Req::new("HEAD", Some(key))).await;
    assert_eq!(head.header("x-oss-object-type"), Some("Multipart"));
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert_eq!(
        head.header("content-length"),
        Some(whole.len().to_string().as_str())
    );
    assert_eq!(head.crc64(), crc64_oracle(&whole));
    assert_eq!(h.send(Req::new("GET", Some(key))).await.body, whole);

    // Ranges that start in one part and end in another.
    for (start, end) in [
        (MIN_PART - 10, MIN_PART + 10),
        (MIN_PART - 1, 2 * MIN_PART + 8),
        (0, whole.len() - 1),
        (2 * MIN_PART + 7, 2 * MIN_PART + 7),
    ] {
        let answer = h
            .send(Req::new("GET", Some(key)).header("Range", &format!("bytes={start}-{end}")))
            .await;
        assert_eq!(answer.status, 206);
        assert_eq!(answer.body, whole[start..=end], "range {start}-{end}");
    }

    // The upload is finished: it can be neither listed, nor completed, nor aborted.
    h.list_parts(key, &upload_id, 0)
        .await
        .expect_error(404, "NoSuchUpload");
    h.complete(key, &upload_id, &etags)
        .await
        .expect_error(404, "NoSuchUpload");
    h.send(Req::new("DELETE", Some(key)).query("uploadId", &upload_id))
        .await
        .expect_error(404, "NoSuchUpload");
}

#[tokio::test]
async fn complete_all_and_abort() {
    let h = start().await;
    let upload_id = h.initiate("all.bin").await;
    let parts = [data(MIN_PART, 4), data(10, 5)];
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(
            h.upload_part("all.bin", &upload_id, i as u32 + 1, part)
                .await
                .status,
            200
        );
    }
    h.send(
        Req::new("POST", Some("all.bin"))
            .query("uploadId", &upload_id)
            .header("x-oss-complete-all", "yes")
            .body("<CompleteMultipartUpload/>"),
    )
    .await
    .expect_error(400, "InvalidArgument");
    let completed = h
        .send(
            Req::new("POST", Some("all.bin"))
                .query("uploadId", &upload_id)
                .header("x-oss-complete-all", "yes"),
        )
        .await;
    assert_eq!(completed.status, 200);
    assert_eq!(completed.crc64(), crc64_oracle(&parts.concat()));
    assert_eq!(
        h.send(Req::new("GET", Some("all.bin"))).await.body,
        parts.concat()
    );

    let doomed = h.initiate("doomed.bin").await;
    assert_eq!(
        h.upload_part("doomed.bin", &doomed, 1, b"bytes")
            .await
            .status,
        200
    );
    let aborted = h
        .send(Req::new("DELETE", Some("doomed.bin")).query("uploadId", &doomed))
        .await;
    assert_eq!(aborted.status, 204);
    h.list_parts("doomed.bin", &doomed, 0)
        .await
        .expect_error(404, "NoSuchUpload");
    h.upload_part("doomed.bin", &doomed, 2, b"late")
        .await
        .expect_error(404, "NoSuchUpload");
    h.send(Req::new("HEAD", Some("doomed.bin")))
        .await
        .expect_error(404, "NoSuchKey");
}

#[tokio::test]
async fn complete_refusals() {
    let h = start().await;
    let key = "refused.bin";
    let upload_id = h.initiate(key).await;
    let (big, small) = (data(MIN_PART, 6), data(100, 7));
    assert_eq!(h.upload_part(key, &upload_id, 1, &small).await.status, 200);
    assert_eq!(h.upload_part(key, &upload_id, 2, &big).await.status, 200);
    assert_eq!(h.upload_part(key, &upload_id, 3, &small).await.status, 200);

    let order = h
        .complete(
            key,
            &upload_id,
            &[(2, quoted_md5(&big)), (1, quoted_md5(&small))],
        )
        .await
        .expect_error(400, "InvalidPartOrder");
    assert_eq!(order.ec.as_deref(), Some("0042-00000209"));
    h.complete(
        key,
        &upload_id,
        &[(2, quoted_md5(&big)), (4, quoted_md5(&small))],
    )
    .await
    .expect_error(400, "InvalidPart");
    let wrong = h
        .complete(key, &upload_id, &[(2, quoted_md5(&small))])
        .await
        .expect_error(400, "InvalidPart");
    assert_eq!(wrong.detail("PartNumber"), Some("2"));
    let too_small = h
        .complete(
            key,
            &upload_id,
            &[(1, quoted_md5(&small)), (2, quoted_md5(&big))],
        )
        .await
        .expect_error(400, "EntityTooSmall");
    assert_eq!(too_small.ec.as_deref(), Some("0042-00000213"));
    h.send(
        Req::new("POST", Some(key))
            .query("uploadId", &upload_id)
            .body("<CompleteMultipartUpload><Part>"),
    )
    .await
    .expect_error(400, "MalformedXML");
    h.complete(
        key,
        "0000000000000000DEADBEEF00000000",
        &[(2, quoted_md5(&big))],
    )
    .await
    .expect_error(404, "NoSuchUpload");

    assert_eq!(h.put(key, b"exists").await.status, 200);
    let exists = h
        .send(
            Req::new("POST", Some(key))
                .query("uploadId", &upload_id)
                .header("x-oss-forbid-overwrite", "true")
                .body(
                    CompleteMultipartUpload {
                        parts: vec![CompletePart {
                            part_number: 2,
                            etag: quoted_md5(&big),
                        }],
                    }
                    .to_xml(),
                ),
        )
        .await
        .expect_error(409, "FileAlreadyExists");
    assert_eq!(exists.ec.as_deref(), Some("0042-00000214"));

    // None of the refusals consumed the upload: the valid request still completes.
    let done = h
        .complete(
            key,
            &upload_id,
            &[(2, quoted_md5(&big)), (3, quoted_md5(&small))],
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(
        h.send(Req::new("GET", Some(key))).await.body,
        [big, small].concat()
    );
}

#[tokio::test]
async fn part_number_and_page_size_arguments() {
    let h = start().await;
    let upload_id = h.initiate("args.bin").await;
    for bad in ["0", "10001", "abc", "-1"] {
        let refused = h
            .send(
                Req::new("PUT", Some("args.bin"))
                    .query("partNumber", bad)
                    .query("uploadId", &upload_id)
                    .body("x"),
            )
            .await
            .expect_error(400, "InvalidArgument");
        assert_eq!(refused.detail("ArgumentName"), Some("partNumber"));
        assert_eq!(refused.detail("ArgumentValue"), Some(bad));
    }
    assert_eq!(
        h.upload_part("args.bin", &upload_id, 10_000, b"x")
            .await
            .status,
        200
    );
    // A large refused body is read and dropped, so the client sees the answer.
    h.upload_part("args.bin", "NOSUCHUPLOAD", 1, &data(8 << 20, 2))
        .await
        .expect_error(404, "NoSuchUpload");
    for (name, value) in [("max-parts", "1001"), ("max-parts", "many")] {
        let refused = h
            .send(
                Req::new("GET", Some("args.bin"))
                    .query("uploadId", &upload_id)
                    .query(name, value),
            )
            .await
            .expect_error(400, "InvalidArgument");
        assert_eq!(refused.detail("ArgumentName"), Some(name));
    }
    for value in ["1001", "0", "x"] {
        let refused = h
            .send(
                Req::new("GET", None)
                    .query("uploads", "")
                    .query("max-uploads", value),
            )
            .await
            .expect_error(400, "InvalidArgument");
        assert_eq!(refused.detail("ArgumentValue"), Some(value));
    }
}

#[tokio::test]
async fn list_parts_pages_past_one_thousand() {
    let h = start().await;
    let upload_id = h.initiate("many-parts.bin").await;
    let total = 1005u32;
    let uploads = futures_util::stream::iter(1..=total)
        .map(|n| {
            let (h, upload_id) = (&h, &upload_id);
            async move {
                h.upload_part("many-parts.bin", upload_id, n, &n.to_le_bytes())
                    .await
                    .status
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<u16>>()
        .await;
    assert!(uploads.iter().all(|s| *s == 200));

    let first: ListPartsResult = h.list_parts("many-parts.bin", &upload_id, 0).await.xml();
    assert_eq!(first.parts.len(), 1000);
    assert!(first.is_truncated);
    assert_eq!(first.max_parts, 1000);
    assert_eq!(first.next_part_number_marker, 1000);
    let second: ListPartsResult = h
        .list_parts("many-parts.bin", &upload_id, first.next_part_number_marker)
        .await
        .xml();
    assert!(!second.is_truncated);
    let numbers: Vec<u32> = first
        .parts
        .iter()
        .chain(&second.parts)
        .map(|p| p.part_number)
        .collect();
    assert_eq!(numbers, (1..=total).collect::<Vec<_>>());
    let small_pages: ListPartsResult = h
        .send(
            Req::new("GET", Some("many-parts.bin"))
                .query("uploadId", &upload_id)
                .query("max-parts", "7")
                .query("part-number-marker", "998"),
        )
        .await
        .xml();
    assert_eq!(small_pages.parts.first().map(|p| p.part_number), Some(999));
    assert_eq!(small_pages.next_part_number_marker, 1005);
    assert!(!small_pages.is_truncated);
}

#[tokio::test]
async fn list_uploads_pages_past_one_thousand() {
    let h = start().await;
    let keys = ["alpha/one", "beta", "gamma/two"];
    let mut created: Vec<(String, String)> = Vec::new();
    for _ in 0..335 {
        for key in keys {
            let id = h.initiate(key).await;
            created.push((key.to_owned(), id));
        }
    }
    let mut listed: Vec<(String, String)> = Vec::new();
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    let mut pages = 0;
    loop {
        let page: ListMultipartUploadsResult = h
            .send(
                Req::new("GET", None)
                    .query("uploads", "")
                    .query("key-marker", &key_marker)
                    .query("upload-id-marker", &id_marker)
                    .query("encoding-type", "url"),
            )
            .await
            .xml();
        pages += 1;
        let mut page = page;
        page.decode_urls();
        listed.extend(
            page.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        if !page.is_truncated {
            break;
        }
        assert_eq!(page.uploads.len(), 1000);
        key_marker = page.next_key_marker.clone();
        id_marker = page.next_upload_id_marker.clone();
    }
    assert_eq!(pages, 2);
    // Sorted by key, then by initiation, which is the order they were created in.
    let mut expected = created.clone();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, expected);

    let grouped: ListMultipartUploadsResult = h
        .send(
            Req::new("GET", None)
                .query("uploads", "")
                .query("delimiter", "/"),
        )
        .await
        .xml();
    let prefixes: BTreeSet<String> = grouped
        .common_prefixes
        .iter()
        .map(|p| p.prefix.clone())
        .collect();
    assert_eq!(
        prefixes,
        BTreeSet::from(["alpha/".to_owned(), "gamma/".to_owned()])
    );
    assert!(grouped.uploads.iter().all(|u| u.key == "beta"));
    assert_eq!(grouped.uploads.len(), 335);
}

#[tokio::test]
async fn uploads_and_objects_survive_a_restart() {
    let h = start().await;
    let upload_id = h.initiate("restart.bin").await;
    let part = data(MIN_PART, 8);
    assert_eq!(
        h.upload_part("restart.bin", &upload_id, 1, &part)
            .await
            .status,
        200
    );
    assert_eq!(h.put("kept.txt", b"still here").await.status, 200);
    let TestServer { server, dir } = h.server;
    server.shutdown().await;

    let h = start_on(dir).await;
    let uploads: ListMultipartUploadsResult = h
        .send(Req::new("GET", None).query("uploads", ""))
        .await
        .xml();
    assert_eq!(uploads.uploads.len(), 1);
    assert_eq!(uploads.uploads[0].upload_id, upload_id);
    let parts: ListPartsResult = h.list_parts("restart.bin", &upload_id, 0).await.xml();
    assert_eq!(parts.parts.len(), 1);
    assert_eq!(parts.parts[0].etag, quoted_md5(&part));
    // New uploads of the same key still sort after the old one.
    let newer = h.initiate("restart.bin").await;
    assert!(newer > upload_id);

    let tail = data(77, 9);
    assert_eq!(
        h.upload_part("restart.bin", &upload_id, 2, &tail)
            .await
            .status,
        200
    );
    let done = h
        .complete(
            "restart.bin",
            &upload_id,
            &[(1, quoted_md5(&part)), (2, quoted_md5(&tail))],
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(
        h.send(Req::new("GET", Some("restart.bin"))).await.body,
        [part, tail].concat()
    );
    assert_eq!(
        h.send(Req::new("GET", Some("kept.txt"))).await.body,
        b"still here".to_vec()
    );
    assert!(h.server.dir.path().join("buckets").join(BUCKET).is_dir());
}

#[tokio::test]
async fn unsigned_or_unknown_key_is_refused() {
    let h = start().await;
    let unsigned = h
        .http
        .get(format!("{}/{BUCKET}/", h.server.endpoint()))
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status().as_u16(), 403);
    let stranger = Credentials::new("SOMEONEELSE", "secret");
    h.send_with(Req::new("GET", None), &stranger)
        .await
        .expect_error(403, "InvalidAccessKeyId");
    let wrong_secret = Credentials::new(DEFAULT_ACCESS_KEY_ID, "not-the-secret");
    h.send_with(Req::new("PUT", Some("k")).body("x"), &wrong_secret)
        .await
        .expect_error(403, "SignatureDoesNotMatch");
    h.send(Req::new("HEAD", Some("k")))
        .await
        .expect_error(404, "NoSuchKey");
}

#[tokio::test]
async fn v4_signatures_are_accepted() {
    let h = start().await;
    let mut headers = Vec::new();
    let query = vec![("uploads".to_owned(), String::new())];
    let target = RequestTarget {
        method: "POST",
        bucket: Some(BUCKET),
        key: Some("v4/key.bin"),
        query: &query,
    };
    sign_headers(
        &h.credentials,
        &SignatureVersion::V4 {
            region: server::DEFAULT_REGION.to_owned(),
        },
        &target,
        &mut headers,
        SystemTime::now(),
    );
    let mut request = h.http.post(h.url(Some(BUCKET), Some("v4/key.bin"), &query));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.bytes().await.expect("body");
    let initiated: InitiateMultipartUploadResult = xml::from_xml(&body).expect("XML");
    assert_eq!(initiated.key, "v4/key.bin");
}

#[tokio::test]
async fn injected_failures_and_delays() {
    let h = start().await;
    let faults = h.server.faults();
    faults.set(FaultConfig {
        fail_rate: 1.0,
        ..FaultConfig::default()
    });
    for _ in 0..3 {
        h.put("f.txt", &data(4 << 20, 1))
            .await
            .expect_error(500, "InternalError");
    }
    faults.set(FaultConfig {
        fail_rate: 1.0,
        fail_status: FailStatus::ServiceUnavailable,
        ..FaultConfig::default()
    });
    h.put("f.txt", b"x")
        .await
        .expect_error(503, "ServiceUnavailable");
    faults.clear();
    assert_eq!(h.put("f.txt", b"x").await.status, 200);

    faults.fail_next(2);
    h.put("f.txt", b"x")
        .await
        .expect_error(500, "InternalError");
    h.put("f.txt", b"x")
        .await
        .expect_error(500, "InternalError");
    assert_eq!(h.put("f.txt", b"x").await.status, 200);

    // A seeded rate fails the same requests on every run.
    let outcomes = |seed| {
        let (h, faults) = (&h, faults.clone());
        async move {
            faults.set(FaultConfig {
                fail_rate: 0.5,
                seed,
                ..FaultConfig::default()
            });
            let mut statuses = Vec::new();
            for _ in 0..20 {
                statuses.push(h.put("seeded.txt", b"x").await.status);
            }
            statuses
        }
    };
    let first = outcomes(7).await;
    assert_eq!(first, outcomes(7).await);
    assert!(first.contains(&200) && first.contains(&500), "{first:?}");

    faults.set(FaultConfig {
        delay: Duration::from_millis(200),
        ..FaultConfig::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(h.put("slow.txt", b"x").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn cut_connections_break_the_transfer() {
    let h = start().await;
    let faults = h.server.faults();
    faults.cut_next(1, 64 * 1024);
    let body = data(4 << 20, 3);
    let result = h
        .build(
            Req::new("PUT", Some("cut.bin")).body(body.clone()),
            &h.credentials,
        )
        .send()
        .await;
    match result {
        Err(error) => assert!(!error.is_status(), "{error:?}"),
        Ok(response) => panic!("expected a broken connection, got {}", response.status()),
    }
    h.send(Req::new("HEAD", Some("cut.bin")))
        .await
        .expect_error(404, "NoSuchKey");

    // Rate-driven cuts on parts only: the part fails, other requests go through.
    let upload_id = h.initiate("cut-part.bin").await;
    faults.set(FaultConfig {
        cut_rate: 1.0,
        cut_after_bytes: 1000,
        scope: server::FaultScope::UploadPart,
        ..FaultConfig::default()
    });
    let part = h
        .build(
            Req::new("PUT", Some("cut-part.bin"))
                .query("partNumber", "1")
                .query("uploadId", &upload_id)
                .body(data(MIN_PART, 1)),
            &h.credentials,
        )
        .send()
        .await;
    assert!(part.is_err(), "the part upload should break");
    let parts: ListPartsResult = h.list_parts("cut-part.bin", &upload_id, 0).await.xml();
    assert!(parts.parts.is_empty());
    faults.clear();
    assert_eq!(h.put("cut.bin", &body).await.status, 200);
}

#[tokio::test]
async fn serve_command_prints_its_endpoint_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossup"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bucket",
            "cli-bucket",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ossup serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("text");
    let endpoint = first
        .strip_prefix("ossup serve listening on ")
        .expect("the banner line")
        .to_owned();
    let banner: Vec<String> = lines.by_ref().take(5).map_while(Result::ok).collect();
    assert!(
        banner.iter().any(|l| l == "bucket: cli-bucket"),
        "{banner:?}"
    );
    assert!(
        banner
            .iter()
            .any(|l| l == &format!("access key secret: {DEFAULT_ACCESS_KEY_SECRET}")),
        "{banner:?}"
    );

    let credentials = Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    let mut headers = Vec::new();
    let target = RequestTarget {
        method: "GET",
        bucket: Some("cli-bucket"),
        key: None,
        query: &[],
    };
    sign_v1(&credentials, &target, &mut headers);
    let mut request = raw_http(|builder| builder).get(format!("{endpoint}/cli-bucket/"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);

    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn v4_signed_payload_hash_must_match_the_body() {
    use sha2::{Digest as _, Sha256};
    let h = start().await;
    let v4 = SignatureVersion::V4 {
        region: server::DEFAULT_REGION.to_owned(),
    };
    let put = |key: &'static str, signed_body: &'static [u8], body: &'static [u8]| {
        let mut headers = vec![(
            "x-oss-content-sha256".to_owned(),
            hex::encode(Sha256::digest(signed_body)),
        )];
        let target = RequestTarget {
            method: "PUT",
            bucket: Some(BUCKET),
            key: Some(key),
            query: &[],
        };
        sign_headers(
            &h.credentials,
            &v4,
            &target,
            &mut headers,
            SystemTime::now(),
        );
        let mut request = h.http.put(h.url(Some(BUCKET), Some(key), &[]));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(body)
    };

    let answer = put("sha/good", b"signed body", b"signed body")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 200);

    let answer = put("sha/bad", b"signed body", b"another body")
        .send()
        .await
        .expect("answer");
    let status = answer.status().as_u16();
    let body = answer.bytes().await.expect("body");
    let error = xml::parse_error_body(status, &body).expect("an error body");
    assert_eq!((status, error.code.as_str()), (400, "InvalidArgument"));
    assert_eq!(error.ec.as_deref(), Some("0002-00000214"));
    h.send(Req::new("HEAD", Some("sha/bad")))
        .await
        .expect_error(404, "NoSuchKey");
}

#[tokio::test]
async fn unsupported_sub_resources_answer_not_implemented_and_change_nothing() {
    let h = start().await;
    for (method, bucket, key, name) in [
        ("PUT", "fresh-bucket", None, "website"),
        ("PUT", "fresh-bucket", None, "acl"),
        ("GET", BUCKET, None, "website"),
        ("GET", BUCKET, None, "acl"),
        ("PUT", BUCKET, Some("k"), "acl"),
        ("GET", BUCKET, Some("k"), "tagging"),
        ("PUT", BUCKET, None, "cors"),
    ] {
        let answer = h
            .send(Req::new(method, key).bucket(bucket).query(name, ""))
            .await;
        answer.expect_error(501, "NotImplemented");
    }
    h.send(Req::new("GET", None).bucket("fresh-bucket"))
        .await
        .expect_error(404, "NoSuchBucket");
    h.send(Req::new("HEAD", Some("k")))
        .await
        .expect_error(404, "NoSuchKey");
}
