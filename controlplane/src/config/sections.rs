//! The host-level sections: `[node]`, `[api]`, `[peer]`, `[[peers]]` and
//! `[receive]`, with their bounds and per-section checks. Cross-section rules
//! (peer ids against the node id, port clashes) live in `ControlPlaneConfig`.

use super::check;
use super::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shortest data-plane heartbeat timeout, in milliseconds.
pub const HEARTBEAT_TIMEOUT_MS_MIN: u64 = 200;
/// Longest data-plane heartbeat timeout, in milliseconds.
pub const HEARTBEAT_TIMEOUT_MS_MAX: u64 = 60_000;
/// Default data-plane heartbeat timeout, in milliseconds.
pub const HEARTBEAT_TIMEOUT_MS_DEFAULT: u64 = 2_000;
/// Lowest port the receive range may use (no privileged ports).
pub const RECEIVE_PORT_MIN: u16 = 1024;
/// Most ports in the receive range.
pub const RECEIVE_PORTS_MAX: u32 = 1024;

const _: () = assert!(HEARTBEAT_TIMEOUT_MS_MIN <= HEARTBEAT_TIMEOUT_MS_DEFAULT);
const _: () = assert!(HEARTBEAT_TIMEOUT_MS_DEFAULT <= HEARTBEAT_TIMEOUT_MS_MAX);
const _: () = assert!(RECEIVE_PORTS_MAX <= u16::MAX as u32 - RECEIVE_PORT_MIN as u32 + 1);

/// `[node]`: this host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// This host's id: 1..=64 characters of `[A-Za-z0-9._-]`.
    pub id: String,
    /// Absolute path of the shared-memory tables file shared with the data plane.
    pub tables: PathBuf,
    /// The data plane is considered dead after this long without a heartbeat,
    /// in milliseconds (200..=60000, default 2000).
    #[serde(default = "default_heartbeat_timeout_ms")]
    pub dataplane_heartbeat_timeout_ms: u64,
}

fn default_heartbeat_timeout_ms() -> u64 {
    HEARTBEAT_TIMEOUT_MS_DEFAULT
}

impl NodeSection {
    /// Checks the id, the path and the timeout's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::id("node.id", &self.id)?;
        check::absolute_file_path("node.tables", &self.tables)?;
        check::in_range(
            "node.dataplane_heartbeat_timeout_ms",
            self.dataplane_heartbeat_timeout_ms,
            HEARTBEAT_TIMEOUT_MS_MIN..=HEARTBEAT_TIMEOUT_MS_MAX,
        )
    }
}

/// `[api]`: the operators' HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address the HTTP API listens on (port 0: any free port).
    pub listen: SocketAddr,
}

/// `[peer]`: this control plane's mutually authenticated TLS listener for
/// the control planes of other hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// Address the peer listener binds (port 0: any free port).
    pub listen: SocketAddr,
    /// Absolute path of the PEM CA certificate(s) that peers' certificates must chain to.
    pub ca: PathBuf,
    /// Absolute path of this host's PEM certificate chain.
    pub cert: PathBuf,
    /// Absolute path of this host's PEM private key.
    pub key: PathBuf,
}

impl PeerSection {
    /// Checks that the three paths are absolute file paths (whether they
    /// exist is `validate_files`' job).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::absolute_file_path("peer.ca", &self.ca)?;
        check::absolute_file_path("peer.cert", &self.cert)?;
        check::absolute_file_path("peer.key", &self.key)
    }
}

/// One `[[peers]]` entry: another host's control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's node id (its `node.id`), unique among the peers.
    pub id: String,
    /// `host:port` of its control plane's peer listener; the host may be a name.
    pub control: String,
}

impl PeerConfig {
    /// Checks entry `index`'s id and address syntax.
    pub fn validate(&self, index: usize) -> Result<(), ConfigError> {
        check::id(&format!("peers[{index}].id"), &self.id)?;
        check::dialable_host_port(&format!("peers[{index}].control"), &self.control)
    }
}

/// `[receive]`: this host as a migration destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiveSection {
    /// Address of this host's data plane that a source dials: an IP address
    /// (not 0.0.0.0 or ::) or a host name, no port. The default, 127.0.0.1,
    /// only works for migrations within one host.
    pub data_host: String,
    /// First port of the data plane's listening range (1024..=65535).
    pub port_min: u16,
    /// Last port of the range (port_min..=65535, at most 1024 ports).
    pub port_max: u16,
    /// Absolute directory that receives destination memory files, as
    /// `memory_dir/<vm_id>.ram`.
    pub memory_dir: PathBuf,
}

impl Default for ReceiveSection {
    fn default() -> Self {
        Self {
            data_host: "127.0.0.1".to_owned(),
            port_min: 7800,
            port_max: 7831,
            memory_dir: PathBuf::from("/dev/shm"),
        }
    }
}

impl ReceiveSection {
    /// Checks the host, the port range and the directory path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::dialable_host("receive.data_host", &self.data_host)?;
        check::in_range(
            "receive.port_min",
            self.port_min,
            RECEIVE_PORT_MIN..=u16::MAX,
        )?;
        let last_allowed = u32::from(self.port_min) + RECEIVE_PORTS_MAX - 1;
        let last_allowed = u16::try_from(last_allowed).unwrap_or(u16::MAX);
        check::in_range(
            "receive.port_max",
            self.port_max,
            self.port_min..=last_allowed,
        )?;
        check::absolute_path("receive.memory_dir", &self.memory_dir)
    }

    /// Whether `port` lies in `port_min..=port_max`.
    pub fn contains_port(&self, port: u16) -> bool {
        (self.port_min..=self.port_max).contains(&port)
    }

    /// Number of ports in the range (0 if `port_max < port_min`).
    pub fn port_count(&self) -> u32 {
        (u32::from(self.port_max) + 1).saturating_sub(u32::from(self.port_min))
    }
}
