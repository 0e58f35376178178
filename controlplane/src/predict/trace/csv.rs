//! CSV traces: a header line, then one row per sample.

use super::error::TraceError;
use super::lines::{data_lines, non_negative, number};
use super::resample::{resample_held, HeldRate};
use super::tabular::push_in_order;

/// Seconds per row when a CSV trace has no time column.
pub const CSV_ROW_S: f64 = 1.0;

/// Which CSV columns hold the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    /// The throughput column, Mbit/s.
    pub throughput: String,
    /// A time column, seconds; without one, row `i` starts at
    /// `i ×` [`CSV_ROW_S`].
    pub time: Option<String>,
}

/// The header's column names: split on commas, trimmed, quotes removed.
fn split_row(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|field| field.trim().trim_matches('"').trim())
        .collect()
}

fn column_index(columns: &[&str], name: &str) -> Result<usize, TraceError> {
    columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| TraceError::CsvNoSuchColumn {
            column: name.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        })
}

/// Samples at `step_s` from a CSV trace. With a time column, each row's
/// rate holds until the next row's time and the last row marks the end (as
/// in the "seconds Mbps" format); without one, every row lasts
/// [`CSV_ROW_S`].
pub(crate) fn parse_csv(
    text: &str,
    columns: Option<&CsvColumns>,
    step_s: f64,
) -> Result<Vec<f64>, TraceError> {
    let mut lines = data_lines(text);
    let (_, header) = lines.next().ok_or(TraceError::Empty)?;
    let names = split_row(header);
    let Some(columns) = columns else {
        return Err(TraceError::CsvColumnNotGiven {
            columns: names.iter().map(|c| (*c).to_owned()).collect(),
        });
    };
    let throughput_index = column_index(&names, &columns.throughput)?;
    let time_index = match &columns.time {
        Some(time) => Some(column_index(&names, time)?),
        None => None,
    };
    let mut points: Vec<HeldRate> = Vec::new();
    for (row, (line, content)) in lines.enumerate() {
        let fields = split_row(content);
        if fields.len() != names.len() {
            return Err(TraceError::FieldCount {
                line,
                format: "CSV",
                expected: names.len(),
                found: fields.len(),
            });
        }
        let mbps = non_negative(line, fields[throughput_index], "throughput")?;
        let start_s = match time_index {
            Some(index) => number(line, fields[index], "time")?,
            None => row as f64 * CSV_ROW_S,
        };
        push_in_order(&mut points, line, HeldRate { start_s, mbps })?;
    }
    let last = points.last().ok_or(TraceError::Empty)?;
    let end_s = match time_index {
        Some(_) => last.start_s,
        None => last.start_s + CSV_ROW_S,
    };
    resample_held(&points, end_s, step_s)
}
