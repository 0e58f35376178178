//! DWCP as an operator would run it on a given link: the link tier and the
//! stream count the system picks for the link's class, and the commands of
//! both data planes.

use crate::linkem::{in_namespace, Ready};
use crate::transfer::{Side, TransferSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The port the DWCP receiver listens on (a fresh namespace each time).
pub const PORT: u16 = 7470;
/// The receiver gives up when no source connects within this long, ms.
const ACCEPT_TIMEOUT_MS: &str = "60000";

/// The control plane's classification thresholds (its `[mode]` defaults,
/// docs/mode-detector.md): datacenter below this RTT, ms...
pub const DATACENTER_RTT_MS: f64 = 10.0;
/// ...at or above this bandwidth, Mbit/s (below it: internet)...
pub const BANDWIDTH_MBPS: f64 = 1000.0;
/// ...at or below this loss, percent.
pub const DATACENTER_LOSS_PERCENT: f64 = 0.1;
/// Internet above this RTT, ms...
pub const INTERNET_RTT_MS: f64 = 50.0;
/// ...or above this loss, percent.
pub const INTERNET_LOSS_PERCENT: f64 = 1.0;
/// Streams the control plane opens on an internet link (`INTERNET_STREAMS`).
pub const CONTROL_PLANE_INTERNET_STREAMS: u16 = 8;
/// Streams the control plane opens on a hybrid link (`HYBRID_STREAMS`).
pub const CONTROL_PLANE_HYBRID_STREAMS: u16 = 4;

/// How the stream count is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPolicy {
    /// The data plane's default: the bandwidth-delay product (from
    /// `--link-mbps` = the link rate and the measured RTT) over one
    /// stream's in-flight window.
    Bdp,
    /// What `dwcpctl migrate` gets from the control plane for the link's
    /// class: 8 on internet links, 4 on hybrid ones, the BDP otherwise.
    ControlPlane,
    /// A fixed count.
    Fixed(u16),
}

impl std::str::FromStr for StreamPolicy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "bdp" => Ok(Self::Bdp),
            "control-plane" => Ok(Self::ControlPlane),
            n => match n.parse::<u16>() {
                Ok(count) if (1..=64).contains(&count) => Ok(Self::Fixed(count)),
                _ => Err(format!("{text:?}: want bdp, control-plane or 1..=64")),
            },
        }
    }
}

impl std::fmt::Display for StreamPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bdp => f.write_str("bdp"),
            Self::ControlPlane => f.write_str("control-plane"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The link's class, as the control plane's mode detector would call it.
pub fn link_mode(rtt_ms: f64, bandwidth_mbps: f64, loss_percent: f64) -> &'static str {
    if rtt_ms < DATACENTER_RTT_MS
        && bandwidth_mbps >= BANDWIDTH_MBPS
        && loss_percent <= DATACENTER_LOSS_PERCENT
    {
        "datacenter"
    } else if rtt_ms > INTERNET_RTT_MS
        || bandwidth_mbps < BANDWIDTH_MBPS
        || loss_percent > INTERNET_LOSS_PERCENT
    {
        "internet"
    } else {
        "hybrid"
    }
}

/// What DWCP is told about the link.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DwcpSettings {
    /// The link's class (datacenter, hybrid, internet).
    pub mode: &'static str,
    /// `--link-tier`: datacenter, or internet on hybrid and internet links
    /// (as the control plane picks it).
    pub link_tier: &'static str,
    /// `--streams`, or none for the data plane's BDP default.
    pub streams: Option<u16>,
    /// `--link-mbps`: the emulated rate, rounded up.
    pub link_mbps: u64,
    /// The policy the stream count came from.
    pub stream_policy: String,
}

