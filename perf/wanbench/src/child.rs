//! A child process in its own process group, with its output in files, and
//! the whole group killed (and the child reaped) when dropped.
//!
//! Its own group means a shell pipeline (`zstd | dwcp-wan-bench tcp-send`)
//! dies as a whole, and a Ctrl-C at the terminal reaches only this tool,
//! which then stops its children in order (the emulator last, so that it
//! removes its namespaces).

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often wait loops poll a child.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// A running child; its group is killed when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `command` in a new process group, stdout and stderr to
    /// `<dir>/<name>.out|.err`, stdin from /dev/null.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Self> {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).context("creating a stdout file")?)
            .stderr(File::create(&stderr).context("creating a stderr file")?)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        Ok(Self {
            name: name.into(),
            child,
            stdout,
            stderr,
            status: None,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status, if it exited already.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `signal` to its whole process group (no-op once it exited).
    pub fn signal_group(&mut self, signal: libc::c_int) {
        if self.try_status().is_some() {
            return;
        }
        if let Ok(pgid) = libc::pid_t::try_from(self.pid()) {
            // SAFETY: kill(2) with a negative pid signals that process
            // group; the child is its leader (process_group(0)) and has
            // not been reaped (try_status above), so the id is still ours.
            unsafe {
                libc::kill(-pgid, signal);
            }
        }
    }

    /// Sends `signal` to the child alone (no-op once it exited).
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.try_status().is_some() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.pid()) {
            // SAFETY: kill(2) on our own unreaped child's pid.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Waits until it exits or `deadline` passes: `Some(status)` or `None`.
    /// Errors on an interrupt (the group is killed when dropped).
    pub fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.try_status() {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            crate::interrupt::sleep(POLL_INTERVAL)?;
        }
    }

    /// SIGTERM to the group, up to `grace` to exit, then SIGKILL; reaps it.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.signal_group(libc::SIGCONT);
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while self.try_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(POLL_INTERVAL);
        }
        self.kill();
        self.status
    }

    /// SIGKILL to the group; reaps it (no-op once it exited).
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            self.signal_group(libc::SIGKILL);
            self.status = self.child.wait().ok();
        }
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Its last non-empty stdout line (where the tools print their JSON).
    pub fn last_stdout_line(&self) -> Option<String> {
        last_line(&self.stdout())
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last `max` bytes of its stderr, on one line, for error messages.
    pub fn stderr_tail(&self, max: usize) -> String {
        tail(&self.stderr(), max)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last non-empty line of `text`.
pub fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(str::to_owned)
}

/// The last `max` bytes of `text` (at a char boundary), newlines as ` | `.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].replace('\n', " | ")
}

/// `status` in words: `exit 1`, `signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_skips_trailing_blank_lines() {
        assert_eq!(last_line("a\n{\"x\":1}\n\n"), Some("{\"x\":1}".into()));
        assert_eq!(last_line(""), None);
        assert_eq!(last_line("\n \n"), None);
    }

    #[test]
    fn tail_cuts_at_a_char_boundary() {
        assert_eq!(tail("abc\ndef", 5), "c | def");
        assert_eq!(tail("é", 1), "");
        assert_eq!(tail("  x  ", 10), "x");
    }
}
