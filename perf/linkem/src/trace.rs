//! Bandwidth traces: parsing the two formats of
//! `/work/shared/data/bandwidth-traces` into a replayable description.
//!
//! # Design
//! - `hsdpa` (`hsdpa-fcc/`): lines `seconds<TAB>Mbps`. Each line starts a
//!   rate *step* that holds until the next line's time. The last step lasts
//!   as long as the step before it (the traces are sampled at a fixed
//!   interval), so the loop period is `t_last - t_first + (t_last - t_prev)`.
//!   Times are taken relative to the first line.
//! - `mahimahi` (`mahimahi/`): one line per 1500-byte *delivery opportunity*,
//!   the line being its time in milliseconds; equal times mean several
//!   opportunities at once. Replayed as mahimahi does: an opportunity that
//!   finds no packet waiting is wasted, a packet may span several
//!   opportunities, and the schedule repeats with the last timestamp as its
//!   period.
//!
//! Errors name the file and the 1-based line. Blank lines are skipped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes delivered by one mahimahi delivery opportunity.
pub const MAHIMAHI_OPPORTUNITY_BYTES: u32 = 1500;
/// Most lines a trace may have (the largest shipped file has about 505k).
pub const TRACE_LINES_MAX: usize = 10_000_000;
/// Largest hsdpa rate accepted, in Mbit/s.
pub const HSDPA_MBPS_MAX: f64 = 100_000.0;
/// Longest trace period accepted (one day).
pub const TRACE_PERIOD_MAX: Duration = Duration::from_secs(86_400);

const NANOS_PER_MS: u64 = 1_000_000;
const NANOS_PER_S: f64 = 1e9;

/// Which of the two file formats a trace is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// `seconds<TAB>Mbps` rate steps (Pensieve's HSDPA and FCC traces).
    Hsdpa,
    /// Millisecond timestamps of 1500-byte delivery opportunities.
    Mahimahi,
}

impl TraceFormat {
    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Hsdpa => "hsdpa",
            TraceFormat::Mahimahi => "mahimahi",
        }
    }
}

/// The replayable content of a trace, times relative to its start.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceShape {
    /// Rate steps: `starts_ns[i]` begins a step at `bits_per_s[i]`.
    Steps {
        /// Start of each step, strictly increasing, the first being 0.
        starts_ns: Vec<u64>,
        /// Rate of each step in bits per second (finite, not negative).
        bits_per_s: Vec<f64>,
    },
    /// Delivery opportunities of `MAHIMAHI_OPPORTUNITY_BYTES` each.
    Opportunities {
        /// Time of each opportunity, not decreasing.
        times_ns: Vec<u64>,
    },
}

/// A parsed bandwidth trace that loops with `period`.
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthTrace {
    origin: PathBuf,
    format: TraceFormat,
    shape: TraceShape,
    period_ns: u64,
}

/// What is wrong with one line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFault {
    /// The line does not have the expected number of fields.
    FieldCount {
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A field is not a number of the expected kind.
    NotANumber {
        /// The field's text.
        field: String,
    },
    /// A number is negative, not finite or above its maximum.
    OutOfRange {
        /// The field's text.
        field: String,
    },
    /// The time goes backwards (mahimahi) or does not increase (hsdpa).
    TimeNotIncreasing,
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::FieldCount { expected, found } => {
                write!(f, "expected {expected} field(s), found {found}")
            }
            LineFault::NotANumber { field } => write!(f, "{field:?} is not a number"),
            LineFault::OutOfRange { field } => write!(f, "{field:?} is out of range"),
            LineFault::TimeNotIncreasing => write!(f, "time does not increase"),
        }
    }
}

/// A trace that cannot be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read bandwidth trace {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// One line is malformed.
    #[error("bandwidth trace {}:{line}: {fault}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        fault: LineFault,
    },
    /// The file as a whole cannot be replayed.
    #[error("bandwidth trace {}: {reason}", path.display())]
    Unusable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