impl DwcpSettings {
    /// The settings for the link `ready` describes.
    pub fn for_link(ready: &Ready, policy: StreamPolicy) -> Self {
        let rate_mbps = ready.rate_bps as f64 / 1e6;
        let rtt_ms = ready.rtt_us as f64 / 1e3;
        let mode = link_mode(rtt_ms, rate_mbps, ready.loss * 100.0);
        let link_tier = if mode == "datacenter" {
            "datacenter"
        } else {
            "internet"
        };
        let streams = match policy {
            StreamPolicy::Bdp => None,
            StreamPolicy::Fixed(n) => Some(n),
            StreamPolicy::ControlPlane => match mode {
                "internet" => Some(CONTROL_PLANE_INTERNET_STREAMS),
                "hybrid" => Some(CONTROL_PLANE_HYBRID_STREAMS),
                _ => None,
            },
        };
        Self {
            mode,
            link_tier,
            streams,
            link_mbps: ready.rate_bps.div_ceil(1_000_000).max(1),
            stream_policy: policy.to_string(),
        }
    }

    /// For the table: `tier internet, 8 streams` (streams as used).
    pub fn describe(&self, streams_used: Option<u16>) -> String {
        let plural = |n: u16| if n == 1 { "stream" } else { "streams" };
        let streams = match streams_used.or(self.streams) {
            Some(n) => format!("{n} {}", plural(n)),
            None => "streams".into(),
        };
        let from = match self.stream_policy.as_str() {
            "bdp" => " (BDP of --link-mbps)".to_owned(),
            "control-plane" => " (control plane's choice)".to_owned(),
            _ => String::new(),
        };
        format!("tier {}, {streams}{from}", self.link_tier)
    }
}

/// How the source pauses the guest.
#[derive(Debug, Clone)]
pub enum Pause {
    /// `--pause-pid PID` (SIGSTOP / SIGCONT).
    Pid(u32),
    /// `--pause-cmd` / `--resume-cmd` shell commands.
    Commands {
        /// Pauses the guest.
        pause: String,
        /// Resumes it.
        resume: String,
    },
}

/// The pause hook of the snapshot replay: wait (up to `wait`) until the
/// guest's log says the replay is complete, so that the switch-over point
/// and the expected image (t30s) do not depend on how fast the link is,
/// then SIGSTOP and wait for state T. As tests/migration/t70 does, with a
/// look at the log instead of a 1 GiB `cmp` in the hook.
pub fn replay_pause(pid: u32, guest_log: &Path, wait: Duration) -> Pause {
    let tenths = wait.as_millis() / 100;
    let pause = format!(
        "i=0; until grep -q 'replay complete' '{log}'; do i=$((i+1)); \
         [ $i -lt {tenths} ] || {{ echo 'the replay did not complete' >&2; exit 1; }}; sleep 0.1; done; \
         kill -STOP {pid}; \
         until [ \"$(cut -d' ' -f3 /proc/{pid}/stat)\" = T ]; do sleep 0.005; done",
        log = guest_log.display(),
    );
    Pause::Commands {
        pause,
        resume: format!("kill -CONT {pid}"),
    }
}

/// Paths and settings of one DWCP migration.
#[derive(Debug)]
pub struct DwcpRun<'a> {
    /// `dwcp-dataplane`.
    pub dataplane: &'a Path,
    /// The link.
    pub ready: &'a Ready,
    /// The guest's memory file.
    pub memory: &'a Path,
    /// The destination's image.
    pub destination: &'a Path,
    /// The pre-shared key.
    pub key: &'a Path,
    /// Tier, streams, rate.
    pub settings: &'a DwcpSettings,
    /// How the guest is paused.
    pub pause: &'a Pause,
    /// Log name prefix.
    pub name: &'a str,
    /// Time limit.
    pub limit: Duration,
    /// Extra arguments for `migrate`, after the others.
    pub extra_args: &'a [String],
}

