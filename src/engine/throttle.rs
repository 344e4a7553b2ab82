//! The shared bandwidth limit: a token bucket all part uploads draw from.
//!
//! Callers reserve bytes before sending them and wait out the debt, so the long-run rate
//! stays at the limit however many parts run at once. The bucket holds at most one second
//! of tokens, so an idle period does not turn into a long burst.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    bytes_per_sec: Option<u64>,
    /// Tokens on hand; negative while reservations wait for the refill.
    available: f64,
    refilled_at: Instant,
}

/// A token bucket shared by every transfer of an engine.
#[derive(Debug)]
pub struct Throttle {
    bucket: Mutex<Bucket>,
}

impl Throttle {
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        Self::new_at(bytes_per_sec, Instant::now())
    }

    fn new_at(bytes_per_sec: Option<u64>, now: Instant) -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                bytes_per_sec,
                available: 0.0,
                refilled_at: now,
            }),
        }
    }

    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        let mut bucket = self.lock();
        bucket.bytes_per_sec = bytes_per_sec;
        // Debts under the old rate are forgiven so a raised limit applies at once.
        bucket.available = bucket.available.max(0.0);
    }

    pub fn rate(&self) -> Option<u64> {
        self.lock().bytes_per_sec
    }

    /// Takes `bytes` from the bucket and says how long to wait before sending them.
    pub fn reserve(&self, bytes: u64, now: Instant) -> Duration {
        let mut bucket = self.lock();
        let Some(rate) = bucket.bytes_per_sec.filter(|r| *r > 0) else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let elapsed = now
            .saturating_duration_since(bucket.refilled_at)
            .as_secs_f64();
        bucket.available = (bucket.available + elapsed * rate).min(rate);
        bucket.refilled_at = bucket.refilled_at.max(now);
        bucket.available -= bytes as f64;
        if bucket.available >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.available / rate)
        }
    }

    /// Waits until `bytes` may be sent.
    pub async fn acquire(&self, bytes: u64) {
        let wait = self.reserve(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // The bucket holds plain numbers; a panic elsewhere leaves them usable.
        self.bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let t = Throttle::new(None);
        assert_eq!(t.reserve(u64::MAX / 2, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn long_run_rate_holds_across_callers() {
        let start = Instant::now();
        let t = Throttle::new_at(Some(1000), start);
        // Four callers each reserve 500 bytes at once: the last waits 2 s.
        let waits: Vec<Duration> = (0..4).map(|_| t.reserve(500, start)).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert_eq!(waits[3], Duration::from_millis(2000));
        // Simulate 10 s of 100-byte sends, each at the moment the bucket allows.
        let t = Throttle::new_at(Some(1000), start);
        let mut now = start;
        let mut sent = 0u64;
        while now < start + Duration::from_secs(10) {
            now += t.reserve(100, now);
            sent += 100;
        }
        assert!(
            (9_900..=10_100).contains(&sent),
            "sent {sent} in 10 s at 1000 B/s"
        );
    }

    #[test]
    fn idle_time_gives_at_most_one_second_of_burst() {
        let start = Instant::now();
        let t = Throttle::new_at(Some(1000), start);
        let later = start + Duration::from_secs(60);
        assert_eq!(t.reserve(1000, later), Duration::ZERO);
        assert_eq!(t.reserve(1000, later), Duration::from_secs(1));
    }

    #[test]
    fn raising_the_limit_forgives_debt() {
        let start = Instant::now();
        let t = Throttle::new_at(Some(10), start);
        assert!(t.reserve(1000, start) > Duration::from_secs(90));
        t.set_rate(Some(1_000_000));
        assert!(t.reserve(1000, start) < Duration::from_millis(2));
        t.set_rate(None);
        assert_eq!(t.rate(), None);
    }
}
