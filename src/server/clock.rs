//! Time as the server records and prints it: Unix milliseconds on disk, ISO 8601 in XML,
//! RFC 1123 in headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The time the server goes by where the passing of days matters (upload initiation,
/// lifecycle rules): the system's, moved forward by tests that cannot wait for days.
#[derive(Debug, Default)]
pub struct Clock {
    /// How far tests have moved the clock ahead of the system's.
    advanced_ms: AtomicU64,
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        now_ms().saturating_add(self.advanced_ms.load(Ordering::SeqCst))
    }

    /// [`Clock::now_ms`] as a time.
    pub fn now(&self) -> SystemTime {
        system_time(self.now_ms())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.advanced_ms.fetch_add(by_ms, Ordering::SeqCst);
    }
}

fn system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// `2025-01-15T12:00:00.000Z`, as in `LastModified` and `Initiated`. OSS gives whole
/// seconds with a literal `.000`, and oss2 refuses any other fraction.
pub fn iso8601_ms(ms: u64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    OffsetDateTime::from(system_time(ms))
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// `Wed, 15 Jan 2025 12:00:00 GMT`, as in `Last-Modified`.
pub fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(system_time(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_when_told() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.advance(Duration::from_secs(8 * 24 * 3600));
        assert!(clock.now_ms() >= before + 8 * 24 * 3600 * 1000);
    }

    #[test]
    fn formats() {
        assert_eq!(iso8601_ms(1_736_942_400_123), "2025-01-15T12:00:00.000Z");
        assert_eq!(iso8601_ms(1_736_942_401_999), "2025-01-15T12:00:01.000Z");
        assert_eq!(
            http_date(1_736_942_400_000),
            "Wed, 15 Jan 2025 12:00:00 GMT"
        );
    }
}
