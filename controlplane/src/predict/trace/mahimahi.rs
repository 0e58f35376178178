//! The mahimahi format: one line per 1500-byte delivery opportunity.

use super::error::{quote, TraceError};
use super::lines::data_lines;
use super::resample::resample_opportunities;

/// Samples at `step_s` from a mahimahi trace: each line is the time, in
/// whole milliseconds from the start, of one 1500-byte delivery
/// opportunity (repeated times are several packets). Times must not
/// decrease; the trace lasts until its last line.
pub(crate) fn parse_mahimahi(text: &str, step_s: f64) -> Result<Vec<f64>, TraceError> {
    let mut times_ms: Vec<u64> = Vec::new();
    for (line, content) in data_lines(text) {
        let mut fields = content.split_whitespace();
        let field = fields.next().unwrap_or_default();
        let extra = fields.count();
        if extra != 0 {
            return Err(TraceError::FieldCount {
                line,
                format: "mahimahi",
                expected: 1,
                found: extra + 1,
            });
        }
        let time_ms: u64 = field.parse().map_err(|_| TraceError::NotANumber {
            line,
            field: quote(field),
        })?;
        if let Some(&previous) = times_ms.last() {
            if time_ms < previous {
                return Err(TraceError::TimeBackwards {
                    line,
                    time: time_ms as f64,
                    previous: previous as f64,
                });
            }
        }
        times_ms.push(time_ms);
    }
    resample_opportunities(&times_ms, step_s)
}
