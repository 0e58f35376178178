//! The peers a user would otherwise reach for, as commands: one plain TCP
//! stream, `zstd -1 -T0 | TCP | zstd -d`, and an rsync daemon (no ssh)
//! updating an older copy at the destination.

use crate::linkem::{in_namespace, Ready};
use crate::transfer::{Side, TransferSpec};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Port of the plain TCP and zstd receivers.
pub const TCP_PORT: u16 = 5301;
/// Port of the rsync daemon.
pub const RSYNC_PORT: u16 = 8730;
/// The rsync module.
pub const RSYNC_MODULE: &str = "wanbench";
/// The file name inside the module.
pub const RSYNC_FILE: &str = "image.ram";
/// `tcp-recv` gives up when nothing connects within this long, s.
const ACCEPT_TIMEOUT_S: &str = "60";

/// Which contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Contender {
    /// DWCP's live migration.
    #[serde(rename = "dwcp")]
    Dwcp,
    /// One plain TCP stream.
    #[serde(rename = "tcp")]
    Tcp,
    /// `zstd -1 -T0 | TCP`.
    #[serde(rename = "zstd-tcp")]
    ZstdTcp,
    /// rsync daemon against an older copy.
    #[serde(rename = "rsync")]
    Rsync,
}

impl Contender {
    /// The peers, in the order they run (after DWCP).
    pub const PEERS: [Contender; 3] = [Self::Tcp, Self::ZstdTcp, Self::Rsync];

    /// Its name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dwcp => "dwcp",
            Self::Tcp => "tcp",
            Self::ZstdTcp => "zstd-tcp",
            Self::Rsync => "rsync",
        }
    }

    /// What it is, for the table.
    pub fn settings(self) -> &'static str {
        match self {
            Self::Dwcp => "",
            Self::Tcp => "1 stream",
            Self::ZstdTcp => "zstd -1 -T0, 1 stream",
            Self::Rsync => "daemon, -a, vs older copy",
        }
    }
}

/// Everything a peer needs.
#[derive(Debug)]
pub struct PeerRun<'a> {
    /// This tool (its tcp-send / tcp-recv).
    pub bench: &'a Path,
    /// The link.
    pub ready: &'a Ready,
    /// The static image to copy.
    pub image: &'a Path,
    /// Where the receiver writes it (rsync: `<module dir>/image.ram`).
    pub destination: &'a Path,
    /// Log name prefix.
    pub name: &'a str,
    /// Time limit.
    pub limit: Duration,
}

