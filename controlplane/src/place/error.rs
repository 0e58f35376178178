//! [`PlacementError`]: why a model is refused or a placement cannot be made.
//! Each variant names the constraint or the resource at fault, with the
//! numbers, so that an infeasible request is never answered with a silent
//! best effort (docs/placement.md §6).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A resource a VM needs and a host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// CPU, in millicores.
    Cpu,
    /// Memory, in MiB.
    Memory,
}

impl Resource {
    /// Both, in the order of the `[cpu, memory]` arrays.
    pub const ALL: [Resource; 2] = [Resource::Cpu, Resource::Memory];

    /// The index in `[cpu, memory]` arrays.
    pub fn index(self) -> usize {
        match self {
            Resource::Cpu => 0,
            Resource::Memory => 1,
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Cpu => "cpu (millicores)",
            Resource::Memory => "memory (MiB)",
        })
    }
}

/// Why a model is refused or cannot be placed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlacementError {
    /// More regions, hosts, VMs, flows or constraints than supported.
    #[error("the model has {count} {what}, more than the {max} supported")]
    TooLarge {
        /// What there are too many of.
        what: &'static str,
        /// How many.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// No regions, or a region without hosts.
    #[error("{what} is empty")]
    Empty {
        /// What (`regions`, `region r1's hosts`, ...).
        what: String,
    },
    /// Two things of one kind share a name.
    #[error("{what} name {name:?} is used twice")]
    DuplicateName {
        /// `region`, `host` or `vm`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A name that does not exist.
    #[error("{context}: no {what} named {name:?}")]
    UnknownName {
        /// `region`, `host` or `vm`.
        what: &'static str,
        /// The name.
        name: String,
        /// Where it was used.
        context: String,
    },
    /// A number out of its range.
    #[error("{what} = {value}: {expected}")]
    BadValue {
        /// The field.
        what: String,
        /// The value given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// Two regions without a link between them.
    #[error("no link between regions {a} and {b} (every pair of regions needs one)")]
    MissingLink {
        /// One region.
        a: String,
        /// The other.
        b: String,
    },
    /// A link given twice.
    #[error("link {a}-{b} is given twice")]
    DuplicateLink {
        /// One region.
        a: String,
        /// The other.
        b: String,
    },
    /// Traffic from a VM to itself.
    #[error("traffic from {vm} to itself")]
    SelfTraffic {
        /// The VM.
        vm: String,
    },
    /// The VMs need more of a resource than the cluster has.
    #[error("capacity: the VMs need {demand} {resource}, the cluster has {capacity}")]
    DemandExceedsCapacity {
        /// The resource.
        resource: Resource,
        /// Total demand.
        demand: u64,
        /// Total capacity.
        capacity: u64,
    },
    /// The VMs pinned to a region or host need more than it has.
    #[error(
        "{constraint}: the VMs pinned to {target} need {demand} {resource}, it has {capacity}"
    )]
    PinnedDemandExceedsCapacity {
        /// `pin_region` or `pin_host`.
        constraint: &'static str,
        /// The region or host.
        target: String,
        /// The resource.
        resource: Resource,
        /// Demand of the pinned VMs.
        demand: u64,
        /// Its capacity.
        capacity: u64,
    },
    /// A VM larger than every host it may run on.
    #[error(
        "capacity: {vm} needs {demand} {resource}, the largest host it may run on has {largest}"
    )]
    VmLargerThanHosts {
        /// The VM.
        vm: String,
        /// The resource.
        resource: Resource,
        /// Its demand.
        demand: u64,
        /// The largest capacity among the hosts allowed to it.
        largest: u64,
    },
    /// A VM pinned to two places that exclude each other.
    #[error("{constraint}: {vm} is pinned to {first} and to {second}")]
    ContradictoryPins {
        /// `pin_region` or `pin_host`.
        constraint: &'static str,
        /// The VM.
        vm: String,
        /// One pin (region or host).
        first: String,
        /// The other.
        second: String,
    },
    /// An anti-affinity group with more members than hosts they may use.
    #[error("anti_affinity: {members} VMs (first {first}) must be on distinct hosts, only {hosts} hosts are available to them")]
    AntiAffinityTooLarge {
        /// Members.
        members: usize,
        /// The first member.
        first: String,
        /// Hosts available to the group.
        hosts: usize,
    },
    /// Two members of an anti-affinity group pinned to one host.
    #[error("anti_affinity: {a} and {b} must be on distinct hosts but are both pinned to {host}")]
    AntiAffinityPinnedTogether {
        /// One VM.
        a: String,
        /// The other.
        b: String,
        /// The host.
        host: String,
    },
    /// No region near enough.
    #[error("max_latency: {vm} must be within {max_ms} ms of {region}; the nearest region it may use is {nearest_ms} ms away")]
    NoRegionWithinLatency {
        /// The VM.
        vm: String,
        /// The reference region.
        region: String,
        /// The bound.
        max_ms: f64,
        /// The least latency among the regions otherwise allowed.
        nearest_ms: f64,
    },
    /// The VM's constraints together exclude every region.
    #[error(
        "{constraint}: the constraints on {vm} exclude every region (this one removed the last)"
    )]
    NoAllowedRegion {
        /// The VM.
        vm: String,
        /// The constraint that removed the last region.
        constraint: &'static str,
    },
    /// Two VMs that must share a region have no region in common.
    #[error("keep_together: {a} and {b} must share a region, but their other constraints allow no common one")]
    KeepTogetherConflict {
        /// One VM.
        a: String,
        /// The other.
        b: String,
    },
    /// No pair of allowed regions is linked fast enough.
    #[error("min_bandwidth: {a} and {b} need {min_bytes_per_s} bytes/s between their regions; the best their other constraints allow is {best_bytes_per_s}")]
    MinBandwidthUnsatisfiable {
        /// One VM.
        a: String,
        /// The other.
        b: String,
        /// The bound.
        min_bytes_per_s: f64,
        /// The best bandwidth among allowed region pairs.
        best_bytes_per_s: f64,
    },
    /// The regions' loads could not be brought within the balance bound.
    #[error("balance: region {region} would carry {load} {resource}, over its limit {limit} (LIF bound {max_lif}, capacity included) and no constrained move brings it under")]
    Unbalanced {
        /// The region.
        region: String,
        /// The resource.
        resource: Resource,
        /// Its load.
        load: u64,
        /// Its limit.
        limit: u64,
        /// The LIF bound asked for.
        max_lif: f64,
    },
    /// The hosts of a region could not take its VMs.
    #[error("capacity: the hosts of region {region} cannot take its VMs: host {host} would carry {load} {resource}, its capacity is {capacity}")]
    HostPacking {
        /// The region.
        region: String,
        /// The host over capacity.
        host: String,
        /// The resource.
        resource: Resource,
        /// Its load.
        load: u64,
        /// Its capacity.
        capacity: u64,
    },
    /// A constraint the heuristic could not honour (a combination of
    /// anti-affinity, pins or bandwidth that left no legal move).
    #[error("{constraint}: no placement found that honours it for {vm}")]
    Unsatisfied {
        /// The constraint.
        constraint: &'static str,
        /// A VM it concerns.
        vm: String,
    },
    /// No host can take one new VM.
    #[error("{constraint}: no host can take {vm}: {detail}")]
    NoHostForVm {
        /// The constraint that excluded the last candidate hosts.
        constraint: &'static str,
        /// The VM.
        vm: String,
        /// How many hosts each constraint excluded.
        detail: String,
    },
    /// The VM to place is already in the placement.
    #[error("{vm} is already placed on {host}")]
    AlreadyPlaced {
        /// The VM.
        vm: String,
        /// Its host.
        host: String,
    },
}

