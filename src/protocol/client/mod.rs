//! `OssClient`: one async method per OSS operation, over reqwest.
//!
//! Part bodies stream from a file range through a small buffer, with the CRC-64 computed
//! on the way out and a progress callback per chunk; nothing holds a whole part in memory.
//! Submodules: `addressing` (URLs), `network` (CA bundle, proxy, pinned addresses),
//! `body` (streamed bodies), `request` (one signed exchange), `response` (errors and
//! headers of answers).

// `OssError` carries the whole service error (code, request id, details) by design; it is
// built once per failed request, so its size costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod addressing;
mod body;
pub mod network;
mod request;
pub mod response;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::Method;
use serde::de::DeserializeOwned;

use self::addressing::Endpoint;
pub use self::network::{NetworkSettings, ResolveEntry};
use self::request::{Answer, AnswerBody, Call, Payload, target_name};
use self::response::{crc64_header, header};
use super::credentials_provider::CredentialsProvider;
use super::error::OssError;
use super::lifecycle::{LifecycleConfiguration, NO_SUCH_LIFECYCLE};
use super::object_key::{validate_bucket_name, validate_object_key};
use super::signing::SignatureVersion;
use super::xml::{
    self, CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart,
    InitiateMultipartUploadResult, ListAllMyBucketsResult, ListBucketResult,
    ListMultipartUploadsResult, ListObjectsV2Result, ListPartsResult,
};

pub use self::body::CHUNK_BYTES;
pub use self::request::{ANSWER_LIMIT_BYTES, DISCARD_LIMIT_BYTES};

/// Where and how to reach OSS.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://oss-cn-hangzhou.aliyuncs.com`, or `http://127.0.0.1:PORT` for `ossup serve`.
    pub endpoint: String,
    /// Asked before every request is signed; fixed keys or a refreshing source.
    pub credentials: CredentialsProvider,
    pub signature: SignatureVersion,
    /// Path-style addressing (`endpoint/bucket/key`); forced for IP addresses and localhost.
    pub path_style: bool,
    pub connect_timeout: Duration,
    /// Longest silence while a request or answer is in flight.
    pub io_timeout: Duration,
    /// Most bytes read from an XML answer or an error body before giving up on it
    /// (`ANSWER_LIMIT_BYTES`); lower only to test the limit cheaply.
    pub answer_limit_bytes: u64,
    /// Extra trusted CAs, an explicit proxy and pinned addresses.
    pub network: NetworkSettings,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, credentials: impl Into<CredentialsProvider>) -> Self {
        Self {
            endpoint: endpoint.into(),
            credentials: credentials.into(),
            signature: SignatureVersion::V1,
            path_style: false,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            answer_limit_bytes: ANSWER_LIMIT_BYTES,
            network: NetworkSettings::default(),
        }
    }
}

