//! `OssClient` against the real `ossup serve` started in-process on 127.0.0.1:0: every
//! operation, every error code provoked for real, pagination past 1000, both signature
//! versions, streamed bodies with progress, CRC checks and awkward keys.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ossup::engine::retry::{ErrorClass, classify};
use ossup::protocol::client::addressing::Endpoint;
use ossup::protocol::client::{
    Body, ClientConfig, CompleteOptions, InitiateOptions, ListUploadsParams, OssClient, ProgressFn,
    PutOptions,
};
use ossup::protocol::crc64;
use ossup::protocol::error::TransportKind;
use ossup::protocol::signing::{RequestTarget, SignatureVersion};
use ossup::protocol::xml::CompletePart;
use ossup::protocol::{Credentials, OssError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;

use support::server::{TestServer, initiate, raw_http, sign_v1};

const ACCESS_KEY_ID: &str = "TESTACCESSKEYID";
const ACCESS_KEY_SECRET: &str = "test-secret-for-client-server";
const BUCKET: &str = "client-test";
const REGION: &str = "cn-hangzhou";
const MIN_PART: usize = 102_400;

/// A running server with its own data directory, and helpers to build clients for it.
struct Harness {
    server: TestServer,
}

impl Harness {
    async fn start() -> Self {
        let server = TestServer::start_with(|config| {
            config.buckets = vec![BUCKET.to_owned()];
            config.access_keys = vec![(ACCESS_KEY_ID.to_owned(), ACCESS_KEY_SECRET.to_owned())];
            config.region = REGION.to_owned();
        })
        .await;
        Self { server }
    }

    fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    fn socket_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    fn config(&self, signature: SignatureVersion) -> ClientConfig {
        let mut config = ClientConfig::new(
            self.endpoint(),
            Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
        );
        config.signature = signature;
        config
    }

    fn client(&self) -> OssClient {
        OssClient::new(self.config(SignatureVersion::V1)).expect("client")
    }

    fn client_v4(&self) -> OssClient {
        OssClient::new(self.config(SignatureVersion::V4 {
            region: REGION.to_owned(),
        }))
        .expect("client")
    }

    fn client_with(&self, credentials: Credentials) -> OssClient {
        let mut config = self.config(SignatureVersion::V1);
        config.credentials = credentials.into();
        OssClient::new(config).expect("client")
    }

    /// A request sent without `OssClient`, for bodies and headers the client never sends.
    async fn raw(&self, raw: RawRequest<'_>) -> (u16, String) {
        let endpoint = Endpoint::parse(&self.endpoint(), true).expect("endpoint");
        let url = endpoint.url(Some(BUCKET), raw.key, &raw.query);
        let mut headers = raw.headers.clone();
        if raw.sign {
            sign_v1(
                &Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
                &RequestTarget {
                    method: raw.method,
                    bucket: Some(BUCKET),
                    key: raw.key,
                    query: &raw.query,
                },
                &mut headers,
            );
        }
        let http = raw_http(|builder| builder.no_proxy().tls_certs_only([]));
        let mut request = http.request(raw.method.parse().expect("method"), url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(raw.body).send().await.expect("raw request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("answer body"))
    }
}

struct RawRequest<'a> {
    method: &'a str,
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    sign: bool,
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + usize::from(seed)) % 251) as u8)
        .collect()
}

fn temp_file_with(data: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write temp file");
    file.flush().expect("flush temp file");
    file
}

fn file_range(path: &Path, offset: usize, len: usize) -> Body {
    Body::FileRange {
        path: path.to_owned(),
        offset: offset as u64,
        len: len as u64,
    }
}

fn counting_progress() -> (ProgressFn, Arc<AtomicU64>, Arc<AtomicUsize>) {
    let total = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (t, c) = (total.clone(), calls.clone());
    let progress: ProgressFn = Arc::new(move |bytes| {
        t.fetch_add(bytes, Ordering::Relaxed);
        c.fetch_add(1, Ordering::Relaxed);
    });
    (progress, total, calls)
}

fn code(result: Result<impl std::fmt::Debug, OssError>) -> String {
    match result {
        Ok(value) => panic!("expected an OSS error, got {value:?}"),
        Err(error) => error
            .code()
            .unwrap_or_else(|| panic!("expected a service error, got {error}"))
            .to_owned(),
    }
}

