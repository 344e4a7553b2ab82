//! Where every signed request gets its credentials: a fixed key pair, or a source that
//! hands out credentials which expire (an STS token from an external command) and is asked
//! again before they do.
//!
//! One mechanism for both: [`CredentialsProvider::current`] is awaited before each
//! request is signed; fixed credentials simply never come due. A refreshing provider runs
//! its source at most once at a time (single flight): while one request fetches, others
//! keep signing with the credentials still valid, or wait for the fetch when there are
//! none. The source itself lives outside this layer (the config layer runs the command),
//! so nothing here spawns a task or a process.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use thiserror::Error;

use super::credentials::Credentials;

/// A refresh is due when less than this remains, for tokens that live long enough.
pub const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(5 * 60);
/// For short-lived tokens, a refresh is due in the last quarter of their lifetime.
const REFRESH_AHEAD_FRACTION: u32 = 4;
/// After a failed refresh while the old credentials still hold, wait at most this long
/// before running the source again, so a broken command is not run for every request.
const RETRY_FAILED_REFRESH_MAX: Duration = Duration::from_secs(30);

/// Credentials as a source issued them, with the moment they stop working.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub credentials: Credentials,
    /// `None` for credentials that do not expire.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("credentials", &self.credentials)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why no credentials could be had. The message never holds a secret or a token: a
/// source words its failures from exit status, stderr and parse positions only.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("could not get credentials from {source_name}: {message}")]
pub struct CredentialsError {
    /// What was asked, e.g. "the command `get-sts`".
    pub source_name: String,
    pub message: String,
}

/// What a source's fetch returns: the credentials, or one sentence saying why not.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<IssuedCredentials, String>> + Send + 'a>>;

/// Something that issues credentials on demand (an external command, say).
pub trait CredentialsSource: Send + Sync {
    /// Issues a fresh set; the error is a sentence without secrets.
    fn fetch(&self) -> FetchFuture<'_>;
    /// Names the source in messages: "the command `get-sts`".
    fn describe(&self) -> String;
}

/// The wall clock expiry is measured on; tests drive it.
pub type WallClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A client's credentials: fixed, or refreshed from a source. Cheap to clone; clones share
/// the cache. `Debug` shows the key id at most.
#[derive(Clone)]
pub struct CredentialsProvider {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Fixed(Credentials),
    Refreshing(Arc<Refreshing>),
}

struct Refreshing {
    source: Arc<dyn CredentialsSource>,
    clock: WallClock,
    /// The last credentials issued, shared by every request.
    cached: Mutex<Option<Cached>>,
    /// Held while the source runs, so it never runs twice at once.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    issued: IssuedCredentials,
    /// From then on, the next request runs the source again (ahead of expiry).
    refresh_at: Option<SystemTime>,
}

impl Cached {
    fn new(issued: IssuedCredentials, now: SystemTime) -> Self {
        let refresh_at = issued.expires_at.map(|expires_at| {
            let lifetime = expires_at.duration_since(now).unwrap_or_default();
            let ahead = REFRESH_AHEAD_MAX.min(lifetime / REFRESH_AHEAD_FRACTION);
            expires_at.checked_sub(ahead).unwrap_or(expires_at)
        });
        Self { issued, refresh_at }
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.issued.expires_at.is_some_and(|at| now >= at)
    }

    fn refresh_due(&self, now: SystemTime) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }
}

impl From<Credentials> for CredentialsProvider {
    fn from(credentials: Credentials) -> Self {
        Self::fixed(credentials)
    }
}

