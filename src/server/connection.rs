//! Accepting connections and keeping them bounded: how many at once, how long one may
//! sit idle or take to send its headers, and a switch that drops one on demand.
//!
//! A client that opens a connection and sends nothing (or half a request line) must not
//! hold a file descriptor forever, and a crowd of them must not lock everyone else out:
//! every connection is timed while it is not in a request, the number served at once is
//! capped, and the ones beyond the cap get a short OSS-style 503 instead of a silent
//! queue. Fault injection must also be able to break a transfer the way a failing
//! network does: a request handler reaches its own connection through
//! [`ConnectionInfo`] and flips the switch; from then on every read and write on the
//! socket fails, so hyper abandons the connection and closes it.
//!
//! With TLS the handshake runs on top of that timed stream, so a client that stalls in
//! the handshake meets the same idle and header timers as one that stalls in its
//! headers, and the connection counts against the same cap.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use futures_util::task::AtomicWaker;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use super::{errors, response};
use crate::protocol::xml;

/// How long connections may wait and how many may be open; see [`ConnectionLimits::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to the end of its headers.
    pub header_read_timeout: Duration,
    /// How long a connection may sit between requests (or before its first) sending nothing.
    pub idle_timeout: Duration,
    /// A request body must deliver at least this many bytes per second, measured over
    /// [`ConnectionLimits::body_rate_window`]; a slower one is cut with `RequestTimeout`.
    pub min_body_bytes_per_sec: u64,
    /// The stretch over which the body rate is measured.
    pub body_rate_window: Duration,
    /// Connections served at once; the ones beyond get 503.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            min_body_bytes_per_sec: 1024,
            body_rate_window: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Connections turned away beyond the cap that may be answered at once; a flood past
/// this is dropped without an answer, so answering it cannot exhaust descriptors.
const MAX_REFUSING_AT_ONCE: usize = 64;
/// Most bytes of a refused connection's request read before answering it.
const REFUSED_HEAD_BYTES: usize = 16 << 10;

/// What a handler knows about the connection its request came on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    kill: Arc<AtomicBool>,
    /// Requests on this connection whose answer has not been sent yet; while any is,
    /// the connection is not idle and no header or idle timer runs.
    in_request: Arc<AtomicUsize>,
    /// Wakes a read that was waiting while a request was in progress, so its idle timer
    /// starts when the answer is done rather than when the client next sends a byte.
    went_idle: Arc<AtomicWaker>,
}

impl ConnectionInfo {
    /// Drops the connection: no answer is sent and the client sees a broken transfer.
    pub fn cut(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }

    /// Marks a request in progress until the returned guard is dropped (which the
    /// dispatcher ties to the end of the answer's body).
    pub fn begin_request(&self) -> RequestInProgress {
        self.in_request.fetch_add(1, Ordering::SeqCst);
        RequestInProgress(self.clone())
    }
}

/// Keeps a connection out of its idle and header timers while alive.
#[derive(Debug)]
pub struct RequestInProgress(ConnectionInfo);

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        if self.0.in_request.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.went_idle.wake();
        }
    }
}

/// At most one log line a second per kind of trouble, saying how many were not logged,
/// so a flood of bad clients cannot flood the log.
pub struct LogThrottle {
    what: &'static str,
    last_ms: AtomicU64,
    unlogged: AtomicU64,
    start: Instant,
}

impl LogThrottle {
    const fn new(what: &'static str, start: Instant) -> Self {
        Self {
            what,
            last_ms: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            start,
        }
    }

