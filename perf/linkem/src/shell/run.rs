//! `dwcp-linkem run`: resolve the settings, build the topology, print the
//! ready line, forward until a termination signal, tear down, print the
//! exit line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use dwcp_linkem::profile::{self, resolve, ResolveContext, ResolvedLink, TRACES_DIR_ENV};

use super::capacity::forward_max_bps;
use super::cli::RunArgs;
use super::forwarder::{Forwarder, StopReason};
use super::netns::Topology;
use super::report::{print_line, process_cpu_secs, ExitLine, ReadyLine};
use super::signals::SignalFd;

/// The traces folder: `$DWCP_TRACES_DIR`, else
/// `../shared/data/bandwidth-traces` relative to the repository root.
pub fn traces_dir() -> PathBuf {
    match std::env::var_os(TRACES_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let relative = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/bandwidth-traces");
            std::fs::canonicalize(&relative).unwrap_or(relative)
        }
    }
}

fn resolve_link(args: &RunArgs) -> Result<(ResolvedLink, u64)> {
    let profile = profile::find(&args.profile).ok_or_else(|| {
        anyhow!(
            "unknown profile {:?} (`dwcp-linkem profiles` lists them)",
            args.profile
        )
    })?;
    let forward_max = match args.max_forward_mbit {
        // JUSTIFICATION: a positive Mbit/s figure far below 2^63 bit/s.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(mbit) if mbit.is_finite() && mbit > 0.0 => (mbit * 1e6) as u64,
        Some(mbit) => return Err(anyhow!("--max-forward-mbit {mbit} must be above 0")),
        None => forward_max_bps(args.mtu),
    };
    let context = ResolveContext {
        scale: args.scale()?,
        forward_max_bps: forward_max,
        mtu: args.mtu,
        traces_dir: traces_dir(),
    };
    let link = resolve(profile, &args.overrides()?, &context)?;
    Ok((link, forward_max))
}

/// Runs the emulator. Errors before the ready line print
/// `{"ready":false,"error":..}`; after it, the exit line carries the error.
pub fn main(args: &RunArgs) -> ExitCode {
    let signals = match SignalFd::block_termination_signals() {
        Ok(signals) => signals,
        Err(error) => return not_ready(&anyhow!(error).context("cannot block signals")),
    };
    let (link, forward_max) = match resolve_link(args) {
        Ok(resolved) => resolved,
        Err(error) => return not_ready(&error),
    };
    let mut topology = match args.topology().and_then(Topology::build) {
        Ok(topology) => topology,
        Err(error) => return not_ready(&error),
    };
    let outcome = forward(args, &link, forward_max, &topology, &signals);
    // Tear down before the last line, so that a reader of the exit line
    // knows the namespaces and devices are gone.
    let teardown = topology.teardown();
    if let Err(error) = &teardown {
        eprintln!("dwcp-linkem: teardown failed: {error:#}");
    }
    match outcome {
        Outcome::NotReady(error) => not_ready(&error),
        Outcome::Ran(mut line, forwarded) => {
            if let (Err(error), None) = (&teardown, &line.error) {
                line.error = Some(format!("teardown: {error:#}"));
            }
            if let Err(error) = print_line(&line) {
                eprintln!("dwcp-linkem: cannot print the exit line: {error}");
            }
            if let Err(error) = &forwarded {
                eprintln!("dwcp-linkem: error: {error:#}");
            }
            if forwarded.is_ok() && teardown.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// How `forward` ended.
enum Outcome {
    /// Failed before the ready line.
    NotReady(anyhow::Error),
    /// Forwarded; the exit line to print and how the loop ended.
    Ran(Box<ExitLine>, Result<StopReason>),
}

fn not_ready(error: &anyhow::Error) -> ExitCode {
    eprintln!("dwcp-linkem: error: {error:#}");
    let line = serde_json::json!({ "ready": false, "error": format!("{error:#}") });
    // The caller waits for a line; if stdout is gone there is no one to tell.
    let _ = print_line(&line);
    ExitCode::FAILURE
}

fn forward(
    args: &RunArgs,
    link: &ResolvedLink,
    forward_max: u64,
    topology: &Topology,
    signals: &SignalFd,
) -> Outcome {
    let mtu = topology.config().mtu as usize;
    let mut forwarder = match Forwarder::new(
        topology.tun_a(),
        topology.tun_b(),
        link.a2b.clone(),
        link.b2a.clone(),
        args.seed,
        mtu,
        signals,
    ) {
        Ok(forwarder) => forwarder,
        Err(error) => return Outcome::NotReady(error),
    };
    let ready = ReadyLine::new(topology.config(), link, forward_max, args.seed);
    if let Err(error) = print_line(&ready).context("cannot print the ready line") {
        return Outcome::NotReady(error);
    }
    tracing::info!(
        profile = link.profile,
        scale = link.scale,
        rings = ?forwarder.ring_sizes(),
        "forwarding between {} and {}",
        topology.config().a.ns,
        topology.config().b.ns
    );
    super::sched::apply(args.nice);
    let started = Instant::now();
    let outcome = forwarder.run();
    let run_secs = started.elapsed().as_secs_f64();
    let [a2b, b2a] = forwarder.finish();
    let (reason, signal, error) = match &outcome {
        Ok(StopReason::Signal(signal)) => ("signal", Some(*signal), None),
        Err(error) => ("error", None, Some(format!("{error:#}"))),
    };
    let line = ExitLine {
        exit: true,
        reason,
        signal,
        error,
        run_secs,
        cpu_secs: process_cpu_secs(),
        a2b,
        b2a,
    };
    Outcome::Ran(Box::new(line), outcome)
}
