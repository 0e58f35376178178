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
    }
}
