//! The `place-eval` subcommand of `dwcp-controlplane`: its flags and its
//! body, kept here so that `main.rs` only names them.
//!
//! Output contract: a human summary on stderr, then exactly one JSON object
//! ([`PlaceEvalReport`](super::eval::PlaceEvalReport)) as the last stdout
//! line whenever the graph could be read. Exit status: 0 a valid partition,
//! 1 no valid partition (unreadable graph, or a balance constraint that
//! cannot be or was not met: `valid: false` and `error` say which), 2 bad
//! arguments.

use super::eval::{run_place_eval, PlaceEvalOptions};
use super::partition::{DEFAULT_TRIES, DEFAULT_VCYCLES};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `place-eval` flags.
#[derive(Debug, Args)]
pub struct PlaceEvalArgs {
    /// The graph, in METIS format (vertex and edge weights optional).
    #[arg(long, value_name = "FILE")]
    pub graph: PathBuf,
    /// Number of parts K.
    #[arg(long, value_name = "K")]
    pub parts: usize,
    /// Allowed imbalance EPS: every part weighs at most (1+EPS)·W/K.
    #[arg(long, value_name = "EPS")]
    pub imbalance: f64,
    /// Seed of every random choice (same seed, same partition).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Independent multilevel runs; the best is kept.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TRIES)]
    pub tries: usize,
    /// V-cycles on the best partition after the tries.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_VCYCLES)]
    pub vcycles: usize,
}

/// Runs `place-eval` (see the module docs for output and exit status).
pub fn place_eval_command(args: PlaceEvalArgs) -> ExitCode {
    let options = PlaceEvalOptions {
        graph: args.graph,
        parts: args.parts,
        imbalance: args.imbalance,
        seed: args.seed,
        tries: args.tries,
        vcycles: args.vcycles,
    };
    match run_place_eval(&options) {
        Ok(report) => {
            eprintln!(
                "{}: {} vertices, {} edges, k={} eps={}: edge cut {}, imbalance {}, {:.3} s, {}",
                options.graph.display(),
                report.vertices,
                report.edges,
                report.parts,
                report.epsilon,
                report.edge_cut.map_or("-".into(), |c| c.to_string()),
                report.imbalance.map_or("-".into(), |i| format!("{i:.4}")),
                report.seconds,
                if report.valid { "valid" } else { "NOT VALID" }
            );
            if let Some(error) = &report.error {
                eprintln!("dwcp-controlplane place-eval: {error}");
            }
            println!("{}", report.to_json_line());
            ExitCode::from(if report.valid { 0 } else { 1 })
        }
        Err(err) => {
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            eprintln!("dwcp-controlplane place-eval: {message}");
            ExitCode::from(if err.is_usage() { 2 } else { 1 })
        }
    }
}
