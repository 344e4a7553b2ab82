//! One signed HTTP exchange: build the URL and headers, sign, send with an idle timeout,
//! read the answer, and turn every failure into an `OssError` naming the operation and
//! target. The operation methods in `mod.rs` only say what to send and how to read it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};

use super::super::credentials::Credentials;
use super::super::error::{OssError, TransportKind, code};
use super::super::signing::{self, RequestTarget};
use super::body::{self, Activity, SentTracker};
use super::response::{self, error_chain, transport_kind};
use super::{Body, OssClient, ProgressFn};

/// What to send with a request. Cloned only to send a request again with fresh
/// credentials: bodies are shared bytes or a file range, never a copy of a part.
#[derive(Clone)]
pub enum Payload {
    Empty,
    /// A small body built in memory (XML).
    Small(Bytes),
    /// An upload body, streamed and hashed on the way out.
    Upload {
        body: Body,
        progress: Option<ProgressFn>,
    },
}

/// Most bytes an XML answer or an error body may have: far more than any OSS answer (a full
/// ListParts page of 1,000 parts is under 300 KiB), little enough to hold in memory.
pub const ANSWER_LIMIT_BYTES: u64 = 8 << 20;

/// Most bytes read (and thrown away) from the body of an answer that should have none.
pub const DISCARD_LIMIT_BYTES: u64 = 64 << 10;

/// What the body of a 2xx answer is for, which decides how much of it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerBody {
    /// An XML document (or nothing): kept, up to the client's answer limit.
    Document,
    /// Object bytes: kept, never more than the Content-Length announced nor, on a 206,
    /// than the `range_len` bytes asked for.
    Object { range_len: Option<u64> },
    /// An upload answer's body, which should be empty: read and dropped, up to
    /// `DISCARD_LIMIT_BYTES`.
    Discard,
}

/// A request before signing.
#[derive(Clone)]
pub struct Call<'a> {
    pub operation: &'static str,
    pub method: Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// Decoded query pairs; an empty value is a bare name such as `uploads`.
    pub query: Vec<(String, String)>,
    /// Headers to send and sign (Content-Type, Content-MD5, `x-oss-*`, Range…).
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
    /// How much of a 2xx answer's body to read and whether to keep it.
    pub answer: AnswerBody,
}

impl<'a> Call<'a> {
    pub fn new(
        operation: &'static str,
        method: Method,
        bucket: Option<&'a str>,
        key: Option<&'a str>,
    ) -> Self {
        Self {
            operation,
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
            answer: AnswerBody::Document,
        }
    }

    pub fn answer(mut self, answer: AnswerBody) -> Self {
        self.answer = answer;
        self
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Adds the parameter only when there is a value.
    pub fn query_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn header_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.header(name, value),
            None => self,
        }
    }

    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }
}

/// A successful (2xx) answer, its body read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// CRC-64 of what an upload body sent.
    pub sent_crc64: Option<u64>,
}

impl Answer {
    pub fn request_id(&self) -> Option<String> {
        response::header(&self.headers, response::REQUEST_ID).map(str::to_owned)
    }
}

/// `bucket/key`, `bucket`, or `/` for service requests: how errors name what failed.
pub fn target_name(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (Some(bucket), Some(key)) => format!("{bucket}/{key}"),
        (Some(bucket), None) => bucket.to_owned(),
        (None, _) => "/".to_owned(),
    }
}

impl OssClient {
    /// The signing clock: local time shifted by the learned offset.
    fn signing_time(&self) -> SystemTime {
        let offset = self.clock_offset_secs();
        let now = SystemTime::now();
        let magnitude = Duration::from_secs(offset.unsigned_abs());
        let shifted = if offset >= 0 {
            now.checked_add(magnitude)
        } else {
            now.checked_sub(magnitude)
        };
        shifted.unwrap_or(now)
    }

