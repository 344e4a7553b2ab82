//! Retrying requests: exponential backoff with full jitter, clock-skew repair, and waiting
//! out a network outage without spending the retry budget. A failed connection is
//! classified ([`ConnectFailure`]) so a front end can say what happened: a refused
//! connection or an unknown host is not a network that is down, and an untrusted
//! certificate is not retried at all.
//!
//! The random source and the sleeper are injectable: tests use a seeded RNG and a virtual
//! sleeper that only adds up the time it was asked to wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tuning::RetryPolicy;
use crate::protocol::client::clock_offset_to;
use crate::protocol::error::TransportKind;
use crate::protocol::error::code;
use crate::protocol::{OssClient, OssError};

/// Error codes that no retry can heal: the transfer fails with one clear sentence.
const FATAL_CODES: &[&str] = &[
    code::ACCESS_DENIED,
    code::NO_SUCH_BUCKET,
    code::SIGNATURE_DOES_NOT_MATCH,
    code::INVALID_ACCESS_KEY_ID,
    code::INVALID_BUCKET_NAME,
    code::SECURITY_TOKEN_EXPIRED,
];

/// What to do about a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again after a backoff.
    Retry,
    /// Our clock is off: shift the signing clock by this many seconds and try again.
    ClockSkew { offset_secs: Option<i64> },
    /// Unreachable network: wait and probe, without counting an attempt.
    NetworkDown,
    /// Trying again cannot help.
    Fatal,
}

/// Why a connection could not be made, read from what the HTTP stack said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Something answered and refused: nothing listens at that address.
    Refused {
        address: String,
    },
    /// The name does not resolve.
    NoSuchHost {
        host: String,
    },
    /// The server's TLS certificate is not trusted (self-signed, unknown issuer, wrong
    /// name, expired); no retry heals this.
    CertificateNotTrusted {
        detail: String,
    },
    TimedOut,
    /// The network itself is unreachable (no route, no interface, no name server).
    NetworkDown {
        detail: String,
    },
    Other {
        detail: String,
    },
}

impl ConnectFailure {
    /// The classified reason of a failed connection; `None` for other errors.
    pub fn of(error: &OssError) -> Option<Self> {
        let OssError::Transport { kind, message, .. } = error else {
            return None;
        };
        let lower = message.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            let detail = message
                .rsplit(": ")
                .find(|part| part.to_ascii_lowercase().contains("certificate"))
                .unwrap_or(message)
                .to_owned();
            return Some(ConnectFailure::CertificateNotTrusted { detail });
        }
        if *kind != TransportKind::Connect {
            return None;
        }
        let address = request_address(message);
        Some(if lower.contains("connection refused") {
            ConnectFailure::Refused {
                address: address.unwrap_or_else(|| "the server".into()),
            }
        } else if lower.contains("name or service not known")
            || lower.contains("no address associated")
            || lower.contains("nodename nor servname")
            || lower.contains("no such host")
        {
            let host = address
                .map(|a| a.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or(a))
                .unwrap_or_default();
            ConnectFailure::NoSuchHost { host }
        } else if lower.contains("timed out") {
            ConnectFailure::TimedOut
        } else if lower.contains("network is unreachable")
            || lower.contains("no route to host")
            || lower.contains("temporary failure in name resolution")
        {
            ConnectFailure::NetworkDown {
                detail: message.rsplit(": ").next().unwrap_or(message).to_owned(),
            }
        } else {
            ConnectFailure::Other {
                detail: message.rsplit(": ").next().unwrap_or(message).to_owned(),
            }
        })
    }

    /// The network (not the server) is unreachable.
    pub fn network_is_down(&self) -> bool {
        matches!(
            self,
            ConnectFailure::NetworkDown { .. } | ConnectFailure::TimedOut
        )
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::Refused { address } => write!(f, "connection refused by {address}"),
            ConnectFailure::NoSuchHost { host } if host.is_empty() => f.write_str("no such host"),
            ConnectFailure::NoSuchHost { host } => write!(f, "no such host: {host}"),
            ConnectFailure::CertificateNotTrusted { detail } => {
                write!(f, "certificate not trusted ({detail})")
            }
            ConnectFailure::TimedOut => f.write_str("the connection timed out"),
            ConnectFailure::NetworkDown { detail } => write!(f, "network down ({detail})"),
            ConnectFailure::Other { detail } => write!(f, "could not connect ({detail})"),
        }
    }
}

