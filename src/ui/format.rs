//! Human-readable units for the window: byte sizes, rates, durations and ages.

/// `1536` → `1.5 KiB`; binary units because part sizes are configured that way.
pub fn bytes_label(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Transfer speed, e.g. `12.3 MiB/s`; empty when nothing moves.
pub fn rate_label(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec < 1.0 {
        return String::from("–");
    }
    format!("{}/s", bytes_label(bytes_per_sec as u64))
}

/// Remaining time, e.g. `3 m 05 s`; `–` when unknown.
pub fn eta_label(eta_secs: Option<f64>) -> String {
    match eta_secs {
        Some(secs) if secs.is_finite() && secs >= 0.0 => duration_label(secs as u64),
        _ => String::from("–"),
    }
}

/// `42 s`, `3 m 05 s`, `2 h 07 m`, `4 d 03 h`.
pub fn duration_label(total_secs: u64) -> String {
    let days = total_secs / 86_400;
    let hours = (total_secs % 86_400) / 3_600;
    let minutes = (total_secs % 3_600) / 60;
    let secs = total_secs % 60;
    if days > 0 {
        format!("{days} d {hours:02} h")
    } else if hours > 0 {
        format!("{hours} h {minutes:02} m")
    } else if minutes > 0 {
        format!("{minutes} m {secs:02} s")
    } else {
        format!("{secs} s")
    }
}

/// Parses a size typed by the user: `8MiB`, `512 KiB`, `1048576`, `5 MB`.
/// Refuses anything else with a sentence (never guesses).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split_at = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split_at);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("\"{trimmed}\" is not a size; write e.g. 8MiB or 512KiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit \"{other}\"; use B, KiB, MiB or GiB")),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("\"{trimmed}\" is out of range"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_labels_pick_the_largest_unit_below_1024() {
        assert_eq!(bytes_label(0), "0 B");
        assert_eq!(bytes_label(1023), "1023 B");
        assert_eq!(bytes_label(1536), "1.5 KiB");
        assert_eq!(bytes_label(8 << 20), "8.0 MiB");
        assert_eq!(bytes_label(300 << 30), "300 GiB");
    }

    #[test]
    fn durations_show_two_units_at_most() {
        assert_eq!(duration_label(42), "42 s");
        assert_eq!(duration_label(185), "3 m 05 s");
        assert_eq!(duration_label(7_620), "2 h 07 m");
        assert_eq!(duration_label(356_400), "4 d 03 h");
        assert_eq!(eta_label(None), "–");
        assert_eq!(eta_label(Some(f64::NAN)), "–");
    }

    #[test]
    fn sizes_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes(" 512 KiB "), Ok(512 << 10));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("5 MB"), Ok(5_000_000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
        assert!(parse_bytes("").is_err());
    }
}