impl DwcpRun<'_> {
    /// Receiver in B, source in A.
    pub fn spec(&self) -> TransferSpec {
        let listen = format!("{}:{PORT}", self.ready.addr_b);
        let mut receiver = in_namespace(&self.ready.ns_b, self.dataplane);
        receiver
            .args(["receive", "--listen", &listen, "--memory"])
            .arg(self.destination)
            .arg("--key-file")
            .arg(self.key)
            .args(["--no-progress", "--accept-timeout-ms", ACCEPT_TIMEOUT_MS]);
        let mut sender = in_namespace(&self.ready.ns_a, self.dataplane);
        sender
            .args(["migrate", "--memory"])
            .arg(self.memory)
            .args(["--to", &listen, "--key-file"])
            .arg(self.key)
            .args(["--no-progress", "--link-tier", self.settings.link_tier])
            .arg("--link-mbps")
            .arg(self.settings.link_mbps.to_string());
        if let Some(streams) = self.settings.streams {
            sender.arg("--streams").arg(streams.to_string());
        }
        match self.pause {
            Pause::Pid(pid) => {
                sender.arg("--pause-pid").arg(pid.to_string());
            }
            Pause::Commands { pause, resume } => {
                sender
                    .arg("--pause-cmd")
                    .arg(pause)
                    .arg("--resume-cmd")
                    .arg(resume);
            }
        }
        sender.args(self.extra_args);
        TransferSpec {
            receiver: Side {
                name: format!("{}-receive", self.name),
                command: receiver,
            },
            receiver_exits: true,
            port: PORT,
            sender: Side {
                name: format!("{}-migrate", self.name),
                command: sender,
            },
            limit: self.limit,
        }
    }
}

/// The fields of dwcp-dataplane's JSON summary this tool reads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Summary {
    /// Destination verified the whole image.
    pub verified: bool,
    /// Wall time of the migration, ms.
    pub total_ms: u64,
    /// Guest paused to verified, ms.
    pub downtime_ms: Option<u64>,
    /// Pre-copy rounds, the final one included.
    pub rounds: u32,
    /// Socket bytes (framing and AEAD tags included).
    pub bytes_on_wire: u64,
    /// Streams used.
    pub streams: u16,
    /// Why pre-copy stopped.
    pub switchover_reason: Option<String>,
    /// The image digest.
    pub digest: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
}