/// `host:port` of the URL in an HTTP stack message ("… for url (http://h:p/…)"), with the
/// scheme's port when the URL names none.
fn request_address(message: &str) -> Option<String> {
    let start = message.find("url (")? + "url (".len();
    let url = &message[start..];
    let url = &url[..url.find(')').unwrap_or(url.len())];
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    Some(if has_port {
        authority.to_owned()
    } else {
        let port = if scheme == "https" { 443 } else { 80 };
        format!("{authority}:{port}")
    })
}

/// Sorts an error into what the retry loop does with it.
pub fn classify(error: &OssError, now: SystemTime) -> ErrorClass {
    if let Some(ConnectFailure::CertificateNotTrusted { .. }) = ConnectFailure::of(error) {
        return ErrorClass::Fatal;
    }
    if error.is_code(code::REQUEST_TIME_TOO_SKEWED) {
        return ErrorClass::ClockSkew {
            offset_secs: server_clock_offset(error, now),
        };
    }
    if error.code().is_some_and(|code| FATAL_CODES.contains(&code)) {
        return ErrorClass::Fatal;
    }
    if error.is_network_down() {
        return ErrorClass::NetworkDown;
    }
    if error.is_retryable() {
        ErrorClass::Retry
    } else {
        ErrorClass::Fatal
    }
}

/// Seconds to add to `now` to get the server's time, from the `ServerTime` element
/// (HTTP date or ISO 8601) or a `Date` detail of a RequestTimeTooSkewed answer.
fn server_clock_offset(error: &OssError, now: SystemTime) -> Option<i64> {
    let service = error.service()?;
    let server_time = service
        .detail("ServerTime")
        .or_else(|| service.detail("Date"))?;
    clock_offset_to(server_time, now)
}

/// Waits and tells the time; swapped for a virtual clock in tests.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// The clock outages are measured on.
    fn now(&self) -> Instant;
}

/// Real waiting on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        // The tokio clock, so tests that pause time see outages pass with it.
        tokio::time::Instant::now().into_std()
    }
}

/// What the retry loop reports while it works, for part maps and transfer states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryEvent {
    /// Waiting before attempt `attempt` (2 = first retry).
    Retrying { attempt: u32, last_error: String },
    /// The server cannot be reached (`reason` says why); probing every
    /// `network_probe_interval`.
    WaitingForNetwork {
        last_error: String,
        reason: ConnectFailure,
    },
    /// The network answered again after an outage.
    NetworkBack,
}

/// Runs requests with retries. Shared by all tasks of an engine (cheap to clone).
#[derive(Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    rng: Arc<Mutex<StdRng>>,
    /// Applies a learned clock offset (the client's `set_clock_offset_secs`).
    set_clock_offset: Arc<dyn Fn(i64) + Send + Sync>,
    sleeper: Arc<dyn Sleeper>,
    /// When the network was last seen going down, shared by every request of the engine:
    /// once an outage outlasts the policy's limit, queued work gives up at its first
    /// failed connection instead of each transfer waiting out a limit of its own.
    outage_since: Arc<Mutex<Option<Instant>>>,
}

impl Retrier {
    pub fn new(
        policy: RetryPolicy,
        rng: StdRng,
        sleeper: Arc<dyn Sleeper>,
        set_clock_offset: Arc<dyn Fn(i64) + Send + Sync>,
    ) -> Self {
        Self {
            policy,
            rng: Arc::new(Mutex::new(rng)),
            set_clock_offset,
            sleeper,
            outage_since: Arc::new(Mutex::new(None)),
        }
    }