/// A body for PutObject / UploadPart.
#[derive(Debug, Clone)]
pub enum Body {
    /// Bytes already in memory (small objects, stdin parts).
    Bytes(Bytes),
    /// `len` bytes of `path` starting at `offset`, streamed.
    FileRange {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// Called with the number of bytes just handed to the network.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// Awaited before each chunk of an upload body is read, with the chunk's size: lets the
/// caller hold uploads to a bandwidth limit without holding whole parts back.
pub type UploadPacer =
    Arc<dyn Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub forbid_overwrite: bool,
    pub storage_class: Option<String>,
    pub content_md5: bool,
    /// The local file's modification time, sent as `x-oss-meta-mtime` (whole seconds
    /// since the epoch) so a later run can tell whether the file changed.
    pub mtime_unix_secs: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct InitiateOptions {
    pub content_type: Option<String>,
    pub forbid_overwrite: bool,
    pub storage_class: Option<String>,
    /// Sent as `x-oss-meta-mtime`; the completed object keeps it.
    pub mtime_unix_secs: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct CompleteOptions {
    pub forbid_overwrite: bool,
    /// `x-oss-object-acl`.
    pub acl: Option<String>,
}

/// What the server answered to a body upload, with our own CRC of what we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutput {
    pub etag: String,
    /// CRC-64 of the bytes we sent; equal to the server's (checked) when it reports one.
    pub crc64: u64,
    /// The CRC-64 the server reported for what it received, if it did: when present it
    /// was compared with `crc64` and matched (a mismatch is an error).
    pub server_crc64: Option<u64>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteOutput {
    pub etag: String,
    /// The whole object's CRC-64 as the server reports it.
    pub crc64: Option<u64>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub etag: String,
    pub crc64: Option<u64>,
    pub content_type: Option<String>,
    pub object_type: Option<String>,
    pub last_modified: Option<String>,
    /// `x-oss-meta-mtime`: the source file's modification time as its uploader recorded
    /// it (whole or fractional seconds since the epoch; fractions are dropped).
    pub mtime_unix_secs: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct ListUploadsParams {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    /// 1..=1000; `None` leaves the server default (1000).
    pub max_uploads: Option<u32>,
}

/// What a ListObjectsV2 page asks for. Keys always come back URL-encoded on the wire
/// (`encoding-type=url`, so any key survives XML) and decoded in the result.
#[derive(Debug, Clone, Default)]
pub struct ListObjectsV2Params {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// List keys after this one (ignored by the server once a continuation token is given).
    pub start_after: Option<String>,
    /// The previous page's `NextContinuationToken`.
    pub continuation_token: Option<String>,
    /// 1..=1000; `None` leaves the server default (100).
    pub max_keys: Option<u32>,
    /// Ask for each object's Owner, which V2 leaves out by default.
    pub fetch_owner: bool,
}

/// The OSS client. Cheap to clone; clones share the connection pool and clock offset.
#[derive(Clone)]
pub struct OssClient {
    config: Arc<ClientConfig>,
    endpoint: Arc<Endpoint>,
    http: reqwest::Client,
    /// Seconds to add to the local clock, learned from RequestTimeTooSkewed answers.
    clock_offset_secs: Arc<AtomicI64>,
    /// Paces upload bodies chunk by chunk (the engine's bandwidth limit), when set.
    upload_pacer: Option<UploadPacer>,
}

impl std::fmt::Debug for OssClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssClient")
            .field("config", &self.config)
            .field("clock_offset_secs", &self.clock_offset_secs())
            .finish_non_exhaustive()
    }
}

/// Headers whose names the operations below use.
const CONTENT_TYPE: &str = "Content-Type";
const CONTENT_MD5: &str = "Content-MD5";
const FORBID_OVERWRITE: &str = "x-oss-forbid-overwrite";
const STORAGE_CLASS: &str = "x-oss-storage-class";
/// The source file's modification time, in seconds since the epoch (as rclone and ossutil
/// record it).
const META_MTIME: &str = "x-oss-meta-mtime";
const OBJECT_ACL: &str = "x-oss-object-acl";

/// The `Content-MD5` of a body for `operation`; reading a file range can fail.
async fn body_md5(operation: &'static str, body: &Body) -> Result<String, OssError> {
    body::content_md5(body)
        .await
        .map_err(|source| OssError::LocalIo {
            operation,
            path: body.path().map(ToOwned::to_owned).unwrap_or_default(),
            source,
        })
}

impl OssClient {
    /// Checks the endpoint and builds the HTTP stack (TLS with the ring provider,
    /// timeouts, the network settings: extra CAs, proxy, pinned addresses).
    pub fn new(config: ClientConfig) -> Result<Self, OssError> {
        let endpoint = Endpoint::parse(&config.endpoint, config.path_style)?;
        if let SignatureVersion::V4 { region } = &config.signature
            && region.trim().is_empty()
        {
            return Err(OssError::Config(
                "signature V4 needs a region id such as cn-hangzhou".into(),
            ));
        }
        // Another part of the program may have installed a provider already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("ossup/", env!("CARGO_PKG_VERSION")));
        builder = network::apply(builder, &config.network, &endpoint)?;
        let http = builder.build().map_err(|error| {
            OssError::Config(format!(
                "could not set up HTTP: {}",
                response::error_chain(&error)
            ))
        })?;
        Ok(Self {
            config: Arc::new(config),
            endpoint: Arc::new(endpoint),
            http,
            clock_offset_secs: Arc::new(AtomicI64::new(0)),
            upload_pacer: None,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A client whose upload bodies wait on `pacer` before each chunk (shares the
    /// connection pool and clock offset with `self`).
    pub fn with_upload_pacer(&self, pacer: UploadPacer) -> Self {
        Self {
            upload_pacer: Some(pacer),
            ..self.clone()
        }
    }

    /// Shifts the signing clock, e.g. from a RequestTimeTooSkewed answer's server time.
    pub fn set_clock_offset_secs(&self, offset: i64) {
        self.clock_offset_secs.store(offset, Ordering::Relaxed);
    }

    /// The current shift of the signing clock, in seconds.
    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset_secs.load(Ordering::Relaxed)
    }

    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Body,
        options: &PutOptions,
        progress: Option<ProgressFn>,
    ) -> Result<UploadOutput, OssError> {
        const OPERATION: &str = "PutObject";
        check_object(bucket, key)?;
        let content_md5 = if options.content_md5 {
            Some(body_md5(OPERATION, &body).await?)
        } else {
            None
        };
        let call = Call::new(OPERATION, Method::PUT, Some(bucket), Some(key))
            .header(
                CONTENT_TYPE,
                content_type_for(key, options.content_type.as_deref()),
            )
            .header_opt(CONTENT_MD5, content_md5)
            .header_opt(FORBID_OVERWRITE, options.forbid_overwrite.then_some("true"))
            .header_opt(STORAGE_CLASS, options.storage_class.clone())
            .header_opt(META_MTIME, options.mtime_unix_secs.map(|s| s.to_string()))
            .payload(Payload::Upload { body, progress })
            .answer(AnswerBody::Discard);
        let answer = self.execute(call).await?;
        upload_output(OPERATION, bucket, key, &answer)
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, OssError> {
        const OPERATION: &str = "HeadObject";
        check_object(bucket, key)?;
        let call = Call::new(OPERATION, Method::HEAD, Some(bucket), Some(key));
        let answer = self.execute(call).await?;
        let target = target_name(Some(bucket), Some(key));
        let headers = &answer.headers;
        let size = header(headers, "content-length")
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| OssError::InvalidResponse {
                operation: OPERATION,
                target: target.clone(),
                message: "the answer has no valid Content-Length".into(),
            })?;
        Ok(ObjectMeta {
            size,
            etag: header(headers, "etag").unwrap_or_default().to_owned(),
            crc64: crc64_header(headers, OPERATION, &target)?,
            content_type: header(headers, "content-type").map(str::to_owned),
            object_type: header(headers, "x-oss-object-type").map(str::to_owned),
            last_modified: header(headers, "last-modified").map(str::to_owned),
            mtime_unix_secs: header(headers, META_MTIME).and_then(parse_mtime_secs),
        })
    }

    /// The object, or the bytes of `range` (end exclusive). The whole object is checked
    /// against the server's CRC-64 when it reports one.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Bytes, OssError> {
        const OPERATION: &str = "GetObject";
        check_object(bucket, key)?;
        if let Some(range) = &range
            && range.start >= range.end
        {
            return Ok(Bytes::new());
        }
        let call = Call::new(OPERATION, Method::GET, Some(bucket), Some(key))
            .header_opt(
                "Range",
                range
                    .as_ref()
                    .map(|range| format!("bytes={}-{}", range.start, range.end - 1)),
            )
            .answer(AnswerBody::Object {
                range_len: range.as_ref().map(|range| range.end - range.start),
            });
        let answer = self.execute(call).await?;
        let target = target_name(Some(bucket), Some(key));
        let whole_object = answer.status == 200;
        if whole_object && let Some(server) = crc64_header(&answer.headers, OPERATION, &target)? {
            let local = super::crc64::checksum(&answer.body);
            if local != server {
                return Err(OssError::ChecksumMismatch {
                    operation: OPERATION,
                    target,
                    local,
                    server,
                });
            }
        }
        match range {
            // The server ignored the range (OSS does for ranges it finds invalid): cut it here.
            Some(range) if whole_object => {
                let len = answer.body.len() as u64;
                let start = usize::try_from(range.start.min(len)).unwrap_or(usize::MAX);
                let end = usize::try_from(range.end.min(len)).unwrap_or(usize::MAX);
                Ok(answer.body.slice(start..end))
            }
            _ => Ok(answer.body),
        }
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        check_object(bucket, key)?;
        let call = Call::new("DeleteObject", Method::DELETE, Some(bucket), Some(key));
        self.execute(call).await.map(drop)
    }

    /// One page of the buckets the key's owner has (GET / on the service endpoint), from
    /// `marker` on; `max_keys` up to 1000 (OSS's default is 100).
    pub async fn list_buckets(
        &self,
        prefix: Option<&str>,
        marker: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListAllMyBucketsResult, OssError> {
        const OPERATION: &str = "ListBuckets";
        let call = Call::new(OPERATION, Method::GET, None, None)
            .query_opt("prefix", prefix)
            .query_opt("marker", marker)
            .query_opt("max-keys", max_keys.map(|n| n.to_string()));
        let answer = self.execute(call).await?;
        xml::from_xml(&answer.body).map_err(|message| OssError::InvalidResponse {
            operation: OPERATION,
            target: target_name(None, None),
            message,
        })
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<(), OssError> {
        validate_bucket_name(bucket)?;
        let call = Call::new("PutBucket", Method::PUT, Some(bucket), None);
        self.execute(call).await.map(drop)
    }

    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        marker: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListBucketResult, OssError> {
        const OPERATION: &str = "ListObjects";
        validate_bucket_name(bucket)?;
        let call = Call::new(OPERATION, Method::GET, Some(bucket), None)
            .query_opt("prefix", prefix)
            .query_opt("marker", marker)
            .query_opt("max-keys", max_keys.map(|n| n.to_string()))
            .query("encoding-type", "url");
        let answer = self.execute(call).await?;
        let mut result: ListBucketResult = parse_xml(OPERATION, bucket, None, &answer)?;
        result.decode_urls();
        Ok(result)
    }

    /// One page of objects (and common prefixes, with a delimiter); keys, prefixes and
    /// tokens come back decoded.
    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        params: &ListObjectsV2Params,
    ) -> Result<ListObjectsV2Result, OssError> {
        const OPERATION: &str = "ListObjectsV2";
        validate_bucket_name(bucket)?;
        let call = Call::new(OPERATION, Method::GET, Some(bucket), None)
            .query("list-type", "2")
            .query_opt("prefix", params.prefix.clone())
            .query_opt("delimiter", params.delimiter.clone())
            .query_opt("start-after", params.start_after.clone())
            .query_opt("continuation-token", params.continuation_token.clone())
            .query_opt("max-keys", params.max_keys.map(|n| n.to_string()))
            .query_opt("fetch-owner", params.fetch_owner.then_some("true"))
            .query("encoding-type", "url");
        let answer = self.execute(call).await?;
        let mut result: ListObjectsV2Result = parse_xml(OPERATION, bucket, None, &answer)?;
        result.decode_urls();
        Ok(result)
    }

    /// Every ListObjectsV2 page from `params` on, one request per page as the stream is
    /// polled, so a caller holds one page at a time however large the listing. Ends
    /// after the last page, or with an error when a truncated page names no new token
    /// (a server that would otherwise have us ask for the same page forever).
    pub fn list_objects_v2_pages(
        &self,
        bucket: &str,
        params: &ListObjectsV2Params,
    ) -> impl Stream<Item = Result<ListObjectsV2Result, OssError>> + Send + 'static {
        let client = self.clone();
        let bucket = bucket.to_owned();
        futures_util::stream::try_unfold(Some(params.clone()), move |next| {
            let client = client.clone();
            let bucket = bucket.clone();
            async move {
                let Some(mut params) = next else {
                    return Ok(None);
                };
                let page = client.list_objects_v2(&bucket, &params).await?;
                if !page.is_truncated {
                    return Ok(Some((page, None)));
                }
                match page.next_continuation_token.as_deref() {
                    Some(token)
                        if !token.is_empty()
                            && params.continuation_token.as_deref() != Some(token) =>
                    {
                        params.continuation_token = Some(token.to_owned());
                        Ok(Some((page, Some(params))))
                    }
                    _ => Err(OssError::InvalidResponse {
                        operation: "ListObjectsV2",
                        target: bucket,
                        message: "a truncated page gave no new NextContinuationToken".into(),
                    }),
                }
            }
        })
    }

    pub async fn initiate_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        options: &InitiateOptions,
    ) -> Result<InitiateMultipartUploadResult, OssError> {
        const OPERATION: &str = "InitiateMultipartUpload";
        check_object(bucket, key)?;
        let call = Call::new(OPERATION, Method::POST, Some(bucket), Some(key))
            .query("uploads", "")
            .header(
                CONTENT_TYPE,
                content_type_for(key, options.content_type.as_deref()),
            )
            .header_opt(FORBID_OVERWRITE, options.forbid_overwrite.then_some("true"))
            .header_opt(STORAGE_CLASS, options.storage_class.clone())
            .header_opt(META_MTIME, options.mtime_unix_secs.map(|s| s.to_string()));
        let answer = self.execute(call).await?;
        let mut result: InitiateMultipartUploadResult =
            parse_xml(OPERATION, bucket, Some(key), &answer)?;
        result.decode_urls();
        if result.upload_id.trim().is_empty() {
            return Err(OssError::InvalidResponse {
                operation: OPERATION,
                target: target_name(Some(bucket), Some(key)),
                message: "the answer has an empty UploadId".into(),
            });
        }
        Ok(result)
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Body,
        progress: Option<ProgressFn>,
    ) -> Result<UploadOutput, OssError> {
        const OPERATION: &str = "UploadPart";
        check_object(bucket, key)?;
        let call = Call::new(OPERATION, Method::PUT, Some(bucket), Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .payload(Payload::Upload { body, progress })
            .answer(AnswerBody::Discard);
        let answer = self.execute(call).await?;
        upload_output(OPERATION, bucket, key, &answer)
    }

    /// Completes with `parts` (sorted here by part number). The returned CRC-64 is the
    /// server's; the caller compares it with the combination of its part CRCs.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletePart],
        options: &CompleteOptions,
    ) -> Result<CompleteOutput, OssError> {
        const OPERATION: &str = "CompleteMultipartUpload";
        check_object(bucket, key)?;
        let mut sorted = parts.to_vec();
        sorted.sort_by_key(|part| part.part_number);
        let xml_body = CompleteMultipartUpload { parts: sorted }.to_xml();
        let body_md5 = body_md5(OPERATION, &Body::Bytes(Bytes::from(xml_body.clone()))).await?;
        let call = Call::new(OPERATION, Method::POST, Some(bucket), Some(key))
            .query("uploadId", upload_id)
            .header(CONTENT_MD5, body_md5)
            .header_opt(FORBID_OVERWRITE, options.forbid_overwrite.then_some("true"))
            .header_opt(OBJECT_ACL, options.acl.clone())
            .payload(Payload::Small(Bytes::from(xml_body)));
        let answer = self.execute(call).await?;
        let target = target_name(Some(bucket), Some(key));
        let crc64 = crc64_header(&answer.headers, OPERATION, &target)?;
        let etag =
            match parse_xml::<CompleteMultipartUploadResult>(OPERATION, bucket, Some(key), &answer)
            {
                Ok(result) => result.etag,
                // A callback answer replaces the XML; the ETag header still tells the outcome.
                Err(error) => match header(&answer.headers, "etag") {
                    Some(etag) => etag.to_owned(),
                    None => return Err(error),
                },
            };
        Ok(CompleteOutput {
            etag,
            crc64,
            request_id: answer.request_id(),
        })
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), OssError> {
        check_object(bucket, key)?;
        let call = Call::new(
            "AbortMultipartUpload",
            Method::DELETE,
            Some(bucket),
            Some(key),
        )
        .query("uploadId", upload_id)
        .answer(AnswerBody::Discard);
        self.execute(call).await.map(drop)
    }

    /// One page of unfinished uploads; keys and markers come back decoded.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        params: &ListUploadsParams,
    ) -> Result<ListMultipartUploadsResult, OssError> {
        const OPERATION: &str = "ListMultipartUploads";
        validate_bucket_name(bucket)?;
        let call = Call::new(OPERATION, Method::GET, Some(bucket), None)
            .query("uploads", "")
            .query_opt("prefix", params.prefix.clone())
            .query_opt("delimiter", params.delimiter.clone())
            .query_opt("key-marker", params.key_marker.clone())
            .query_opt("upload-id-marker", params.upload_id_marker.clone())
            .query_opt("max-uploads", params.max_uploads.map(|n| n.to_string()))
            .query("encoding-type", "url");
        let answer = self.execute(call).await?;
        let mut result: ListMultipartUploadsResult = parse_xml(OPERATION, bucket, None, &answer)?;
        result.decode_urls();
        Ok(result)
    }

    /// One page of an upload's parts, numbered above `part_number_marker`.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: Option<u32>,
    ) -> Result<ListPartsResult, OssError> {
        const OPERATION: &str = "ListParts";
        check_object(bucket, key)?;
        let call = Call::new(OPERATION, Method::GET, Some(bucket), Some(key))
            .query("uploadId", upload_id)
            .query_opt("max-parts", max_parts.map(|n| n.to_string()))
            .query_opt(
                "part-number-marker",
                (part_number_marker > 0).then(|| part_number_marker.to_string()),
            )
            .query("encoding-type", "url");
        let answer = self.execute(call).await?;
        let mut result: ListPartsResult = parse_xml(OPERATION, bucket, Some(key), &answer)?;
        result.decode_urls();
        Ok(result)
    }