impl CredentialsProvider {
    /// Credentials that never change.
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            kind: Kind::Fixed(credentials),
        }
    }

    /// Credentials from `source`, refreshed ahead of their expiry on the system clock.
    pub fn refreshing(source: Arc<dyn CredentialsSource>) -> Self {
        Self::refreshing_with_clock(source, Arc::new(SystemTime::now))
    }

    /// As [`CredentialsProvider::refreshing`], with expiry measured on `clock`.
    pub fn refreshing_with_clock(source: Arc<dyn CredentialsSource>, clock: WallClock) -> Self {
        Self {
            kind: Kind::Refreshing(Arc::new(Refreshing {
                source,
                clock,
                cached: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            })),
        }
    }

    /// The fixed credentials, or `None` for a refreshing provider.
    pub fn fixed_credentials(&self) -> Option<&Credentials> {
        match &self.kind {
            Kind::Fixed(credentials) => Some(credentials),
            Kind::Refreshing(_) => None,
        }
    }

    /// Whether credentials come from a source that can issue new ones.
    pub fn refreshes(&self) -> bool {
        matches!(self.kind, Kind::Refreshing(_))
    }

    /// Credentials to sign the next request with: the cached ones while they are not due,
    /// else fresh ones from the source (one fetch at a time). A due refresh that fails
    /// while the old credentials still hold keeps the old ones and tries again later.
    pub async fn current(&self) -> Result<Credentials, CredentialsError> {
        let refreshing = match &self.kind {
            Kind::Fixed(credentials) => return Ok(credentials.clone()),
            Kind::Refreshing(refreshing) => refreshing,
        };
        let now = (refreshing.clock)();
        match refreshing.cached() {
            Some(cached) if !cached.refresh_due(now) => Ok(cached.issued.credentials),
            Some(cached) if !cached.expired(now) => {
                // Due but still valid: one request refreshes, the others go on meanwhile.
                let Ok(_guard) = refreshing.fetching.try_lock() else {
                    return Ok(cached.issued.credentials);
                };
                match refreshing.fetch().await {
                    Ok(fresh) => Ok(fresh),
                    Err(error) => {
                        tracing::warn!(
                            "{error}; going on with the current credentials until they expire"
                        );
                        refreshing.postpone_refresh(now);
                        Ok(cached.issued.credentials)
                    }
                }
            }
            _ => {
                let _guard = refreshing.fetching.lock().await;
                // Another request may have fetched while this one waited.
                let now = (refreshing.clock)();
                if let Some(cached) = refreshing.cached()
                    && !cached.expired(now)
                {
                    return Ok(cached.issued.credentials);
                }
                refreshing.fetch().await
            }
        }
    }

    /// After the server refused `rejected` (an expired or unknown token): fresh
    /// credentials to try once more with, or `None` when there are none to be had (fixed
    /// credentials, or a source that issues the same ones again).
    pub async fn refresh_rejected(
        &self,
        rejected: &Credentials,
    ) -> Result<Option<Credentials>, CredentialsError> {
        let Kind::Refreshing(refreshing) = &self.kind else {
            return Ok(None);
        };
        let _guard = refreshing.fetching.lock().await;
        // Another request may have replaced the refused credentials already.
        if let Some(cached) = refreshing.cached()
            && cached.issued.credentials != *rejected
        {
            return Ok(Some(cached.issued.credentials));
        }
        let fresh = refreshing.fetch().await?;
        Ok((fresh != *rejected).then_some(fresh))
    }
}

impl Refreshing {
    fn cached(&self) -> Option<Cached> {
        self.cached.lock().ok().and_then(|cached| cached.clone())
    }

    /// Runs the source (the caller holds `fetching`) and caches what it issued.
    async fn fetch(&self) -> Result<Credentials, CredentialsError> {
        let failed = |message: String| CredentialsError {
            source_name: self.source.describe(),
            message,
        };
        let issued = self.source.fetch().await.map_err(failed)?;
        let now = (self.clock)();
        if let Some(expires_at) = issued.expires_at
            && expires_at <= now
        {
            return Err(failed(format!(
                "the credentials it gave had already expired (at {})",
                httpdate::fmt_http_date(expires_at)
            )));
        }
        let credentials = issued.credentials.clone();
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(Cached::new(issued, now));
        }
        Ok(credentials)
    }

    /// A due refresh failed: leave the source alone for a while, well before expiry.
    fn postpone_refresh(&self, now: SystemTime) {
        if let Ok(mut cached) = self.cached.lock()
            && let Some(cached) = cached.as_mut()
            && let Some(expires_at) = cached.issued.expires_at
        {
            let left = expires_at.duration_since(now).unwrap_or_default();
            let wait = RETRY_FAILED_REFRESH_MAX.min(left / 2);
            cached.refresh_at = Some(now + wait);
        }
    }
}

