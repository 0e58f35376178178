//! `dwcp-dataplane`: the DWCP data plane CLI.
//!
//! Roles are subcommands: `migrate` (source), `receive` (destination) and
//! `keygen`. Progress and logs go to stderr; the last line on stdout is the
//! JSON summary. Exit status: 0 verified, 1 the migration failed, 2 bad
//! input (flags, configuration, key file, memory file).

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dwcp_dataplane::config::{
    DestinationConfig, PauseConfig, SourceConfig, SourceFaultConfig, VerifyMode,
};
use dwcp_dataplane::error::ErrorKind;
use dwcp_dataplane::summary::Summary;
use dwcp_dataplane::threads;
use dwcp_dataplane_core::level_control::LinkTier;
use dwcp_hugepages::HugepagePolicy;
use dwcp_shared::limits::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (wire protocol versions 1..=1)");
const _: () = assert!(
    PROTOCOL_VERSION_MIN == 1 && PROTOCOL_VERSION_MAX == 1,
    "update VERSION's protocol range"
);

#[derive(Debug, Parser)]
#[command(name = "dwcp-dataplane", version = VERSION, about = "Live-migrate VM memory over encrypted multi-stream io_uring TCP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Source: migrate a guest memory file to a destination.
    Migrate(MigrateArgs),
    /// Destination: receive one migration into a memory file.
    Receive(ReceiveArgs),
    /// Long-running data plane: take jobs from the control plane's shared-memory tables.
    Serve(ServeArgs),
    /// Write a new random pre-shared key file (hex, mode 0600).
    Keygen {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The shared-memory tables file (created mode 0600 if missing).
    #[arg(long)]
    tables: PathBuf,
    /// Replace an existing file at --tables that is not a valid table.
    #[arg(long)]
    replace_invalid: bool,
    /// This host's id, for the logs (the control plane writes the node table).
    #[arg(long)]
    node_id: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HugepagesArg {
    Prefer,
    Require,
    Never,
}

impl From<HugepagesArg> for HugepagePolicy {
    fn from(arg: HugepagesArg) -> Self {
        match arg {
            HugepagesArg::Prefer => HugepagePolicy::Prefer,
            HugepagesArg::Require => HugepagePolicy::Require,
            HugepagesArg::Never => HugepagePolicy::Never,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VerifyArg {
    Incremental,
    Full,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// Guest memory file (QEMU memory-backend-file, on /dev/shm or hugetlbfs).
    #[arg(long)]
    memory: PathBuf,
    /// Destination HOST:PORT.
    #[arg(long)]
    to: String,
    /// Pre-shared key file (same on both hosts).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Send pages unencrypted (benchmarks only; the destination must say so too).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Parallel TCP streams (default: from the measured bandwidth-delay product).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    streams: Option<u16>,
    /// Link bandwidth assumed when deriving the stream count and the
    /// in-flight window, and the most the switch-over plans with, Mbit/s.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.link_mbps)]
    link_mbps: u64,
    /// Frames (up to 64 pages each) in flight per stream.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.inflight_frames)]
    inflight_frames: usize,
    /// The fewest pages a frame of raw pages is cut at when little is in
    /// flight (a power of two, 8 to 64; 64 keeps every frame full, fewer
    /// pages per frame mean less latency on an idle link).
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.frame_pages_min)]
    frame_pages_min: usize,
    /// Pace sending to this rate, Mbit/s (default: unpaced).
    #[arg(long)]
    rate_limit_mbps: Option<u64>,
    /// Page codec: zero, duplicate, delta and zstd encoding (`off`: raw pages).
    #[arg(long, value_enum, default_value_t = CodecArg::On)]
    codec: CodecArg,
    /// Link tier: the zstd levels the codec adapts between (datacenter:
    /// none, -1, 1; internet: none, 1, 3, 6).
    #[arg(long, value_enum, default_value_t = TierArg::Datacenter)]
    link_tier: TierArg,
    /// A fixed zstd level for the codec (0: no zstd) instead of adapting.
    #[arg(long, allow_negative_numbers = true)]
    compression_level: Option<i32>,
    /// The codec's delta cache (last-sent page versions), MiB; 0 turns deltas off.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.delta_cache_mib)]
    delta_cache_mib: u64,
    /// Threads that compress the codec's batches beside the engine, at most
    /// one per stream (0: on the engine thread). For hosts with cores to
    /// spare beside the engine and transport threads.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.finisher_threads)]
    finisher_threads: usize,
    /// Downtime budget for the switch-over, ms.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.downtime_ms)]
    downtime_ms: u64,
    /// Switch over after this many rounds at the latest.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.max_rounds)]
    max_rounds: u32,
    /// Switch over after this many rounds that do not shrink the dirty set.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.stall_rounds)]
    stall_rounds: u32,
    /// Pause the guest with SIGSTOP/SIGCONT to this process.
    #[arg(long, conflicts_with = "pause_cmd")]
    pause_pid: Option<i32>,
    /// Shell command that pauses the guest (needs --resume-cmd).
    #[arg(long, requires = "resume_cmd")]
    pause_cmd: Option<String>,
    /// Shell command that resumes the guest.
    #[arg(long, requires = "pause_cmd")]
    resume_cmd: Option<String>,
    /// Pin the engine thread to this core.
    #[arg(long)]
    engine_core: Option<usize>,
    /// Pin the transport thread to this core.
    #[arg(long)]
    transport_core: Option<usize>,
    /// TCP connect timeout, ms.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.connect_timeout_ms)]
    connect_timeout_ms: u64,
    /// Give up on a broken stream after this long, ms.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.reconnect_timeout_ms)]
    reconnect_timeout_ms: u64,
    /// Wait this long for the destination's verdict, ms.
    #[arg(long, default_value_t = SourceConfig::DEFAULTS.verify_timeout_ms)]
    verify_timeout_ms: u64,
    /// Frame buffers on 2 MiB hugepages.
    #[arg(long, value_enum, default_value = "prefer")]
    hugepages: HugepagesArg,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
    /// Write the page path's per-stage latency histograms (scan, encode,
    /// ring_wait, send, acknowledged, total; µs) to FILE as an HdrHistogram
    /// interval log, one tagged interval per stage
    #[arg(long, value_name = "FILE")]
    stage_log: Option<PathBuf>,
    /// Test hook: shut this stream's socket down once (with --fault-cut-after-bytes).
    #[arg(long, hide = true, requires = "fault_cut_after_bytes")]
    fault_cut_stream: Option<u16>,
    /// Test hook: bytes the stream writes before it is cut.
    #[arg(long, hide = true, requires = "fault_cut_stream")]
    fault_cut_after_bytes: Option<u64>,
    /// Test hook: flip a bit in the Nth sealed frame.
    #[arg(long, hide = true)]
    fault_tamper_frame: Option<u64>,
    /// Test hook: stop after an ok verdict without committing the hand-over.
    #[arg(long, hide = true)]
    fault_skip_commit: bool,
}

#[derive(Debug, Args)]
struct ReceiveArgs {
    /// Address to listen on, HOST:PORT.
    #[arg(long)]
    listen: String,
    /// Memory file to write (created with the source's size).
    #[arg(long)]
    memory: PathBuf,
    /// Refuse a source whose memory is not exactly this many bytes.
    #[arg(long)]
    memory_size: Option<u64>,
    /// Pre-shared key file (same on both hosts).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Accept unencrypted pages (benchmarks only; the source must say so too).
    #[arg(long)]
    insecure_plaintext: bool,
    /// How to verify the image.
    #[arg(long, value_enum, default_value = "incremental")]
    verify: VerifyArg,
    /// Pin the decoder thread to this core.
    #[arg(long)]
    decoder_core: Option<usize>,
    /// Pin the transport thread to this core.
    #[arg(long)]
    transport_core: Option<usize>,
    /// Fail when no stream is connected for this long, ms.
    #[arg(long, default_value_t = DestinationConfig::DEFAULTS.peer_timeout_ms)]
    peer_timeout_ms: u64,
    /// Give up if no source connects within this long, ms (0 = wait forever).
    #[arg(long, default_value_t = 0)]
    accept_timeout_ms: u64,
    /// Keep the memory file if the migration fails.
    #[arg(long)]
    keep_on_failure: bool,
    /// Frame buffers on 2 MiB hugepages.
    #[arg(long, value_enum, default_value = "prefer")]
    hugepages: HugepagesArg,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

fn source_config(args: MigrateArgs) -> SourceConfig {
    let pause = match (args.pause_pid, args.pause_cmd, args.resume_cmd) {
        (Some(pid), _, _) => PauseConfig::Signal(pid),
        (None, Some(pause), Some(resume)) => PauseConfig::Command { pause, resume },
        _ => PauseConfig::None,
    };
    SourceConfig {
        memory: args.memory,
        destination: args.to,
        key_file: args.key_file,
        key: None,
        insecure_plaintext: args.insecure_plaintext,
        streams: args.streams,
        link_mbps: args.link_mbps,
        inflight_frames: args.inflight_frames,
        frame_pages_min: args.frame_pages_min,
        rate_limit_mbps: args.rate_limit_mbps,
        downtime_ms: args.downtime_ms,
        max_rounds: args.max_rounds,
        stall_rounds: args.stall_rounds,
        pause,
        engine_core: args.engine_core,
        transport_core: args.transport_core,
        connect_timeout_ms: args.connect_timeout_ms,
        reconnect_timeout_ms: args.reconnect_timeout_ms,
        verify_timeout_ms: args.verify_timeout_ms,
        hugepages: args.hugepages.into(),
        progress: !args.no_progress,
        stage_log: args.stage_log,
        faults: SourceFaultConfig {
            cut_stream_after: args.fault_cut_stream.zip(args.fault_cut_after_bytes),
            tamper_frame: args.fault_tamper_frame,
            skip_commit: args.fault_skip_commit,
        },
        codec: args.codec == CodecArg::On,
        link_tier: match args.link_tier {
            TierArg::Datacenter => LinkTier::Datacenter,
            TierArg::Internet => LinkTier::Internet,
        },
        compression_level: args.compression_level,
        delta_cache_mib: args.delta_cache_mib,
        finisher_threads: args.finisher_threads,
    }
}

/// `--codec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CodecArg {
    On,
    Off,
}

/// `--link-tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TierArg {
    Datacenter,
    Internet,
}

fn destination_config(args: ReceiveArgs) -> DestinationConfig {
    DestinationConfig {
        listen: args.listen,
        memory: args.memory,
        memory_size: args.memory_size,
        key_file: args.key_file,
        key: None,
        insecure_plaintext: args.insecure_plaintext,
        verify: match args.verify {
            VerifyArg::Incremental => VerifyMode::Incremental,
            VerifyArg::Full => VerifyMode::Full,
        },
        decoder_core: args.decoder_core,
        transport_core: args.transport_core,
        peer_timeout_ms: args.peer_timeout_ms,
        accept_timeout_ms: args.accept_timeout_ms,
        keep_on_failure: args.keep_on_failure,
        hugepages: args.hugepages.into(),
        progress: !args.no_progress,
    }
}

fn report(summary: &Summary) -> ExitCode {
    if let Some(error) = &summary.error {
        eprintln!("dwcp-dataplane: {} failed: {error}", summary.role);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", summary.to_json_line());
    let _ = out.flush();
    if summary.verified {
        ExitCode::SUCCESS
    } else if summary.error_kind.is_some_and(ErrorKind::is_bad_input) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("dwcp-dataplane: {message}");
    ExitCode::from(2)
}

fn keygen(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut key[..]);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .create_new(!force)
        .truncate(true)
        .mode(0o600)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create key file {} (use --force to replace it)",
                out.display()
            )
        })?;
    // `mode` applies only to a new file; a replaced one (--force) is narrowed too.
    std::fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("cannot restrict key file {} to mode 0600", out.display()))?;
    writeln!(file, "{hex}").with_context(|| format!("cannot write key file {}", out.display()))?;
    Ok(())
}

