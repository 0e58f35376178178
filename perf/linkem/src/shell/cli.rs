//! Command line: subcommands and the `run` options.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dwcp_linkem::model::{GilbertElliott, JitterConfig, JitterDistribution};
use dwcp_linkem::profile::{LinkOverrides, Scale};
use dwcp_linkem::trace::TraceFormat;

use super::netns::{EndpointConfig, TopologyConfig};

/// DWCP's WAN link emulator: two network namespaces joined by a user-space
/// link with rate, delay, jitter, loss and queue.
#[derive(Debug, Parser)]
#[command(name = "dwcp-linkem", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the namespaces and forward until SIGTERM/SIGINT.
    Run(Box<RunArgs>),
    /// Print the profiles.
    Profiles {
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete namespaces left by a killed run (`ip netns del`).
    Cleanup {
        /// Namespace A.
        #[arg(long, default_value = DEFAULT_NS_A)]
        ns_a: String,
        /// Namespace B.
        #[arg(long, default_value = DEFAULT_NS_B)]
        ns_b: String,
    },
    /// Accept one TCP connection, count what arrives, print JSON.
    TcpSink(TcpSinkArgs),
    /// Send bulk data over TCP for a while, print JSON.
    TcpSource(TcpSourceArgs),
    /// Echo UDP datagrams back to their sender.
    UdpEcho(UdpEchoArgs),
    /// Send numbered UDP probes to an echo, print loss and RTT as JSON.
    UdpProbe(UdpProbeArgs),
}

/// Default namespace A.
pub const DEFAULT_NS_A: &str = "linkem-a";
/// Default namespace B.
pub const DEFAULT_NS_B: &str = "linkem-b";

/// Jitter distributions on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JitterDistArg {
    /// Uniform in [0, jitter].
    Uniform,
    /// Half-normal with scale jitter, cut at 4x.
    Normal,
}

/// Trace formats on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TraceFormatArg {
    /// `seconds<TAB>Mbps` rate steps.
    Hsdpa,
    /// Millisecond timestamps of 1500-byte delivery opportunities.
    Mahimahi,
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Profile: internet, datacenter, regional, intercontinental, cellular.
    #[arg(long, default_value = "internet")]
    pub profile: String,
    /// Namespace A (created when absent, deleted at exit if created).
    #[arg(long, default_value = DEFAULT_NS_A)]
    pub ns_a: String,
    /// Namespace B.
    #[arg(long, default_value = DEFAULT_NS_B)]
    pub ns_b: String,
    /// Address of A's TUN device, with optional /prefix (default /24).
    #[arg(long, default_value = "10.77.0.1/24")]
    pub addr_a: String,
    /// Address of B's TUN device.
    #[arg(long, default_value = "10.77.0.2/24")]
    pub addr_b: String,
    /// Name of the TUN device inside each namespace.
    #[arg(long, default_value = "linkem0")]
    pub dev: String,
    /// MTU of both TUN devices (576..=65535).
    #[arg(long, default_value_t = 1500)]
    pub mtu: u32,
    /// Rate of both directions, Mbit/s (replaces a trace).
    #[arg(long, conflicts_with = "trace")]
    pub rate_mbit: Option<f64>,
    /// Rate A to B, Mbit/s.
    #[arg(long)]
    pub rate_mbit_a2b: Option<f64>,
    /// Rate B to A, Mbit/s.
    #[arg(long)]
    pub rate_mbit_b2a: Option<f64>,
    /// Round-trip propagation delay, ms (half each way).
    #[arg(long)]
    pub rtt_ms: Option<f64>,
    /// Jitter scale, ms (random extra delay, never reordering).
    #[arg(long)]
    pub jitter_ms: Option<f64>,
    /// Jitter distribution.
    #[arg(long, value_enum, default_value = "uniform")]
    pub jitter_dist: JitterDistArg,
    /// Random loss of both directions: a fraction (0.01) or a percentage (1%).
    #[arg(long)]
    pub loss: Option<String>,
    /// Random loss A to B.
    #[arg(long)]
    pub loss_a2b: Option<String>,
    /// Random loss B to A.
    #[arg(long)]
    pub loss_b2a: Option<String>,
    /// Gilbert–Elliott loss: p_good_to_bad,p_bad_to_good,loss_in_bad.
    #[arg(long)]
    pub burst_loss: Option<String>,
    /// Queue limit in packets.
    #[arg(long)]
    pub queue_packets: Option<u32>,
    /// Queue limit in bytes.
    #[arg(long)]
    pub queue_bytes: Option<u64>,
    /// Bandwidth trace replacing the rate of both directions.
    #[arg(long, requires = "trace_format")]
    pub trace: Option<PathBuf>,
    /// Format of --trace.
    #[arg(long, value_enum)]
    pub trace_format: Option<TraceFormatArg>,
    /// Rate scale: `auto` (fit the measured forwarding rate) or a factor in (0, 1].
    #[arg(long, default_value = "auto")]
    pub scale: String,
    /// Forwarding rate `--scale auto` fits, Mbit/s (default: measured for the MTU).
    #[arg(long)]
    pub max_forward_mbit: Option<f64>,
    /// Seed of the loss and jitter draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Nice value of the forwarding thread (-20 = highest CFS weight).
    #[arg(long, default_value_t = -20, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: i32,
}

