//! The emulated WAN link: a `dwcp-linkem run` child (docs/linkem.md) that
//! builds two network namespaces joined through its user-space link, prints
//! one JSON `ready` line on stdout, and tears everything down on SIGTERM.

use crate::child::Guarded;
use crate::dwcp_run::describe;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long `run` may take to print its ready line (it measures the
/// forwarding rate first).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM, how long it may take to tear down before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The fields of the ready line this tool uses (the rest is kept raw).
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    /// Namespace A (the source's).
    pub ns_a: String,
    /// Namespace B (the destination's).
    pub ns_b: String,
    /// Address in B.
    pub addr_b: IpAddr,
    /// Rate A to B after scaling, bit/s.
    pub rate_bps: u64,
    /// Configured round-trip propagation delay.
    pub rtt_us: u64,
    /// Rate scale applied.
    pub scale: f64,
}

/// A running emulator; stopped (SIGTERM, then SIGKILL and `cleanup`) on drop.
#[derive(Debug)]
pub struct Linkem {
    child: Guarded,
    binary: std::path::PathBuf,
    log_dir: std::path::PathBuf,
    /// Its ready line.
    pub ready: Ready,
    /// Its ready line as printed.
    pub ready_json: serde_json::Value,
    /// The command line that started it.
    pub command: String,
}

/// Why the WAN scenario cannot run here, if it cannot.
pub fn unavailable(binary: &Path) -> Option<String> {
    if !binary.is_file() {
        return Some(format!(
            "{} not found (cargo build --release -p dwcp-linkem)",
            binary.display()
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    None
}

impl Linkem {
    /// Starts `binary run --profile PROFILE --ns-a A --ns-b B` and waits for
    /// its ready line.
    pub fn start(
        binary: &Path,
        profile: &str,
        namespaces: (&str, &str),
        log_dir: &Path,
    ) -> Result<Self> {
        let mut command = Command::new(binary);
        command
            .arg("run")
            .args(["--profile", profile])
            .args(["--ns-a", namespaces.0])
            .args(["--ns-b", namespaces.1]);
        let text = describe(&command);
        let mut child = Guarded::spawn("linkem", command, log_dir)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let line = loop {
            if let Some(line) = child.stdout().lines().next().filter(|l| l.ends_with('}')) {
                break line.to_owned();
            }
            crate::interrupt::check()?;
            if let Some(status) = child.try_status() {
                bail!(
                    "dwcp-linkem exited ({status}) before it was ready: {}",
                    child.stderr_tail(400)
                );
            }
            if Instant::now() >= deadline {
                bail!("dwcp-linkem printed no ready line within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ready_json: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("dwcp-linkem's ready line is not JSON: {line:.200}"))?;
        if ready_json.get("ready") != Some(&serde_json::Value::Bool(true)) {
            bail!("dwcp-linkem is not ready: {line:.400}");
        }
        let ready: Ready = serde_json::from_value(ready_json.clone())
            .with_context(|| format!("dwcp-linkem's ready line: {line:.200}"))?;
        Ok(Self {
            child,
            binary: binary.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            ready,
            ready_json,
            command: text,
        })
    }

    /// Argument vector that runs a program inside namespace `ns`.
    pub fn exec_in(ns: &str) -> Vec<OsString> {
        ["ip", "netns", "exec", ns]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// SIGTERM, wait for the teardown; SIGKILL and `dwcp-linkem cleanup`
    /// if it takes too long. Returns what went wrong, if anything.
    pub fn stop(&mut self) -> Option<String> {
        if self.child.try_status().is_some() {
            return None;
        }
        let pid = libc::pid_t::try_from(self.child.pid()).unwrap_or(0);
        // SAFETY: kill(2) on our own, not yet reaped child: the pid cannot
        // have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_status() {
                return (!status.success()).then(|| {
                    format!(
                        "dwcp-linkem exited {status}: {}",
                        self.child.stderr_tail(400)
                    )
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill();
        let mut cleanup = Command::new(&self.binary);
        cleanup
            .arg("cleanup")
            .args(["--ns-a", &self.ready.ns_a])
            .args(["--ns-b", &self.ready.ns_b]);
        if let Ok(mut c) = Guarded::spawn("linkem-cleanup", cleanup, &self.log_dir) {
            let _ = c.wait(Duration::from_secs(10));
        }
        Some(format!(
            "dwcp-linkem did not stop within {STOP_TIMEOUT:?}; killed"
        ))
    }

    /// True while it runs.
    pub fn running(&mut self) -> bool {
        self.child.try_status().is_none()
    }
}

impl Drop for Linkem {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
