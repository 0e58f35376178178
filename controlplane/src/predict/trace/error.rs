//! `TraceError`: why the text of a trace cannot be read.

use crate::predict::SeriesError;
use thiserror::Error;

/// The longest excerpt of a bad field quoted in an error.
pub const QUOTE_LEN_MAX: usize = 40;

/// A trace whose text cannot be turned into a series. Line numbers count
/// from 1; the file is named by [`TraceFileError`](super::TraceFileError).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TraceError {
    /// No data line at all (empty, or only blank and `#` lines).
    #[error("no data: the file is empty or has only blank and comment lines")]
    Empty,
    /// The first data line fits no known format.
    #[error("line {line}: unknown format: expected `seconds Mbps`, one mahimahi time in ms, or a CSV header")]
    UnknownFormat {
        /// Line number.
        line: usize,
    },
    /// A line with the wrong number of fields for its format.
    #[error("line {line}: expected {expected} fields for the {format} format, found {found}")]
    FieldCount {
        /// Line number.
        line: usize,
        /// Format detected from the first data line.
        format: &'static str,
        /// Fields that format needs.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A field that is not a number.
    #[error("line {line}: {field:?} is not a number")]
    NotANumber {
        /// Line number.
        line: usize,
        /// The field, cut to [`QUOTE_LEN_MAX`] characters.
        field: String,
    },
    /// A number out of range: a negative or non-finite rate or time.
    #[error("line {line}: {what} {value} is out of range")]
    OutOfRange {
        /// Line number.
        line: usize,
        /// What the number is (`"throughput"`, `"time"`).
        what: &'static str,
        /// The value read.
        value: f64,
    },
    /// A timestamp earlier than the one before it.
    #[error("line {line}: time {time} is before the previous time {previous}")]
    TimeBackwards {
        /// Line number.
        line: usize,
        /// The time read.
        time: f64,
        /// The time of the previous data line.
        previous: f64,
    },
    /// The trace covers less than one step.
    #[error("the trace covers {duration_s} s, less than one step of {step_s} s")]
    TooShort {
        /// Time covered, seconds.
        duration_s: f64,
        /// The step asked for, seconds.
        step_s: f64,
    },
    /// The trace would make more steps than a series may hold.
    #[error("the trace covers {duration_s} s, too many steps of {step_s} s")]
    TooLong {
        /// Time covered, seconds.
        duration_s: f64,
        /// The step asked for, seconds.
        step_s: f64,
    },
    /// A CSV file, but no throughput column was named.
    #[error("a CSV trace needs --csv-column NAME; its columns are {columns:?}")]
    CsvColumnNotGiven {
        /// The header's column names.
        columns: Vec<String>,
    },
    /// The named CSV column is not in the header.
    #[error("no CSV column {column:?}; the columns are {columns:?}")]
    CsvNoSuchColumn {
        /// The column asked for.
        column: String,
        /// The header's column names.
        columns: Vec<String>,
    },
    /// The samples break an invariant of the series.
    #[error("bad series")]
    Series(#[source] SeriesError),
}

/// `field` cut to [`QUOTE_LEN_MAX`] characters, for an error message.
pub(crate) fn quote(field: &str) -> String {
    field.chars().take(QUOTE_LEN_MAX).collect()
}
