//! One emulated link: `dwcp-linkem run --profile P` with namespaces of our
//! own names, its ready line, and its per-direction counters at exit.

use crate::child::{describe, Proc};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the emulator may take to print its ready line.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long it may take to tear down and print its exit line after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

/// What the ready line says about the link (A to B), as emulated.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    /// Namespace A (senders).
    pub ns_a: String,
    /// Namespace B (receivers).
    pub ns_b: String,
    /// Address in B.
    pub addr_b: String,
    /// Profile name.
    pub profile: String,
    /// Mean rate A to B after any scaling, bit/s.
    pub rate_bps: u64,
    /// Round-trip propagation delay, µs.
    pub rtt_us: u64,
    /// Random loss A to B.
    pub loss: f64,
    /// Rate scale the emulator applied (1 = the profile's rate).
    pub scale: f64,
}

/// One direction's counters from the exit line.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
pub struct Counters {
    /// Packets that entered the link.
    pub packets_in: u64,
    /// IP bytes that entered the link (headers and retransmissions included).
    pub bytes_in: u64,
    /// Packets delivered.
    pub packets_out: u64,
    /// Bytes delivered.
    pub bytes_out: u64,
    /// Dropped by random or bursty loss.
    pub dropped_loss: u64,
    /// Dropped by the bottleneck queue.
    pub dropped_queue: u64,
    /// Dropped because the forwarder's ring was full.
    #[serde(default)]
    pub dropped_ring: u64,
}

/// The exit line's counters, both directions.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
pub struct Traffic {
    /// A to B (sender to receiver).
    pub a2b: Counters,
    /// B to A (acknowledgements, replies).
    pub b2a: Counters,
}

/// A running emulator; stopped (namespaces removed) when dropped.
#[derive(Debug)]
pub struct Link {
    proc: Option<Proc>,
    ready: Ready,
    ready_json: Value,
}

/// Namespace names of this tool's process: `wb<pid>a|b` (dwcp-linkem
/// takes at most 15 characters; a pid has at most 7 digits).
pub fn namespace_names() -> (String, String) {
    let pid = std::process::id();
    (format!("wb{pid}a"), format!("wb{pid}b"))
}

impl Link {
    /// Starts `linkem run --profile profile` (plus `extra` arguments) with
    /// this process's namespace names, and waits for its ready line.
    pub fn start(
        linkem: &Path,
        profile: &str,
        extra: &[String],
        log_dir: &Path,
        name: &str,
    ) -> Result<Self> {
        let (ns_a, ns_b) = namespace_names();
        remove_namespace(&ns_a);
        remove_namespace(&ns_b);
        let mut command = Command::new(linkem);
        command
            .args([
                "run",
                "--profile",
                profile,
                "--ns-a",
                &ns_a,
                "--ns-b",
                &ns_b,
            ])
            .args(extra);
        let mut proc = Proc::spawn(name, command, log_dir)?;
        let deadline = Instant::now() + READY_DEADLINE;
        let line = loop {
            let out = proc.stdout();
            if let Some((line, _)) = out.split_once('\n') {
                break line.to_owned();
            }
            if let Some(status) = proc.try_status() {
                bail!(
                    "dwcp-linkem exited ({}) before its ready line: {}",
                    describe(status),
                    proc.stderr_tail(600)
                );
            }
            if Instant::now() >= deadline {
                bail!("dwcp-linkem printed no ready line within {READY_DEADLINE:?}");
            }
            crate::interrupt::sleep(Duration::from_millis(10))?;
        };
        let ready_json: Value = serde_json::from_str(&line)
            .with_context(|| format!("dwcp-linkem's first line is not JSON: {line}"))?;
        if ready_json.get("ready") != Some(&Value::Bool(true)) {
            bail!("dwcp-linkem is not ready: {line}");
        }
        let ready: Ready = serde_json::from_value(ready_json.clone())
            .with_context(|| format!("dwcp-linkem's ready line lacks a field: {line}"))?;
        if ready.profile != profile {
            bail!(
                "dwcp-linkem runs profile {:?}, not {profile:?}",
                ready.profile
            );
        }
        if ready.rate_bps == 0 {
            bail!("dwcp-linkem reports a rate of 0: {line}");
        }
        Ok(Self {
            proc: Some(proc),
            ready,
            ready_json,
        })
    }

