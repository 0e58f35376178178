//! Pausing and resuming the guest around the final round.
//!
//! Two mechanisms, chosen by the operator:
//! - **Signal**: `SIGSTOP` to the guest's process (QEMU, or the stand-in),
//!   then wait until every thread in `/proc/PID/task` is stopped (`T`), so
//!   no vCPU can write after `pause` returns. `SIGCONT` resumes.
//! - **Command**: run a shell command (e.g. a QMP `stop` through `socat`);
//!   it must exit 0. The resume command undoes it.
//!
//! Without a hook the final round runs with the guest still running; that
//! is only correct for memory nothing writes, and is logged as a warning.

use crate::config::PauseConfig;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long `pause` waits for every thread to stop.
pub const STOP_WAIT_MAX: Duration = Duration::from_secs(5);

/// A pause or resume that did not happen.
#[derive(Debug, Error)]
pub enum HookError {
    /// The signal could not be sent.
    #[error("cannot send {signal} to guest process {pid}")]
    Signal {
        /// Which signal.
        signal: &'static str,
        /// The process.
        pid: i32,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The process did not stop in time.
    #[error("guest process {pid} did not stop within {waited:?}")]
    NotStopped {
        /// The process.
        pid: i32,
        /// How long we waited.
        waited: Duration,
    },
    /// A hook command failed.
    #[error("{which} command {command:?} failed: {detail}")]
    Command {
        /// "pause" or "resume".
        which: &'static str,
        /// The command.
        command: String,
        /// Exit status or spawn error.
        detail: String,
    },
}

/// The configured pause mechanism.
#[derive(Debug, Clone)]
pub struct PauseHook {
    config: PauseConfig,
}

impl PauseHook {
    /// A hook for `config`.
    pub fn new(config: PauseConfig) -> Self {
        Self { config }
    }

    /// True if the guest is really paused by `pause`.
    pub fn pauses(&self) -> bool {
        !matches!(self.config, PauseConfig::None)
    }

    /// Pauses the guest; returns once it can no longer write memory.
    pub fn pause(&self) -> Result<(), HookError> {
        match &self.config {
            PauseConfig::None => {
                tracing::warn!(
                    "no pause hook: the final round runs while the guest may still write"
                );
                Ok(())
            }
            PauseConfig::Signal(pid) => {
                send_signal(*pid, libc::SIGSTOP, "SIGSTOP")?;
                wait_stopped(*pid)
            }
            PauseConfig::Command { pause, .. } => run("pause", pause),
        }
    }

    /// Resumes the guest.
    pub fn resume(&self) -> Result<(), HookError> {
        match &self.config {
            PauseConfig::None => Ok(()),
            PauseConfig::Signal(pid) => send_signal(*pid, libc::SIGCONT, "SIGCONT"),
            PauseConfig::Command { resume, .. } => run("resume", resume),
        }
    }
}

fn send_signal(pid: i32, signal: i32, name: &'static str) -> Result<(), HookError> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(HookError::Signal {
            signal: name,
            pid,
            cause: std::io::Error::last_os_error(),
        })
    }
}

/// True if every thread of `pid` is in the stopped state.
fn all_threads_stopped(pid: i32) -> Option<bool> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut any = false;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // The state follows the parenthesised command name, which may itself contain ')'.
        let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
        if state != 'T' && state != 't' {
            return Some(false);
        }
        any = true;
    }
    Some(any)
}

fn wait_stopped(pid: i32) -> Result<(), HookError> {
    let start = Instant::now();
    while start.elapsed() < STOP_WAIT_MAX {
        if all_threads_stopped(pid) == Some(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Err(HookError::NotStopped {
        pid,
        waited: STOP_WAIT_MAX,
    })
}

fn run(which: &'static str, command: &str) -> Result<(), HookError> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(HookError::Command {
            which,
            command: command.to_owned(),
            detail: status.to_string(),
        }),
        Err(err) => Err(HookError::Command {
            which,
            command: command.to_owned(),
            detail: err.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_hook_stops_and_resumes_a_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits");
        let hook = PauseHook::new(PauseConfig::Signal(pid));
        hook.pause().expect("pause");
        assert_eq!(all_threads_stopped(pid), Some(true));
        hook.resume().expect("resume");
        let start = Instant::now();
        while all_threads_stopped(pid) != Some(false) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(all_threads_stopped(pid), Some(false));
        child.kill().expect("kill");
        child.wait().expect("reap");
    }

    #[test]
    fn failing_commands_and_missing_processes_are_errors() {
        let hook = PauseHook::new(PauseConfig::Command {
            pause: "exit 3".into(),
            resume: "true".into(),
        });
        assert!(matches!(
            hook.pause(),
            Err(HookError::Command { which: "pause", .. })
        ));
        assert!(hook.resume().is_ok());
        let gone = PauseHook::new(PauseConfig::Signal(i32::MAX - 1));
        assert!(matches!(gone.pause(), Err(HookError::Signal { .. })));
    }
}
