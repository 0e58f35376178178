//! Command line.

use crate::dwcp_run::Mode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// DWCP benchmarks: throughput against plain TCP, page-path latency.
#[derive(Debug, Parser)]
#[command(name = "dwcp-perf", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to measure.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Throughput of each mode × streams against a plain-TCP copy of the same bytes.
    Throughput {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        throughput: ThroughputArgs,
    },
    /// Page-path latency percentiles at 100% and 50% load.
    Latency {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        latency: LatencyArgs,
    },
    /// Throughput, then latency, on the same memory file.
    All {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        throughput: ThroughputArgs,
        #[command(flatten)]
        latency: AllLatencyArgs,
    },
    /// Latency profile: per-stage HdrHistograms of the page path (loopback
    /// at 50% and 100% load, one emulated WAN profile) and of control-plane
    /// API calls, written to `perf/out/<UTC time>/` with plots and a flamegraph.
    Stages(StagesArgs),
}

/// Options of `stages`.
#[derive(Debug, Args)]
pub struct StagesArgs {
    /// Memory size: bytes, or with K/M/G (binary); a multiple of 4096.
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    pub size: u64,
    /// Migrations per scenario (their histograms are merged).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub runs: u16,
    /// dwcp-linkem profile of the WAN scenario (`dwcp-linkem profiles`), or `none`.
    #[arg(long, default_value = "regional")]
    pub wan_profile: String,
    /// Output folder (default: `perf/out/<UTC time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory holding dwcp-dataplane and dwcp-controlplane.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// dwcp-linkem (default: `<bin-dir>/dwcp-linkem`).
    #[arg(long)]
    pub linkem_bin: Option<PathBuf>,
    /// Rounds of the timed GETs (/health, /v1/node, /v1/migrations, /metrics).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub api_calls: u32,
    /// Migrations started through POST /v1/migrations and polled until final.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub api_migrations: u32,
    /// Round trips of the loopback RTT ping-pong.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rtt_rounds: u32,
    /// Page protection.
    #[arg(long, default_value = "aead")]
    pub mode: Mode,
    /// Streams per migration.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: u16,
    /// No perf recording and no flamegraph.
    #[arg(long)]
    pub no_flamegraph: bool,
    /// TrueType font for the plots' text [default: DejaVu Sans].
    #[arg(long)]
    pub font: Option<PathBuf>,
    /// Kill a child after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub child_timeout_s: u64,
    /// Core pinning of the loopback pair: `hosts` (each end on cores of its
    /// own, as on two machines: one core each on a 2-core machine, `split`
    /// on 4+), `split` or `default` (see `latency --help`).
    #[arg(long, value_enum, default_value = "hosts")]
    pub pin: PinArg,
    /// Seed of the random memory contents.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
}

/// Options of every benchmark.
#[derive(Debug, Args)]
pub struct Common {
    /// Memory size: bytes, or with K/M/G (binary: 1G = 1 GiB); a multiple of 4096.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub size: u64,
    /// Runs per configuration (medians are reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub runs: u16,
    /// Directory holding dwcp-dataplane.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Where results go.
    #[arg(long, default_value = "perf/results")]
    pub out: PathBuf,
    /// Kill a dwcp-dataplane child after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub child_timeout_s: u64,
    /// Core pinning of the loopback pair: `split` gives the four busy threads
    /// (source engine/transport, destination decoder/transport) distinct cores
    /// on machines with 4+ cores; `default` leaves it to dwcp-dataplane, which
    /// on 4+ cores pins BOTH ends to the same last two cores.
    #[arg(long, value_enum, default_value = "split")]
    pub pin: PinArg,
    /// Seed of the random memory contents.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
}

/// `--pin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PinArg {
    /// Distinct cores per busy thread (4+ cores), else unpinned.
    Split,
    /// Each end on cores of its own: `split` on 4+ cores, one core per end
    /// on 2 or 3.
    Hosts,
    /// dwcp-dataplane's own default.
    Default,
}

/// Options of the throughput benchmark.
#[derive(Debug, Args)]
pub struct ThroughputArgs {
    /// Stream counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: Vec<u16>,
    /// Modes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "aead,plain")]
    pub modes: Vec<Mode>,
}

/// Options of the latency benchmark.
#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Stream counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: Vec<u16>,
    /// Mode.
    #[arg(long, default_value = "aead")]
    pub mode: Mode,
}

/// Options of the latency part of `all` (`--streams` belongs to throughput).
#[derive(Debug, Args)]
pub struct AllLatencyArgs {
    /// Stream counts of the latency benchmark, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub latency_streams: Vec<u16>,
    /// Mode of the latency benchmark.
    #[arg(long, default_value = "aead")]
    pub mode: Mode,
}

impl From<&AllLatencyArgs> for LatencyArgs {
    fn from(args: &AllLatencyArgs) -> Self {
        Self {
            streams: args.latency_streams.clone(),
            mode: args.mode,
        }
    }
}

/// Parses `1073741824`, `1G`, `1GiB`, `512M`, `64k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("unknown unit in {text:?} (use K, M or G)")),
    };
    let bytes = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 || !bytes.is_multiple_of(crate::memfile::PAGE) {
        return Err(format!(
            "{text:?} must be a positive multiple of 4096 bytes"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("8192"), Ok(8192));
        assert!(parse_size("100").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("G").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "dwcp-perf",
            "all",
            "--streams",
            "1,2",
            "--modes",
            "plain",
            "--mode",
            "plain",
        ])
        .expect("parses");
        let Command::All {
            throughput,
            latency,
            common,
        } = cli.command
        else {
            panic!("not all")
        };
        assert_eq!(throughput.streams, [1, 2]);
        assert_eq!(throughput.modes, [Mode::Plain]);
        assert_eq!(common.size, 1 << 30);
        let latency = LatencyArgs::from(&latency);
        assert_eq!(latency.mode, Mode::Plain);
        assert_eq!(latency.streams, [1]);
        let cli = Cli::try_parse_from(["dwcp-perf", "latency", "--streams", "4", "--runs", "1"])
            .expect("parses");
        let Command::Latency { latency, common } = cli.command else {
            panic!("not latency")
        };
        assert_eq!(latency.streams, [4]);
        assert_eq!(common.runs, 1);
        let cli = Cli::try_parse_from([
            "dwcp-perf",
            "stages",
            "--size",
            "16M",
            "--wan-profile",
            "none",
            "--out",
            "/tmp/x",
        ])
        .expect("parses");
        let Command::Stages(stages) = cli.command else {
            panic!("not stages")
        };
        assert_eq!(stages.size, 16 << 20);
        assert_eq!(stages.runs, 5);
        assert_eq!(stages.wan_profile, "none");
        assert_eq!(stages.out.as_deref(), Some(std::path::Path::new("/tmp/x")));
        assert!(Cli::try_parse_from(["dwcp-perf", "stages", "--runs", "0"]).is_err());
    }
}
