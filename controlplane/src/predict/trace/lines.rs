//! Data lines of a trace: numbered, trimmed, blanks and `#` comments skipped.

use super::error::{quote, TraceError};

/// The data lines of `text` with their 1-based line numbers.
pub(crate) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// `field` as a finite number.
pub(crate) fn number(line: usize, field: &str, what: &'static str) -> Result<f64, TraceError> {
    let value: f64 = field.parse().map_err(|_| TraceError::NotANumber {
        line,
        field: quote(field),
    })?;
    if !value.is_finite() {
        return Err(TraceError::OutOfRange { line, what, value });
    }
    Ok(value)
}

/// `field` as a finite number `≥ 0`.
pub(crate) fn non_negative(
    line: usize,
    field: &str,
    what: &'static str,
) -> Result<f64, TraceError> {
    let value = number(line, field, what)?;
    if value < 0.0 {
        return Err(TraceError::OutOfRange { line, what, value });
    }
    Ok(value)
}