    /// Replaces the bucket's whole lifecycle configuration with `config`.
    pub async fn put_bucket_lifecycle(
        &self,
        bucket: &str,
        config: &LifecycleConfiguration,
    ) -> Result<(), OssError> {
        const OPERATION: &str = "PutBucketLifecycle";
        validate_bucket_name(bucket)?;
        let xml_body = Bytes::from(config.to_xml());
        let body_md5 = body_md5(OPERATION, &Body::Bytes(xml_body.clone())).await?;
        let call = Call::new(OPERATION, Method::PUT, Some(bucket), None)
            .query("lifecycle", "")
            .header(CONTENT_MD5, body_md5)
            .payload(Payload::Small(xml_body));
        self.execute(call).await.map(drop)
    }

    /// The bucket's lifecycle configuration, or `None` when it has none.
    pub async fn get_bucket_lifecycle(
        &self,
        bucket: &str,
    ) -> Result<Option<LifecycleConfiguration>, OssError> {
        const OPERATION: &str = "GetBucketLifecycle";
        validate_bucket_name(bucket)?;
        let call = Call::new(OPERATION, Method::GET, Some(bucket), None).query("lifecycle", "");
        let answer = match self.execute(call).await {
            Ok(answer) => answer,
            Err(error) if error.is_code(NO_SUCH_LIFECYCLE) => return Ok(None),
            Err(error) => return Err(error),
        };
        LifecycleConfiguration::parse(&answer.body)
            .map(Some)
            .map_err(|message| OssError::InvalidResponse {
                operation: OPERATION,
                target: target_name(Some(bucket), None),
                message,
            })
    }

