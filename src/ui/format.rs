//! Labels for the window built on the shared units of [`crate::config::units`]: byte
//! sizes, rates, remaining time, durations, moments and counts.

use std::time::Duration;

use crate::config::units::{format_bytes, format_duration};

/// `8MiB`, `1.5GiB`, `512B`.
pub fn bytes_label(bytes: u64) -> String {
    format_bytes(bytes)
}

/// Transfer speed, e.g. `12.3MiB/s`; a dash when nothing moves.
pub fn rate_label(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec < 1.0 {
        return String::from("–");
    }
    format!("{}/s", format_bytes(bytes_per_sec as u64))
}

/// Remaining time, e.g. `3m 5s`; a dash when unknown.
pub fn eta_label(eta_secs: Option<f64>) -> String {
    match eta_secs {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            format_duration(Duration::from_secs(secs.ceil() as u64))
        }
        _ => String::from("–"),
    }
}

/// How long something took, from milliseconds: `1m 5s`, `300ms`.
pub fn duration_ms_label(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// A moment as `2026-12-02 06:16 UTC` (seconds since the Unix epoch).
pub fn utc_time_label(unix_secs: u64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    i64::try_from(unix_secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|moment| moment.format(FORMAT).ok())
        .unwrap_or_else(|| String::from("–"))
}

/// A count with thousands separated, e.g. `1,234`.
pub fn count_label(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_and_durations_coarsely() {
        assert_eq!(utc_time_label(1_764_656_200), "2025-12-02 06:16 UTC");
        assert_eq!(utc_time_label(u64::MAX), "–");
        assert_eq!(duration_ms_label(65_400), "1m 5s");
        assert_eq!(duration_ms_label(300), "300ms");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count_label(0), "0");
        assert_eq!(count_label(999), "999");
        assert_eq!(count_label(1_000), "1,000");
        assert_eq!(count_label(1_234_567), "1,234,567");
    }

    #[test]
    fn rates_and_etas_have_a_dash_when_unknown() {
        assert_eq!(rate_label(0.0), "–");
        assert_eq!(rate_label(f64::NAN), "–");
        assert_eq!(rate_label(2.0 * 1024.0 * 1024.0), "2MiB/s");
        assert_eq!(eta_label(None), "–");
        assert_eq!(eta_label(Some(f64::INFINITY)), "–");
        assert_eq!(eta_label(Some(-1.0)), "–");
        assert_eq!(eta_label(Some(8.2)), "9s");
    }
}
