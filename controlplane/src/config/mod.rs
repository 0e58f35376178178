//! The control plane's TOML configuration and its validation.
//!
//! # Design
//!
//! One file per host, read once at startup:
//!
//! 1. [`ControlPlaneConfig::load`] reads the file (at most
//!    [`CONFIG_LEN_MAX`] bytes) and hands it to
//!    [`ControlPlaneConfig::from_toml_str`];
//! 2. serde parses it with `deny_unknown_fields` everywhere, so a typo is an
//!    error and not a silent default; `[node]`, `[api]` and `[peer]` are
//!    required, every other section and `[[peers]]` may be left out, and a
//!    section that is present may leave out any field that has a default;
//! 3. [`ControlPlaneConfig::validate`] checks ranges and cross-field rules
//!    without touching the file system, so a configuration can be checked
//!    anywhere;
//! 4. [`ControlPlaneConfig::validate_files`] checks, on the host itself,
//!    that the certificate files are readable and the directories exist.
//!
//! Every error names the dotted field (`migration.downtime_ms`,
//! `peers[1].id`), the value and what is allowed. docs/controlplane-config.md
//! lists every field with its unit, default and range; [`EXAMPLE`] is a
//! complete valid file.
//!
//! Units are in the names: `_ms` milliseconds, `_mbps` megabits per second
//! (10^6 bit/s; [`pacing_bytes_per_s`] is the one conversion to bytes),
//! `_percent` percent.

mod check;
mod error;
mod files;
mod migration;
mod prediction;
mod sections;
mod thresholds;

pub use check::{is_valid_id, HOST_NAME_LEN_MAX, ID_LEN_MAX};
pub use error::ConfigError;
pub use migration::{
    pacing_bytes_per_s, MigrationDefaults, DOWNTIME_MS_MAX, MAX_ROUNDS_MAX, PACING_MBPS_MAX,
    STREAMS_MAX,
};
pub use prediction::PredictionSection;
pub use sections::{
    ApiSection, NodeSection, PeerConfig, PeerSection, ReceiveSection, HEARTBEAT_TIMEOUT_MS_DEFAULT,
    HEARTBEAT_TIMEOUT_MS_MAX, HEARTBEAT_TIMEOUT_MS_MIN, RECEIVE_PORTS_MAX, RECEIVE_PORT_MIN,
};
pub use thresholds::{
    ModeThresholds, DWELL_MS_MAX, HYSTERESIS_MAX, LOSS_PERCENT_MAX, WINDOW_SAMPLES_MAX,
};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

/// Most `[[peers]]` entries.
pub const PEERS_MAX: usize = 32;
/// Largest configuration file accepted, in bytes.
pub const CONFIG_LEN_MAX: u64 = 1 << 20;

/// A complete, valid configuration (host `host-a` of a two-peer setup).
/// docs/controlplane-config.md shows it; the tests parse it.
pub const EXAMPLE: &str = r#"[node]
id = "host-a"
tables = "/dev/shm/dwcp-host-a.tables"
dataplane_heartbeat_timeout_ms = 2000

[api]
listen = "127.0.0.1:7700"

[peer]
listen = "0.0.0.0:7701"
ca = "/etc/dwcp/ca.pem"
cert = "/etc/dwcp/host-a.pem"
key = "/etc/dwcp/host-a.key"

[[peers]]
id = "host-b"
control = "192.0.2.2:7701"

[[peers]]
id = "host-c"
control = "host-c.example.net:7701"

[receive]
data_host = "192.0.2.1"
port_min = 7800
port_max = 7831
memory_dir = "/dev/shm"

[migration]
streams = 0
downtime_ms = 300
max_rounds = 30
pacing_mbps = 0
codec = true

[mode]
datacenter_rtt_ms = 10.0
internet_rtt_ms = 50.0
bandwidth_mbps = 1000.0
datacenter_loss_percent = 0.1
internet_loss_percent = 1.0
window = 10
hysteresis = 0.2
dwell_ms = 10000
"#;

