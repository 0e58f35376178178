//! Facts about the machine and the tools, recorded with the results.

use serde::Serialize;
use std::process::Command;

/// What the results were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// The command line.
    pub command_line: Vec<String>,
    /// UTC start time stamp.
    pub started_utc: String,
    /// Kernel release.
    pub kernel: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// /proc/loadavg at the start.
    pub loadavg_start: String,
    /// /proc/loadavg at the end.
    pub loadavg_end: String,
    /// The host's TCP congestion control (new namespaces start with it).
    pub tcp_congestion_control: String,
    /// `zstd --version`.
    pub zstd_version: String,
    /// `rsync --version`, first line.
    pub rsync_version: String,
    /// `dwcp-linkem --version`.
    pub linkem_version: String,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The first line `program args` prints (stdout, else stderr).
pub fn first_line_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The current /proc/loadavg.
pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
}

impl Meta {
    /// Collects them now (`loadavg_end` is set at the end).
    pub fn collect(linkem: &std::path::Path) -> Self {
        Self {
            command_line: std::env::args().collect(),
            started_utc: crate::units::utc_stamp(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
            tcp_congestion_control: read_trimmed("/proc/sys/net/ipv4/tcp_congestion_control"),
            zstd_version: first_line_of("zstd", &["--version"]),
            rsync_version: first_line_of("rsync", &["--version"]),
            linkem_version: first_line_of(&linkem.to_string_lossy(), &["--version"]),
        }
    }
}
