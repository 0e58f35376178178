//! `dwcp-controlplane`: the DWCP control plane process.
//!
//! `dwcp-controlplane run --config FILE` runs it (tokio): HTTP API and
//! Prometheus metrics, the mTLS listener for other control planes, and the
//! supervisor that programs the data plane through the shared-memory
//! tables. `check-config` validates a configuration and exits. Exit status:
//! 0 clean stop, 1 a runtime failure, 2 a bad configuration.

use clap::{Parser, Subcommand};
use dwcp_controlplane::config::ControlPlaneConfig;
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
