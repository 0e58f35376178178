//! The guests migrated: `dwcp-guest-sim` with random or realistic memory
//! dirtying it, or replaying the real snapshots t05s -> t30s.

use crate::child::{describe, Proc};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a guest may take to fill its memory (or load the replay).
pub const READY_DEADLINE: Duration = Duration::from_secs(180);
/// How long a stopped guest may take to reach state `T`.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Which guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// Random (incompressible) memory, few dirty pages.
    Incompressible,
    /// The stand-in's realistic mix, dirtying a hot set.
    Realistic,
    /// The real 1 GiB guest: t05s replaying the change to t30s.
    Snapshots,
}

impl GuestKind {
    /// Every kind, in the order they run.
    pub const ALL: [GuestKind; 3] = [Self::Incompressible, Self::Realistic, Self::Snapshots];

    /// Its name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Incompressible => "incompressible",
            Self::Realistic => "realistic",
            Self::Snapshots => "snapshots",
        }
    }
}

/// How a guest is started.
#[derive(Debug, Clone)]
pub enum GuestSpec {
    /// `--fill MODE --dirty-rate RATE --pattern PATTERN`.
    Dirtying {
        /// Memory size in bytes.
        size: u64,
        /// `random` or `realistic`.
        fill: &'static str,
        /// Bytes per second.
        dirty_rate: u64,
        /// `uniform` or `hotset`.
        pattern: &'static str,
    },
    /// `--replay-from FROM --replay-to TO --replay-secs SECS`.
    Replay {
        /// The starting image.
        from: PathBuf,
        /// The final image.
        to: PathBuf,
        /// Seconds the change is spread over.
        secs: f64,
    },
}

impl GuestSpec {
    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Dirtying {
                size,
                fill,
                dirty_rate,
                pattern,
            } => format!(
                "{} {fill} memory, dirtying {} KiB/s ({pattern})",
                crate::units::format_size(*size),
                dirty_rate >> 10
            ),
            Self::Replay { secs, .. } => {
                format!("real 1 GiB guest t05s replaying its change to t30s over {secs} s")
            }
        }
    }
}

/// A running guest stand-in; killed when dropped.
#[derive(Debug)]
pub struct Guest {
    proc: Proc,
    memory: PathBuf,
}

impl Guest {
    /// Starts `guest-sim` on `memory` and waits until it is ready.
    pub fn start(
        guest_sim: &Path,
        spec: &GuestSpec,
        memory: &Path,
        seed: u64,
        log_dir: &Path,
        name: &str,
    ) -> Result<Self> {
        let ready = log_dir.join(format!("{name}.ready"));
        crate::files::remove(&ready);
        let mut command = Command::new(guest_sim);
        command.arg("--memory").arg(memory);
        match spec {
            GuestSpec::Dirtying {
                size,
                fill,
                dirty_rate,
                pattern,
            } => {
                command
                    .arg("--size")
                    .arg(size.to_string())
                    .args(["--fill", fill, "--pattern", pattern])
                    .arg("--dirty-rate")
                    .arg(dirty_rate.to_string());
            }
            GuestSpec::Replay { from, to, secs } => {
                command
                    .arg("--size")
                    .arg(crate::units::GIB.to_string())
                    .arg("--replay-from")
                    .arg(from)
                    .arg("--replay-to")
                    .arg(to)
                    .arg("--replay-secs")
                    .arg(secs.to_string());
            }
        }
        command
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--ready-file")
            .arg(&ready);
        let mut proc = Proc::spawn(name, command, log_dir)?;
        let deadline = Instant::now() + READY_DEADLINE;
        while !ready.exists() {
            if let Some(status) = proc.try_status() {
                bail!(
                    "the guest exited ({}) before it was ready: {}",
                    describe(status),
                    proc.stderr_tail(600)
                );
            }
            if Instant::now() >= deadline {
                bail!("the guest was not ready within {READY_DEADLINE:?}");
            }
            crate::interrupt::sleep(Duration::from_millis(20))?;
        }
        crate::files::remove(&ready);
        Ok(Self {
            proc,
            memory: memory.to_path_buf(),
        })
    }

    /// Its pid (what `--pause-pid` stops).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Its memory file.
    pub fn memory(&self) -> &Path {
        &self.memory
    }

    /// Its log (stderr), where the replay says when it is complete.
    pub fn log_path(&self, log_dir: &Path) -> PathBuf {
        log_dir.join(format!("{}.err", self.proc.name()))
    }

    /// SIGSTOP (if not stopped already) and waits for state `T`, so that
    /// its memory is a static image.
    pub fn freeze(&mut self) -> Result<()> {
        self.proc.signal(libc::SIGSTOP);
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if self.state() == Some('T') {
                return Ok(());
            }
            if let Some(status) = self.proc.try_status() {
                bail!("the guest exited ({})", describe(status));
            }
            if Instant::now() >= deadline {
                bail!("the guest did not stop within {STOP_DEADLINE:?}");
            }
            crate::interrupt::sleep(Duration::from_millis(5))?;
        }
    }

    /// Its state letter from /proc/PID/stat (`R`, `S`, `T`, ...).
    pub fn state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // The state follows the parenthesised command name.
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// Resumes it, asks it to exit, and reaps it.
    pub fn finish(mut self) {
        self.proc.stop(Duration::from_secs(20));
    }
}
