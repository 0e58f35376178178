//! Pure parsers for the human-friendly command-line values: sizes ("256M",
//! "1GiB", "4096"), rates ("32M", "32MiB/s"), seconds ("2.5", "10s") and
//! fractions ("0.1").
//!
//! Units are binary multiples: K = 2^10, M = 2^20, G = 2^30, T = 2^40, case
//! insensitive, optionally followed by "B" or "iB". A bare number is bytes. A
//! fractional number is accepted only when it comes to a whole number of bytes
//! ("1.5K" = 1536, but "0.5" and "1.0001K" are rejected).

use std::fmt;
use std::time::Duration;

/// Why a value could not be parsed. The caller (clap) adds the flag and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitError {
    Empty,
    Negative,
    NotANumber,
    UnknownUnit(String),
    Overflow,
    FractionalBytes,
    OutOfRange(&'static str),
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::Empty => write!(f, "the value is empty"),
            UnitError::Negative => write!(f, "negative values are not allowed"),
            UnitError::NotANumber => write!(
                f,
                "not a number with an optional unit (K, M, G, T; e.g. 4096, 256M, 1GiB)"
            ),
            UnitError::UnknownUnit(u) => write!(
                f,
                "unknown unit '{u}' (use K, M, G or T, optionally followed by B or iB)"
            ),
            UnitError::Overflow => write!(f, "the value is too large"),
            UnitError::FractionalBytes => write!(f, "the value is not a whole number of bytes"),
            UnitError::OutOfRange(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for UnitError {}

/// The most fractional digits accepted ("1.5K"); more are surely a typo.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a byte size: "4096", "256M", "1G", "1GiB", "32MiB", "1.5K".
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(UnitError::Empty);
    }
    if t.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int_part.is_empty() || (num.contains('.') && frac_part.is_empty()) {
        return Err(UnitError::NotANumber);
    }
    if frac_part.contains('.') {
        return Err(UnitError::NotANumber);
    }
    if frac_part.len() > MAX_FRACTION_DIGITS {
        return Err(UnitError::FractionalBytes);
    }
    let mult = unit_multiplier(unit.trim_start())?;

    let int: u128 = int_part.parse().map_err(|_| UnitError::Overflow)?;
    let mut total = int.checked_mul(mult).ok_or(UnitError::Overflow)?;
    if !frac_part.is_empty() {
        let frac: u128 = frac_part.parse().map_err(|_| UnitError::NotANumber)?;
        let exp = u32::try_from(frac_part.len()).map_err(|_| UnitError::FractionalBytes)?;
        let denom = 10u128.pow(exp);
        let scaled = frac.checked_mul(mult).ok_or(UnitError::Overflow)?;
        if scaled % denom != 0 {
            return Err(UnitError::FractionalBytes);
        }
        total = total
            .checked_add(scaled / denom)
            .ok_or(UnitError::Overflow)?;
    }
    u64::try_from(total).map_err(|_| UnitError::Overflow)
}

fn unit_multiplier(unit: &str) -> Result<u128, UnitError> {
    let lower = unit.to_ascii_lowercase();
    let (prefix, rest) = match lower.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't')) => (Some(c), &lower[1..]),
        _ => (None, lower.as_str()),
    };
    let shift = match prefix {
        None => 0,
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some(_) => 40,
    };
    let suffix_ok = match prefix {
        None => rest.is_empty() || rest == "b",
        Some(_) => rest.is_empty() || rest == "b" || rest == "ib",
    };
    if !suffix_ok {
        return Err(UnitError::UnknownUnit(unit.to_string()));
    }
    Ok(1u128 << shift)
}

/// Parses a rate in bytes per second: a size, optionally followed by "/s"
/// ("32M", "32MiB/s", "0").
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    let t = s.trim();
    let t = t
        .strip_suffix("/s")
        .or_else(|| t.strip_suffix("/S"))
        .unwrap_or(t);
    parse_size(t)
}

/// Parses a non-negative number of seconds ("10", "2.5", "10s").
pub fn parse_secs(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(UnitError::Empty);
    }
    if t.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let t = t.strip_suffix('s').unwrap_or(t);
    let v: f64 = t.parse().map_err(|_| UnitError::NotANumber)?;
    if !v.is_finite() {
        return Err(UnitError::NotANumber);
    }
    Duration::try_from_secs_f64(v).map_err(|_| UnitError::Overflow)
}

