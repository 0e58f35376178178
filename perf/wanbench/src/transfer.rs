//! One timed transfer: a receiver in namespace B (waited for until it
//! listens), then the sender in namespace A; the time runs from starting
//! the sender until both have exited (or, for a daemon receiver, until the
//! sender has).

use crate::child::{describe, Proc, POLL_INTERVAL};
use anyhow::Result;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long a receiver may take to listen.
pub const LISTEN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the other side may go on after one side failed.
pub const FAILURE_GRACE: Duration = Duration::from_secs(15);
/// How long a daemon receiver gets to exit after SIGTERM.
pub const DAEMON_STOP_GRACE: Duration = Duration::from_secs(5);
/// Bytes of a failed side's stderr quoted in the failure.
const STDERR_QUOTE: usize = 400;

/// A command and the name of its log files.
#[derive(Debug)]
pub struct Side {
    /// Log name (`<name>.out`, `<name>.err`).
    pub name: String,
    /// What to run (already wrapped in `ip netns exec`).
    pub command: Command,
}

/// What to run.
#[derive(Debug)]
pub struct TransferSpec {
    /// The receiving side, started first.
    pub receiver: Side,
    /// False for a daemon (rsync) that stays up: the sender's exit ends it.
    pub receiver_exits: bool,
    /// The TCP port the receiver listens on.
    pub port: u16,
    /// The sending side.
    pub sender: Side,
    /// Both are killed when the transfer takes longer than this.
    pub limit: Duration,
}

/// How it went.
#[derive(Debug)]
pub struct TransferOutcome {
    /// Sender start to the last exit, when both succeeded.
    pub elapsed: Option<Duration>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// The sender's stdout.
    pub sender_stdout: String,
    /// The receiver's stdout.
    pub receiver_stdout: String,
    /// The sender's stderr.
    pub sender_stderr: String,
}

/// Runs one transfer. Errors only when a process cannot be started or on
/// an interrupt; a failed or slow transfer is an outcome with a failure.
pub fn run(spec: TransferSpec, log_dir: &Path) -> Result<TransferOutcome> {
    let mut receiver = Proc::spawn(&spec.receiver.name, spec.receiver.command, log_dir)?;
    if let Some(failure) = wait_listening(&mut receiver, spec.port)? {
        return Ok(TransferOutcome {
            elapsed: None,
            failure: Some(failure),
            sender_stdout: String::new(),
            receiver_stdout: receiver.stdout(),
            sender_stderr: String::new(),
        });
    }
    let started = Instant::now();
    let mut sender = Proc::spawn(&spec.sender.name, spec.sender.command, log_dir)?;
    let deadline = started + spec.limit;
    let mut sender_exit: Option<(ExitStatus, Instant)> = None;
    let mut receiver_exit: Option<(ExitStatus, Instant)> = None;
    let failure = loop {
        let now = Instant::now();
        if sender_exit.is_none() {
            sender_exit = sender.try_status().map(|s| (s, now));
        }
        if receiver_exit.is_none() {
            receiver_exit = receiver.try_status().map(|s| (s, now));
        }
        let failed_side = [(&sender_exit, "sender"), (&receiver_exit, "receiver")]
            .into_iter()
            .find_map(|(exit, side)| match exit {
                Some((status, at)) if !status.success() => Some((side, *status, *at)),
                _ => None,
            });
        let sender_done = sender_exit.is_some();
        let receiver_done = receiver_exit.is_some() || !spec.receiver_exits;
        if sender_done && receiver_done {
            break failed_side.map(|(side, status, _)| format!("{side} {}", describe(status)));
        }
        if let Some((side, status, at)) = failed_side {
            if now.duration_since(at) >= FAILURE_GRACE {
                break Some(format!(
                    "{side} {}; the other side was killed {FAILURE_GRACE:?} later",
                    describe(status)
                ));
            }
        }
        if now >= deadline {
            break Some(format!("timed out after {:?}", spec.limit));
        }
        crate::interrupt::sleep(POLL_INTERVAL)?;
    };
    let elapsed = match (&failure, sender_exit) {
        (None, Some((_, sender_at))) => {
            let last = receiver_exit.map_or(sender_at, |(_, at)| at.max(sender_at));
            Some(last.duration_since(started))
        }
        _ => None,
    };
    sender.kill();
    if spec.receiver_exits {
        receiver.kill();
    } else {
        receiver.stop(DAEMON_STOP_GRACE);
    }
    let failure = failure.map(|what| {
        format!(
            "{what}; sender: {}; receiver: {}",
            quote(&sender.stderr_tail(STDERR_QUOTE)),
            quote(&receiver.stderr_tail(STDERR_QUOTE))
        )
    });
    Ok(TransferOutcome {
        elapsed,
        failure,
        sender_stdout: sender.stdout(),
        receiver_stdout: receiver.stdout(),
        sender_stderr: sender.stderr(),
    })
}

fn quote(text: &str) -> String {
    if text.is_empty() {
        "(no stderr)".into()
    } else {
        text.into()
    }
}

/// Waits until `receiver` listens on `port`: `None`, or why not.
fn wait_listening(receiver: &mut Proc, port: u16) -> Result<Option<String>> {
    let deadline = Instant::now() + LISTEN_DEADLINE;
    loop {
        if crate::listen::is_listening(receiver.pid(), port) {
            return Ok(None);
        }
        if let Some(status) = receiver.try_status() {
            return Ok(Some(format!(
                "receiver exited ({}) before it listened: {}",
                describe(status),
                receiver.stderr_tail(STDERR_QUOTE)
            )));
        }
        if Instant::now() >= deadline {
            return Ok(Some(format!(
                "receiver did not listen on port {port} within {LISTEN_DEADLINE:?}"
            )));
        }
        crate::interrupt::sleep(Duration::from_millis(10))?;
    }
}