/// Set by SIGTERM/SIGINT: the serve loop stops, cancelling its jobs.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn serve(args: &ServeArgs) -> ExitCode {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let handler: extern "C" fn(libc::c_int) = on_stop_signal;
        // SAFETY: installs a handler that only does an atomic store; the
        // previous handler is not needed.
        unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    }
    if let Some(node) = &args.node_id {
        tracing::info!(node = %node, "data plane of this host");
    }
    let config = dwcp_dataplane::serve::ServeConfig {
        tables: args.tables.clone(),
        replace_invalid: args.replace_invalid,
    };
    let result = dwcp_dataplane::serve::Server::open(&config).and_then(|server| server.run(&STOP));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => usage_error(format!("{:#}", anyhow::Error::from(err))),
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
    let cli = Cli::parse();
    let cores = threads::available_core_ids();
    match cli.command {
        Command::Migrate(args) => {
            let config = source_config(args);
            if let Err(err) = config.clone().validate(&cores) {
                return usage_error(err);
            }
            report(&dwcp_dataplane::source::migrate(config))
        }
        Command::Receive(args) => {
            let config = destination_config(args);
            if let Err(err) = config.clone().validate(&cores) {
                return usage_error(err);
            }
            report(&dwcp_dataplane::destination::receive(config))
        }
        Command::Serve(args) => serve(&args),
        Command::Keygen { out, force } => match keygen(&out, force) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => usage_error(format!("{err:#}")),
        },
    }
}
