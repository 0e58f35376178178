//! `dwcpctl`: the operators' CLI for the DWCP control plane's HTTP API.
//!
//! Thin shell over `dwcp_controlplane::cli`: parses flags, installs the
//! Ctrl-C handler for `migrate`, calls the API and prints. Exit statuses are
//! `cli::exit_code`: 0 ok / completed, 1 failed or cancelled (or an unhealthy
//! node for `status`, or a control plane fault), 2 bad input, unreachable API
//! or a 4xx answer, 130 when `migrate` stopped waiting on Ctrl-C.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dwcp_controlplane::api_types::{CompressionTier, Migration, StartMigration, UpdateMigration};
use dwcp_controlplane::cli::client::{self, ApiClient};
use dwcp_controlplane::cli::error::ClientError;
use dwcp_controlplane::cli::follow::{self, FollowOutcome, ProgressDisplay};
use dwcp_controlplane::cli::{exit_code, exit_code_for_state, render};

/// The operators' CLI for the DWCP control plane.
#[derive(Debug, Parser)]
#[command(name = "dwcpctl", version)]
struct Cli {
    /// Control plane API address [default: $DWCP_API, else http://127.0.0.1:7700]
    #[arg(long, global = true, value_name = "URL")]
    api: Option<String>,
    /// Machine output: exactly one JSON document on stdout
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate a VM's memory to another host and follow it until it is final
    ///
    /// The last line on stdout is the final summary as one line of JSON.
    /// Exit status: 0 completed, 1 failed or cancelled, 2 bad input or API
    /// unreachable, 130 stopped waiting on Ctrl-C (the migration goes on).
    Migrate(MigrateArgs),
    /// Show this node: data plane, peers, health (exit 1 when unhealthy)
    Status,
    /// List migrations, newest first
    List,
    /// Show one migration
    Show {
        /// Migration id (16 hex digits)
        id: String,
    },
    /// Ask the control plane to cancel a migration
    Cancel {
        /// Migration id (16 hex digits)
        id: String,
    },
    /// Change a running migration's pacing, compression tier or streams, or hold it
    Set(SetArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The VM's id
    #[arg(long = "vm", value_name = "ID")]
    vm_id: String,
    /// Guest memory file on the control plane's host (made absolute against
    /// the current directory)
    #[arg(long, value_name = "FILE")]
    memory: PathBuf,
    /// Destination host id, as in the configuration's `[[peers]]`
    #[arg(long = "to", value_name = "HOST")]
    destination: String,
    /// Parallel TCP streams carrying data [default: from the link mode]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    streams: Option<u16>,
    /// TCP streams to open, so that `set --streams` can later raise the
    /// count up to this [default: --streams]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    streams_max: Option<u16>,
    /// Downtime budget for the switch-over [default: the configuration's]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    downtime_ms: Option<u64>,
    /// Pacing rate in Mbit/s, 0 for unpaced [default: the configuration's]
    #[arg(long, value_name = "N")]
    pacing_mbps: Option<u64>,
    /// Compression tier [default: from the link mode]
    #[arg(long, value_enum)]
    tier: Option<TierArg>,
    /// The VM's process on the control plane's host: stopped (SIGSTOP) for
    /// the switch-over, continued (SIGCONT) if the migration fails after it
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pause_pid: Option<u32>,
    /// Print the new migration and return at once instead of following it
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Args)]
struct SetArgs {
    /// Migration id (16 hex digits)
    id: String,
    /// New pacing rate in Mbit/s (0: unpaced)
    #[arg(long, value_name = "N")]
    pacing_mbps: Option<u64>,
    /// New compression tier
    #[arg(long, value_enum)]
    tier: Option<TierArg>,
    /// How many of the migration's open streams carry data (1 to the
    /// streams it opened, see `show`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    streams: Option<u16>,
    /// Hold sending (the guest keeps running; nothing is lost)
    #[arg(long, conflicts_with = "go_on")]
    hold: bool,
    /// Go on after --hold
    #[arg(long = "continue")]
    go_on: bool,
}

