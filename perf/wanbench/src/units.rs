//! Sizes on the command line, and the UTC time stamp of an output folder.

use std::time::{SystemTime, UNIX_EPOCH};

/// One page of guest memory.
pub const PAGE: u64 = 4096;
/// The same, as a length in memory.
pub const PAGE_LEN: usize = 4096;
const _: () = assert!(PAGE_LEN as u64 == PAGE);
/// One GiB.
pub const GIB: u64 = 1 << 30;
/// Smallest `--size`: below this the set-up costs swamp the transfer.
pub const SIZE_MIN: u64 = 4 << 20;
/// Largest `--size` (the machine's /dev/shm must hold about four of them).
pub const SIZE_MAX: u64 = 64 * GIB;

/// Parses `1G`, `256M`, `32MiB`, `4096` (binary units, as dwcp-guest-sim
/// reads them) into bytes: a multiple of 2 MiB in `SIZE_MIN..=SIZE_MAX`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = parse_bytes(text)?;
    if !(SIZE_MIN..=SIZE_MAX).contains(&bytes) {
        return Err(format!(
            "{text:?} is outside {} MiB ..= {} GiB",
            SIZE_MIN >> 20,
            SIZE_MAX / GIB
        ));
    }
    if !bytes.is_multiple_of(2 << 20) {
        return Err(format!("{text:?} is not a multiple of 2 MiB"));
    }
    Ok(bytes)
}

/// Parses a dirty rate per second, `256K`, `4M`, `4MiB/s`, `0`: at most
/// `SIZE_MAX` bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let bytes = parse_bytes(trimmed.strip_suffix("/s").unwrap_or(trimmed))?;
    if bytes > SIZE_MAX {
        return Err(format!("{text:?} is above {} GiB/s", SIZE_MAX / GIB));
    }
    Ok(bytes)
}

/// A number of bytes with an optional binary unit (K, M, G, T, then an
/// optional B or iB).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 10),
        Some('M') => (&body[..body.len() - 1], 20),
        Some('G') => (&body[..body.len() - 1], 30),
        Some('T') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 1G, 256M, 32MiB)"))?;
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `1073741824` -> `1 GiB`, `33554432` -> `32 MiB`, else bytes.
pub fn format_size(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    }
}

/// The current UTC time as `20261121T093000Z`.
pub fn utc_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    stamp_of(secs)
}

/// `secs` since the Unix epoch as `YYYYMMDDTHHMMSSZ` (UTC).
pub fn stamp_of(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("1G"), Ok(GIB));
        assert_eq!(parse_size("1GiB"), Ok(GIB));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("32MB"), Ok(32 << 20));
        assert_eq!(parse_size("4194304"), Ok(4 << 20));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(parse_size("").is_err());
        assert!(parse_size("1Q").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("1M").is_err(), "below SIZE_MIN");
        assert!(parse_size("65G").is_err(), "above SIZE_MAX");
        assert!(parse_size("5M").is_err(), "not a multiple of 2 MiB");
        assert!(parse_size("99999999999999T").is_err(), "overflow");
    }

    #[test]
    fn rates_parse_with_or_without_per_second() {
        assert_eq!(parse_rate("256K"), Ok(256 << 10));
        assert_eq!(parse_rate("4MiB/s"), Ok(4 << 20));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("65G").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn sizes_format() {
        assert_eq!(format_size(GIB), "1 GiB");
        assert_eq!(format_size(32 << 20), "32 MiB");
        assert_eq!(format_size(4097), "4097 B");
    }

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(stamp_of(0), "19700101T000000Z");
        // 2000-02-29 12:34:56 UTC (a leap day).
        assert_eq!(stamp_of(951_827_696), "20000229T123456Z");
        // 2026-11-21 09:30:00 UTC.
        assert_eq!(stamp_of(1_795_253_400), "20261121T093000Z");
    }
}