/// Parses a fraction in (0, 1] ("0.1").
pub fn parse_fraction(s: &str) -> Result<f64, UnitError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(UnitError::Empty);
    }
    let v: f64 = t.parse().map_err(|_| UnitError::NotANumber)?;
    if !v.is_finite() || v <= 0.0 || v > 1.0 {
        return Err(UnitError::OutOfRange(
            "must be a number greater than 0 and at most 1",
        ));
    }
    Ok(v)
}

/// clap adapters: clap names the flag and value around the message.
pub fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

pub fn rate_arg(s: &str) -> Result<u64, String> {
    parse_rate(s).map_err(|e| e.to_string())
}

pub fn secs_arg(s: &str) -> Result<Duration, String> {
    parse_secs(s).map_err(|e| e.to_string())
}

pub fn fraction_arg(s: &str) -> Result<f64, String> {
    parse_fraction(s).map_err(|e| e.to_string())
}

/// Formats bytes for logs: "1 GiB", "256 MiB", "4097 B".
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, name) in UNITS {
        let m = 1u64 << shift;
        if n >= m && n.is_multiple_of(m) {
            return format!("{} {name}", n >> shift);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_valid() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("32mib"), Ok(32 << 20));
        assert_eq!(parse_size("8k"), Ok(8192));
        assert_eq!(parse_size("8KB"), Ok(8192));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size(" 16 MiB "), Ok(16 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("0.5G"), Ok(512 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("+4K"), Ok(4096));
        assert_eq!(parse_size("16777215T"), Ok(16_777_215u64 << 40));
    }

    #[test]
    fn sizes_rejected() {
        assert_eq!(parse_size(""), Err(UnitError::Empty));
        assert_eq!(parse_size("   "), Err(UnitError::Empty));
        assert_eq!(parse_size("-1"), Err(UnitError::Negative));
        assert_eq!(parse_size("-1G"), Err(UnitError::Negative));
        assert_eq!(parse_size("G"), Err(UnitError::NotANumber));
        assert_eq!(parse_size("1.G"), Err(UnitError::NotANumber));
        assert_eq!(parse_size(".5G"), Err(UnitError::NotANumber));
        assert_eq!(parse_size("1.2.3"), Err(UnitError::NotANumber));
        assert_eq!(parse_size("12Q"), Err(UnitError::UnknownUnit("Q".into())));
        assert_eq!(parse_size("1Gi"), Err(UnitError::UnknownUnit("Gi".into())));
        assert_eq!(parse_size("1iB"), Err(UnitError::UnknownUnit("iB".into())));
        assert_eq!(
            parse_size("1M/s"),
            Err(UnitError::UnknownUnit("M/s".into()))
        );
        assert_eq!(parse_size("0.5"), Err(UnitError::FractionalBytes));
        assert_eq!(parse_size("1.0001K"), Err(UnitError::FractionalBytes));
        assert_eq!(parse_size("16777216T"), Err(UnitError::Overflow));
        assert_eq!(parse_size("18446744073709551616"), Err(UnitError::Overflow));
        assert_eq!(
            parse_size("99999999999999999999999999999999999999999"),
            Err(UnitError::Overflow)
        );
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("32M"), Ok(32 << 20));
        assert_eq!(parse_rate("32MiB/s"), Ok(32 << 20));
        assert_eq!(parse_rate("4096/s"), Ok(4096));
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("-32M"), Err(UnitError::Negative));
        assert_eq!(parse_rate("/s"), Err(UnitError::Empty));
        assert!(parse_rate("32M/h").is_err());
        assert!(parse_rate("").is_err());
    }

    #[test]
    fn secs_and_fractions() {
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_secs("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert_eq!(parse_secs("-1"), Err(UnitError::Negative));
        assert_eq!(parse_secs("x"), Err(UnitError::NotANumber));
        assert_eq!(parse_secs("inf"), Err(UnitError::NotANumber));
        assert_eq!(parse_secs(""), Err(UnitError::Empty));
        assert_eq!(parse_fraction("0.1"), Ok(0.1));
        assert_eq!(parse_fraction("1"), Ok(1.0));
        assert!(parse_fraction("0").is_err());
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("-0.1").is_err());
        assert!(parse_fraction("NaN").is_err());
    }

    #[test]
    fn error_messages_are_clear() {
        assert!(size_arg("12Q")
            .expect_err("bad unit")
            .contains("unknown unit 'Q'"));
        assert!(size_arg("-1").expect_err("negative").contains("negative"));
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes(16 << 20), "16 MiB");
        assert_eq!(format_bytes(4097), "4097 B");
    }
}