    pub fn note(&self, peer: SocketAddr) {
        let now_ms = self.start.elapsed().as_millis() as u64 + 1000;
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 1000
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
            if unlogged == 0 {
                tracing::warn!("{} ({peer})", self.what);
            } else {
                tracing::warn!("{} ({peer}; {unlogged} more not logged)", self.what);
            }
        } else {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One throttle per kind of connection trouble.
struct Troubles {
    header_timeout: LogThrottle,
    idle_timeout: LogThrottle,
    over_cap: LogThrottle,
}

/// Where a connection stands between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In a request: no timer.
    Busy,
    /// Waiting for a request's first byte.
    Idle,
    /// A request's head has started arriving.
    Head,
}

/// A TCP stream that times the waits between requests and fails every operation once
/// its connection has been cut.
pub struct CuttableStream {
    stream: TcpStream,
    info: ConnectionInfo,
    limits: Arc<ConnectionLimits>,
    troubles: Arc<Troubles>,
    phase: Phase,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl CuttableStream {
    fn check(&self) -> io::Result<()> {
        if self.info.kill.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut by fault injection",
            ))
        } else {
            Ok(())
        }
    }

    fn arm(&mut self, phase: Phase, after: Duration) {
        self.phase = phase;
        self.deadline = Some(Box::pin(tokio::time::sleep(after)));
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        this.info.went_idle.register(cx.waker());
        if this.info.in_request.load(Ordering::SeqCst) > 0 {
            this.phase = Phase::Busy;
            this.deadline = None;
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        if this.phase == Phase::Busy {
            this.arm(Phase::Idle, this.limits.idle_timeout);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.arm(Phase::Head, this.limits.header_read_timeout);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                let (throttle, what) = if this.phase == Phase::Head {
                    (&this.troubles.header_timeout, "request headers too slow")
                } else {
                    (&this.troubles.idle_timeout, "connection idle too long")
                };
                throttle.note(this.info.peer);
                this.deadline = None;
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
            }
        }
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A connection's byte stream, plain or TLS, as hyper reads it.
trait ConnectionIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ConnectionIo for T {}

/// Accepts connections on `listener` and serves each with `handle` until `stop` fires;
/// then stops accepting, lets every connection finish its request in progress, and
/// returns once they all have. With `tls`, every connection is HTTPS.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    stop: oneshot::Receiver<()>,
    handle: H,
) -> io::Result<()>
where
    H: Fn(ConnectionInfo, Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let limits = Arc::new(limits);
    let start = Instant::now();
    let troubles = Arc::new(Troubles {
        header_timeout: LogThrottle::new(
            "closed a connection whose request headers took too long",
            start,
        ),
        idle_timeout: LogThrottle::new("closed an idle connection", start),
        over_cap: LogThrottle::new("refused a connection: too many open", start),
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING_AT_ONCE));
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!("accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small answers (errors, headers) should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            troubles.over_cap.note(peer);
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                let header_timeout = limits.header_read_timeout;
                let tls = tls.clone();
                connections.spawn(async move {
                    refuse_over_cap(stream, tls, header_timeout).await;
                    drop(permit);
                });
            }
            continue;
        };
        let info = ConnectionInfo {
            peer,
            kill: Arc::new(AtomicBool::new(false)),
            in_request: Arc::new(AtomicUsize::new(0)),
            went_idle: Arc::new(AtomicWaker::new()),
        };
        let mut io = CuttableStream {
            stream,
            info: info.clone(),
            limits: limits.clone(),
            troubles: troubles.clone(),
            phase: Phase::Busy,
            deadline: None,
        };
        io.arm(Phase::Idle, limits.idle_timeout);
        let handle = handle.clone();
        let limits_for_body = limits.clone();
        let mut stopping = stopping.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let io: Box<dyn ConnectionIo> = match tls {
                None => Box::new(io),
                // A failed or timed-out handshake just closes the connection, as a
                // client that never finishes its headers does.
                Some(acceptor) => match acceptor.accept(io).await {
                    Ok(tls_stream) => Box::new(tls_stream),
                    Err(error) => {
                        tracing::debug!("TLS handshake with {peer} failed: {error}");
                        drop(slot);
                        return;
                    }
                },
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                // Marked before the handler first runs, so no idle timer can fire while
                // the request waits for it, and held until the answer's body is sent.
                let in_progress = info.begin_request();
                let stall = BodyStall::default();
                let mut request = request.map(|body| {
                    Body::new(RateCheckedBody::new(body, &limits_for_body, stall.clone()))
                });
                request.extensions_mut().insert(stall);
                let answer = handle(info.clone(), request);
                async move {
                    let answer = answer.await.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _ = &in_progress;
                            frame
                        }))
                    });
                    Ok::<_, std::convert::Infallible>(answer)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Answers a connection beyond the cap with OSS's 503 once its request head has
/// arrived (or the header timeout has passed), so the client reads an answer rather
/// than a reset. A TLS client is answered inside TLS, after a handshake held to the
/// same timeout.
async fn refuse_over_cap(stream: TcpStream, tls: Option<TlsAcceptor>, header_timeout: Duration) {
    match tls {
        None => answer_over_cap(stream, header_timeout).await,
        Some(acceptor) => {
            if let Ok(Ok(tls_stream)) =
                tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
            {
                answer_over_cap(tls_stream, header_timeout).await;
            }
        }
    }
}

async fn answer_over_cap(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    header_timeout: Duration,
) {
    let mut head = Vec::new();
    let _ = tokio::time::timeout(header_timeout, async {
        let mut chunk = [0u8; 2048];
        while head.len() < REFUSED_HEAD_BYTES && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let mut error = errors::too_many_connections();
    error.request_id = Some(response::new_request_id());
    let body = xml::error_body(&error);
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\nserver: ossup\r\nx-oss-request-id: {}\r\n\r\n{body}",
        body.len(),
        error.request_id.as_deref().unwrap_or_default(),
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Set when a request's body was cut for arriving too slowly, so the dispatcher can
/// answer OSS's `RequestTimeout` instead of the generic incomplete-body error.
#[derive(Debug, Clone, Default)]
pub struct BodyStall(Arc<AtomicBool>);

impl BodyStall {
    pub fn stalled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A request body that fails once it delivers less than its quota (the minimum rate
/// over one window) within a window.
struct RateCheckedBody {
    inner: Incoming,
    quota_bytes: u64,
    window: Duration,
    since_mark_bytes: u64,
    deadline: Pin<Box<Sleep>>,
    stall: BodyStall,
}

impl RateCheckedBody {
    fn new(inner: Incoming, limits: &ConnectionLimits, stall: BodyStall) -> Self {
        let window = limits.body_rate_window;
        let quota_bytes =
            (u128::from(limits.min_body_bytes_per_sec) * window.as_millis() / 1000).max(1) as u64;
        Self {
            inner,
            quota_bytes,
            window,
            since_mark_bytes: 0,
            deadline: Box::pin(tokio::time::sleep(window)),
            stall,
        }
    }
}

impl HttpBody for RateCheckedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.since_mark_bytes += data.len() as u64;
                    if this.since_mark_bytes >= this.quota_bytes {
                        this.since_mark_bytes = 0;
                        let next = tokio::time::Instant::now() + this.window;
                        this.deadline.as_mut().reset(next);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.stall.stalled() || this.deadline.as_mut().poll(cx).is_ready() {
                    this.stall.0.store(true, Ordering::SeqCst);
                    return Poll::Ready(Some(Err("the request body arrived too slowly".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