impl BandwidthTrace {
    /// Reads and parses `path`.
    pub fn load(path: &Path, format: TraceFormat) -> Result<Self, TraceError> {
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, format, path)
    }

    /// Parses `text`; `origin` names the file in errors.
    pub fn parse(text: &str, format: TraceFormat, origin: &Path) -> Result<Self, TraceError> {
        let lines = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty());
        let (shape, period_ns) = match format {
            TraceFormat::Hsdpa => parse_hsdpa(lines, origin)?,
            TraceFormat::Mahimahi => parse_mahimahi(lines, origin)?,
        };
        let unusable = |reason| TraceError::Unusable {
            path: origin.to_path_buf(),
            reason,
        };
        if period_ns == 0 {
            return Err(unusable("the trace has zero length"));
        }
        if u128::from(period_ns) > TRACE_PERIOD_MAX.as_nanos() {
            return Err(unusable("the trace is longer than one day"));
        }
        let trace = BandwidthTrace {
            origin: origin.to_path_buf(),
            format,
            shape,
            period_ns,
        };
        if trace.mean_bits_per_s() <= 0.0 {
            return Err(unusable("the trace never delivers anything"));
        }
        Ok(trace)
    }

    /// The file it was read from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Its format.
    pub fn format(&self) -> TraceFormat {
        self.format
    }

    /// Its content.
    pub fn shape(&self) -> &TraceShape {
        &self.shape
    }

    /// The loop period.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period_ns)
    }

    pub(crate) fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// Bits one full period delivers.
    pub fn bits_per_period(&self) -> f64 {
        match &self.shape {
            TraceShape::Steps {
                starts_ns,
                bits_per_s,
            } => {
                let mut bits = 0.0;
                for (index, rate) in bits_per_s.iter().enumerate() {
                    let end = starts_ns.get(index + 1).copied().unwrap_or(self.period_ns);
                    bits += rate * nanos_to_secs(end - starts_ns[index]);
                }
                bits
            }
            TraceShape::Opportunities { times_ns } => {
                // JUSTIFICATION: counts below 2^53 convert exactly.
                #[allow(clippy::cast_precision_loss)]
                let count = times_ns.len() as f64;
                count * f64::from(MAHIMAHI_OPPORTUNITY_BYTES) * 8.0
            }
        }
    }

    /// The mean rate over one period in bits per second.
    pub fn mean_bits_per_s(&self) -> f64 {
        self.bits_per_period() / nanos_to_secs(self.period_ns)
    }

    /// The highest rate over any window of length `window` (for steps, the
    /// highest step), in bits per second. Used to size buffers.
    pub fn peak_bits_per_s(&self, window: Duration) -> f64 {
        match &self.shape {
            TraceShape::Steps { bits_per_s, .. } => bits_per_s.iter().copied().fold(0.0, f64::max),
            TraceShape::Opportunities { times_ns } => {
                let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1);
                let mut first = 0;
                let mut most = 0usize;
                for (last, &time) in times_ns.iter().enumerate() {
                    while time - times_ns[first] >= window_ns {
                        first += 1;
                    }
                    most = most.max(last + 1 - first);
                }
                // JUSTIFICATION: counts below 2^53 convert exactly.
                #[allow(clippy::cast_precision_loss)]
                let most = most as f64;
                most * f64::from(MAHIMAHI_OPPORTUNITY_BYTES) * 8.0 / window.as_secs_f64()
            }
        }
    }
}

fn nanos_to_secs(nanos: u64) -> f64 {
    // JUSTIFICATION: trace times are below one day (8.64e13 ns < 2^53).
    #[allow(clippy::cast_precision_loss)]
    let nanos = nanos as f64;
    nanos / NANOS_PER_S
}

fn line_error(origin: &Path, line: usize, fault: LineFault) -> TraceError {
    TraceError::Line {
        path: origin.to_path_buf(),
        line,
        fault,
    }
}