    /// Signs `call` with the provider's current credentials and sends it, returning the
    /// answer when it is 2xx. When credentials that expire are refused as expired or
    /// unknown, they are refreshed and the call is sent once more.
    pub(super) async fn execute(&self, call: Call<'_>) -> Result<Answer, OssError> {
        let provider = &self.config.credentials;
        let credentials = provider.current().await?;
        if !provider.refreshes() {
            return self.send_signed(call, &credentials).await;
        }
        let again = call.clone();
        match self.send_signed(call, &credentials).await {
            Err(error) if refused_credentials(&error) => {
                match provider.refresh_rejected(&credentials).await? {
                    Some(fresh) => self.send_signed(again, &fresh).await,
                    None => Err(error),
                }
            }
            answered => answered,
        }
    }

    /// Signs `call` with `credentials` and sends it once.
    async fn send_signed(
        &self,
        call: Call<'_>,
        credentials: &Credentials,
    ) -> Result<Answer, OssError> {
        let Call {
            operation,
            method,
            bucket,
            key,
            query,
            mut headers,
            payload,
            answer,
        } = call;
        let target = target_name(bucket, key);
        let url = self.endpoint.url(bucket, key, &query);
        signing::sign_headers(
            credentials,
            &self.config.signature,
            &RequestTarget {
                method: method.as_str(),
                bucket,
                key,
                query: &query,
            },
            &mut headers,
            self.signing_time(),
        );

        let mut request = self.http.request(method.clone(), url.as_str());
        let mut header_map = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in &headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                OssError::Config(format!(
                    "{operation} of {target}: {name:?} is not a valid header name"
                ))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                OssError::Config(format!(
                    "{operation} of {target}: the value of header {name} cannot be sent over HTTP (use ASCII)"
                ))
            })?;
            header_map.append(name, value);
        }

        let activity = Activity::new();
        let tracker = SentTracker::default();
        let mut upload_path = None;
        let mut uploading = false;
        match payload {
            Payload::Empty => {}
            Payload::Small(bytes) => request = request.body(bytes),
            Payload::Upload { body, progress } => {
                uploading = true;
                upload_path = body.path().map(ToOwned::to_owned);
                let len = body.len();
                let stream = body::chunk_stream_paced(
                    body,
                    tracker.clone(),
                    progress,
                    activity.clone(),
                    self.upload_pacer.clone(),
                )
                .await
                .map_err(|source| OssError::LocalIo {
                    operation,
                    path: upload_path.clone().unwrap_or_default(),
                    source,
                })?;
                // The stream's length is unknown to the HTTP stack; hyper honours an explicit
                // Content-Length and frames the body with it instead of chunked encoding.
                header_map.insert(CONTENT_LENGTH, HeaderValue::from(len));
                request = request.body(reqwest::Body::wrap_stream(stream));
            }
        }
        let request = request.headers(header_map);

        let transport = |kind: TransportKind, message: String| OssError::Transport {
            operation,
            target: target.clone(),
            kind,
            message,
        };
        let local_failure = || {
            tracker.take_local_error().map(|source| OssError::LocalIo {
                operation,
                path: upload_path.clone().unwrap_or_default(),
                source,
            })
        };
        let idle = self.config.io_timeout;
        let sent = tokio::select! {
            result = request.send() => Some(result),
            () = activity.idle_for(idle) => None,
        };
        let response = match sent {
            Some(Ok(response)) => response,
            Some(Err(error)) => {
                return Err(local_failure()
                    .unwrap_or_else(|| transport(transport_kind(&error), error_chain(&error))));
            }
            None => {
                return Err(local_failure().unwrap_or_else(|| {
                    transport(TransportKind::Timeout, format!("no progress for {idle:?}"))
                }));
            }
        };
        activity.touch();

        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        let success = (200..300).contains(&status);
        let bound = body_bound(
            if success {
                answer
            } else {
                AnswerBody::Document
            },
            status,
            &response_headers,
            self.config.answer_limit_bytes,
        );
        let body = read_body(response, bound, &activity, idle)
            .await
            .map_err(|failure| match failure {
                BodyFailure::Transport(kind, message) => transport(kind, message),
                BodyFailure::TooLong(limit) => OssError::AnswerTooLong {
                    operation,
                    target: target.clone(),
                    limit,
                },
            })?;

        if !success {
            return Err(OssError::Service {
                operation,
                target,
                error: response::service_error(status, &response_headers, &body),
            });
        }
        let sent_crc64 = uploading.then(|| tracker.lock().crc.value());
        Ok(Answer {
            status,
            headers: response_headers,
            body,
            sent_crc64,
        })
    }
}

