//! `dwcp-perf`: DWCP benchmarks. See perf/README.md.
//!
//! Exit status: 0 every target met and every run succeeded; 3 a target was
//! missed or a run failed (results are still written); 1 the tool failed.

mod bench;
mod child;
mod cli;
mod dwcp_run;
mod interrupt;
mod latency;
mod listen;
mod memfile;
mod report;
mod scratch;
mod stages;
mod stats;
mod summary;
mod tcp_peer;
mod throughput;

use anyhow::Result;
use bench::Bench;
use clap::Parser;
use cli::{Cli, Command, Common};
use report::{Meta, Report};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("dwcp-perf: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    interrupt::install()?;
    let (common, prefix) = match &cli.command {
        Command::Throughput { common, .. } => (common, "throughput"),
        Command::Latency { common, .. } => (common, "latency"),
        Command::All { common, .. } => (common, "all"),
        Command::Stages(args) => return stages::run(args),
    };
    let bench = setup(common)?;
    let mut report = Report {
        meta: Meta::collect(
            common.size,
            common.seed,
            common.child_timeout_s,
            pin_label(common.pin),
        ),
        throughput: None,
        latency: None,
    };
    let runs = usize::from(common.runs);
    match &cli.command {
        Command::Throughput { throughput, .. } => {
            report.throughput = Some(throughput::run(
                &bench,
                runs,
                &throughput.modes,
                &throughput.streams,
            )?);
        }
        Command::Latency { latency, .. } => {
            report.latency = Some(latency::run(&bench, runs, latency.mode, &latency.streams)?);
        }
        Command::Stages(_) => {}
        Command::All {
            throughput,
            latency,
            ..
        } => {
            report.throughput = Some(throughput::run(
                &bench,
                runs,
                &throughput.modes,
                &throughput.streams,
            )?);
            let latency = cli::LatencyArgs::from(latency);
            report.latency = Some(latency::run(&bench, runs, latency.mode, &latency.streams)?);
        }
    }
    drop(bench);
    report.meta.loadavg_end = report::loadavg();
    let written = report.write(&common.out, prefix)?;
    println!("{}", report.markdown());
    for path in written {
        eprintln!("dwcp-perf: wrote {}", path.display());
    }
    if let Some(t) = &report.throughput {
        for c in t
            .configs
            .iter()
            .filter(|c| c.verdict != throughput::Verdict::Pass)
        {
            eprintln!(
                "dwcp-perf: {}: {} x {} streams: ratio_vs_tcp {} (target >= {:.2}), {}/{} runs ok",
                c.verdict.label(),
                c.mode.name(),
                c.streams,
                c.ratio_vs_tcp
                    .map_or_else(|| "n/a".into(), |r| format!("{r:.3}")),
                c.target_ratio,
                c.runs_ok,
                c.runs.len()
            );
        }
    }
    let ok = report.ok();
    if !ok {
        eprintln!("dwcp-perf: a target was MISSED or a run FAILED (see the table); exit status 3");
    }
    Ok(ok)
}

fn setup(common: &Common) -> Result<Bench> {
    Bench::new(
        &common.bin_dir,
        common.size,
        common.seed,
        Duration::from_secs(common.child_timeout_s),
        pinning(common.pin),
    )
}

fn pin_label(pin: cli::PinArg) -> String {
    match (pin, pinning(pin)) {
        (cli::PinArg::Split | cli::PinArg::Hosts, Some(p)) => format!(
            "{}: source engine {} transport {}, destination decoder {} transport {}",
            if pin == cli::PinArg::Split {
                "split"
            } else {
                "hosts"
            },
            p.source_engine,
            p.source_transport,
            p.destination_decoder,
            p.destination_transport
        ),
        (cli::PinArg::Split, None) => "split: fewer than 4 cores, unpinned".into(),
        (cli::PinArg::Hosts, None) => "hosts: 1 core, unpinned".into(),
        (cli::PinArg::Default, _) => "default (dwcp-dataplane's own)".into(),
    }
}

fn pinning(pin: cli::PinArg) -> Option<dwcp_run::Pinning> {
    match pin {
        cli::PinArg::Split => dwcp_run::Pinning::split(&affinity_core_ids()),
        cli::PinArg::Hosts => dwcp_run::Pinning::hosts(&affinity_core_ids()),
        cli::PinArg::Default => None,
    }
}

/// The core ids this process may run on (its affinity mask), ascending.
fn affinity_core_ids() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}
