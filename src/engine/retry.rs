//! Retrying requests: exponential backoff with full jitter, clock-skew repair, and waiting
//! out a network outage without spending the retry budget.
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

/// Sorts an error into what the retry loop does with it.
pub fn classify(error: &OssError, now: SystemTime) -> ErrorClass {
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
    /// The network is down; probing every `network_probe_interval`.
    WaitingForNetwork { last_error: String },
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
}