    /// Removes every lifecycle rule of the bucket.
    pub async fn delete_bucket_lifecycle(&self, bucket: &str) -> Result<(), OssError> {
        validate_bucket_name(bucket)?;
        let call = Call::new("DeleteBucketLifecycle", Method::DELETE, Some(bucket), None)
            .query("lifecycle", "");
        self.execute(call).await.map(drop)
    }
}

/// `x-oss-meta-mtime` as a whole number of seconds: `1700000000` or `1700000000.25`
/// (rclone writes fractions); anything else is ignored.
fn parse_mtime_secs(value: &str) -> Option<u64> {
    let whole = value.trim().split('.').next()?;
    whole.parse().ok()
}

/// Seconds from `local_now` to `server_time`, given as an HTTP date
/// (`Wed, 15 Jan 2025 12:00:00 GMT`) or ISO 8601 (`2025-01-15T12:00:00.000Z`).
pub fn clock_offset_to(server_time: &str, local_now: SystemTime) -> Option<i64> {
    let server = httpdate::parse_http_date(server_time.trim())
        .ok()
        .or_else(|| {
            let parsed = time::OffsetDateTime::parse(
                server_time.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            let seconds = u64::try_from(parsed.unix_timestamp()).ok()?;
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
        })?;
    let offset = match server.duration_since(local_now) {
        Ok(ahead) => i64::try_from(ahead.as_secs()).ok()?,
        Err(behind) => -i64::try_from(behind.duration().as_secs()).ok()?,
    };
    Some(offset)
}

fn check_object(bucket: &str, key: &str) -> Result<(), OssError> {
    validate_bucket_name(bucket)?;
    validate_object_key(key)?;
    Ok(())
}

/// The caller's Content-Type, or one guessed from the key's extension as the SDKs do.
fn content_type_for(key: &str, given: Option<&str>) -> String {
    match given {
        Some(content_type) => content_type.to_owned(),
        None => mime_guess::from_path(key)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

fn parse_xml<T: DeserializeOwned>(
    operation: &'static str,
    bucket: &str,
    key: Option<&str>,
    answer: &Answer,
) -> Result<T, OssError> {
    xml::from_xml(&answer.body).map_err(|message| OssError::InvalidResponse {
        operation,
        target: target_name(Some(bucket), key),
        message,
    })
}

/// ETag and CRC of an upload answer, after checking the server's CRC against ours.
fn upload_output(
    operation: &'static str,
    bucket: &str,
    key: &str,
    answer: &Answer,
) -> Result<UploadOutput, OssError> {
    let target = target_name(Some(bucket), Some(key));
    let invalid = |message: String| OssError::InvalidResponse {
        operation,
        target: target.clone(),
        message,
    };
    let local = answer
        .sent_crc64
        .ok_or_else(|| invalid("no body was sent".into()))?;
    let server = crc64_header(&answer.headers, operation, &target)?;
    if let Some(server) = server
        && server != local
    {
        return Err(OssError::ChecksumMismatch {
            operation,
            target,
            local,
            server,
        });
    }
    let etag = header(&answer.headers, "etag")
        .filter(|etag| !etag.is_empty())
        .ok_or_else(|| invalid("the answer has no ETag".into()))?;
    Ok(UploadOutput {
        etag: etag.to_owned(),
        crc64: local,
        server_crc64: server,
        request_id: answer.request_id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Credentials;

    #[test]
    fn clock_offset_from_either_date_format() {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_736_942_400);
        assert_eq!(
            clock_offset_to("Wed, 15 Jan 2025 12:00:00 GMT", local),
            Some(0)
        );
        assert_eq!(
            clock_offset_to("Wed, 15 Jan 2025 13:00:00 GMT", local),
            Some(3600)
        );
        assert_eq!(
            clock_offset_to("2025-01-15T11:30:00.000Z", local),
            Some(-1800)
        );
        assert_eq!(clock_offset_to("yesterday", local), None);
    }

    #[test]
    fn content_type_is_guessed_from_the_key() {
        assert_eq!(content_type_for("dir/movie.mp4", None), "video/mp4");
        assert_eq!(content_type_for("notes.TXT", None), "text/plain");
        assert_eq!(
            content_type_for("noextension", None),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("a.mp4", Some("x/y")), "x/y");
    }

    #[test]
    fn remote_https_endpoints_build_with_system_roots() {
        let credentials = Credentials::new("AKID", "secret");
        let client = OssClient::new(ClientConfig::new(
            "oss-cn-hangzhou.aliyuncs.com",
            credentials.clone(),
        ))
        .unwrap();
        assert_eq!(client.endpoint.scheme, "https");
        assert!(!client.endpoint.path_style);
        let mut v4 = ClientConfig::new("https://oss-cn-hangzhou.aliyuncs.com", credentials);
        v4.signature = SignatureVersion::V4 { region: " ".into() };
        assert!(matches!(OssClient::new(v4), Err(OssError::Config(_))));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let credentials =
            Credentials::new("AKID", "SuperSecretValue").with_security_token("StsTokenValue");
        let client = OssClient::new(ClientConfig::new("http://127.0.0.1:9", credentials)).unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("AKID"));
        assert!(
            !shown.contains("SuperSecretValue") && !shown.contains("StsTokenValue"),
            "{shown}"
        );
    }
}
