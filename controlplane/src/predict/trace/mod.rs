//! Trace files: formats, detection, and the series they give.
//!
//! # Formats
//!
//! Detected from the first data line (blank lines and lines starting with
//! `#` are skipped everywhere):
//!
//! - **CSV** if it has a comma, or if it is exactly the name of the CSV
//!   throughput column given: a header line, then rows. The throughput
//!   column (Mbit/s) must be named ([`CsvColumns`]); an optional time
//!   column (seconds) makes each row's rate hold until the next row's
//!   time, otherwise each row lasts [`CSV_ROW_S`].
//! - **mahimahi** if it has one field: each line is the time in whole
//!   milliseconds of one 1500-byte delivery opportunity. Step `k` gets
//!   `count × 1500 × 8 / step_s` bit/s; time starts at 0 and the trace ends
//!   at its last opportunity.
//! - **seconds Mbps** if it has two fields (the HSDPA and FCC traces): each
//!   rate holds from its time until the next line's time; time starts at
//!   the first line, and the last line marks the end.
//!
//! A step's sample is the time-weighted mean rate over the step; a partial
//! step at the end is dropped. A trace shorter than one step is
//! [`TraceError::TooShort`]; an empty one [`TraceError::Empty`]. Every
//! error names the line; [`TraceFileError`] adds the file.

mod csv;
mod error;
mod files;
mod lines;
mod mahimahi;
mod resample;
mod tabular;

pub use csv::{CsvColumns, CSV_ROW_S};
pub use error::{TraceError, QUOTE_LEN_MAX};
pub use files::{
    collect_trace_files, load_trace_file, LoadedTrace, NameFilter, TraceFileError,
    TRACE_FILE_BYTES_MAX,
};

use super::horizon::check_step_s;
use super::{SeriesError, ThroughputSeries};
use lines::data_lines;
use std::fmt;

/// The format of a trace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// `time_s mbps` per line.
    SecondsMbps,
    /// One delivery opportunity per line, milliseconds.
    Mahimahi,
    /// A header and rows, with a named throughput column.
    Csv,
}

impl TraceFormat {
    /// `"seconds-mbps"`, `"mahimahi"` or `"csv"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondsMbps => "seconds-mbps",
            Self::Mahimahi => "mahimahi",
            Self::Csv => "csv",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to read traces.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOptions {
    /// The step of the series made, seconds.
    pub step_s: f64,
    /// The CSV columns, needed for CSV traces only.
    pub csv: Option<CsvColumns>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            step_s: super::STEP_S_DEFAULT,
            csv: None,
        }
    }
}

/// The format of `text`, from its first data line (module documentation).
pub fn detect_format(text: &str, csv: Option<&CsvColumns>) -> Result<TraceFormat, TraceError> {
    let (line, first) = data_lines(text).next().ok_or(TraceError::Empty)?;
    if first.contains(',') || csv.is_some_and(|c| c.throughput == first) {
        return Ok(TraceFormat::Csv);
    }
    match first.split_whitespace().count() {
        1 => Ok(TraceFormat::Mahimahi),
        2 => Ok(TraceFormat::SecondsMbps),
        _ => Err(TraceError::UnknownFormat { line }),
    }
}

/// The series of a trace's text, and the format it was read as.
pub fn parse_trace(
    text: &str,
    options: &ParseOptions,
) -> Result<(TraceFormat, ThroughputSeries), TraceError> {
    let step_s = options.step_s;
    check_step_s(step_s).map_err(|err| TraceError::Series(SeriesError::Step(err)))?;
    let format = detect_format(text, options.csv.as_ref())?;
    let samples = match format {
        TraceFormat::SecondsMbps => tabular::parse_tabular(text, step_s)?,
        TraceFormat::Mahimahi => mahimahi::parse_mahimahi(text, step_s)?,
        TraceFormat::Csv => csv::parse_csv(text, options.csv.as_ref(), step_s)?,
    };
    let series = ThroughputSeries::new(step_s, samples).map_err(TraceError::Series)?;
    Ok((format, series))
}