/// `CompressionTier` as a flag value.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TierArg {
    /// Fast levels, for links about as fast as the encoder
    Datacenter,
    /// Strong levels, for slow or costly links
    Internet,
    /// No compression (zero pages are still elided)
    Off,
}

impl From<TierArg> for CompressionTier {
    fn from(tier: TierArg) -> Self {
        match tier {
            TierArg::Datacenter => Self::Datacenter,
            TierArg::Internet => Self::Internet,
            TierArg::Off => Self::Off,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("dwcpctl: {error:#}");
            let code = error
                .downcast_ref::<ClientError>()
                .map_or(exit_code::BAD_INPUT, ClientError::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let env_api = std::env::var(client::API_URL_ENV).ok();
    let api_url = client::resolve_api_url(cli.api.as_deref(), env_api.as_deref());
    let client = ApiClient::new(&api_url)?;
    let output = Output { json: cli.json };
    match cli.command {
        Command::Migrate(args) => migrate(&client, output, args),
        Command::Status => status(&client, output),
        Command::List => {
            let list = client.list_migrations()?;
            output.print(&list, || render::migrations_table(&list.migrations));
            Ok(exit_code::OK)
        }
        Command::Show { id } => {
            let migration = client.migration(&id)?;
            output.print(&migration, || render::migration_text(&migration));
            Ok(exit_code::OK)
        }
        Command::Cancel { id } => {
            let migration = client.cancel_migration(&id)?;
            output.print(&migration, || {
                format!(
                    "cancel requested for migration {} (now {})\n",
                    migration.id,
                    render::state_name(migration.state)
                )
            });
            Ok(exit_code::OK)
        }
        Command::Set(args) => set(&client, output, args),
    }
}

/// Human text or `--json`.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    /// Prints `value` as one line of JSON with `--json` (scripts read the
    /// last stdout line), else the text `human` makes; both on stdout.
    fn print<T: serde::Serialize>(self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            write_line(&render::to_json_line(value));
        } else {
            write_stdout(&human());
        }
    }
}

fn migrate(client: &ApiClient, output: Output, args: MigrateArgs) -> anyhow::Result<u8> {
    let memory = std::path::absolute(&args.memory)
        .with_context(|| format!("--memory {}", args.memory.display()))?;
    let Some(memory_file) = memory.to_str() else {
        bail!("--memory {}: the path is not valid UTF-8", memory.display());
    };
    let request = StartMigration {
        vm_id: args.vm_id,
        memory_file: memory_file.to_string(),
        destination: args.destination,
        streams: args.streams,
        streams_max: args.streams_max,
        downtime_ms: args.downtime_ms,
        pacing_mbps: args.pacing_mbps,
        compression_tier: args.tier.map(CompressionTier::from),
        pause_pid: args.pause_pid,
    };
    let started = client.start_migration(&request)?;
    eprintln!(
        "dwcpctl: started migration {} (vm {} to {})",
        started.id, started.vm_id, started.peer
    );
    if args.no_wait {
        if output.json {
            write_line(&render::to_json_line(&started));
        } else {
            write_line(&started.id);
            eprintln!(
                "dwcpctl: follow it with: {}",
                command_hint(client, "show", &started.id)
            );
        }
        return Ok(exit_code::OK);
    }

    let stop = install_ctrl_c_flag();
    let id = started.id.clone();
    let followed = follow::follow_migration(client, started, ProgressDisplay::for_stderr(), &stop);
    let outcome = match followed {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("dwcpctl: {error}");
            eprintln!(
                "dwcpctl: stopped following migration {id}; it may still be running: {}",
                command_hint(client, "show", &id)
            );
            return Ok(error.exit_code());
        }
    };
    match outcome {
        FollowOutcome::Final(migration) => {
            eprintln!("dwcpctl: {}", render::final_message(&migration));
            write_line(&render::final_json_line(&migration));
            Ok(exit_code_for_state(migration.state).unwrap_or(exit_code::MIGRATION_FAILED))
        }
        FollowOutcome::Stopped(migration) => {
            eprintln!(
                "dwcpctl: stopped waiting; migration {} goes on ({}). Follow it with: {}; cancel it with: {}",
                migration.id,
                render::state_name(migration.state),
                command_hint(client, "show", &migration.id),
                command_hint(client, "cancel", &migration.id),
            );
            if output.json {
                write_line(&render::to_json_line(&migration));
            }
            Ok(exit_code::STOPPED_WAITING)
        }
    }
}

