//! `dwcp-controlplane`: the DWCP control plane process.
//!
//! `dwcp-controlplane run --config FILE` runs it (tokio): HTTP API and
//! Prometheus metrics, the mTLS listener for other control planes, and the
//! supervisor that programs the data plane through the shared-memory
//! tables. `check-config` validates a configuration and exits. Exit status:
//! 0 clean stop, 1 a runtime failure, 2 a bad configuration.
//!
//! `predict-eval --traces DIR... --horizon H` evaluates the bandwidth
//! predictors on trace files (docs/prediction.md): a table on stderr and,
//! as the last stdout line, one JSON object. Exit status: 0 a report, 1 no
//! usable trace, 2 bad arguments or an unusable `--model`.

use clap::{Args, Parser, Subcommand};
use dwcp_controlplane::config::ControlPlaneConfig;
use dwcp_controlplane::predict::eval::{error_chain, run_predict_eval, PredictEvalOptions};
use dwcp_controlplane::predict::trace::{CsvColumns, NameFilter, ParseOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "dwcp-controlplane", version, about = "DWCP control plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane until SIGTERM or Ctrl-C.
    Run {
        /// The TOML configuration (docs/controlplane-config.md).
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration (values and files) and exit.
    CheckConfig {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Evaluate the bandwidth predictors on trace files (docs/prediction.md).
    PredictEval(PredictEvalArgs),
}

/// `predict-eval` flags.
#[derive(Debug, Args)]
struct PredictEvalArgs {
    /// Trace directories (their files, not recursive) or files; repeatable.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    traces: Vec<PathBuf>,
    /// A learned model to evaluate beside the baselines (this build has none).
    #[arg(long, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Horizon: the mean throughput over the next H seconds is predicted.
    #[arg(long, value_name = "H")]
    horizon: f64,
    /// CSV traces: the throughput column, Mbit/s.
    #[arg(long, value_name = "NAME")]
    csv_column: Option<String>,
    /// CSV traces: a time column, seconds (default: one row per second).
    #[arg(long, value_name = "NAME", requires = "csv_column")]
    csv_time_column: Option<String>,
    /// Step of the series, seconds; the horizon must be a whole number of steps.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    step_s: f64,
    /// Only files in the directories whose names start with PREFIX; repeatable.
    #[arg(long, value_name = "PREFIX")]
    include_prefix: Vec<String>,
    /// Not the files in the directories whose names start with PREFIX; repeatable.
    #[arg(long, value_name = "PREFIX")]
    exclude_prefix: Vec<String>,
}

fn predict_eval(args: PredictEvalArgs) -> ExitCode {
    let options = PredictEvalOptions {
        traces: args.traces,
        filter: NameFilter {
            include_prefixes: args.include_prefix,
            exclude_prefixes: args.exclude_prefix,
        },
        model: args.model,
        horizon_s: args.horizon,
        parse: ParseOptions {
            step_s: args.step_s,
            csv: args.csv_column.map(|throughput| CsvColumns {
                throughput,
                time: args.csv_time_column,
            }),
        },
    };
    match run_predict_eval(&options) {
        Ok(run) => {
            eprint!("{}", run.render());
            println!("{}", run.report.to_json_line());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("dwcp-controlplane predict-eval: {}", error_chain(&err));
            ExitCode::from(if err.is_usage() { 2 } else { 1 })
        }
    }
}

fn load(path: &std::path::Path) -> Result<ControlPlaneConfig, ExitCode> {
    let config = ControlPlaneConfig::load(path).and_then(|c| c.validate_files().map(|()| c));
    config.map_err(|err| {
        eprintln!("dwcp-controlplane: {}: {err}", path.display());
        ExitCode::from(2)
    })
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(%err, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DWCP_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::PredictEval(args) => predict_eval(args),
        Command::CheckConfig { config } => match load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run { config } => {
            let config = match load(&config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("dwcp-controlplane: cannot start the runtime: {err}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(dwcp_controlplane::node::run(config, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("dwcp-controlplane: {:#}", anyhow::Error::from(err));
                    ExitCode::from(1)
                }
            }
        }
    }
}
