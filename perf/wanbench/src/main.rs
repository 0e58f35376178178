//! `dwcp-wan-bench`: DWCP against one TCP stream, `zstd -1 -T0 | TCP` and
//! rsync on WAN links emulated by `dwcp-linkem`, each transfer on a fresh
//! link, every copy checked byte for byte. See docs/performance.md.
//!
//! Exit status: 0 no transfer failed and no primary target missed; 3 a
//! transfer failed (ERROR) or a target was missed (MISS), results written;
//! 1 the tool failed; 130 interrupted.

mod bench;
mod child;
mod cli;
mod dwcp;
mod files;
mod guest;
mod linkem;
mod meta;
mod output;
mod peers;
mod report;
mod row;
mod snapshots;
mod targets;
mod tcp_copy;
mod transfer;
mod units;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Command, RunArgs};
use dwcp_perf_support::{interrupt, listen};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status when a transfer failed or a target was missed.
const EXIT_MISS: u8 = 3;
/// Exit status after Ctrl-C / SIGTERM.
const EXIT_INTERRUPTED: u8 = 130;
/// Commands a run needs besides the built binaries.
const TOOLS: [&str; 5] = ["ip", "bash", "grep", "zstd", "rsync"];

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::TcpSend { connect, input } => {
            tcp_copy::send(connect, &input).map(|()| ExitCode::SUCCESS)
        }
        Command::TcpRecv {
            listen,
            output,
            accept_timeout_s,
        } => tcp_copy::recv(listen, &output, Duration::from_secs(accept_timeout_s))
            .map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dwcp-wan-bench: error: {e:#}");
            if interrupt::requested() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// True when `name` is an executable on PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// The profiles `dwcp-linkem profiles --json` lists.
fn linkem_profiles(linkem: &Path) -> Result<Vec<String>> {
    let out = std::process::Command::new(linkem)
        .args(["profiles", "--json"])
        .output()
        .context("running dwcp-linkem profiles --json")?;
    if !out.status.success() {
        bail!(
            "dwcp-linkem profiles --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .context("dwcp-linkem profiles --json is not a JSON array")?;
    Ok(list
        .iter()
        .filter_map(|p| p.get("name")?.as_str().map(str::to_owned))
        .collect())
}

fn run(args: RunArgs) -> Result<ExitCode> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root: the emulated link is a pair of network namespaces");
    }
    interrupt::install()?;
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        bail!("missing commands {missing:?}: install them (perf/wan-bench.sh does, with apt-get)");
    }
    let bins = bench::Bins::find(&args.bin_dir)?;
    let known = linkem_profiles(&bins.linkem)?;
    let profiles = if args.profiles.is_empty() {
        known.clone()
    } else {
        for p in &args.profiles {
            if !known.contains(p) {
                bail!("unknown profile {p:?}; dwcp-linkem has {known:?}");
            }
        }
        args.profiles.clone()
    };
    let out: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("perf/out/wan-{}", units::utc_stamp())));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut meta = meta::Meta::collect(&bins.linkem);
    let shm_free = files::free_bytes(Path::new("/dev/shm"))?;
    let shm_need = 4 * args.size.max(units::GIB) + 3 * units::GIB;
    if shm_free < shm_need {
        tracing::warn!(
            "/dev/shm has {:.1} GiB free; a run of this size may need {:.1} GiB",
            shm_free as f64 / units::GIB as f64,
            shm_need as f64 / units::GIB as f64
        );
    }
    tracing::info!(out = %out.display(), ?profiles, size = %units::format_size(args.size), "dwcp-wan-bench");
    let mut bench = bench::Bench::new(args, bins, &out)?;
    let mut results = Vec::new();
    for profile in &profiles {
        let result = bench.run_profile(profile)?;
        results.push(result);
        meta.loadavg_end = meta::loadavg();
        output::write(&out, &meta, &results)?;
    }
    drop(bench);
    for result in &results {
        println!("{}", result.markdown());
    }
    println!(
        "Written: {} and {}",
        out.join(output::MARKDOWN).display(),
        out.join(output::RESULTS).display()
    );
    for result in &results {
        println!("{}", result.json_line());
    }
    Ok(if results.iter().all(report::ProfileResult::all_good) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_MISS)
    })
}