    /// A retrier seeded from the OS, sleeping on the tokio timer.
    pub fn from_os_rng(
        policy: RetryPolicy,
        set_clock_offset: Arc<dyn Fn(i64) + Send + Sync>,
    ) -> Self {
        Self::new(
            policy,
            StdRng::from_os_rng(),
            Arc::new(TokioSleeper),
            set_clock_offset,
        )
    }

    /// A retrier for requests made outside a running engine (listings a person or a
    /// script waits on), correcting `client`'s signing clock as the engine does.
    pub fn for_client(client: &OssClient, policy: RetryPolicy) -> Self {
        let client = client.clone();
        Self::from_os_rng(
            policy,
            Arc::new(move |offset| client.set_clock_offset_secs(offset)),
        )
    }

    /// The same retrier with another policy (after a tuning change).
    pub fn with_policy(&self, policy: RetryPolicy) -> Self {
        Self {
            policy,
            ..self.clone()
        }
    }

    /// Waits on this retrier's sleeper.
    pub async fn sleep(&self, duration: Duration) {
        self.sleeper.sleep(duration).await;
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Records that the network is down (keeping the earliest start) or answers again;
    /// returns when the current outage started.
    fn set_outage(&self, down: bool) -> Option<Instant> {
        let mut since = match self.outage_since.lock() {
            Ok(since) => since,
            Err(poisoned) => poisoned.into_inner(),
        };
        if down {
            Some(*since.get_or_insert_with(|| self.sleeper.now()))
        } else {
            *since = None;
            None
        }
    }

    /// Full jitter: uniform in `[0, min(max_delay, base_delay × 2^(retry − 1))]`, where
    /// `retry` counts from 1 for the first retry.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.policy.max_delay);
        let ceiling_ms = ceiling.as_millis() as u64;
        let pick = match self.rng.lock() {
            Ok(mut rng) => rng.random_range(0..=ceiling_ms),
            // A poisoned lock only means another task panicked mid-draw; use the ceiling.
            Err(_) => ceiling_ms,
        };
        Duration::from_millis(pick)
    }

    /// Runs `request` until it succeeds, fails for good, the attempts run out, or the
    /// network stays down longer than the policy's outage limit (the last error is
    /// returned, saying how long it waited). `observe` hears about every wait. Cancel by
    /// dropping the future.
    pub async fn run<T, F, Fut>(
        &self,
        mut request: F,
        mut observe: impl FnMut(RetryEvent),
    ) -> Result<T, OssError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OssError>>,
    {
        let mut attempt = 1u32;
        let mut network_down = false;
        let mut clock_fixes = 0u32;
        loop {
            let error = match request().await {
                Ok(value) => {
                    self.set_outage(false);
                    if network_down {
                        observe(RetryEvent::NetworkBack);
                    }
                    return Ok(value);
                }
                Err(error) => error,
            };
            let class = classify(&error, SystemTime::now());
            if class != ErrorClass::NetworkDown {
                // The server answered (or the connection got that far): not an outage.
                self.set_outage(false);
            }
            match class {
                ErrorClass::Fatal => return Err(error),
                ErrorClass::NetworkDown => {
                    let started = self.set_outage(true);
                    if let (Some(limit), Some(started)) =
                        (self.policy.give_up_after_outage, started)
                        && self.sleeper.now().saturating_duration_since(started) >= limit
                    {
                        return Err(gave_up_after_outage(error, limit));
                    }
                    network_down = true;
                    observe(RetryEvent::WaitingForNetwork {
                        reason: ConnectFailure::of(&error).unwrap_or(ConnectFailure::Other {
                            detail: error.to_string(),
                        }),
                        last_error: error.to_string(),
                    });
                    // Probe again, but no later than the moment the limit runs out.
                    let mut wait = self.policy.network_probe_interval;
                    if let (Some(limit), Some(started)) =
                        (self.policy.give_up_after_outage, started)
                    {
                        let waited = self.sleeper.now().saturating_duration_since(started);
                        wait = wait.min(limit.saturating_sub(waited));
                    }
                    self.sleep(wait).await;
                    continue;
                }
                ErrorClass::ClockSkew { offset_secs } => {
                    // One correction should do; a second skew answer means the offset
                    // did not help, so stop rather than loop.
                    match offset_secs {
                        Some(offset) if clock_fixes < 2 => {
                            clock_fixes += 1;
                            tracing::warn!(
                                offset,
                                "local clock is off; correcting the signing clock"
                            );
                            (self.set_clock_offset)(offset);
                            continue;
                        }
                        _ => return Err(error),
                    }
                }
                ErrorClass::Retry => {}
            }
            if network_down {
                network_down = false;
                observe(RetryEvent::NetworkBack);
            }
            if attempt >= self.policy.max_attempts {
                return Err(error);
            }
            attempt += 1;
            observe(RetryEvent::Retrying {
                attempt,
                last_error: error.to_string(),
            });
            self.sleep(self.backoff(attempt - 1)).await;
        }
    }
}