impl fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Fixed(credentials) => f.debug_tuple("Fixed").field(credentials).finish(),
            Kind::Refreshing(refreshing) => f
                .debug_struct("Refreshing")
                .field("source", &refreshing.source.describe())
                .field(
                    "access_key_id",
                    &refreshing
                        .cached()
                        .map(|cached| cached.issued.credentials.access_key_id().to_owned()),
                )
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    use super::*;

    /// Issues `KEY{n}` on its n-th run, valid for `lifetime` on the test clock; fails
    /// while `failing` is set.
    struct Counting {
        runs: AtomicU32,
        now: Arc<AtomicU64>,
        lifetime: Duration,
        failing: std::sync::atomic::AtomicBool,
    }

    impl CredentialsSource for Counting {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
                // Yield so concurrent callers really overlap with the fetch.
                tokio::task::yield_now().await;
                if self.failing.load(Ordering::SeqCst) {
                    return Err("it exited with status 1".to_owned());
                }
                Ok(IssuedCredentials {
                    credentials: Credentials::new(format!("KEY{run}"), "SecretValue")
                        .with_security_token("TokenValue"),
                    expires_at: Some(test_time(&self.now) + self.lifetime),
                })
            })
        }

        fn describe(&self) -> String {
            "the command `test`".to_owned()
        }
    }

    fn test_time(now: &AtomicU64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst))
    }

    fn provider(lifetime: Duration) -> (CredentialsProvider, Arc<Counting>, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_700_000_000));
        let source = Arc::new(Counting {
            runs: AtomicU32::new(0),
            now: now.clone(),
            lifetime,
            failing: Default::default(),
        });
        let clock_now = now.clone();
        let provider = CredentialsProvider::refreshing_with_clock(
            source.clone(),
            Arc::new(move || test_time(&clock_now)),
        );
        (provider, source, now)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn cached_until_due_then_refreshed_ahead_of_expiry() {
        let (provider, source, now) = provider(HOUR);
        assert_eq!(provider.current().await.unwrap().access_key_id(), "KEY1");
        now.fetch_add(3600 - 301, Ordering::SeqCst);
        assert_eq!(provider.current().await.unwrap().access_key_id(), "KEY1");
        assert_eq!(source.runs.load(Ordering::SeqCst), 1);
        // Under five minutes left: the next request gets new credentials.
        now.fetch_add(2, Ordering::SeqCst);
        assert_eq!(provider.current().await.unwrap().access_key_id(), "KEY2");
        assert_eq!(source.runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_tokens_refresh_in_the_last_quarter_of_their_life() {
        let (provider, source, now) = provider(Duration::from_secs(100));
        provider.current().await.unwrap();
        now.fetch_add(74, Ordering::SeqCst);
        provider.current().await.unwrap();
        assert_eq!(source.runs.load(Ordering::SeqCst), 1);
        now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(provider.current().await.unwrap().access_key_id(), "KEY2");
    }

    #[tokio::test]
    async fn many_requests_at_once_run_the_source_once() {
        let (provider, source, now) = provider(HOUR);
        let ids = futures_util::future::join_all((0..20).map(|_| provider.current())).await;
        assert!(
            ids.iter()
                .all(|id| id.as_ref().unwrap().access_key_id() == "KEY1")
        );
        assert_eq!(source.runs.load(Ordering::SeqCst), 1);
        // Expired: everyone waits for the one fetch.
        now.fetch_add(3600, Ordering::SeqCst);
        let ids = futures_util::future::join_all((0..20).map(|_| provider.current())).await;
        assert!(
            ids.iter()
                .all(|id| id.as_ref().unwrap().access_key_id() == "KEY2")
        );
        assert_eq!(source.runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_valid_credentials_and_an_expired_one_fails() {
        let (provider, source, now) = provider(HOUR);
        provider.current().await.unwrap();
        source.failing.store(true, Ordering::SeqCst);
        now.fetch_add(3600 - 60, Ordering::SeqCst);
        assert_eq!(provider.current().await.unwrap().access_key_id(), "KEY1");
        // Not run again on the very next request.
        provider.current().await.unwrap();
        assert_eq!(source.runs.load(Ordering::SeqCst), 2);
        now.fetch_add(60, Ordering::SeqCst);
        let error = provider.current().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "could not get credentials from the command `test`: it exited with status 1"
        );
    }

    #[tokio::test]
    async fn a_rejection_fetches_once_unless_another_request_already_did() {
        let (provider, source, _now) = provider(HOUR);
        let first = provider.current().await.unwrap();
        let fresh = provider.refresh_rejected(&first).await.unwrap().unwrap();
        assert_eq!(fresh.access_key_id(), "KEY2");
        // A second request refused with KEY1 takes KEY2 without running the source.
        let again = provider.refresh_rejected(&first).await.unwrap().unwrap();
        assert_eq!(again.access_key_id(), "KEY2");
        assert_eq!(source.runs.load(Ordering::SeqCst), 2);
        let fixed = CredentialsProvider::fixed(Credentials::new("ID", "s"));
        assert_eq!(
            fixed
                .refresh_rejected(&Credentials::new("ID", "s"))
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn debug_shows_neither_secret_nor_token() {
        let (provider, _source, _now) = provider(HOUR);
        provider.current().await.unwrap();
        let fixed = CredentialsProvider::fixed(
            Credentials::new("AKID", "SecretValue").with_security_token("TokenValue"),
        );
        for shown in [format!("{provider:?}"), format!("{fixed:?}")] {
            assert!(!shown.contains("SecretValue"), "{shown}");
            assert!(!shown.contains("TokenValue"), "{shown}");
        }
        assert!(format!("{provider:?}").contains("KEY1"));
    }
}
