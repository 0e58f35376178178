//! The "seconds Mbps" format: `time_s<whitespace>mbps` per line.

use super::error::TraceError;
use super::lines::{data_lines, non_negative, number};
use super::resample::{resample_held, HeldRate};

/// Samples at `step_s` from a "seconds Mbps" trace (Pensieve's HSDPA and
/// FCC traces). Each rate holds from its time until the next line's time;
/// the last line only marks the end of the trace (its rate has no
/// duration). Times must not decrease.
pub(crate) fn parse_tabular(text: &str, step_s: f64) -> Result<Vec<f64>, TraceError> {
    let mut points: Vec<HeldRate> = Vec::new();
    for (line, content) in data_lines(text) {
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.len() != 2 {
            return Err(TraceError::FieldCount {
                line,
                format: "seconds Mbps",
                expected: 2,
                found: fields.len(),
            });
        }
        let start_s = number(line, fields[0], "time")?;
        let mbps = non_negative(line, fields[1], "throughput")?;
        push_in_order(&mut points, line, HeldRate { start_s, mbps })?;
    }
    let end_s = points.last().ok_or(TraceError::Empty)?.start_s;
    resample_held(&points, end_s, step_s)
}

/// Appends `point` after checking that time does not go backwards.
pub(crate) fn push_in_order(
    points: &mut Vec<HeldRate>,
    line: usize,
    point: HeldRate,
) -> Result<(), TraceError> {
    if let Some(previous) = points.last() {
        if point.start_s < previous.start_s {
            return Err(TraceError::TimeBackwards {
                line,
                time: point.start_s,
                previous: previous.start_s,
            });
        }
    }
    points.push(point);
    Ok(())
}