/// Answers that mean the credentials themselves were refused (an STS token that expired
/// or that the server no longer knows), which fresh credentials may cure.
fn refused_credentials(error: &OssError) -> bool {
    error.is_code(code::SECURITY_TOKEN_EXPIRED) || error.is_code(code::INVALID_ACCESS_KEY_ID)
}

/// How far a body may go, and whether it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BodyBound {
    max_bytes: u64,
    keep: bool,
    /// Says what `max_bytes` is, for the error when the body goes past it.
    kind: BoundKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoundKind {
    /// A cap of ours (answer or discard limit).
    Cap,
    /// The length the server announced or that the range asked for.
    Announced,
}

impl BodyBound {
    fn describe(self) -> String {
        match self.kind {
            BoundKind::Cap => format!("exceeded {}", human_bytes(self.max_bytes)),
            BoundKind::Announced => format!(
                "ran past the {} announced for it",
                human_bytes(self.max_bytes)
            ),
        }
    }
}

/// The bound for one answer: documents and error bodies up to `answer_limit`, object
/// bytes up to what was announced or asked for, unwanted bodies up to the discard limit.
fn body_bound(
    answer: AnswerBody,
    status: u16,
    headers: &HeaderMap,
    answer_limit: u64,
) -> BodyBound {
    let cap = |max_bytes, keep| BodyBound {
        max_bytes,
        keep,
        kind: BoundKind::Cap,
    };
    match answer {
        AnswerBody::Document => cap(answer_limit, true),
        AnswerBody::Discard => cap(DISCARD_LIMIT_BYTES, false),
        AnswerBody::Object { range_len } => {
            let announced = response::header(headers, "content-length")
                .and_then(|text| text.trim().parse::<u64>().ok());
            let asked = range_len.filter(|_| status == 206);
            match announced.into_iter().chain(asked).min() {
                Some(max_bytes) => BodyBound {
                    max_bytes,
                    keep: true,
                    kind: BoundKind::Announced,
                },
                // A whole object sent chunked: nothing announced, so only our cap holds.
                None => cap(answer_limit, true),
            }
        }
    }
}

/// `8 MiB`, `64 KiB`, or `1000 bytes`.
fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

enum BodyFailure {
    Transport(TransportKind, String),
    /// The body went past its bound, described here.
    TooLong(String),
}

/// Reads the answer body up to `bound`, failing when nothing arrives for `idle` and
/// stopping (without reading on) as soon as the body is longer than the bound allows.
async fn read_body(
    mut response: reqwest::Response,
    bound: BodyBound,
    activity: &Arc<Activity>,
    idle: Duration,
) -> Result<Bytes, BodyFailure> {
    if response
        .content_length()
        .is_some_and(|announced| announced > bound.max_bytes)
    {
        return Err(BodyFailure::TooLong(bound.describe()));
    }
    let mut body = BytesMut::new();
    let mut received: u64 = 0;
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = activity.idle_for(idle) => {
                return Err(BodyFailure::Transport(
                    TransportKind::Timeout,
                    format!("the answer stalled for {idle:?}"),
                ));
            }
        };
        match chunk {
            Ok(Some(chunk)) => {
                activity.touch();
                received = received.saturating_add(chunk.len() as u64);
                if received > bound.max_bytes {
                    return Err(BodyFailure::TooLong(bound.describe()));
                }
                if bound.keep {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => return Ok(body.freeze()),
            Err(error) => {
                return Err(BodyFailure::Transport(
                    transport_kind(&error),
                    error_chain(&error),
                ));
            }
        }
    }
}
