//! A flamegraph of one loopback migration: `perf record -e cpu-clock` (works
//! in VMs without hardware counters; samples weigh nanoseconds of CPU) with
//! DWARF call graphs (release builds keep no frame pointers) of the receiver
//! and of the source, `perf script` of each, collapsed with inferno, each stack
//! prefixed with its role (`source;` / `destination;`), drawn as one SVG.

use crate::child::{Exit, Guarded};
use crate::dwcp_run::describe;
use anyhow::{bail, Context, Result};
use inferno::collapse::Collapse as _;
use std::ffi::OsString;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Sampling frequency, Hz (odd, so it does not beat with periodic work).
pub const FREQUENCY_HZ: u32 = 499;
/// `perf script` of one recording may take this long.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The availability probe may take this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `perf record` works here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It does.
    Available,
    /// Why not (no binary, or perf_event not permitted).
    Unavailable(String),
}

/// Runs `perf record -q -o DIR/probe.data -- true`.
pub fn probe(dir: &Path) -> Availability {
    let mut command = Command::new("perf");
    command
        .args(["record", "-q", "-o"])
        .arg(dir.join("probe.data"))
        .args(["--", "true"]);
    let outcome = Guarded::spawn("perf-probe", command, dir)
        .and_then(|mut child| Ok((child.wait(PROBE_TIMEOUT)?, child.stderr_tail(300))));
    let _ = std::fs::remove_file(dir.join("probe.data"));
    match outcome {
        Err(e) if format!("{e:#}").contains("No such file") => Availability::Unavailable(
            "perf (linux-perf) is not installed: apt-get install linux-perf".into(),
        ),
        Err(e) => Availability::Unavailable(format!("cannot run perf: {e:#}")),
        Ok((Exit::Exited(status), _)) if status.success() => Availability::Available,
        Ok((Exit::Exited(status), stderr)) => Availability::Unavailable(format!(
            "perf record is not permitted here (exit {status}; kernel.perf_event_paranoid = {}): {stderr}",
            crate::report::read_trimmed("/proc/sys/kernel/perf_event_paranoid")
        )),
        Ok((Exit::TimedOut, _)) => Availability::Unavailable("perf record hung".into()),
    }
}

/// The argument vector that records a program into `data`.
pub fn record_prefix(data: &Path) -> Vec<OsString> {
    let mut prefix: Vec<OsString> = ["perf", "record", "-q", "-e", "cpu-clock", "-F"]
        .iter()
        .map(OsString::from)
        .collect();
    prefix.push(FREQUENCY_HZ.to_string().into());
    prefix.extend(["--call-graph", "dwarf", "-o"].iter().map(OsString::from));
    prefix.push(data.as_os_str().to_owned());
    prefix.push("--".into());
    prefix
}

/// Collapses each `(role, perf.data)` and draws them as one SVG at `svg`.
/// Returns the command lines it ran.
pub fn render(recordings: &[(&str, &Path)], svg: &Path, scratch: &Path) -> Result<Vec<String>> {
    let mut commands = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for (role, data) in recordings {
        let mut script = Command::new("perf");
        script.args(["script", "--no-inline", "-i"]).arg(data);
        commands.push(describe(&script));
        let name = format!("perf-script-{role}");
        let mut child = Guarded::spawn(&name, script, scratch)?;
        match child.wait(SCRIPT_TIMEOUT)? {
            Exit::Exited(s) if s.success() => {}
            Exit::Exited(s) => bail!("perf script exited {s}: {}", child.stderr_tail(400)),
            Exit::TimedOut => bail!("perf script timed out after {SCRIPT_TIMEOUT:?}"),
        }
        let text = scratch.join(format!("{name}.out"));
        let reader = BufReader::new(
            std::fs::File::open(&text).with_context(|| format!("opening {}", text.display()))?,
        );
        let mut collapsed = Vec::new();
        let mut options = inferno::collapse::perf::Options::default();
        options.nthreads = 1;
        inferno::collapse::perf::Folder::from(options)
            .collapse(reader, &mut collapsed)
            .with_context(|| format!("collapsing the stacks of {}", data.display()))?;
        let collapsed = String::from_utf8_lossy(&collapsed);
        lines.extend(
            collapsed
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{role};{l}")),
        );
        let _ = std::fs::remove_file(&text);
    }
    if lines.is_empty() {
        bail!("perf recorded no samples");
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title =
        "DWCP loopback migration: source and destination (perf, dwarf call graphs)".into();
    // cpu-clock samples weigh their period: nanoseconds of CPU time.
    options.count_name = "ns of CPU".into();
    let file = std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?;
    inferno::flamegraph::from_lines(
        &mut options,
        lines.iter().map(String::as_str),
        std::io::BufWriter::new(file),
    )
    .with_context(|| format!("drawing {}", svg.display()))?;
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_with_the_separator() {
        let p = record_prefix(Path::new("/x/y.data"));
        assert_eq!(p.first().map(|s| s.as_os_str()), Some("perf".as_ref()));
        assert_eq!(p.last().map(|s| s.as_os_str()), Some("--".as_ref()));
        assert!(p.iter().any(|s| s == "/x/y.data"));
    }
}