/// Options of `tcp-sink`.
#[derive(Debug, Args)]
pub struct TcpSinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:5201")]
    pub listen: SocketAddr,
    /// Seconds after the first byte that the steady-state rate ignores.
    #[arg(long, default_value_t = 0.0)]
    pub warmup_secs: f64,
    /// Give up when no connection arrives within this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub accept_timeout_secs: f64,
}

/// Options of `tcp-source`.
#[derive(Debug, Args)]
pub struct TcpSourceArgs {
    /// Address of the sink.
    #[arg(long)]
    pub connect: SocketAddr,
    /// Seconds to send.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
}

/// Options of `udp-echo`.
#[derive(Debug, Args)]
pub struct UdpEchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:7007")]
    pub listen: SocketAddr,
}

/// Options of `udp-probe`.
#[derive(Debug, Args)]
pub struct UdpProbeArgs {
    /// Address of the echo.
    #[arg(long)]
    pub target: SocketAddr,
    /// Probes to send.
    #[arg(long, default_value_t = 1000)]
    pub count: u32,
    /// Microseconds between probes.
    #[arg(long, default_value_t = 1000)]
    pub interval_us: u64,
    /// Payload bytes per probe (16..=1400).
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Milliseconds to wait for late replies after the last probe.
    #[arg(long, default_value_t = 1000)]
    pub linger_ms: u64,
}

fn parse_probability(what: &str, text: &str) -> Result<f64> {
    let (number, divisor) = match text.strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("--{what} {text:?} is not a number"))?;
    Ok(value / divisor)
}

fn parse_burst_loss(text: &str) -> Result<GilbertElliott> {
    let parts: Vec<&str> = text.split(',').collect();
    let [good_to_bad, bad_to_good, loss_bad] = parts[..] else {
        bail!("--burst-loss wants p_good_to_bad,p_bad_to_good,loss_in_bad, got {text:?}");
    };
    Ok(GilbertElliott {
        p_good_to_bad: parse_probability("burst-loss", good_to_bad)?,
        p_bad_to_good: parse_probability("burst-loss", bad_to_good)?,
        loss_bad: parse_probability("burst-loss", loss_bad)?,
    })
}

fn mbit_to_bps(what: &str, mbit: f64) -> Result<u64> {
    if !(mbit.is_finite() && mbit > 0.0 && mbit <= 1e6) {
        bail!("--{what} {mbit} must be in (0, 1e6] Mbit/s");
    }
    // JUSTIFICATION: checked to be in (0, 1e12] bit/s.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((mbit * 1e6).round() as u64)
}