/// The connection error that ended an outage the policy would not wait out, saying so
/// (a zero limit waits for nothing, so the error speaks for itself).
fn gave_up_after_outage(error: OssError, limit: Duration) -> OssError {
    if limit.is_zero() {
        return error;
    }
    match error {
        OssError::Transport {
            operation,
            target,
            kind,
            message,
        } => OssError::Transport {
            operation,
            target,
            kind,
            message: format!(
                "gave up after the endpoint could not be reached for {limit:?} ({message})"
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServiceError;
    use crate::protocol::error::TransportKind;
    use crate::protocol::error::testing::{service, transport};
    use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
    use std::time::UNIX_EPOCH;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            network_probe_interval: Duration::from_secs(5),
            give_up_after_outage: None,
        }
    }

    /// Adds up requested waits instead of waiting.
    struct VirtualClock {
        waited_ms: AtomicU64,
        start: Instant,
    }

    impl Default for VirtualClock {
        fn default() -> Self {
            Self {
                waited_ms: AtomicU64::new(0),
                start: Instant::now(),
            }
        }
    }

    impl VirtualClock {
        fn elapsed(&self) -> Duration {
            Duration::from_millis(self.waited_ms.load(Ordering::SeqCst))
        }
    }

    impl Sleeper for VirtualClock {
        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            self.waited_ms
                .fetch_add(duration.as_millis() as u64, Ordering::SeqCst);
            Box::pin(std::future::ready(()))
        }

        fn now(&self) -> Instant {
            self.start + self.elapsed()
        }
    }

    fn retrier(offset: Arc<AtomicI64>) -> (Retrier, Arc<VirtualClock>) {
        let clock = Arc::new(VirtualClock::default());
        let retrier = Retrier::new(
            policy(),
            StdRng::seed_from_u64(7),
            clock.clone(),
            Arc::new(move |o| offset.store(o, Ordering::SeqCst)),
        );
        (retrier, clock)
    }

    /// Runs one request whose first `failures` calls fail with `error()` and whose next
    /// answers with its call number; returns the result and the events seen.
    async fn fail_then_answer(
        r: &Retrier,
        failures: u32,
        error: impl Fn() -> OssError,
    ) -> (Result<u32, OssError>, Vec<RetryEvent>) {
        let calls = AtomicU32::new(0);
        let mut seen = Vec::new();
        let result = r
            .run(
                || {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let answer = if n < failures { Err(error()) } else { Ok(n) };
                    async move { answer }
                },
                |event| seen.push(event),
            )
            .await;
        (result, seen)
    }

    #[test]
    fn classification() {
        let now = SystemTime::now();
        let cases = [
            (service(500, "InternalError"), ErrorClass::Retry),
            (service(403, "AccessDenied"), ErrorClass::Fatal),
            (service(404, "NoSuchBucket"), ErrorClass::Fatal),
            (service(404, "NoSuchUpload"), ErrorClass::Fatal),
            (transport(TransportKind::Connect), ErrorClass::NetworkDown),
            (transport(TransportKind::Broken), ErrorClass::Retry),
        ];
        for (error, class) in cases {
            assert_eq!(classify(&error, now), class, "{error}");
        }
        let skew = OssError::Service {
            operation: "PutObject",
            target: "b/k".into(),
            error: ServiceError::new(403, "RequestTimeTooSkewed", "m")
                .with_detail("ServerTime", "2025-01-15T12:00:00.000Z"),
        };
        let local = UNIX_EPOCH + Duration::from_secs(1_736_942_400 - 3600);
        assert_eq!(
            classify(&skew, local),
            ErrorClass::ClockSkew {
                offset_secs: Some(3600)
            }
        );
        // `ossup serve` and OSS also answer with an HTTP date.
        let skew_http_date = OssError::Service {
            operation: "PutObject",
            target: "b/k".into(),
            error: ServiceError::new(403, "RequestTimeTooSkewed", "m")
                .with_detail("ServerTime", "Wed, 15 Jan 2025 12:00:00 GMT"),
        };
        assert_eq!(
            classify(&skew_http_date, local),
            ErrorClass::ClockSkew {
                offset_secs: Some(3600)
            }
        );
    }

    #[test]
    fn backoff_is_full_jitter_under_a_growing_ceiling() {
        let (r, _) = retrier(Arc::new(AtomicI64::new(0)));
        let mut saw_small = false;
        for retry in 1..=10 {
            for _ in 0..50 {
                let ceiling = (100u64 << (retry - 1)).min(1000);
                let delay = r.backoff(retry).as_millis() as u64;
                assert!(delay <= ceiling, "retry {retry}: {delay} > {ceiling}");
                saw_small |= delay < ceiling / 2;
            }
        }
        assert!(saw_small, "jitter spreads delays down to zero");
    }

    #[tokio::test]
    async fn retries_then_succeeds_reporting_attempts() {
        let (r, clock) = retrier(Arc::new(AtomicI64::new(0)));
        let (result, seen) = fail_then_answer(&r, 2, || service(503, "ServiceUnavailable")).await;
        assert_eq!(result.unwrap(), 2);
        let attempts: Vec<u32> = seen
            .iter()
            .map(|e| match e {
                RetryEvent::Retrying { attempt, .. } => *attempt,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(attempts, vec![2, 3]);
        // Two backoffs, each at most its ceiling (100 ms, 200 ms).
        assert!(clock.elapsed() <= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_not_on_fatal() {
        let (r, _) = retrier(Arc::new(AtomicI64::new(0)));
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = r
            .run(
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(service(500, "InternalError")) }
                },
                |_| {},
            )
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = r
            .run(
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(service(403, "AccessDenied")) }
                },
                |_| {},
            )
            .await;
        assert!(result.unwrap_err().is_code("AccessDenied"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn network_outage_does_not_spend_attempts() {
        let (r, clock) = retrier(Arc::new(AtomicI64::new(0)));
        // Ten connection failures (more than max_attempts), then success.
        let (result, seen) = fail_then_answer(&r, 10, || transport(TransportKind::Connect)).await;
        assert!(result.is_ok());
        assert_eq!(clock.elapsed(), Duration::from_secs(50));
        assert_eq!(
            seen.iter()
                .filter(|e| matches!(e, RetryEvent::WaitingForNetwork { .. }))
                .count(),
            10
        );
        assert_eq!(seen.last(), Some(&RetryEvent::NetworkBack));
    }

    #[tokio::test]
    async fn an_outage_longer_than_the_limit_gives_up_and_says_so() {
        let (r, clock) = retrier(Arc::new(AtomicI64::new(0)));
        let r = r.with_policy(RetryPolicy {
            give_up_after_outage: Some(Duration::from_secs(12)),
            ..policy()
        });
        let calls = AtomicU32::new(0);
        let result: Result<(), OssError> = r
            .run(
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(transport(TransportKind::Connect)) }
                },
                |_| {},
            )
            .await;
        let error = result.expect_err("gives up");
        assert!(error.is_network_down());
        assert!(error.to_string().contains("gave up"), "{error}");
        // Probes at 0, 5 and 10 s, then one at the limit itself.
        assert_eq!(clock.elapsed(), Duration::from_secs(12));
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        // The outage is the engine's, not the request's: the next request gives up at its
        // first failed connection, without waiting another limit.
        let again: Result<(), OssError> = r
            .run(|| async { Err(transport(TransportKind::Connect)) }, |_| {})
            .await;
        assert!(again.is_err());
        assert_eq!(clock.elapsed(), Duration::from_secs(12));

        // Once the server answers, the outage is over and the budget is whole again.
        assert!(r.run(|| async { Ok(()) }, |_| {}).await.is_ok());
        let (result, _) = fail_then_answer(&r, 2, || transport(TransportKind::Connect)).await;
        assert!(result.is_ok());
        assert_eq!(clock.elapsed(), Duration::from_secs(22));
    }

    #[tokio::test]
    async fn clock_skew_sets_the_offset_and_retries() {
        let offset = Arc::new(AtomicI64::new(0));
        let (r, _) = retrier(offset.clone());
        let calls = AtomicU32::new(0);
        let server_time = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
        let server_text = server_time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let result = r
            .run(
                || {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let server_text = server_text.clone();
                    async move {
                        if n == 0 {
                            Err(OssError::Service {
                                operation: "PutObject",
                                target: "b/k".into(),
                                error: ServiceError::new(403, "RequestTimeTooSkewed", "m")
                                    .with_detail("ServerTime", server_text),
                            })
                        } else {
                            Ok(())
                        }
                    }
                },
                |_| {},
            )
            .await;
        assert!(result.is_ok());
        let learned = offset.load(Ordering::SeqCst);
        assert!((7195..=7205).contains(&learned), "offset {learned}");
    }

    fn connect_error(message: &str) -> OssError {
        OssError::Transport {
            operation: "PutObject",
            target: "b/k".into(),
            kind: TransportKind::Connect,
            message: message.into(),
        }
    }

    #[test]
    fn failed_connections_say_what_happened() {
        let refused = connect_error(
            "error sending request for url (http://127.0.0.1:1/b/k): client error (Connect): tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(
            ConnectFailure::of(&refused).unwrap().to_string(),
            "connection refused by 127.0.0.1:1"
        );
        let unknown = connect_error(
            "error sending request for url (https://b.no-such-host.invalid/k): client error (Connect): dns error: failed to lookup address information: Name or service not known",
        );
        let reason = ConnectFailure::of(&unknown).unwrap();
        assert_eq!(reason.to_string(), "no such host: b.no-such-host.invalid");
        assert!(!reason.network_is_down());
        let down = connect_error(
            "error sending request for url (http://10.0.0.1/b/k): client error (Connect): tcp connect error: Network is unreachable (os error 101)",
        );
        assert!(ConnectFailure::of(&down).unwrap().network_is_down());
        assert_eq!(classify(&down, SystemTime::now()), ErrorClass::NetworkDown);
        let untrusted = connect_error(
            "error sending request for url (https://127.0.0.1:9/b/k): client error (Connect): invalid peer certificate: UnknownIssuer",
        );
        let reason = ConnectFailure::of(&untrusted).unwrap();
        assert!(
            reason.to_string().starts_with("certificate not trusted"),
            "{reason}"
        );
        assert_eq!(classify(&untrusted, SystemTime::now()), ErrorClass::Fatal);
    }
}
