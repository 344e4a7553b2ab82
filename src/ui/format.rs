//! Labels for the window built on the shared units of [`crate::config::units`]: byte
//! sizes, rates and remaining time.

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

#[cfg(test)]
mod tests {
    use super::*;

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
