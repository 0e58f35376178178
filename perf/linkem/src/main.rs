//! `dwcp-linkem`: see the library docs and docs/linkem.md.
//!
//! `run` builds two namespaces joined by two TUN devices and forwards
//! between them through the link model; the other subcommands print the
//! profiles, clean up after a killed run, or measure a link from inside the
//! namespaces. Stdout carries JSON lines only; logs go to stderr
//! (`DWCP_LOG`, default `info`).

mod shell;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use shell::cli::{Cli, Command};

/// Environment variable holding the log filter.
const LOG_ENV: &str = "DWCP_LOG";

fn init_logging() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dwcp-linkem: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match &cli.command {
        Command::Run(args) => shell::run::main(args),
        Command::Profiles { json } => report(shell::profiles::print(*json)),
        Command::Cleanup { ns_a, ns_b } => report(cleanup(&[ns_a, ns_b])),
        Command::TcpSink(args) => report(shell::probe::tcp_sink(args)),
        Command::TcpSource(args) => report(shell::probe::tcp_source(args)),
        Command::UdpEcho(args) => report(shell::probe::udp_echo(args)),
        Command::UdpProbe(args) => report(shell::probe::udp_probe(args)),
    }
}

/// Deletes the namespaces that exist among `names`.
fn cleanup(names: &[&String]) -> anyhow::Result<()> {
    for name in names {
        if shell::netns::namespace_exists(name) {
            shell::netns::ip(&["netns", "del", name])?;
            eprintln!("dwcp-linkem: deleted namespace {name}");
        }
    }
    Ok(())
}
