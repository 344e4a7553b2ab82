//! One signed HTTP exchange: build the URL and headers, sign, send with an idle timeout,
//! read the answer, and turn every failure into an `OssError` naming the operation and
//! target. The operation methods in `mod.rs` only say what to send and how to read it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};

use super::super::error::{OssError, TransportKind};
use super::super::signing::{self, RequestTarget};
use super::body::{self, Activity, SentTracker};
use super::response::{self, error_chain, transport_kind};
use super::{Body, OssClient, ProgressFn};

/// What to send with a request.
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

/// A request before signing.
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
        }
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

    /// Signs and sends `call`, returning the answer when it is 2xx.
    pub(super) async fn execute(&self, call: Call<'_>) -> Result<Answer, OssError> {
        let Call {
            operation,
            method,
            bucket,
            key,
            query,
            mut headers,
            payload,
        } = call;
        let target = target_name(bucket, key);
        let url = self.endpoint.url(bucket, key, &query);
        signing::sign_headers(
            &self.config.credentials,
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
        let body = read_body(response, &activity, idle)
            .await
            .map_err(|(kind, message)| transport(kind, message))?;

        if !(200..300).contains(&status) {
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

/// Reads the whole answer body, failing when nothing arrives for `idle`.
async fn read_body(
    mut response: reqwest::Response,
    activity: &Arc<Activity>,
    idle: Duration,
) -> Result<Bytes, (TransportKind, String)> {
    let mut body = BytesMut::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = activity.idle_for(idle) => {
                return Err((TransportKind::Timeout, format!("the answer stalled for {idle:?}")));
            }
        };
        match chunk {
            Ok(Some(chunk)) => {
                activity.touch();
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(error) => return Err((transport_kind(&error), error_chain(&error))),
        }
    }
}
