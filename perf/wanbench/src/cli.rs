//! The command line.

use crate::dwcp::StreamPolicy;
use crate::guest::GuestKind;
use crate::units::{parse_rate, parse_size};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// DWCP against the tools a user would otherwise reach for (one TCP
/// stream, zstd | TCP, rsync), on WAN links emulated by dwcp-linkem. Needs
/// root (network namespaces).
#[derive(Debug, Parser)]
#[command(name = "dwcp-wan-bench", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the benchmark on each profile (see perf/wan-bench.sh).
    Run(RunArgs),
    /// The plain TCP peer's sender: copy a file (or stdin) into one stream.
    TcpSend {
        /// Receiver address.
        #[arg(long)]
        connect: SocketAddr,
        /// File to send, `-` for stdin.
        #[arg(long)]
        input: PathBuf,
    },
    /// The plain TCP peer's receiver: accept one stream into a file (or stdout).
    TcpRecv {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// File to write, `-` for stdout.
        #[arg(long)]
        output: PathBuf,
        /// Give up when nothing connects within this many seconds.
        #[arg(long, default_value_t = 60)]
        accept_timeout_s: u64,
    },
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A dwcp-linkem profile (repeatable; default: every profile it lists).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Memory of the stand-in guests (the real snapshots are always 1 GiB).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub size: u64,
    /// Guests to run (repeatable; default: all three).
    #[arg(long = "guest", value_enum, value_name = "KIND")]
    pub guests: Vec<GuestKind>,
    /// Output folder (default: `perf/out/wan-<UTC time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where dwcp-dataplane, dwcp-guest-sim and dwcp-linkem are.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// The real snapshots (default: $DWCP_VM_MEMORY_DIR, else ../shared/data/vm-memory).
    #[arg(long)]
    pub snapshots_dir: Option<PathBuf>,
    /// DWCP's stream count: bdp (the data plane's default from the link
    /// rate and RTT), control-plane (8 on internet links, 4 on hybrid), or
    /// N. Repeatable: DWCP runs once per value, each on a fresh guest; the
    /// first one's figures decide the verdicts. Default: bdp, control-plane.
    #[arg(long = "dwcp-streams", value_name = "POLICY")]
    pub dwcp_streams: Vec<StreamPolicy>,
    /// Run DWCP only, not the peers (tcp, zstd | TCP, rsync): quicker, for
    /// tuning DWCP; the targets that compare with a peer say SKIPPED.
    #[arg(long)]
    pub no_peers: bool,
    /// Dirty rate of the incompressible guest (uniform pattern), per second.
    #[arg(long, default_value = "256K", value_parser = parse_rate)]
    pub incompressible_dirty_rate: u64,
    /// Dirty rate of the realistic guest (hot set), per second.
    #[arg(long, default_value = "4M", value_parser = parse_rate)]
    pub realistic_dirty_rate: u64,
    /// Seconds the real guest's t05s -> t30s change is replayed over.
    #[arg(long, default_value_t = 3.0)]
    pub replay_secs: f64,
    /// Kill a transfer after this many seconds (default: 60 + 6x the time
    /// the image takes at the link rate, at least 120).
    #[arg(long)]
    pub transfer_timeout_s: Option<u64>,
    /// An extra argument for `dwcp-linkem run` (repeatable), e.g.
    /// `--linkem-arg=--rtt-ms=2`.
    #[arg(long = "linkem-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub linkem_args: Vec<String>,
    /// An extra argument for `dwcp-dataplane migrate` (repeatable), e.g.
    /// `--dwcp-arg=--codec=off`.
    #[arg(long = "dwcp-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub dwcp_args: Vec<String>,
    /// Seed of the guests' content and dirtying.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
