//! Following a migration until it is final: `dwcpctl migrate` without
//! `--no-wait`.
//!
//! Design: poll `GET /v1/migrations/{id}` every `POLL_INTERVAL` and draw the
//! progress line (`render::progress_line`) on stderr, as an indicatif bar
//! when stderr is a terminal or as a plain line at most every
//! `PLAIN_LINE_INTERVAL` otherwise (logs stay readable). A stop flag, set by
//! the binary's Ctrl-C handler, ends the wait between polls; it never cancels
//! the migration. While the control plane does not answer (it may be
//! restarting: its unit has `Restart=always` and the data plane keeps moving
//! pages meanwhile) polling goes on for `UNREACHABLE_GRACE`, then gives up.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::client::ApiClient;
use super::error::ClientError;
use super::render;
use crate::api_types::{Migration, MigrationState};

/// Time between two polls of the migration.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Time between two plain progress lines when stderr is not a terminal.
pub const PLAIN_LINE_INTERVAL: Duration = Duration::from_secs(1);
/// How long polling goes on while the control plane does not answer.
pub const UNREACHABLE_GRACE: Duration = Duration::from_secs(30);
/// Granularity of the sleep between polls, so a stop is seen promptly.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Redraw interval of the bar's spinner.
const BAR_TICK: Duration = Duration::from_millis(100);
/// The bar's layout: a spinner and `render::progress_line` (which carries the
/// percentage), cut to the terminal's width rather than wrapped.
const BAR_TEMPLATE: &str = "{spinner} {wide_msg}";

const _: () = assert!(STOP_CHECK_INTERVAL.as_millis() <= POLL_INTERVAL.as_millis());
const _: () = assert!(POLL_INTERVAL.as_millis() < PLAIN_LINE_INTERVAL.as_millis());
const _: () = assert!(PLAIN_LINE_INTERVAL.as_millis() < UNREACHABLE_GRACE.as_millis());

/// Where the progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressDisplay {
    /// A redrawn indicatif bar on stderr (a terminal).
    Bar,
    /// A plain line on stderr at most once per `PLAIN_LINE_INTERVAL`.
    Plain,
    /// No progress output.
    Hidden,
}

impl ProgressDisplay {
    /// `Bar` when stderr is a terminal, else `Plain`.
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Plain
        }
    }
}

/// How following ended.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowOutcome {
    /// The migration reached a final state.
    Final(Migration),
    /// The stop flag was set; the migration goes on. Holds its last state.
    Stopped(Migration),
}

/// Polls the migration `started` until it is final or `stop` is set.
///
/// `started` is the answer of `POST /v1/migrations` (or a first GET); when it
/// is already final no request is made. Errors: a non-transient API error at
/// once, a transient one (no answer) after `UNREACHABLE_GRACE` without an
/// answer.
pub fn follow_migration(
    client: &ApiClient,
    started: Migration,
    display: ProgressDisplay,
    stop: &AtomicBool,
) -> Result<FollowOutcome, ClientError> {
    let mut reporter = ProgressReporter::new(display);
    let mut last = started;
    let mut last_answer = Instant::now();
    let mut warned_unreachable = false;
    reporter.update(&last);
    loop {
        if last.state.is_final() {
            reporter.finish(&last);
            return Ok(FollowOutcome::Final(last));
        }
        if sleep_unless_stopped(POLL_INTERVAL, stop) {
            reporter.finish(&last);
            return Ok(FollowOutcome::Stopped(last));
        }
        match client.migration(&last.id) {
            Ok(migration) => {
                if warned_unreachable {
                    reporter.note("the control plane answers again");
                    warned_unreachable = false;
                }
                last = migration;
                last_answer = Instant::now();
                reporter.update(&last);
            }
            Err(error) if error.is_transient() && last_answer.elapsed() < UNREACHABLE_GRACE => {
                if !warned_unreachable {
                    reporter.note(&format!(
                        "{error}; retrying for up to {} s (the migration goes on in the data plane)",
                        UNREACHABLE_GRACE.as_secs()
                    ));
                    warned_unreachable = true;
                }
            }
            Err(error) => {
                reporter.abandon();
                return Err(error);
            }
        }
    }
}

/// Sleeps `duration` in `STOP_CHECK_INTERVAL` slices; true when `stop` was
/// set before or during the sleep.
fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        // Relaxed: the flag carries no data; it is only a request to stop.
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(STOP_CHECK_INTERVAL.min(deadline - now));
    }
}

/// Draws the progress of one migration on stderr.
#[derive(Debug)]
struct ProgressReporter {
    display: ProgressDisplay,
    bar: Option<ProgressBar>,
    started: Instant,
    last_plain_line: Option<Instant>,
    last_state: Option<MigrationState>,
}

impl ProgressReporter {
    fn new(display: ProgressDisplay) -> Self {
        let bar = (display == ProgressDisplay::Bar).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(BAR_TEMPLATE)
                    .expect("BAR_TEMPLATE is a valid indicatif template"),
            );
            bar.enable_steady_tick(BAR_TICK);
            bar
        });
        Self {
            display,
            bar,
            started: Instant::now(),
            last_plain_line: None,
            last_state: None,
        }
    }

    /// Shows the migration's latest state. Plain lines are printed at most
    /// once per `PLAIN_LINE_INTERVAL`, and at every state change.
    fn update(&mut self, migration: &Migration) {
        match self.display {
            ProgressDisplay::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_message(render::progress_line(migration));
                }
            }
            ProgressDisplay::Plain => {
                let now = Instant::now();
                let due = self
                    .last_plain_line
                    .is_none_or(|last| now.duration_since(last) >= PLAIN_LINE_INTERVAL);
                if due || self.last_state != Some(migration.state) {
                    eprintln!(
                        "{}",
                        render::plain_progress_line(
                            self.started.elapsed().as_secs_f64(),
                            migration
                        )
                    );
                    self.last_plain_line = Some(now);
                }
            }
            ProgressDisplay::Hidden => {}
        }
        self.last_state = Some(migration.state);
    }

    /// Prints a message on stderr without breaking the bar.
    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("dwcpctl: {message}")),
            None => eprintln!("dwcpctl: {message}"),
        }
    }

    /// Shows the last state and leaves it on the screen.
    fn finish(&mut self, migration: &Migration) {
        self.update(migration);
        self.abandon();
    }

    /// Stops redrawing, leaving the last line on the screen.
    fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