impl PeerRun<'_> {
    fn sides(
        &self,
        receiver: std::process::Command,
        sender: std::process::Command,
        port: u16,
        receiver_exits: bool,
    ) -> TransferSpec {
        TransferSpec {
            receiver: Side {
                name: format!("{}-receiver", self.name),
                command: receiver,
            },
            receiver_exits,
            port,
            sender: Side {
                name: format!("{}-sender", self.name),
                command: sender,
            },
            limit: self.limit,
        }
    }

    /// One plain TCP stream.
    pub fn tcp(&self) -> TransferSpec {
        let address = format!("{}:{TCP_PORT}", self.ready.addr_b);
        let mut receiver = in_namespace(&self.ready.ns_b, self.bench);
        receiver
            .args([
                "tcp-recv",
                "--listen",
                &address,
                "--accept-timeout-s",
                ACCEPT_TIMEOUT_S,
                "--output",
            ])
            .arg(self.destination);
        let mut sender = in_namespace(&self.ready.ns_a, self.bench);
        sender
            .args(["tcp-send", "--connect", &address, "--input"])
            .arg(self.image);
        self.sides(receiver, sender, TCP_PORT, true)
    }

    /// `zstd -1 -T0 -c IMAGE | tcp-send` into `tcp-recv | zstd -d`.
    pub fn zstd_tcp(&self) -> TransferSpec {
        let address = format!("{}:{TCP_PORT}", self.ready.addr_b);
        let mut receiver = in_namespace(&self.ready.ns_b, "bash");
        receiver
            .arg("-c")
            .arg(format!(
                "set -o pipefail; \"$0\" tcp-recv --listen \"$1\" --accept-timeout-s {ACCEPT_TIMEOUT_S} --output - | zstd -d -q -c > \"$2\""
            ))
            .arg(self.bench)
            .arg(&address)
            .arg(self.destination);
        let mut sender = in_namespace(&self.ready.ns_a, "bash");
        sender
            .arg("-c")
            .arg("set -o pipefail; zstd -1 -T0 -q -c \"$1\" | \"$0\" tcp-send --connect \"$2\" --input -")
            .arg(self.bench)
            .arg(self.image)
            .arg(&address);
        self.sides(receiver, sender, TCP_PORT, true)
    }

    /// `rsync -a --stats IMAGE rsync://B:PORT/wanbench/image.ram` to a
    /// daemon in B whose module folder holds the older copy. `config` is
    /// the daemon's configuration (see `rsyncd_conf`).
    pub fn rsync(&self, config: &Path) -> TransferSpec {
        let mut receiver = in_namespace(&self.ready.ns_b, "rsync");
        receiver
            .args(["--daemon", "--no-detach"])
            .arg(format!("--config={}", config.display()))
            .arg(format!("--port={RSYNC_PORT}"))
            .arg(format!("--address={}", self.ready.addr_b));
        let mut sender = in_namespace(&self.ready.ns_a, "rsync");
        sender.args(["-a", "--stats"]).arg(self.image).arg(format!(
            "rsync://{}:{RSYNC_PORT}/{RSYNC_MODULE}/{RSYNC_FILE}",
            self.ready.addr_b
        ));
        self.sides(receiver, sender, RSYNC_PORT, false)
    }
}

/// The daemon's configuration: one writable module at `dir`, no chroot,
/// running as root (this tool runs as root), logging to `log`.
pub fn rsyncd_conf(dir: &Path, log: &Path) -> String {
    format!(
        "use chroot = no\nlog file = {log}\n\n[{RSYNC_MODULE}]\n    path = {dir}\n    read only = no\n    uid = 0\n    gid = 0\n",
        log = log.display(),
        dir = dir.display(),
    )
}

/// rsync's own counts from `--stats`: (literal bytes sent, matched bytes).
pub fn rsync_stats(stdout: &str) -> Option<(u64, u64)> {
    let field = |label: &str| -> Option<u64> {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(label))?;
        let value = line.split(':').nth(1)?.split_whitespace().next()?;
        value.replace(',', "").parse().ok()
    };
    Some((field("Literal data")?, field("Matched data")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "\nNumber of files: 1 (reg: 1)\nTotal file size: 1,073,741,824 bytes\nLiteral data: 35,512,320 bytes\nMatched data: 1,038,229,504 bytes\nTotal bytes sent: 35,700,000\n";

    #[test]
    fn rsync_stats_parse_with_thousands_separators() {
        assert_eq!(rsync_stats(STATS), Some((35_512_320, 1_038_229_504)));
        assert_eq!(rsync_stats("nothing here"), None);
    }

    #[test]
    fn rsyncd_conf_names_the_module_and_folder() {
        let conf = rsyncd_conf(Path::new("/dev/shm/x/dst"), Path::new("/tmp/r.log"));
        assert!(conf.contains("[wanbench]"), "{conf}");
        assert!(conf.contains("path = /dev/shm/x/dst"), "{conf}");
        assert!(conf.contains("read only = no"), "{conf}");
        assert!(conf.contains("log file = /tmp/r.log"), "{conf}");
    }

    #[test]
    fn names_are_stable() {
        let names: Vec<&str> = std::iter::once(Contender::Dwcp)
            .chain(Contender::PEERS)
            .map(Contender::name)
            .collect();
        assert_eq!(names, ["dwcp", "tcp", "zstd-tcp", "rsync"]);
        assert_eq!(
            serde_json::to_string(&Contender::ZstdTcp).expect("json"),
            "\"zstd-tcp\""
        );
    }
}