    /// The ready line, parsed.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The ready line as printed.
    pub fn ready_json(&self) -> &Value {
        &self.ready_json
    }

    /// SIGTERM, wait for the exit line, return its counters.
    pub fn stop(mut self) -> Result<Traffic> {
        let mut proc = self.proc.take().context("the link was stopped already")?;
        let status = stop_emulator(&mut proc, &self.ready);
        let exit = proc.last_stdout_line().unwrap_or_default();
        let value: Value = serde_json::from_str(&exit).unwrap_or(Value::Null);
        if value.get("exit") != Some(&Value::Bool(true)) {
            bail!(
                "dwcp-linkem printed no exit line ({}): {}",
                status.map_or_else(|| "killed".into(), describe),
                proc.stderr_tail(600)
            );
        }
        serde_json::from_value(value).with_context(|| format!("dwcp-linkem's exit line: {exit}"))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            stop_emulator(&mut proc, &self.ready);
        }
    }
}

fn stop_emulator(proc: &mut Proc, ready: &Ready) -> Option<std::process::ExitStatus> {
    // SIGTERM to the emulator alone: it removes its namespaces itself.
    proc.signal(libc::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while proc.try_status().is_none() && Instant::now() < deadline {
        std::thread::sleep(crate::child::POLL_INTERVAL);
    }
    let status = proc.try_status();
    proc.kill();
    // Whatever it left (killed, or a teardown failure).
    remove_namespace(&ready.ns_a);
    remove_namespace(&ready.ns_b);
    status
}

/// The bind mount of a named namespace.
fn namespace_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// `ip netns delete name` if it exists.
pub fn remove_namespace(name: &str) {
    if namespace_path(name).exists() {
        let _ = Command::new("ip")
            .args(["netns", "delete", name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `command` run inside namespace `ns` with `ip netns exec`.
pub fn in_namespace(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: &str = r#"{"ready":true,"pid":1,"ns_a":"a","ns_b":"b","dev":"linkem0","addr_a":"10.77.0.1","addr_b":"10.77.0.2","prefix_len":24,"mtu":1500,"profile":"internet","scale":1.0,"forward_max_bps":1000000000,"rate_bps":200000000,"one_way_delay_us":50000,"rtt_us":100000,"loss":0.005,"seed":1}"#;
    const EXIT: &str = r#"{"exit":true,"reason":"signal","signal":15,"error":null,"run_secs":1.0,"cpu_secs":0.1,"a2b":{"packets_in":3,"bytes_in":4500,"packets_out":2,"bytes_out":3000,"dropped_loss":1,"dropped_queue":0,"dropped_ring":0,"write_errors":0},"b2a":{"packets_in":2,"bytes_in":104,"packets_out":2,"bytes_out":104,"dropped_loss":0,"dropped_queue":0}}"#;

    #[test]
    fn namespace_names_fit_linkem() {
        let (a, b) = namespace_names();
        assert_ne!(a, b);
        for name in [a, b] {
            assert!((1..=15).contains(&name.len()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
    }

    #[test]
    fn ready_line_parses() {
        let ready: Ready = serde_json::from_str(READY).expect("parses");
        assert_eq!(ready.rate_bps, 200_000_000);
        assert_eq!(ready.rtt_us, 100_000);
        assert_eq!(ready.addr_b, "10.77.0.2");
        assert!((ready.loss - 0.005).abs() < 1e-12);
    }

    #[test]
    fn exit_line_parses() {
        let traffic: Traffic = serde_json::from_str(EXIT).expect("parses");
        assert_eq!(traffic.a2b.bytes_in, 4500);
        assert_eq!(traffic.a2b.dropped_loss, 1);
        assert_eq!(traffic.b2a.bytes_in, 104);
        assert_eq!(traffic.b2a.dropped_ring, 0, "defaults when absent");
    }
}