impl PlacementError {
    /// The constraint or resource at fault, as an API error names it:
    /// `capacity`, `balance`, `pin_region`, `pin_host`, `anti_affinity`,
    /// `keep_together`, `max_latency`, `min_bandwidth`, or `model` for a
    /// malformed model.
    pub fn constraint(&self) -> &'static str {
        match self {
            PlacementError::TooLarge { .. }
            | PlacementError::Empty { .. }
            | PlacementError::DuplicateName { .. }
            | PlacementError::UnknownName { .. }
            | PlacementError::BadValue { .. }
            | PlacementError::MissingLink { .. }
            | PlacementError::DuplicateLink { .. }
            | PlacementError::SelfTraffic { .. }
            | PlacementError::AlreadyPlaced { .. } => "model",
            PlacementError::DemandExceedsCapacity { .. }
            | PlacementError::VmLargerThanHosts { .. }
            | PlacementError::HostPacking { .. } => "capacity",
            PlacementError::Unbalanced { .. } => "balance",
            PlacementError::PinnedDemandExceedsCapacity { constraint, .. }
            | PlacementError::ContradictoryPins { constraint, .. }
            | PlacementError::NoAllowedRegion { constraint, .. }
            | PlacementError::Unsatisfied { constraint, .. }
            | PlacementError::NoHostForVm { constraint, .. } => constraint,
            PlacementError::AntiAffinityTooLarge { .. }
            | PlacementError::AntiAffinityPinnedTogether { .. } => "anti_affinity",
            PlacementError::NoRegionWithinLatency { .. } => "max_latency",
            PlacementError::KeepTogetherConflict { .. } => "keep_together",
            PlacementError::MinBandwidthUnsatisfiable { .. } => "min_bandwidth",
        }
    }

    /// Whether the model is malformed (an HTTP 400) rather than well formed
    /// but infeasible (422).
    pub fn is_malformed(&self) -> bool {
        self.constraint() == "model" && !matches!(self, PlacementError::AlreadyPlaced { .. })
    }
}