fn status(client: &ApiClient, output: Output) -> anyhow::Result<u8> {
    let node = client.node()?;
    let health = client.health()?;
    let healthy = health.status == "ok";
    let document = serde_json::json!({ "node": &node, "health": &health });
    output.print(&document, || render::status_text(&node, &health));
    Ok(if healthy {
        exit_code::OK
    } else {
        exit_code::UNHEALTHY
    })
}

fn set(client: &ApiClient, output: Output, args: SetArgs) -> anyhow::Result<u8> {
    let update = UpdateMigration {
        pacing_mbps: args.pacing_mbps,
        compression_tier: args.tier.map(CompressionTier::from),
        streams: args.streams,
        held: match (args.hold, args.go_on) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    };
    if update == UpdateMigration::default() {
        bail!(
            "set: nothing to change; give --pacing-mbps, --tier, --streams, --hold or --continue"
        );
    }
    let migration = client.update_migration(&args.id, &update)?;
    output.print(&migration, || updated_text(&migration));
    Ok(exit_code::OK)
}

fn updated_text(migration: &Migration) -> String {
    format!(
        "migration {}: pacing {}, compression {}, streams {} of {} ({}{})\n",
        migration.id,
        render::format_pacing(migration.pacing_mbps),
        render::tier_name(migration.compression_tier),
        migration.streams,
        migration.streams_connected,
        render::state_name(migration.state),
        if migration.held { ", held" } else { "" },
    )
}

/// Writes `text` to stdout. A closed stdout (`dwcpctl list | head -1`) is
/// not an error: the exit status still says how the command went.
fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("dwcpctl: cannot write to stdout: {error}");
        }
    }
}

/// Writes `line` and a newline to stdout (see `write_stdout`).
fn write_line(line: &str) {
    write_stdout(&format!("{line}\n"));
}

/// `dwcpctl [--api URL] COMMAND ID`, with `--api` only when it is not the
/// default, for messages that tell the operator what to run next.
fn command_hint(client: &ApiClient, command: &str, id: &str) -> String {
    if client.base_url() == client::DEFAULT_API_URL {
        format!("dwcpctl {command} {id}")
    } else {
        format!("dwcpctl --api {} {command} {id}", client.base_url())
    }
}

/// A flag set by the first SIGINT (Ctrl-C). Once installed, SIGINT no longer
/// ends the process: `follow` sees the flag between polls and returns. If the
/// handler cannot be installed, Ctrl-C keeps its default action (which also
/// leaves the migration running).
fn install_ctrl_c_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dwcpctl: warning: cannot watch for Ctrl-C: {error}");
            return stop;
        }
    };
    // Registered here, before waiting starts, so no Ctrl-C is missed.
    let registered = runtime.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    });
    let mut interrupt = match registered {
        Ok(interrupt) => interrupt,
        Err(error) => {
            eprintln!("dwcpctl: warning: cannot watch for Ctrl-C: {error}");
            return stop;
        }
    };
    let flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("dwcpctl-ctrl-c".to_string())
        .spawn(move || {
            runtime.block_on(interrupt.recv());
            // Relaxed: the flag carries no data; `follow` polls it.
            flag.store(true, Ordering::Relaxed);
        });
    if let Err(error) = spawned {
        eprintln!("dwcpctl: warning: cannot watch for Ctrl-C: {error}");
    }
    stop
}
