//! The files of a run: `wan-bench.md` (the tables) and `results.json`
//! (everything, the emulator's lines and DWCP's summaries included),
//! rewritten after each profile so that an interrupted run keeps what it
//! measured.

use crate::meta::Meta;
use crate::report::ProfileResult;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// The markdown file's name.
pub const MARKDOWN: &str = "wan-bench.md";
/// The JSON file's name.
pub const RESULTS: &str = "results.json";

/// The whole markdown document.
pub fn markdown(meta: &Meta, results: &[ProfileResult]) -> String {
    let mut out = String::from("# DWCP on emulated WAN links (dwcp-wan-bench)\n\n");
    let _ = writeln!(
        out,
        "Started {} on {} CPUs, kernel {}, TCP congestion control {}; loadavg at start {}, at end {}.  ",
        meta.started_utc,
        meta.cpus,
        meta.kernel,
        meta.tcp_congestion_control,
        meta.loadavg_start,
        meta.loadavg_end
    );
    let _ = writeln!(
        out,
        "Tools: {}; {}; {}.  ",
        meta.zstd_version, meta.rsync_version, meta.linkem_version
    );
    let _ = writeln!(out, "Command: `{}`\n", meta.command_line.join(" "));
    out.push_str(
        "Time: sender start to both sides done (the copy complete at the destination). \
         Wire: IP bytes the sender side put on the emulated link (A to B; headers, \
         retransmissions and packets the link then dropped included), from the \
         emulator's counters; each transfer gets a fresh link. Goodput: image bytes \
         over time, as a fraction of the emulated rate. Every copy is compared byte \
         for byte with its source; a copy that differs is an ERROR row, never a time.\n\n",
    );
    for result in results {
        out.push_str(&result.markdown());
        out.push('\n');
    }
    out
}

/// Writes both files into `dir`.
pub fn write(dir: &Path, meta: &Meta, results: &[ProfileResult]) -> Result<()> {
    let md = dir.join(MARKDOWN);
    std::fs::write(&md, markdown(meta, results))
        .with_context(|| format!("writing {}", md.display()))?;
    let json = serde_json::json!({
        "meta": meta,
        "profiles": results,
        "lines": results.iter().map(ProfileResult::json_line).collect::<Vec<_>>(),
    });
    let path = dir.join(RESULTS);
    let text = serde_json::to_string_pretty(&json).context("serialising the results")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
