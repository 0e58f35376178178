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
//!
//! `train-predictor --traces DIR... --out MODEL [--seed N]` trains the
//! bandwidth LSTM and writes its model file (docs/prediction.md §8). It
//! needs the `train` cargo feature (burn); without it the subcommand
//! only says how to build it. Exit status: 0 written, 1 no usable data or
//! the file cannot be written, 2 bad arguments or a build without the
//! feature.

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
    /// Train the bandwidth LSTM on trace files and write a model file.
    TrainPredictor(TrainPredictorArgs),
    /// Partition a METIS graph and report one JSON line (docs/placement.md).
    PlaceEval(dwcp_controlplane::place::command::PlaceEvalArgs),
    /// Place a generated VM-traffic scenario against greedy first-fit (docs/placement.md).
    PlaceScenario(dwcp_controlplane::place::scenario_command::PlaceScenarioArgs),
}

/// `train-predictor` flags.
#[cfg(feature = "train")]
#[derive(Debug, Args)]
struct TrainPredictorArgs {
    /// Trace directories (their files, not recursive) or files; repeatable.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    traces: Vec<PathBuf>,
    /// The model file to write (JSON).
    #[arg(long, value_name = "MODEL")]
    out: PathBuf,
    /// Seed of the weight initialisation and the example order.
    #[arg(long, value_name = "N", default_value_t = dwcp_controlplane::predict::train::DEFAULT_SEED)]
    seed: u64,
    /// Only files in the directories whose names start with PREFIX; repeatable.
    #[arg(long, value_name = "PREFIX")]
    include_prefix: Vec<String>,
    /// Not the files in the directories whose names start with PREFIX; repeatable.
    #[arg(long, value_name = "PREFIX")]
    exclude_prefix: Vec<String>,
    /// Epochs at most (default: the shipped model's setting).
    #[arg(long, value_name = "N")]
    max_epochs: Option<usize>,
    /// Examples per epoch (default: the shipped model's setting).
    #[arg(long, value_name = "N")]
    examples_per_epoch: Option<usize>,
    /// Hidden units (default: the shipped model's setting).
    #[arg(long, value_name = "N")]
    hidden: Option<usize>,
    /// Input window, seconds (default: the shipped model's setting).
    #[arg(long, value_name = "S")]
    window_s: Option<f64>,
}

/// `train-predictor` in a build without the `train` feature: any arguments.
#[cfg(not(feature = "train"))]
#[derive(Debug, Args)]
struct TrainPredictorArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

#[cfg(feature = "train")]
fn train_predictor(args: TrainPredictorArgs) -> ExitCode {
    use dwcp_controlplane::predict::train::{train_predictor, TrainOptions, TrainSettings};
    let defaults = TrainSettings::default();
    let options = TrainOptions {
        traces: args.traces,
        filter: NameFilter {
            include_prefixes: args.include_prefix,
            exclude_prefixes: args.exclude_prefix,
        },
        seed: args.seed,
        settings: TrainSettings {
            max_epochs: args.max_epochs.unwrap_or(defaults.max_epochs),
            examples_per_epoch: args
                .examples_per_epoch
                .unwrap_or(defaults.examples_per_epoch),
            hidden: args.hidden.unwrap_or(defaults.hidden),
            window_s: args.window_s.unwrap_or(defaults.window_s),
            ..defaults
        },
    };
    let outcome = match train_predictor(&options) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("dwcp-controlplane train-predictor: {}", error_chain(&err));
            return ExitCode::from(1);
        }
    };
    for err in &outcome.skipped {
        eprintln!("skipped: {}", error_chain(err));
    }
    let mut text = serde_json::to_string(&outcome.model).expect("a model serializes");
    text.push('\n');
    if let Err(err) = std::fs::write(&args.out, text) {
        eprintln!(
            "dwcp-controlplane train-predictor: cannot write {}: {err}",
            args.out.display()
        );
        return ExitCode::from(1);
    }
    let training = &outcome.model.training;
    eprintln!(
        "wrote {}: {} training, {} validation files ({} and {} examples), {} test files left \
         out; best epoch {} of {}; {:.1} s",
        args.out.display(),
        training.train_files.len(),
        training.validation_files.len(),
        outcome.examples.0,
        outcome.examples.1,
        training.test_files.len(),
        training.best_epoch,
        training.validation_loss.len(),
        outcome.elapsed_s
    );
    ExitCode::SUCCESS
}

#[cfg(not(feature = "train"))]
fn train_predictor(_args: TrainPredictorArgs) -> ExitCode {
    eprintln!(
        "dwcp-controlplane train-predictor: this binary was built without the `train` feature \
         (burn). Build and run it with:\n  cargo run --release -p dwcp-controlplane --bin \
         dwcp-controlplane --features train -- train-predictor --traces DIR... --out MODEL \
         [--seed N]\n(docs/prediction.md §8 has the command that trained the shipped model)"
    );
    ExitCode::from(2)
}

/// `predict-eval` flags.
#[derive(Debug, Args)]
struct PredictEvalArgs {
    /// Trace directories (their files, not recursive) or files; repeatable.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    traces: Vec<PathBuf>,
    /// A learned model to evaluate beside the baselines (a model file, e.g.
    /// controlplane/models/pba-lstm-v1.json).
    #[arg(long, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// With --model: skip the files the model was trained or validated on
    /// (without it, such files make the command fail).
    #[arg(long, requires = "model")]
    held_out_only: bool,
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
        held_out_only: args.held_out_only,
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
        Command::TrainPredictor(args) => train_predictor(args),
        Command::PlaceEval(args) => dwcp_controlplane::place::command::place_eval_command(args),
        Command::PlaceScenario(args) => {
            dwcp_controlplane::place::scenario_command::place_scenario_command(args)
        }
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