fn check_line_count(origin: &Path, count: usize) -> Result<(), TraceError> {
    if count >= TRACE_LINES_MAX {
        return Err(TraceError::Unusable {
            path: origin.to_path_buf(),
            reason: "the trace has more lines than TRACE_LINES_MAX",
        });
    }
    Ok(())
}

fn parse_hsdpa<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    origin: &Path,
) -> Result<(TraceShape, u64), TraceError> {
    let mut starts_ns: Vec<u64> = Vec::new();
    let mut bits_per_s = Vec::new();
    let mut first_secs = None;
    for (number, line) in lines {
        check_line_count(origin, starts_ns.len())?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 2 {
            let fault = LineFault::FieldCount {
                expected: 2,
                found: fields.len(),
            };
            return Err(line_error(origin, number, fault));
        }
        let secs = parse_f64(fields[0], origin, number)?;
        let mbps = parse_f64(fields[1], origin, number)?;
        let first = *first_secs.get_or_insert(secs);
        let offset_secs = secs - first;
        if !(0.0..=TRACE_PERIOD_MAX.as_secs_f64()).contains(&offset_secs) {
            let fault = LineFault::OutOfRange {
                field: fields[0].to_owned(),
            };
            return Err(line_error(origin, number, fault));
        }
        if !(0.0..=HSDPA_MBPS_MAX).contains(&mbps) {
            let fault = LineFault::OutOfRange {
                field: fields[1].to_owned(),
            };
            return Err(line_error(origin, number, fault));
        }
        // JUSTIFICATION: the offset was checked to lie in [0, one day], so
        // the nanosecond count is non-negative and below 2^47.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let start = (offset_secs * NANOS_PER_S).round() as u64;
        if starts_ns.last().is_some_and(|&previous| start <= previous) {
            return Err(line_error(origin, number, LineFault::TimeNotIncreasing));
        }
        starts_ns.push(start);
        bits_per_s.push(mbps * 1e6);
    }
    let [.., previous, last] = starts_ns[..] else {
        return Err(TraceError::Unusable {
            path: origin.to_path_buf(),
            reason: "an hsdpa trace needs at least two lines",
        });
    };
    let period_ns = last + (last - previous);
    Ok((
        TraceShape::Steps {
            starts_ns,
            bits_per_s,
        },
        period_ns,
    ))
}

fn parse_mahimahi<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    origin: &Path,
) -> Result<(TraceShape, u64), TraceError> {
    let mut times_ns: Vec<u64> = Vec::new();
    let period_max_ms = TRACE_PERIOD_MAX.as_secs() * 1000;
    for (number, line) in lines {
        check_line_count(origin, times_ns.len())?;
        let millis: u64 = line.parse().map_err(|_| {
            let fault = LineFault::NotANumber {
                field: line.to_owned(),
            };
            line_error(origin, number, fault)
        })?;
        if millis > period_max_ms {
            let fault = LineFault::OutOfRange {
                field: line.to_owned(),
            };
            return Err(line_error(origin, number, fault));
        }
        let time = millis * NANOS_PER_MS;
        if times_ns.last().is_some_and(|&previous| time < previous) {
            return Err(line_error(origin, number, LineFault::TimeNotIncreasing));
        }
        times_ns.push(time);
    }
    let Some(&period_ns) = times_ns.last() else {
        return Err(TraceError::Unusable {
            path: origin.to_path_buf(),
            reason: "a mahimahi trace needs at least one line",
        });
    };
    Ok((TraceShape::Opportunities { times_ns }, period_ns))
}

fn parse_f64(field: &str, origin: &Path, number: usize) -> Result<f64, TraceError> {
    let value: f64 = field.parse().map_err(|_| {
        let fault = LineFault::NotANumber {
            field: field.to_owned(),
        };
        line_error(origin, number, fault)
    })?;
    if !value.is_finite() {
        let fault = LineFault::OutOfRange {
            field: field.to_owned(),
        };
        return Err(line_error(origin, number, fault));
    }
    Ok(value)
}

#[cfg(test)]
#[path = "trace_test.rs"]
mod tests;
