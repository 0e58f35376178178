//! The `place-scenario` subcommand of `dwcp-controlplane`: its flags and
//! its body, kept here so that `main.rs` only names them.
//!
//! Output contract: a summary on stderr, then one JSON object
//! ([`ScenarioReport`](super::scenario::ScenarioReport)) as the last stdout
//! line. Exit status: 0 every verdict holds, 3 a verdict missed, 1 the
//! scenario could not be placed (the error, naming the constraint, on
//! stderr and as `{"error": ...}` on stdout), 2 bad arguments.

use super::generator::ScenarioSpec;
use super::scenario::{run_scenario, Outcome};
use clap::Args;
use std::process::ExitCode;

/// The most VMs a scenario may have.
pub const SCENARIO_MAX_VMS: usize = 20_000;

/// The most regions a scenario may have.
pub const SCENARIO_MAX_REGIONS: usize = 16;

/// `place-scenario` flags.
#[derive(Debug, Args)]
pub struct PlaceScenarioArgs {
    /// VMs (2..=20000).
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub vms: usize,
    /// Regions (1..=16).
    #[arg(long, value_name = "R", default_value_t = 3)]
    pub regions: usize,
    /// Seed of the generator and of every random choice.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
}

/// Runs `place-scenario` (see the module docs for output and exit status).
pub fn place_scenario_command(args: PlaceScenarioArgs) -> ExitCode {
    if !(2..=SCENARIO_MAX_VMS).contains(&args.vms)
        || !(1..=SCENARIO_MAX_REGIONS).contains(&args.regions)
    {
        eprintln!(
            "dwcp-controlplane place-scenario: --vms must be 2..={SCENARIO_MAX_VMS} and --regions 1..={SCENARIO_MAX_REGIONS}"
        );
        return ExitCode::from(2);
    }
    let spec = ScenarioSpec {
        vms: args.vms,
        regions: args.regions,
        seed: args.seed,
    };
    match run_scenario(&spec) {
        Ok(report) => {
            let (s, a) = (&report.shift, &report.app_shift);
            eprintln!(
                "place-scenario: {} VMs, {} regions, {} hosts, seed {}: X/T {:.4} (greedy first-fit {:.4}, {:.1}% less), LIF {:.4}, {:.3} s",
                report.vms,
                report.regions,
                report.hosts,
                report.seed,
                report.placement.cross_share,
                report.greedy_first_fit.cross_share,
                100.0 * report.cross_reduction_vs_first_fit,
                report.placement.lif_regions,
                report.seconds,
            );
            for shift in [s, a] {
                eprintln!(
                    "place-scenario: {:?} shift: X/T {:.4} -> {:.4} ({:?}), {} moves, {} MiB = {:.3} of a re-placement's {} MiB",
                    shift.kind,
                    shift.cross_share_before,
                    shift.cross_share_after,
                    shift.status,
                    shift.moves,
                    shift.moved_memory_mib,
                    shift.memory_ratio,
                    shift.replacement_moved_memory_mib,
                );
            }
            let v = &report.verdicts;
            eprintln!(
                "place-scenario: {}",
                match report.outcome {
                    Outcome::Pass => "PASS".to_owned(),
                    Outcome::Miss => format!("MISS {v:?}"),
                    Outcome::Unreachable => format!(
                        "UNREACHABLE (not a pass): a full re-placement leaves X/T at {:.4}, above the threshold; {v:?}",
                        s.replacement_cross_share
                    ),
                }
            );
            println!("{}", report.to_json_line());
            ExitCode::from(if report.pass { 0 } else { 3 })
        }
        Err(err) => {
            eprintln!("dwcp-controlplane place-scenario: {err}");
            println!(
                "{}",
                serde_json::json!({"error": err.to_string(), "constraint": err.constraint()})
            );
            ExitCode::from(1)
        }
    }
}
