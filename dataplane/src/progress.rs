//! Live progress of a migration, shared by the working threads (writers,
//! `Relaxed` stores) and the printing thread (reader).

use dwcp_dataplane_core::worker_meter::WorkerMeter;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How often the progress line is redrawn on a terminal.
pub const PRINT_INTERVAL_TTY: Duration = Duration::from_millis(200);
/// How often a progress line is written when stderr is not a terminal.
pub const PRINT_INTERVAL_PLAIN: Duration = Duration::from_secs(1);

/// Where a migration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Copying while the guest runs.
    PreCopy = 0,
    /// Guest paused, final round.
    Paused = 1,
    /// Waiting for the destination's verdict.
    Verifying = 2,
    /// Over.
    Done = 3,
    /// Connecting and handshaking (source) or setting up (destination).
    Starting = 4,
    /// Destination: listening for the source.
    Listening = 5,
}

impl Phase {
    fn label(raw: u8) -> &'static str {
        match raw {
            0 => "pre-copy",
            1 => "paused",
            2 => "verifying",
            4 => "starting",
            5 => "listening",
            _ => "done",
        }
    }
}

/// Counters the engine or decoder publishes.
#[derive(Debug, Default)]
pub struct Progress {
    /// Current round, 0 first (shown 1-based, like the summary's count).
    pub round: AtomicU32,
    /// Pages sent (source) or written (destination) so far.
    pub pages: AtomicU64,
    /// Pages still to scan in this round.
    pub pages_remaining: AtomicU64,
    /// Dirty bytes per second seen by the last round.
    pub dirty_bytes_per_s: AtomicU64,
    /// Throughput estimate in bytes per second.
    pub throughput_bytes_per_s: AtomicU64,
    /// [`Phase`] as u8.
    pub phase: AtomicU8,
    /// Bytes written to the transport so far (source).
    pub bytes_on_wire: AtomicU64,
    /// Guest memory size, once known.
    pub memory_bytes: AtomicU64,
    /// Streams carrying data (source: the live setting), once known.
    pub streams: AtomicU16,
    /// Streams (connections) the migration opened, once known.
    pub streams_connected: AtomicU16,
    /// Pages by encoding kind (zero, duplicate, delta, zstd, raw), codec on.
    pub pages_by_kind: [AtomicU64; 5],
    /// Bytes by encoding kind, codec on.
    pub bytes_by_kind: [AtomicU64; 5],
    /// Pacing rate in effect, bytes per second (0: unpaced).
    pub pacing_bytes_per_s: AtomicU64,
    /// The codec's zstd level in effect (0: none; -1 is stored as 255).
    pub codec_level: AtomicU8,
    /// The migration's worker threads: [`COMPUTE_WORKER`] (engine or
    /// decoder) and [`TRANSPORT_WORKER`].
    pub workers: [WorkerMeter; 2],
}

/// Index in [`Progress::workers`] of the engine (source) or decoder (destination).
pub const COMPUTE_WORKER: usize = 0;
/// Index in [`Progress::workers`] of the transport thread.
pub const TRANSPORT_WORKER: usize = 1;

impl Progress {
    /// Reads [`Phase`] back.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::PreCopy,
            1 => Phase::Paused,
            2 => Phase::Verifying,
            4 => Phase::Starting,
            5 => Phase::Listening,
            _ => Phase::Done,
        }
    }
}

impl Progress {
    /// Sets the phase.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// One progress line.
pub fn render(progress: &Progress, bytes_on_wire: u64, elapsed: Duration) -> String {
    let remaining = progress.pages_remaining.load(Ordering::Relaxed);
    let throughput = progress.throughput_bytes_per_s.load(Ordering::Relaxed);
    let eta = if throughput > 0 {
        remaining as f64 * 4096.0 / throughput as f64
    } else {
        0.0
    };
    format!(
        "[{:>6.1}s] {:<9} round {:>2} | wire {:>9.1} MiB | pages {:>9} | remaining {:>8} pages | dirty {:>7.1} MiB/s | {:>7.1} MiB/s | ETA {:.1}s",
        elapsed.as_secs_f64(),
        Phase::label(progress.phase.load(Ordering::Relaxed)),
        progress.round.load(Ordering::Relaxed) + 1,
        mib(bytes_on_wire),
        progress.pages.load(Ordering::Relaxed),
        remaining,
        mib(progress.dirty_bytes_per_s.load(Ordering::Relaxed)),
        mib(throughput),
        eta,
    )
}

/// Prints progress lines to stderr until `done` returns true.
pub fn print_until(
    start: Instant,
    enabled: bool,
    mut line: impl FnMut() -> String,
    mut done: impl FnMut() -> bool,
) {
    let tty = std::io::stderr().is_terminal();
    let interval = if tty {
        PRINT_INTERVAL_TTY
    } else {
        PRINT_INTERVAL_PLAIN
    };
    let mut last_print = start;
    while !done() {
        std::thread::sleep(Duration::from_millis(20));
        if enabled && last_print.elapsed() >= interval {
            last_print = Instant::now();
            let text = line();
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{text}\x1b[K")
            } else {
                writeln!(err, "{text}")
            };
        }
    }
    if enabled {
        let text = line();
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            writeln!(err, "\r{text}\x1b[K")
        } else {
            writeln!(err, "{text}")
        };
    }
}