/// The control plane's configuration: one per host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// `[node]`: this host (required).
    pub node: NodeSection,
    /// `[api]`: the operators' HTTP API (required).
    pub api: ApiSection,
    /// `[peer]`: the mTLS listener for other control planes (required).
    pub peer: PeerSection,
    /// `[[peers]]`: the other hosts' control planes (0..=`PEERS_MAX`).
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// `[receive]`: this host as a migration destination.
    #[serde(default)]
    pub receive: ReceiveSection,
    /// `[migration]`: defaults for new migrations.
    #[serde(default)]
    pub migration: MigrationDefaults,
    /// `[mode]`: the link mode detector's thresholds.
    #[serde(default)]
    pub mode: ModeThresholds,
    /// `[prediction]`: the bandwidth predictor's model file.
    #[serde(default)]
    pub prediction: PredictionSection,
}

impl ControlPlaneConfig {
    /// Parses TOML text and validates it (without touching the file system).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the file at `path` (at most `CONFIG_LEN_MAX` bytes), then
    /// [`from_toml_str`](Self::from_toml_str). A parse error's message starts
    /// with the path.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let io_error = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let mut text = String::new();
        file.take(CONFIG_LEN_MAX + 1)
            .read_to_string(&mut text)
            .map_err(io_error)?;
        if text.len() as u64 > CONFIG_LEN_MAX {
            return Err(ConfigError::File {
                field: "configuration".to_owned(),
                path: path.to_path_buf(),
                reason: format!("is larger than {CONFIG_LEN_MAX} bytes"),
            });
        }
        Self::from_toml_str(&text).map_err(|e| match e {
            ConfigError::Parse { message } => ConfigError::Parse {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    /// Checks every range and cross-field rule; returns the first violation.
    ///
    /// Cross-field rules: peer ids are unique and differ from `node.id`;
    /// `api.listen` and `peer.listen` do not share a port; neither listener's
    /// port lies in the receive port range (port 0, "any free port", is
    /// exempt from both).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.node.validate()?;
        self.peer.validate()?;
        self.validate_peers()?;
        self.receive.validate()?;
        self.migration.validate()?;
        self.mode.validate()?;
        self.prediction.validate()?;
        self.validate_ports()
    }

    /// Checks, on this host, that `peer.ca`, `peer.cert` and `peer.key` are
    /// readable files, `receive.memory_dir` is a directory, and the directory
    /// of `node.tables` exists.
    pub fn validate_files(&self) -> Result<(), ConfigError> {
        files::readable_file("peer.ca", &self.peer.ca)?;
        files::readable_file("peer.cert", &self.peer.cert)?;
        files::readable_file("peer.key", &self.peer.key)?;
        files::directory("receive.memory_dir", &self.receive.memory_dir)?;
        files::parent_directory("node.tables", &self.node.tables)
    }

    /// The `[[peers]]` entry with this id.
    pub fn peer(&self, id: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|peer| peer.id == id)
    }

    fn validate_peers(&self) -> Result<(), ConfigError> {
        if self.peers.len() > PEERS_MAX {
            return Err(ConfigError::out_of_range(
                "peers",
                self.peers.len(),
                format!("0..={PEERS_MAX} entries"),
            ));
        }
        let mut first_index_by_id = HashMap::with_capacity(self.peers.len());
        for (index, peer) in self.peers.iter().enumerate() {
            peer.validate(index)?;
            let field = format!("peers[{index}].id");
            if peer.id == self.node.id {
                return Err(ConfigError::invalid(
                    &field,
                    format!("{:?}", peer.id),
                    "equals node.id",
                ));
            }
            if let Some(first) = first_index_by_id.insert(peer.id.as_str(), index) {
                return Err(ConfigError::invalid(
                    &field,
                    format!("{:?}", peer.id),
                    format!("duplicate of peers[{first}].id"),
                ));
            }
        }
        Ok(())
    }

    fn validate_ports(&self) -> Result<(), ConfigError> {
        let (api, peer) = (self.api.listen, self.peer.listen);
        if api.port() != 0 && api.port() == peer.port() && listeners_overlap(api, peer) {
            return Err(ConfigError::invalid(
                "peer.listen",
                peer,
                format!("uses the port of api.listen ({api})"),
            ));
        }
        for (field, listen) in [("api.listen", api), ("peer.listen", peer)] {
            if listen.port() != 0 && self.receive.contains_port(listen.port()) {
                return Err(ConfigError::invalid(
                    field,
                    listen,
                    format!(
                        "port {} is inside receive.port_min..=receive.port_max ({}..={})",
                        listen.port(),
                        self.receive.port_min,
                        self.receive.port_max
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether two listeners on the same port would clash: same address, or
/// either binds every address.
fn listeners_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}
