//! [`ClusterModel`]: the VM placement model as callers write it (JSON):
//! regions of hosts with capacities, the links between regions, VMs with
//! their demands, the measured traffic between VMs, and constraints. Names,
//! not indices: [`Cluster::new`](super::cluster::Cluster::new) checks the
//! model and resolves the names.
//!
//! Units: CPU in millicores, memory in MiB, traffic and bandwidth in bytes
//! per second, latency in milliseconds (docs/placement.md §1).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Latency between two hosts of one region when the model does not say
/// (milliseconds).
pub const DEFAULT_HOST_LATENCY_MS: f64 = 0.2;

/// Bandwidth between two hosts of one region when the model does not say
/// (bytes/s, 10 Gbit/s): the cost of a migration inside a region.
pub const DEFAULT_LAN_BANDWIDTH: f64 = 1.25e9;

/// The whole placement problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterModel {
    /// Regions, each with its hosts.
    pub regions: Vec<RegionSpec>,
    /// One link per pair of distinct regions (symmetric).
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// The VMs.
    pub vms: Vec<VmSpec>,
    /// Measured traffic between VMs (a pair listed twice adds up).
    #[serde(default)]
    pub traffic: Vec<Flow>,
    /// Placement constraints.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// A region: hosts on one LAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Unique among regions.
    pub name: String,
    /// Its hosts (at least one).
    pub hosts: Vec<HostSpec>,
    /// Latency between two of its hosts (the hierarchy-aware cost's
    /// `d_host`).
    #[serde(default = "default_host_latency")]
    pub host_latency_ms: f64,
    /// Bandwidth between two of its hosts (the cost of a migration inside
    /// the region).
    #[serde(default = "default_lan_bandwidth")]
    pub lan_bandwidth_bytes_per_s: f64,
}

fn default_host_latency() -> f64 {
    DEFAULT_HOST_LATENCY_MS
}

fn default_lan_bandwidth() -> f64 {
    DEFAULT_LAN_BANDWIDTH
}

/// A host and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Unique among all hosts of all regions.
    pub name: String,
    /// CPU capacity (millicores, > 0).
    pub cpu_millicores: u64,
    /// Memory capacity (MiB, > 0).
    pub memory_mib: u64,
}

/// The WAN link between two regions (both directions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One region.
    pub a: String,
    /// The other.
    pub b: String,
    /// Latency (ms, > 0): the hierarchy-aware cost's `d(a, b)`.
    pub latency_ms: f64,
    /// Bandwidth (bytes/s, > 0): the CCR's `B(a, b)`.
    pub bandwidth_bytes_per_s: f64,
}

/// A VM and what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    /// Unique among VMs.
    pub name: String,
    /// CPU demand (millicores).
    pub cpu_millicores: u64,
    /// Memory (MiB): its demand, and what a migration moves.
    pub memory_mib: u64,
}

/// Measured traffic from one VM to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Sending VM.
    pub from: String,
    /// Receiving VM.
    pub to: String,
    /// Rate (bytes/s).
    pub bytes_per_s: u64,
}

/// A placement constraint (JSON: `{"kind": "pin_region", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Constraint {
    /// The VM runs in this region.
    PinRegion {
        /// The VM.
        vm: String,
        /// The region.
        region: String,
    },
    /// The VM runs on this host.
    PinHost {
        /// The VM.
        vm: String,
        /// The host.
        host: String,
    },
    /// No two of these VMs on one host.
    AntiAffinity {
        /// The VMs (two or more).
        vms: Vec<String>,
    },
    /// These VMs in one region (contracted into one unit for placement).
    KeepTogether {
        /// The VMs (two or more).
        vms: Vec<String>,
    },
    /// The VM's region is at most `max_ms` from `region` (0 inside it).
    MaxLatency {
        /// The VM.
        vm: String,
        /// The region it must stay near.
        region: String,
        /// The bound (ms).
        max_ms: f64,
    },
    /// The regions of `a` and `b` are the same or linked by at least
    /// `min_bytes_per_s`.
    MinBandwidth {
        /// One VM.
        a: String,
        /// The other.
        b: String,
        /// The bound (bytes/s).
        min_bytes_per_s: f64,
    },
}

impl Constraint {
    /// The constraint's kind as written in JSON (`pin_region`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Constraint::PinRegion { .. } => "pin_region",
            Constraint::PinHost { .. } => "pin_host",
            Constraint::AntiAffinity { .. } => "anti_affinity",
            Constraint::KeepTogether { .. } => "keep_together",
            Constraint::MaxLatency { .. } => "max_latency",
            Constraint::MinBandwidth { .. } => "min_bandwidth",
        }
    }
}

/// Where VMs run: VM name → host name (JSON: an object). A VM of the
/// model that is absent is not placed (yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Placement(pub BTreeMap<String, String>);