fn error_code_in(body: &str) -> Option<String> {
    ossup::protocol::xml::parse_error_body(400, body.as_bytes()).map(|e| e.code)
}

/// The whole multipart flow from a file, with the given client (V1 or V4).
async fn multipart_round_trip(client: &OssClient, key: &str) {
    let sizes = [MIN_PART + 5_000, MIN_PART + 1, 77_777];
    let total: usize = sizes.iter().sum();
    let data = pattern(total, 11);
    let file = temp_file_with(&data);

    let initiated = client
        .initiate_multipart_upload(BUCKET, key, &InitiateOptions::default())
        .await
        .expect("initiate");
    assert_eq!(initiated.key, key);
    assert_eq!(initiated.bucket, BUCKET);
    let upload_id = initiated.upload_id;

    let mut parts = Vec::new();
    let mut crcs = Vec::new();
    let mut offset = 0;
    for (index, size) in sizes.iter().enumerate() {
        let part_number = index as u32 + 1;
        let (progress, reported, calls) = counting_progress();
        let output = client
            .upload_part(
                BUCKET,
                key,
                &upload_id,
                part_number,
                file_range(file.path(), offset, *size),
                Some(progress),
            )
            .await
            .expect("upload part");
        let expected_crc = crc64::checksum(&data[offset..offset + size]);
        assert_eq!(output.crc64, expected_crc, "part {part_number}");
        assert_eq!(reported.load(Ordering::Relaxed), *size as u64);
        assert!(calls.load(Ordering::Relaxed) >= 1);
        assert!(output.etag.starts_with('"') && output.etag.ends_with('"'));
        parts.push(CompletePart {
            part_number,
            etag: output.etag,
        });
        crcs.push((expected_crc, *size as u64));
        offset += size;
    }

    let listed = client
        .list_parts(BUCKET, key, &upload_id, 0, None)
        .await
        .expect("list parts");
    assert_eq!(listed.key, key);
    assert!(!listed.is_truncated);
    assert_eq!(listed.parts.len(), 3);
    for ((part, listed), (crc, size)) in parts.iter().zip(&listed.parts).zip(&crcs) {
        assert_eq!(listed.part_number, part.part_number);
        assert_eq!(listed.etag, part.etag);
        assert_eq!(listed.size, *size);
        assert_eq!(listed.hash_crc64ecma, Some(*crc));
    }

    let uploads = client
        .list_multipart_uploads(
            BUCKET,
            &ListUploadsParams {
                prefix: Some(key.to_owned()),
                ..ListUploadsParams::default()
            },
        )
        .await
        .expect("list uploads");
    assert!(
        uploads
            .uploads
            .iter()
            .any(|u| u.key == key && u.upload_id == upload_id),
        "the upload is listed under its decoded key: {uploads:?}"
    );

    // Complete sorts the parts itself.
    let mut shuffled = parts.clone();
    shuffled.reverse();
    let completed = client
        .complete_multipart_upload(
            BUCKET,
            key,
            &upload_id,
            &shuffled,
            &CompleteOptions::default(),
        )
        .await
        .expect("complete");
    let object_crc = crc64::combine_parts(crcs.iter().copied());
    assert_eq!(completed.crc64, Some(object_crc));
    assert_eq!(object_crc, crc64::checksum(&data));

    let meta = client.head_object(BUCKET, key).await.expect("head");
    assert_eq!(meta.size, total as u64);
    assert_eq!(meta.crc64, Some(object_crc));
    assert_eq!(meta.etag, completed.etag);
    assert_eq!(meta.object_type.as_deref(), Some("Multipart"));

    let whole = client.get_object(BUCKET, key, None).await.expect("get");
    assert_eq!(whole.as_ref(), data.as_slice());
    // A range across both part boundaries.
    let start = sizes[0] - 10;
    let end = sizes[0] + sizes[1] + 10;
    let range = client
        .get_object(BUCKET, key, Some(start as u64..end as u64))
        .await
        .expect("ranged get");
    assert_eq!(range.as_ref(), &data[start..end]);

    assert!(
        client
            .abort_multipart_upload(BUCKET, key, &upload_id)
            .await
            .unwrap_err()
            .is_code("NoSuchUpload"),
        "a completed upload is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trip_with_v1_signatures() {
    let harness = Harness::start().await;
    multipart_round_trip(&harness.client(), "dir/v1 object+1 ü 文件.bin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trip_with_v4_signatures() {
    let harness = Harness::start().await;
    multipart_round_trip(&harness.client_v4(), "dir/v4 object+1 ü 文件.bin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_head_get_list_delete_with_awkward_keys() {
    let harness = Harness::start().await;
    let client = harness.client();
    let keys = [
        "plain.txt",
        "with space/and+plus.bin",
        "unicode/文件 ü é.json",
        "percent%20literal&amp=?#.txt",
        "trailing/slash/",
    ];
    for (index, key) in keys.iter().enumerate() {
        let data = pattern(1000 + index * 333, index as u8);
        let (progress, reported, _) = counting_progress();
        let output = client
            .put_object(
                BUCKET,
                key,
                Body::Bytes(Bytes::from(data.clone())),
                &PutOptions {
                    content_md5: true,
                    ..PutOptions::default()
                },
                Some(progress),
            )
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        assert_eq!(output.crc64, crc64::checksum(&data));
        assert_eq!(reported.load(Ordering::Relaxed), data.len() as u64);
        let meta = client.head_object(BUCKET, key).await.expect("head");
        assert_eq!(meta.size, data.len() as u64);
        assert_eq!(meta.object_type.as_deref(), Some("Normal"));
        assert_eq!(meta.etag, output.etag);
        let fetched = client.get_object(BUCKET, key, None).await.expect("get");
        assert_eq!(fetched.as_ref(), data.as_slice(), "{key:?}");
    }
    let meta = client
        .head_object(BUCKET, "unicode/文件 ü é.json")
        .await
        .unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("application/json"));

    let listed = client
        .list_objects(BUCKET, None, None, None)
        .await
        .expect("list objects");
    let mut listed_keys: Vec<&str> = listed.contents.iter().map(|o| o.key.as_str()).collect();
    listed_keys.sort_unstable();
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(listed_keys, expected);

    let prefixed = client
        .list_objects(BUCKET, Some("with space/"), None, Some(10))
        .await
        .expect("list with prefix");
    assert_eq!(prefixed.contents.len(), 1);
    assert_eq!(prefixed.contents[0].key, "with space/and+plus.bin");

    for key in keys {
        client.delete_object(BUCKET, key).await.expect("delete");
        assert_eq!(code(client.head_object(BUCKET, key).await), "NoSuchKey");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_put_reports_progress_per_chunk_and_sets_content_type() {
    let harness = Harness::start().await;
    let client = harness.client();
    let data = pattern(5 * ossup::protocol::client::CHUNK_BYTES + 123, 3);
    let file = temp_file_with(&data);
    let (progress, reported, calls) = counting_progress();
    let output = client
        .put_object(
            BUCKET,
            "streamed/video.mp4",
            file_range(file.path(), 0, data.len()),
            &PutOptions {
                content_md5: true,
                ..PutOptions::default()
            },
            Some(progress),
        )
        .await
        .expect("streamed put");
    assert_eq!(output.crc64, crc64::checksum(&data));
    assert_eq!(reported.load(Ordering::Relaxed), data.len() as u64);
    assert!(
        calls.load(Ordering::Relaxed) >= 6,
        "one call per chunk, not one per body"
    );
    let meta = client
        .head_object(BUCKET, "streamed/video.mp4")
        .await
        .unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.crc64, Some(output.crc64));

    let part_of_file = client
        .put_object(
            BUCKET,
            "streamed/slice",
            file_range(file.path(), 1000, 50_000),
            &PutOptions::default(),
            None,
        )
        .await
        .expect("put of a file range");
    assert_eq!(part_of_file.crc64, crc64::checksum(&data[1000..51_000]));
    let fetched = client
        .get_object(BUCKET, "streamed/slice", None)
        .await
        .unwrap();
    assert_eq!(fetched.as_ref(), &data[1000..51_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_shorter_than_the_range_fails_locally() {
    let harness = Harness::start().await;
    let client = harness.client();
    let file = temp_file_with(&pattern(1000, 1));
    let error = client
        .put_object(
            BUCKET,
            "short",
            file_range(file.path(), 500, 501),
            &PutOptions::default(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, OssError::LocalIo { .. }), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(code(client.head_object(BUCKET, "short").await), "NoSuchKey");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_key_and_upload() {
    let harness = Harness::start().await;
    let client = harness.client();
    let missing_bucket = client
        .put_object(
            "no-such-bucket",
            "k",
            Body::Bytes(Bytes::from_static(b"x")),
            &PutOptions::default(),
            None,
        )
        .await;
    let error = missing_bucket.unwrap_err();
    assert_eq!(error.code(), Some("NoSuchBucket"));
    assert!(error.request_id().is_some(), "request id is kept: {error}");
    let text = error.to_string();
    assert!(text.contains("PutObject of no-such-bucket/k"), "{text}");

    // HEAD errors arrive in the x-oss-err header.
    let head = client.head_object(BUCKET, "absent").await.unwrap_err();
    assert_eq!(head.code(), Some("NoSuchKey"));
    assert_eq!(head.service().unwrap().status, 404);
    assert_eq!(
        code(client.get_object(BUCKET, "absent", None).await),
        "NoSuchKey"
    );

    let bogus = "0000000000000000000000000000BOGUS";
    assert_eq!(
        code(
            client
                .upload_part(
                    BUCKET,
                    "k",
                    bogus,
                    1,
                    Body::Bytes(Bytes::from_static(b"x")),
                    None
                )
                .await
        ),
        "NoSuchUpload"
    );
    assert_eq!(
        code(client.list_parts(BUCKET, "k", bogus, 0, None).await),
        "NoSuchUpload"
    );
    let upload = client
        .initiate_multipart_upload(BUCKET, "k", &InitiateOptions::default())
        .await
        .unwrap();
    client
        .abort_multipart_upload(BUCKET, "k", &upload.upload_id)
        .await
        .expect("abort");
    assert_eq!(
        code(
            client
                .abort_multipart_upload(BUCKET, "k", &upload.upload_id)
                .await
        ),
        "NoSuchUpload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_refuses_bad_part_lists() {
    let harness = Harness::start().await;
    let client = harness.client();
    let key = "complete/refusals.bin";
    let upload_id = initiate(&client, BUCKET, key).await;
    let mut parts = Vec::new();
    for (number, size) in [(1u32, 1000usize), (2, MIN_PART), (3, 10)] {
        let output = client
            .upload_part(
                BUCKET,
                key,
                &upload_id,
                number,
                Body::Bytes(Bytes::from(pattern(size, number as u8))),
                None,
            )
            .await
            .unwrap();
        parts.push(CompletePart {
            part_number: number,
            etag: output.etag,
        });
    }
    let options = CompleteOptions::default();

    let mut wrong_etag = parts.clone();
    wrong_etag[1].etag = "\"0123456789ABCDEF0123456789ABCDEF\"".into();
    let invalid_part = client
        .complete_multipart_upload(BUCKET, key, &upload_id, &wrong_etag, &options)
        .await
        .unwrap_err();
    assert_eq!(invalid_part.code(), Some("InvalidPart"));
    assert_eq!(invalid_part.service().unwrap().status, 400);

    let duplicated = [parts[1].clone(), parts[1].clone()];
    assert_eq!(
        code(
            client
                .complete_multipart_upload(BUCKET, key, &upload_id, &duplicated, &options)
                .await
        ),
        "InvalidPartOrder"
    );

    // Part 1 is 1000 bytes and not the last: too small.
    let too_small = client
        .complete_multipart_upload(BUCKET, key, &upload_id, &parts, &options)
        .await
        .unwrap_err();
    assert_eq!(too_small.code(), Some("EntityTooSmall"));
    assert!(too_small.service().unwrap().ec.is_some());

    // Descending order straight on the wire (the client always sorts).
    let descending = format!(
        "<CompleteMultipartUpload><Part><PartNumber>3</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        parts[2].etag, parts[1].etag
    );
    let (status, body) = harness
        .raw(RawRequest {
            method: "POST",
            key: Some(key),
            query: pairs(&[("uploadId", &upload_id)]),
            headers: Vec::new(),
            body: descending.into_bytes(),
            sign: true,
        })
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code_in(&body).as_deref(), Some("InvalidPartOrder"));

    let (status, body) = harness
        .raw(RawRequest {
            method: "POST",
            key: Some(key),
            query: pairs(&[("uploadId", &upload_id)]),
            headers: Vec::new(),
            body: b"<CompleteMultipartUpload><Part><PartNumber>2".to_vec(),
            sign: true,
        })
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code_in(&body).as_deref(), Some("MalformedXML"));

    // Parts 2 and 3 are a valid object.
    let done = client
        .complete_multipart_upload(BUCKET, key, &upload_id, &parts[1..], &options)
        .await
        .expect("complete with parts 2 and 3");
    let expected = [pattern(MIN_PART, 2), pattern(10, 3)].concat();
    assert_eq!(done.crc64, Some(crc64::checksum(&expected)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_overwrite_is_honoured_by_put_and_complete() {
    let harness = Harness::start().await;
    let client = harness.client();
    let key = "exists.txt";
    let forbid = PutOptions {
        forbid_overwrite: true,
        ..PutOptions::default()
    };
    client
        .put_object(
            BUCKET,
            key,
            Body::Bytes(Bytes::from_static(b"first")),
            &forbid,
            None,
        )
        .await
        .expect("first put");
    let again = client
        .put_object(
            BUCKET,
            key,
            Body::Bytes(Bytes::from_static(b"second")),
            &forbid,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("FileAlreadyExists"));
    assert_eq!(again.service().unwrap().status, 409);

    let upload_id = initiate(&client, BUCKET, key).await;
    let part = client
        .upload_part(
            BUCKET,
            key,
            &upload_id,
            1,
            Body::Bytes(Bytes::from_static(b"third")),
            None,
        )
        .await
        .unwrap();
    let parts = [CompletePart {
        part_number: 1,
        etag: part.etag,
    }];
    let refused = client
        .complete_multipart_upload(
            BUCKET,
            key,
            &upload_id,
            &parts,
            &CompleteOptions {
                forbid_overwrite: true,
                acl: None,
            },
        )
        .await;
    assert_eq!(code(refused), "FileAlreadyExists");
    let kept = client.get_object(BUCKET, key, None).await.unwrap();
    assert_eq!(kept.as_ref(), b"first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_digests_are_refused() {
    let harness = Harness::start().await;
    let client = harness.client();
    let upload_id = client
        .initiate_multipart_upload(BUCKET, "args", &InitiateOptions::default())
        .await
        .unwrap()
        .upload_id;
    for part_number in [0, 10_001] {
        let error = client
            .upload_part(
                BUCKET,
                "args",
                &upload_id,
                part_number,
                Body::Bytes(Bytes::from_static(b"x")),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some("InvalidArgument"), "part {part_number}");
        assert_eq!(
            error.service().unwrap().detail("ArgumentName"),
            Some("partNumber")
        );
    }

    let (status, body) = harness
        .raw(RawRequest {
            method: "PUT",
            key: Some("digest"),
            query: Vec::new(),
            headers: pairs(&[("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")]),
            body: b"hello".to_vec(),
            sign: true,
        })
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code_in(&body).as_deref(), Some("InvalidDigest"));
    assert_eq!(
        code(client.head_object(BUCKET, "digest").await),
        "NoSuchKey"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_and_unsigned_requests_are_refused() {
    let harness = Harness::start().await;
    let unknown = harness.client_with(Credentials::new("NOSUCHKEYID", ACCESS_KEY_SECRET));
    let error = unknown.head_object(BUCKET, "anything").await.unwrap_err();
    assert_eq!(error.code(), Some("InvalidAccessKeyId"));
    assert_eq!(error.service().unwrap().status, 403);
    assert!(!error.is_retryable());
    assert_eq!(
        code(
            unknown
                .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
                .await
        ),
        "InvalidAccessKeyId"
    );

    let (status, body) = harness
        .raw(RawRequest {
            method: "GET",
            key: Some("anything"),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            sign: false,
        })
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_code_in(&body).as_deref(), Some("AccessDenied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parts_pages_past_1000() {
    let harness = Harness::start().await;
    let client = harness.client();
    let key = "many/parts.bin";
    let upload_id = initiate(&client, BUCKET, key).await;
    const PARTS: u32 = 1003;
    let mut uploads = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicUsize::new(1));
    for _ in 0..8 {
        let (client, upload_id, next) = (client.clone(), upload_id.clone(), next.clone());
        uploads.spawn(async move {
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed) as u32;
                if number > PARTS {
                    return;
                }
                let body = Body::Bytes(Bytes::from(number.to_string()));
                client
                    .upload_part(BUCKET, key, &upload_id, number, body, None)
                    .await
                    .expect("upload a small part");
            }
        });
    }
    while let Some(done) = uploads.join_next().await {
        done.expect("upload task");
    }

    let first = client
        .list_parts(BUCKET, key, &upload_id, 0, None)
        .await
        .unwrap();
    assert!(first.is_truncated);
    assert_eq!(first.parts.len(), 1000);
    assert_eq!(first.next_part_number_marker, 1000);
    let second = client
        .list_parts(BUCKET, key, &upload_id, first.next_part_number_marker, None)
        .await
        .unwrap();
    assert!(!second.is_truncated);
    let numbers: Vec<u32> = first
        .parts
        .iter()
        .chain(&second.parts)
        .map(|p| p.part_number)
        .collect();
    assert_eq!(numbers, (1..=PARTS).collect::<Vec<_>>());
    let last = second.parts.last().unwrap();
    assert_eq!(last.size, PARTS.to_string().len() as u64);
    assert_eq!(
        last.hash_crc64ecma,
        Some(crc64::checksum(PARTS.to_string().as_bytes()))
    );

    let small_pages = client
        .list_parts(BUCKET, key, &upload_id, 500, Some(7))
        .await
        .unwrap();
    assert_eq!(
        small_pages
            .parts
            .iter()
            .map(|p| p.part_number)
            .collect::<Vec<_>>(),
        (501..=507).collect::<Vec<_>>()
    );
    assert!(small_pages.is_truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_multipart_uploads_pages_past_1000() {
    let harness = Harness::start().await;
    let client = harness.client();
    const UPLOADS: usize = 1004;
    let mut started = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..8 {
        let (client, next) = (client.clone(), next.clone());
        started.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= UPLOADS {
                    return ids;
                }
                // Three uploads share each key, so paging must use the upload-id marker too.
                let key = format!("pending/{:04} a+b ü", index / 3);
                let upload = client
                    .initiate_multipart_upload(BUCKET, &key, &InitiateOptions::default())
                    .await
                    .expect("initiate");
                ids.push((key, upload.upload_id));
            }
        });
    }
    let mut expected = Vec::new();
    while let Some(ids) = started.join_next().await {
        expected.extend(ids.expect("initiate task"));
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut params = ListUploadsParams {
        prefix: Some("pending/".into()),
        ..ListUploadsParams::default()
    };
    let mut pages = 0;
    loop {
        let page = client
            .list_multipart_uploads(BUCKET, &params)
            .await
            .expect("list uploads");
        pages += 1;
        assert!(page.uploads.len() <= 1000);
        seen.extend(page.uploads.into_iter().map(|u| (u.key, u.upload_id)));
        if !page.is_truncated {
            break;
        }
        params.key_marker = Some(page.next_key_marker);
        params.upload_id_marker = Some(page.next_upload_id_marker);
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(pages, 2);
    seen.sort();
    assert_eq!(seen, expected);

    let with_delimiter = client
        .list_multipart_uploads(
            BUCKET,
            &ListUploadsParams {
                delimiter: Some("/".into()),
                max_uploads: Some(5),
                ..ListUploadsParams::default()
            },
        )
        .await
        .unwrap();
    assert!(with_delimiter.uploads.is_empty());
    assert_eq!(
        with_delimiter
            .common_prefixes
            .iter()
            .map(|c| c.prefix.as_str())
            .collect::<Vec<_>>(),
        ["pending/"]
    );
}

/// Which way the corrupting proxy damages data.
#[derive(Clone, Copy)]
enum Damage {
    /// A byte of the request body (an upload).
    Request,
    /// A byte of the response body (a download).
    Response,
}

/// Copies `from` to `to`, flipping the bits of the body byte at `flip_at` (counted after
/// the first blank line, which ends the HTTP head).
async fn copy_flipping(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    flip_at: Option<usize>,
) {
    let mut seen = Vec::new();
    let mut body_start = None;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &mut buffer[..read];
        let chunk_start = seen.len();
        seen.extend_from_slice(chunk);
        if body_start.is_none() {
            body_start = seen
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4);
        }
        if let (Some(start), Some(flip_at)) = (body_start, flip_at) {
            let target = start + flip_at;
            if (chunk_start..chunk_start + read).contains(&target) {
                chunk[target - chunk_start] ^= 0xFF;
            }
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Forwards one connection to `upstream`, damaging one body byte at `flip_at` on the way
/// `damage` says: what a faulty middlebox would do.
async fn corrupting_proxy(upstream: SocketAddr, damage: Damage, flip_at: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        let Ok((inbound, _)) = listener.accept().await else {
            return;
        };
        let Ok(outbound) = TcpStream::connect(upstream).await else {
            return;
        };
        let (client_read, client_write) = inbound.into_split();
        let (server_read, server_write) = outbound.into_split();
        let (up, down) = match damage {
            Damage::Request => (Some(flip_at), None),
            Damage::Response => (None, Some(flip_at)),
        };
        tokio::join!(
            copy_flipping(client_read, server_write, up),
            copy_flipping(server_read, client_write, down)
        );
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_transit_is_caught_by_the_crc() {
    let harness = Harness::start().await;
    let proxy = corrupting_proxy(harness.socket_addr(), Damage::Request, 12_345).await;
    let mut config = harness.config(SignatureVersion::V1);
    config.endpoint = format!("http://{proxy}");
    let client = OssClient::new(config).unwrap();
    let data = pattern(200_000, 9);
    let file = temp_file_with(&data);
    let upload_id = harness
        .client()
        .initiate_multipart_upload(BUCKET, "damaged", &InitiateOptions::default())
        .await
        .unwrap()
        .upload_id;
    let error = client
        .upload_part(
            BUCKET,
            "damaged",
            &upload_id,
            1,
            file_range(file.path(), 0, data.len()),
            None,
        )
        .await
        .unwrap_err();
    match &error {
        OssError::ChecksumMismatch { local, server, .. } => {
            assert_eq!(*local, crc64::checksum(&data));
            let mut damaged = data.clone();
            damaged[12_345] ^= 0xFF;
            assert_eq!(*server, crc64::checksum(&damaged));
        }
        other => panic!("expected a CRC mismatch, got {other}"),
    }
    assert!(error.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_on_the_way_down_is_caught_by_the_crc() {
    let harness = Harness::start().await;
    let data = pattern(300_000, 6);
    harness
        .client()
        .put_object(
            BUCKET,
            "download",
            Body::Bytes(Bytes::from(data.clone())),
            &PutOptions::default(),
            None,
        )
        .await
        .unwrap();
    let proxy = corrupting_proxy(harness.socket_addr(), Damage::Response, 200_000).await;
    let mut config = harness.config(SignatureVersion::V1);
    config.endpoint = format!("http://{proxy}");
    let error = OssClient::new(config)
        .unwrap()
        .get_object(BUCKET, "download", None)
        .await
        .unwrap_err();
    match &error {
        OssError::ChecksumMismatch { local, server, .. } => {
            assert_eq!(*server, crc64::checksum(&data));
            let mut damaged = data.clone();
            damaged[200_000] ^= 0xFF;
            assert_eq!(*local, crc64::checksum(&damaged));
        }
        other => panic!("expected a CRC mismatch, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_failures_are_classified() {
    // Nothing listens on a port we just released.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = ClientConfig::new(
        format!("http://{closed}"),
        Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
    );
    let refused = OssClient::new(config.clone())
        .unwrap()
        .head_object(BUCKET, "k")
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            OssError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{refused}"
    );
    assert!(refused.is_network_down());

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.endpoint = format!("http://{}", silent.local_addr().unwrap());
    config.io_timeout = Duration::from_millis(300);
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let silent_client = OssClient::new(config).unwrap();
    let stalled = silent_client
        .put_object(
            BUCKET,
            "k",
            Body::Bytes(Bytes::from_static(b"x")),
            &PutOptions::default(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            stalled,
            OssError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{stalled}"
    );
    assert!(stalled.to_string().contains("PutObject of client-test/k"));

    // A body larger than the socket buffers stops moving when nobody reads it: the idle
    // timeout ends the upload instead of letting it hang.
    let data = pattern(32 * 1024 * 1024, 5);
    let file = temp_file_with(&data);
    let (progress, reported, _) = counting_progress();
    let stalled_part = silent_client
        .upload_part(
            BUCKET,
            "k",
            "upload",
            1,
            file_range(file.path(), 0, data.len()),
            Some(progress),
        )
        .await
        .unwrap_err();
    held.abort();
    assert!(
        matches!(
            stalled_part,
            OssError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{stalled_part}"
    );
    assert!(reported.load(Ordering::Relaxed) < data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_checked_before_sending() {
    let harness = Harness::start().await;
    let client = harness.client();
    let body = || Body::Bytes(Bytes::from_static(b"x"));
    for key in ["", "/leading", "\\leading"] {
        let error = client
            .put_object(BUCKET, key, body(), &PutOptions::default(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, OssError::InvalidName(_)),
            "{key:?}: {error}"
        );
    }
    let error = client
        .put_object("Bad_Bucket", "k", body(), &PutOptions::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(error, OssError::InvalidName(_)));
    client
        .create_bucket("second-bucket")
        .await
        .expect("create bucket");
    client
        .put_object("second-bucket", "k", body(), &PutOptions::default(), None)
        .await
        .expect("put into the new bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_wrong_region_are_refused() {
    let harness = Harness::start().await;
    let wrong_secret = harness.client_with(Credentials::new(ACCESS_KEY_ID, "not-the-secret"));
    let error = wrong_secret
        .head_object(BUCKET, "anything")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("SignatureDoesNotMatch"));
    let error = wrong_secret
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("SignatureDoesNotMatch"));
    assert!(
        error.service().unwrap().detail("StringToSign").is_some(),
        "the server's string to sign is kept for diagnosis"
    );
    assert!(!error.is_retryable());

    let mut v4_config = harness.config(SignatureVersion::V4 {
        region: REGION.into(),
    });
    v4_config.credentials = Credentials::new(ACCESS_KEY_ID, "not-the-secret").into();
    let wrong_v4 = OssClient::new(v4_config).unwrap();
    assert_eq!(
        code(wrong_v4.head_object(BUCKET, "anything").await),
        "SignatureDoesNotMatch"
    );

    let other_region = OssClient::new(harness.config(SignatureVersion::V4 {
        region: "cn-beijing".into(),
    }))
    .unwrap();
    assert_eq!(
        code(other_region.get_object(BUCKET, "anything", None).await),
        "AccessDenied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clock_is_refused_then_corrected() {
    let harness = Harness::start().await;
    for client in [harness.client(), harness.client_v4()] {
        // Clones share the clock: skewing one skews the other.
        let twin = client.clone();
        twin.set_clock_offset_secs(-3600);
        let error = client
            .put_object(
                BUCKET,
                "skew",
                Body::Bytes(Bytes::from_static(b"x")),
                &PutOptions::default(),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some("RequestTimeTooSkewed"));
        // What the engine's retry loop does with the answer.
        let ErrorClass::ClockSkew {
            offset_secs: Some(offset),
        } = classify(&error, SystemTime::now())
        else {
            panic!("the server says its time: {error}");
        };
        client.set_clock_offset_secs(offset);
        assert!(
            offset.abs() <= 5,
            "the local clock is right, so the offset is about 0: {offset}"
        );
        assert_eq!(twin.clock_offset_secs(), offset);
        twin.put_object(
            BUCKET,
            "skew",
            Body::Bytes(Bytes::from_static(b"x")),
            &PutOptions::default(),
            None,
        )
        .await
        .expect("accepted after correcting the clock");
    }
}