fn millis(what: &str, ms: f64) -> Result<Duration> {
    if !(ms.is_finite() && (0.0..=60_000.0).contains(&ms)) {
        bail!("--{what} {ms} must be in [0, 60000] ms");
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}

fn parse_endpoint(ns: &str, text: &str) -> Result<EndpointConfig> {
    let (addr, prefix_len) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, prefix.parse().context("bad prefix length")?),
        None => (text, 24),
    };
    let addr: Ipv4Addr = addr
        .parse()
        .with_context(|| format!("{text:?} is not an IPv4 address"))?;
    if !(1..=31).contains(&prefix_len) {
        bail!("prefix length {prefix_len} must be in 1..=31");
    }
    Ok(EndpointConfig {
        ns: ns.to_owned(),
        addr,
        prefix_len,
    })
}

/// Smallest MTU accepted (IPv4's minimum reassembly size).
pub const MTU_MIN: u32 = 576;
/// Largest MTU accepted.
pub const MTU_MAX: u32 = 65_535;

impl RunArgs {
    /// The topology part.
    pub fn topology(&self) -> Result<TopologyConfig> {
        if !(MTU_MIN..=MTU_MAX).contains(&self.mtu) {
            bail!("--mtu {} must be in {MTU_MIN}..={MTU_MAX}", self.mtu);
        }
        Ok(TopologyConfig {
            a: parse_endpoint(&self.ns_a, &self.addr_a)?,
            b: parse_endpoint(&self.ns_b, &self.addr_b)?,
            dev: self.dev.clone(),
            mtu: self.mtu,
        })
    }

    /// The link part: overrides of the profile.
    pub fn overrides(&self) -> Result<LinkOverrides> {
        let rate =
            |what: &str, value: Option<f64>| value.map(|mbit| mbit_to_bps(what, mbit)).transpose();
        let loss = |what: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| parse_probability(what, text))
                .transpose()
        };
        let distribution = match self.jitter_dist {
            JitterDistArg::Uniform => JitterDistribution::Uniform,
            JitterDistArg::Normal => JitterDistribution::Normal,
        };
        let jitter = self
            .jitter_ms
            .map(|ms| millis("jitter-ms", ms))
            .transpose()?
            .filter(|scale| !scale.is_zero())
            .map(|scale| JitterConfig {
                scale,
                distribution,
            });
        let trace = match (&self.trace, self.trace_format) {
            (Some(path), Some(format)) => Some((
                path.clone(),
                match format {
                    TraceFormatArg::Hsdpa => TraceFormat::Hsdpa,
                    TraceFormatArg::Mahimahi => TraceFormat::Mahimahi,
                },
            )),
            _ => None,
        };
        Ok(LinkOverrides {
            rate_bps: rate("rate-mbit", self.rate_mbit)?,
            rate_bps_a2b: rate("rate-mbit-a2b", self.rate_mbit_a2b)?,
            rate_bps_b2a: rate("rate-mbit-b2a", self.rate_mbit_b2a)?,
            rtt: self.rtt_ms.map(|ms| millis("rtt-ms", ms)).transpose()?,
            jitter,
            loss: loss("loss", &self.loss)?,
            loss_a2b: loss("loss-a2b", &self.loss_a2b)?,
            loss_b2a: loss("loss-b2a", &self.loss_b2a)?,
            burst_loss: self
                .burst_loss
                .as_deref()
                .map(parse_burst_loss)
                .transpose()?,
            queue_packets: self.queue_packets,
            queue_bytes: self.queue_bytes,
            trace,
        })
    }

    /// The scale setting.
    pub fn scale(&self) -> Result<Scale> {
        if self.scale == "auto" {
            return Ok(Scale::Auto);
        }
        let factor: f64 = self
            .scale
            .parse()
            .with_context(|| format!("--scale {:?} is neither `auto` nor a number", self.scale))?;
        Ok(Scale::Factor(factor))
    }
}