/// Parses the summary, the last stdout line.
pub fn parse_summary(stdout: &str) -> Option<Summary> {
    serde_json::from_str(&crate::child::last_line(stdout)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(rate_bps: u64, rtt_us: u64, loss: f64) -> Ready {
        Ready {
            ns_a: "a".into(),
            ns_b: "b".into(),
            addr_b: "10.77.0.2".into(),
            profile: "p".into(),
            rate_bps,
            rtt_us,
            loss,
            scale: 1.0,
        }
    }

    #[test]
    fn profiles_classify_as_the_control_plane_would() {
        assert_eq!(link_mode(0.1, 1000.0, 0.0), "datacenter");
        assert_eq!(link_mode(20.0, 1000.0, 0.0), "hybrid");
        assert_eq!(link_mode(100.0, 200.0, 0.5), "internet");
        assert_eq!(link_mode(250.0, 100.0, 1.0), "internet");
        assert_eq!(link_mode(80.0, 16.7, 0.0), "internet");
        assert_eq!(link_mode(5.0, 999.0, 0.0), "internet", "below 1 Gbit/s");
        assert_eq!(link_mode(5.0, 1000.0, 0.5), "hybrid", "lossy but not 1 %");
    }

    #[test]
    fn settings_follow_the_policy() {
        let internet = ready(200_000_000, 100_000, 0.005);
        let bdp = DwcpSettings::for_link(&internet, StreamPolicy::Bdp);
        assert_eq!(
            (bdp.mode, bdp.link_tier, bdp.streams, bdp.link_mbps),
            ("internet", "internet", None, 200)
        );
        let cp = DwcpSettings::for_link(&internet, StreamPolicy::ControlPlane);
        assert_eq!(cp.streams, Some(CONTROL_PLANE_INTERNET_STREAMS));
        let dc =
            DwcpSettings::for_link(&ready(1_000_000_000, 100, 0.0), StreamPolicy::ControlPlane);
        assert_eq!((dc.link_tier, dc.streams), ("datacenter", None));
        let hybrid = DwcpSettings::for_link(
            &ready(1_000_000_000, 20_000, 0.0),
            StreamPolicy::ControlPlane,
        );
        assert_eq!((hybrid.link_tier, hybrid.streams), ("internet", Some(4)));
        let fixed = DwcpSettings::for_link(&internet, StreamPolicy::Fixed(3));
        assert_eq!(fixed.streams, Some(3));
        let slow = DwcpSettings::for_link(&ready(16_700_001, 80_000, 0.0), StreamPolicy::Bdp);
        assert_eq!(slow.link_mbps, 17, "rounded up");
    }

    #[test]
    fn describe_names_tier_and_streams() {
        let internet = ready(200_000_000, 100_000, 0.005);
        let bdp = DwcpSettings::for_link(&internet, StreamPolicy::Bdp);
        assert_eq!(
            bdp.describe(Some(1)),
            "tier internet, 1 stream (BDP of --link-mbps)"
        );
        assert_eq!(
            bdp.describe(None),
            "tier internet, streams (BDP of --link-mbps)"
        );
        let cp = DwcpSettings::for_link(&internet, StreamPolicy::ControlPlane);
        assert_eq!(
            cp.describe(Some(8)),
            "tier internet, 8 streams (control plane's choice)"
        );
        let fixed = DwcpSettings::for_link(&internet, StreamPolicy::Fixed(2));
        assert_eq!(fixed.describe(None), "tier internet, 2 streams");
    }

    #[test]
    fn policy_parses() {
        assert_eq!("bdp".parse(), Ok(StreamPolicy::Bdp));
        assert_eq!("control-plane".parse(), Ok(StreamPolicy::ControlPlane));
        assert_eq!("8".parse(), Ok(StreamPolicy::Fixed(8)));
        for policy in [
            StreamPolicy::Bdp,
            StreamPolicy::ControlPlane,
            StreamPolicy::Fixed(3),
        ] {
            assert_eq!(policy.to_string().parse(), Ok(policy));
        }
        assert!("0".parse::<StreamPolicy>().is_err());
        assert!("65".parse::<StreamPolicy>().is_err());
        assert!("many".parse::<StreamPolicy>().is_err());
    }

    #[test]
    fn summary_is_the_last_line() {
        let out = "noise\n{\"role\":\"source\",\"verified\":true,\"total_ms\":1200,\"setup_ms\":10,\"downtime_ms\":35,\"rounds\":3,\"bytes_on_wire\":99,\"streams\":8,\"switchover_reason\":\"fits_budget\",\"digest\":\"ab\",\"error\":null}\n";
        let summary = parse_summary(out).expect("parses");
        assert!(summary.verified);
        assert_eq!(
            (summary.total_ms, summary.downtime_ms, summary.streams),
            (1200, Some(35), 8)
        );
        assert_eq!(parse_summary("not json\n"), None);
        assert_eq!(parse_summary(""), None);
    }

    #[test]
    fn replay_pause_waits_for_the_log_then_stops() {
        let Pause::Commands { pause, resume } =
            replay_pause(42, Path::new("/tmp/g.err"), Duration::from_secs(60))
        else {
            panic!("commands expected");
        };
        assert!(
            pause.contains("grep -q 'replay complete' '/tmp/g.err'"),
            "{pause}"
        );
        assert!(pause.contains("[ $i -lt 600 ]"), "{pause}");
        assert!(pause.contains("kill -STOP 42"), "{pause}");
        assert_eq!(resume, "kill -CONT 42");
    }
}
