//! Human units for sizes, rates and durations: `8MiB`, `512KiB`, `20MiB` (per second),
//! `7d`, `12h`. Shared by the command line, the config file and the settings view.

use std::time::Duration;

use thiserror::Error;

/// Why a size or duration could not be read. Each message shows an accepted form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnitError {
    #[error(
        "{0:?} is not a size; write a whole number with an optional unit, like 8MiB, 512KiB or 100000"
    )]
    BadSize(String),
    #[error(
        "{0:?} has an unknown size unit; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB for powers of 1000)"
    )]
    UnknownSizeUnit(String),
    #[error("{0:?} is too large")]
    SizeOverflow(String),
    #[error(
        "{0:?} is not a duration; write a whole number with a unit, like 7d, 12h, 30m, 45s or 500ms"
    )]
    BadDuration(String),
}

/// Parses a byte count: `100000`, `100000B`, `512KiB`, `8MiB`, `1GiB`, `5GB`, `1.5MiB`.
/// Units are case-insensitive; a bare `K`/`M`/`G`/`T` means KiB/MiB/GiB/TiB.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() || number.chars().filter(|&c| c == '.').count() > 1 {
        return Err(UnitError::BadSize(text.to_owned()));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(UnitError::UnknownSizeUnit(text.to_owned())),
    };
    match number.split_once('.') {
        None => {
            let whole: u64 = number
                .parse()
                .map_err(|_| UnitError::SizeOverflow(text.to_owned()))?;
            whole
                .checked_mul(multiplier)
                .ok_or_else(|| UnitError::SizeOverflow(text.to_owned()))
        }
        Some((whole, fraction)) => {
            // A fraction only makes sense with a unit, and must come out to whole bytes.
            let value: f64 = number
                .parse()
                .map_err(|_| UnitError::BadSize(text.to_owned()))?;
            if whole.is_empty() && fraction.is_empty() {
                return Err(UnitError::BadSize(text.to_owned()));
            }
            let bytes = value * multiplier as f64;
            if bytes >= u64::MAX as f64 {
                return Err(UnitError::SizeOverflow(text.to_owned()));
            }
            if bytes.fract() != 0.0 {
                return Err(UnitError::BadSize(text.to_owned()));
            }
            Ok(bytes as u64)
        }
    }
}

/// The binary units byte counts are written in, largest first.
const BINARY_UNITS: [(&str, u64); 4] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

/// Formats a byte count with binary units, exact when it is a whole number of a unit
/// (`8MiB`), otherwise with one decimal (`1.5GiB`) or plain bytes under 1 KiB.
pub fn format_bytes(bytes: u64) -> String {
    for (name, size) in BINARY_UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{}{name}", bytes / size)
            } else {
                format!("{:.1}{name}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes}B")
}

/// Formats a byte count so that [`parse_bytes`] reads back exactly the same number.
pub fn format_bytes_exact(bytes: u64) -> String {
    for (name, size) in BINARY_UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{name}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// Parses a duration: `7d`, `12h`, `30m`, `45s`, `500ms`, `2w`, or several joined
/// (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(text.to_owned());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit_ms: u64 = match after[..unit_len].to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 604_800_000,
            _ => return Err(bad()),
        };
        let ms = value.checked_mul(unit_ms).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(ms).ok_or_else(bad)?;
        rest = &after[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration coarsely for people: `3d 4h`, `12m 5s`, `9s`, `300ms`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 && duration.subsec_millis() > 0 {
        return format!("{}ms", duration.subsec_millis());
    }
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_binary_and_decimal_units() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_bytes("20MiB"), Ok(20 << 20));
        assert_eq!(parse_bytes("1gib"), Ok(1 << 30));
        assert_eq!(parse_bytes("100000"), Ok(100_000));
        assert_eq!(parse_bytes("100000B"), Ok(100_000));
        assert_eq!(parse_bytes("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_bytes("100KB"), Ok(100_000));
        assert_eq!(parse_bytes("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_bytes(" 4 M "), Ok(4 << 20));
        assert_eq!(parse_bytes("0"), Ok(0));
    }

    #[test]
    fn sizes_refused() {
        assert!(matches!(parse_bytes(""), Err(UnitError::BadSize(_))));
        assert!(matches!(parse_bytes("MiB"), Err(UnitError::BadSize(_))));
        assert!(matches!(parse_bytes("-1MiB"), Err(UnitError::BadSize(_))));
        assert!(matches!(
            parse_bytes("1.2.3MiB"),
            Err(UnitError::BadSize(_))
        ));
        assert!(matches!(
            parse_bytes("8 MeB"),
            Err(UnitError::UnknownSizeUnit(_))
        ));
        assert!(matches!(
            parse_bytes("8 mibs"),
            Err(UnitError::UnknownSizeUnit(_))
        ));
        assert!(matches!(parse_bytes("0.3B"), Err(UnitError::BadSize(_))));
        assert!(matches!(
            parse_bytes("99999999999TiB"),
            Err(UnitError::SizeOverflow(_))
        ));
        let message = parse_bytes("eight").unwrap_err().to_string();
        assert!(message.contains("8MiB"), "{message}");
    }

    #[test]
    fn sizes_format_and_read_back() {
        assert_eq!(format_bytes(0), "0B");
        assert_eq!(format_bytes(1023), "1023B");
        assert_eq!(format_bytes(8 << 20), "8MiB");
        assert_eq!(format_bytes(3 << 29), "1.5GiB");
        for bytes in [
            0,
            1,
            1023,
            1024,
            102_400,
            8 << 20,
            (8 << 20) + 1,
            5 << 30,
            3 << 40,
        ] {
            assert_eq!(
                parse_bytes(&format_bytes_exact(bytes)),
                Ok(bytes),
                "{bytes}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::from_secs(36 * 3_600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1_500)));
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(
            parse_duration("3 days"),
            Err(UnitError::BadDuration("3 days".into()))
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("7x").is_err());
        assert!(parse_duration("-7d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(
            format_duration(Duration::from_secs(3 * 86_400 + 4 * 3_600)),
            "3d 4h"
        );
        assert_eq!(format_duration(Duration::from_secs(9)), "9s");
    }
}
