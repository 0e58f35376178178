//! A child process with its output in files, a hard deadline, and a kill on drop.

use crate::interrupt;
use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How a wait ended.
#[derive(Debug)]
pub enum Exit {
    /// The child exited by itself.
    Exited(ExitStatus),
    /// The deadline passed; the child was killed.
    TimedOut,
}

/// A running child; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Guarded {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
    status: Option<ExitStatus>,
}

impl Guarded {
    /// Spawns `command` with stdout/stderr to `<dir>/<name>.out|.err`.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Self> {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).context("creating a stdout file")?)
            .stderr(File::create(&stderr).context("creating a stderr file")?);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        Ok(Self {
            name: name.into(),
            child,
            stdout,
            stderr,
            started: Instant::now(),
            status: None,
        })
    }

    /// Process id.
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

    /// Waits until it exits or `limit` (from its start) passes, then kills it.
    /// Errors only on an interrupt (the child is killed by drop).
    pub fn wait(&mut self, limit: Duration) -> Result<Exit> {
        let deadline = self.started + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Ok(Exit::Exited(status));
            }
            interrupt::check()?;
            if Instant::now() >= deadline {
                self.kill();
                return Ok(Exit::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills and reaps it (no-op once it exited).
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The last `max` bytes of its stderr, for error messages.
    pub fn stderr_tail(&self, max: usize) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let text = text.trim();
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}
