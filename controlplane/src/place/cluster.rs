//! [`Cluster`]: a checked [`ClusterModel`] with names resolved to indices,
//! the constraints turned into per-VM allowed regions, pinned hosts and
//! groups, and every infeasibility that can be seen before any search
//! reported as a [`PlacementError`] naming the constraint.
//!
//! # Design
//!
//! Regions are indices `0..k` (at most [`MAX_REGIONS`], so a set of regions
//! is a `u64` mask), hosts `0..h` numbered region by region (a region's hosts
//! are a contiguous range), VMs `0..n` in model order. Checks run in a fixed
//! order (sizes, names, values, links, flows, pins, latency, host sizes,
//! keep-together, anti-affinity, bandwidth, capacity) so that the same model
//! always gets the same error.

use super::error::{PlacementError, Resource};
use super::model::{ClusterModel, Constraint, Placement};
use std::collections::HashMap;
use std::ops::Range;

/// The most regions (a set of regions is a `u64` mask).
pub const MAX_REGIONS: usize = 64;
/// The most hosts in a model.
pub const MAX_HOSTS: usize = 10_000;
/// The most VMs in a model.
pub const MAX_VMS: usize = 100_000;
/// The most traffic entries in a model.
pub const MAX_FLOWS: usize = 2_000_000;
/// The most constraints in a model.
pub const MAX_CONSTRAINTS: usize = 100_000;
/// The largest capacity or demand (MiB or millicores): sums stay far from
/// `u64::MAX`.
pub const MAX_AMOUNT: u64 = 1 << 40;
/// The largest traffic rate of one entry (bytes/s).
pub const MAX_RATE: u64 = 1 << 50;
/// The largest latency (ms): the placement's integer costs stay exact.
pub const MAX_LATENCY_MS: f64 = 10_000.0;

/// A set of regions.
pub type RegionMask = u64;

/// A checked host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: usize,
    /// `[cpu millicores, memory MiB]`.
    pub capacity: [u64; 2],
}

/// A checked region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    /// Its name.
    pub name: String,
    /// Its hosts (a range of host indices).
    pub hosts: Range<usize>,
    /// Latency between two of its hosts (ms).
    pub host_latency_ms: f64,
    /// Bandwidth between two of its hosts (bytes/s).
    pub lan_bandwidth: f64,
    /// The sum of its hosts' `[cpu, memory]`.
    pub capacity: [u64; 2],
}

/// A checked VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    /// Its name.
    pub name: String,
    /// `[cpu millicores, memory MiB]`.
    pub demand: [u64; 2],
}

/// A checked model (see the module docs).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The VMs, in model order.
    pub vms: Vec<VmInfo>,
    /// The hosts, region by region.
    pub hosts: Vec<HostInfo>,
    /// The regions, in model order.
    pub regions: Vec<RegionInfo>,
    latency_ms: Vec<f64>,
    bandwidth: Vec<f64>,
    /// Directed traffic `(from, to, bytes/s)`, one entry per ordered pair
    /// (repeats summed), sorted.
    pub flows: Vec<(usize, usize, u64)>,
    /// The regions each VM may run in (pins, latency bounds, host sizes).
    pub allowed: Vec<RegionMask>,
    /// The host each VM is pinned to.
    pub pinned_host: Vec<Option<usize>>,
    /// The region each VM is pinned to (by `pin_region` or `pin_host`).
    pub pinned_region: Vec<Option<usize>>,
    /// The regions each VM's `max_latency` constraints allow (all when it
    /// has none).
    pub latency_allowed: Vec<RegionMask>,
    /// Anti-affinity groups (VM indices, distinct, in the order given).
    pub anti_affinity: Vec<Vec<usize>>,
    /// Keep-together groups, overlapping groups merged (sorted members).
    pub keep_together: Vec<Vec<usize>>,
    /// Minimum bandwidth between the regions of two VMs: `(a, b, bytes/s)`.
    pub min_bandwidth: Vec<(usize, usize, f64)>,
    vm_index: HashMap<String, usize>,
    host_index: HashMap<String, usize>,
    region_index: HashMap<String, usize>,
}

/// The mask of region `r`.
pub fn region_bit(r: usize) -> RegionMask {
    1u64 << r
}

fn bad_value(
    what: impl Into<String>,
    value: impl ToString,
    expected: &'static str,
) -> PlacementError {
    PlacementError::BadValue {
        what: what.into(),
        value: value.to_string(),
        expected,
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), PlacementError> {
    if count > max {
        return Err(PlacementError::TooLarge { what, count, max });
    }
    Ok(())
}

fn check_amount(what: String, value: u64, min: u64) -> Result<(), PlacementError> {
    if value < min || value > MAX_AMOUNT {
        return Err(bad_value(
            what,
            value,
            if min == 0 {
                "at most 2^40"
            } else {
                "between 1 and 2^40"
            },
        ));
    }
    Ok(())
}

/// Registers `name` as `id` in `index` (refusing a repeat) and checks its
/// `[cpu, memory]` amounts (each at least `min`); returns them.
fn named_amounts(
    index: &mut HashMap<String, usize>,
    what: &'static str,
    name: &str,
    id: usize,
    amounts: [u64; 2],
    min: u64,
) -> Result<[u64; 2], PlacementError> {
    if index.insert(name.to_owned(), id).is_some() {
        return Err(PlacementError::DuplicateName {
            what,
            name: name.to_owned(),
        });
    }
    check_amount(format!("{what} {name} cpu_millicores"), amounts[0], min)?;
    check_amount(format!("{what} {name} memory_mib"), amounts[1], min)?;
    Ok(amounts)
}

/// The id of `name` in `index`, or an error naming it, its kind and where
/// it was used.
fn lookup(
    index: &HashMap<String, usize>,
    what: &'static str,
    name: &str,
    context: impl FnOnce() -> String,
) -> Result<usize, PlacementError> {
    index
        .get(name)
        .copied()
        .ok_or_else(|| PlacementError::UnknownName {
            what,
            name: name.to_owned(),
            context: context(),
        })
}

fn check_positive(what: String, value: f64, max: f64) -> Result<(), PlacementError> {
    if !(value.is_finite() && value > 0.0 && value <= max) {
        return Err(bad_value(
            what,
            value,
            "a finite number above 0 (and within its bound)",
        ));
    }
    Ok(())
}

impl Cluster {
    /// Checks `model` and resolves it (see the module docs for the order of
    /// the checks).
    pub fn new(model: &ClusterModel) -> Result<Self, PlacementError> {
        check_count("regions", model.regions.len(), MAX_REGIONS)?;
        let host_count: usize = model.regions.iter().map(|r| r.hosts.len()).sum();
        check_count("hosts", host_count, MAX_HOSTS)?;
        check_count("vms", model.vms.len(), MAX_VMS)?;
        check_count("traffic entries", model.traffic.len(), MAX_FLOWS)?;
        check_count("constraints", model.constraints.len(), MAX_CONSTRAINTS)?;
        if model.regions.is_empty() {
            return Err(PlacementError::Empty {
                what: "regions".into(),
            });
        }
        let mut cluster = Cluster {
            vms: Vec::with_capacity(model.vms.len()),
            hosts: Vec::with_capacity(host_count),
            regions: Vec::with_capacity(model.regions.len()),
            latency_ms: Vec::new(),
            bandwidth: Vec::new(),
            flows: Vec::new(),
            allowed: Vec::new(),
            pinned_host: vec![None; model.vms.len()],
            pinned_region: vec![None; model.vms.len()],
            latency_allowed: Vec::new(),
            anti_affinity: Vec::new(),
            keep_together: Vec::new(),
            min_bandwidth: Vec::new(),
            vm_index: HashMap::with_capacity(model.vms.len()),
            host_index: HashMap::with_capacity(host_count),
            region_index: HashMap::with_capacity(model.regions.len()),
        };
        cluster.add_regions(model)?;
        cluster.add_links(model)?;
        cluster.add_vms(model)?;
        cluster.add_flows(model)?;
        cluster.add_constraints(model)?;
        cluster.check_capacity()?;
        Ok(cluster)
    }

    fn add_regions(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        for (r, spec) in model.regions.iter().enumerate() {
            if self.region_index.insert(spec.name.clone(), r).is_some() {
                return Err(PlacementError::DuplicateName {
                    what: "region",
                    name: spec.name.clone(),
                });
            }
            if spec.hosts.is_empty() {
                return Err(PlacementError::Empty {
                    what: format!("region {}'s hosts", spec.name),
                });
            }
            if !(spec.host_latency_ms.is_finite()
                && (0.0..=MAX_LATENCY_MS).contains(&spec.host_latency_ms))
            {
                return Err(bad_value(
                    format!("region {} host_latency_ms", spec.name),
                    spec.host_latency_ms,
                    "between 0 and 10000",
                ));
            }
            check_positive(
                format!("region {} lan_bandwidth_bytes_per_s", spec.name),
                spec.lan_bandwidth_bytes_per_s,
                f64::MAX,
            )?;
            let first = self.hosts.len();
            let mut capacity = [0u64; 2];
            for host in &spec.hosts {
                let id = self.hosts.len();
                let amounts = [host.cpu_millicores, host.memory_mib];
                named_amounts(&mut self.host_index, "host", &host.name, id, amounts, 1)?;
                capacity[0] += host.cpu_millicores;
                capacity[1] += host.memory_mib;
                self.hosts.push(HostInfo {
                    name: host.name.clone(),
                    region: r,
                    capacity: [host.cpu_millicores, host.memory_mib],
                });
            }
            self.regions.push(RegionInfo {
                name: spec.name.clone(),
                hosts: first..self.hosts.len(),
                host_latency_ms: spec.host_latency_ms,
                lan_bandwidth: spec.lan_bandwidth_bytes_per_s,
                capacity,
            });
        }
        Ok(())
    }

    fn region_named(
        &self,
        name: &str,
        context: impl FnOnce() -> String,
    ) -> Result<usize, PlacementError> {
        lookup(&self.region_index, "region", name, context)
    }

    fn add_links(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        let k = self.regions.len();
        self.latency_ms = vec![f64::NAN; k * k];
        self.bandwidth = vec![f64::NAN; k * k];
        for r in 0..k {
            self.latency_ms[r * k + r] = 0.0;
            self.bandwidth[r * k + r] = f64::INFINITY;
        }
        for link in &model.links {
            let context = || format!("link {}-{}", link.a, link.b);
            let a = self.region_named(&link.a, context)?;
            let b = self.region_named(&link.b, context)?;
            if a == b {
                return Err(bad_value(
                    context(),
                    &link.a,
                    "a link joins two distinct regions",
                ));
            }
            check_positive(
                format!("{} latency_ms", context()),
                link.latency_ms,
                MAX_LATENCY_MS,
            )?;
            check_positive(
                format!("{} bandwidth_bytes_per_s", context()),
                link.bandwidth_bytes_per_s,
                f64::MAX,
            )?;
            if !self.latency_ms[a * k + b].is_nan() {
                return Err(PlacementError::DuplicateLink {
                    a: link.a.clone(),
                    b: link.b.clone(),
                });
            }
            for (x, y) in [(a, b), (b, a)] {
                self.latency_ms[x * k + y] = link.latency_ms;
                self.bandwidth[x * k + y] = link.bandwidth_bytes_per_s;
            }
        }
        for a in 0..k {
            for b in a + 1..k {
                if self.latency_ms[a * k + b].is_nan() {
                    return Err(PlacementError::MissingLink {
                        a: self.regions[a].name.clone(),
                        b: self.regions[b].name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn add_vms(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        for (v, spec) in model.vms.iter().enumerate() {
            let amounts = [spec.cpu_millicores, spec.memory_mib];
            named_amounts(&mut self.vm_index, "vm", &spec.name, v, amounts, 0)?;
            self.vms.push(VmInfo {
                name: spec.name.clone(),
                demand: [spec.cpu_millicores, spec.memory_mib],
            });
        }
        let all = if self.regions.len() == MAX_REGIONS {
            u64::MAX
        } else {
            (1u64 << self.regions.len()) - 1
        };
        self.allowed = vec![all; self.vms.len()];
        self.latency_allowed = vec![all; self.vms.len()];
        Ok(())
    }

    fn vm_named(
        &self,
        name: &str,
        context: impl FnOnce() -> String,
    ) -> Result<usize, PlacementError> {
        lookup(&self.vm_index, "vm", name, context)
    }

    fn host_named(
        &self,
        name: &str,
        context: impl FnOnce() -> String,
    ) -> Result<usize, PlacementError> {
        lookup(&self.host_index, "host", name, context)
    }

    fn add_flows(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        let mut flows: Vec<(usize, usize, u64)> = Vec::with_capacity(model.traffic.len());
        for flow in &model.traffic {
            let context = || format!("traffic {}->{}", flow.from, flow.to);
            let from = self.vm_named(&flow.from, context)?;
            let to = self.vm_named(&flow.to, context)?;
            if from == to {
                return Err(PlacementError::SelfTraffic {
                    vm: flow.from.clone(),
                });
            }
            if flow.bytes_per_s > MAX_RATE {
                return Err(bad_value(
                    format!("{} bytes_per_s", context()),
                    flow.bytes_per_s,
                    "at most 2^50",
                ));
            }
            if flow.bytes_per_s > 0 {
                flows.push((from, to, flow.bytes_per_s));
            }
        }
        flows.sort_unstable();
        let mut merged: Vec<(usize, usize, u64)> = Vec::with_capacity(flows.len());
        for (from, to, rate) in flows {
            match merged.last_mut() {
                Some(last) if last.0 == from && last.1 == to => {
                    last.2 = last.2.saturating_add(rate)
                }
                _ => merged.push((from, to, rate)),
            }
        }
        self.flows = merged;
        Ok(())
    }

    fn add_constraints(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        let mut pinned_region: Vec<Option<usize>> = vec![None; self.vms.len()];
        // Pins first: every later check sees the pinned regions.
        for constraint in &model.constraints {
            let context = || format!("{} constraint", constraint.kind());
            match constraint {
                Constraint::PinRegion { vm, region } => {
                    let v = self.vm_named(vm, context)?;
                    let r = self.region_named(region, context)?;
                    if let Some(first) = self.pin_conflict(v, r, pinned_region[v]) {
                        return Err(PlacementError::ContradictoryPins {
                            constraint: "pin_region",
                            vm: vm.clone(),
                            first,
                            second: region.clone(),
                        });
                    }
                    pinned_region[v] = Some(r);
                }
                Constraint::PinHost { vm, host } => {
                    let v = self.vm_named(vm, context)?;
                    let h = self.host_named(host, context)?;
                    if let Some(other) = self.pinned_host[v].filter(|&o| o != h) {
                        return Err(PlacementError::ContradictoryPins {
                            constraint: "pin_host",
                            vm: vm.clone(),
                            first: self.hosts[other].name.clone(),
                            second: host.clone(),
                        });
                    }
                    if let Some(first) =
                        self.pin_conflict(v, self.hosts[h].region, pinned_region[v])
                    {
                        return Err(PlacementError::ContradictoryPins {
                            constraint: "pin_host",
                            vm: vm.clone(),
                            first,
                            second: host.clone(),
                        });
                    }
                    self.pinned_host[v] = Some(h);
                }
                _ => {}
            }
        }
        for (v, region) in pinned_region.iter().enumerate() {
            let region = region.or_else(|| self.pinned_host[v].map(|h| self.hosts[h].region));
            if let Some(r) = region {
                self.allowed[v] = region_bit(r);
                self.pinned_region[v] = Some(r);
            }
        }
        for constraint in &model.constraints {
            if let Constraint::MaxLatency { vm, region, max_ms } = constraint {
                let context = || "max_latency constraint".to_owned();
                let v = self.vm_named(vm, context)?;
                let to = self.region_named(region, context)?;
                if !(max_ms.is_finite() && *max_ms >= 0.0) {
                    return Err(bad_value(
                        format!("max_latency of {vm}"),
                        max_ms,
                        "a finite number >= 0",
                    ));
                }
                let near: RegionMask = (0..self.regions.len())
                    .filter(|&r| self.latency_ms(r, to) <= *max_ms)
                    .fold(0, |m, r| m | region_bit(r));
                if self.allowed[v] & near == 0 {
                    let nearest_ms = (0..self.regions.len())
                        .filter(|&r| self.allowed[v] & region_bit(r) != 0)
                        .map(|r| self.latency_ms(r, to))
                        .fold(f64::INFINITY, f64::min);
                    return Err(PlacementError::NoRegionWithinLatency {
                        vm: vm.clone(),
                        region: region.clone(),
                        max_ms: *max_ms,
                        nearest_ms,
                    });
                }
                self.allowed[v] &= near;
                self.latency_allowed[v] &= near;
            }
        }
        self.restrict_to_fitting_hosts()?;
        self.add_groups(model)?;
        self.add_min_bandwidth(model)
    }

    /// The name of the region a VM is already pinned to, when it is not `r`.
    fn pin_conflict(&self, v: usize, r: usize, pinned_region: Option<usize>) -> Option<String> {
        if let Some(p) = pinned_region.filter(|&p| p != r) {
            return Some(self.regions[p].name.clone());
        }
        self.pinned_host[v]
            .filter(|&h| self.hosts[h].region != r)
            .map(|h| self.hosts[h].name.clone())
    }

    /// Whether VM `v` fits on an empty host `h`.
    pub fn fits(&self, v: usize, h: usize) -> bool {
        let (d, c) = (self.vms[v].demand, self.hosts[h].capacity);
        d[0] <= c[0] && d[1] <= c[1]
    }

    /// The hosts VM `v` may run on: its pinned host, or every host of its
    /// allowed regions; large enough or not.
    pub fn candidate_hosts(&self, v: usize) -> Vec<usize> {
        match self.pinned_host[v] {
            Some(h) => vec![h],
            None => (0..self.regions.len())
                .filter(|&r| self.allowed[v] & region_bit(r) != 0)
                .flat_map(|r| self.regions[r].hosts.clone())
                .collect(),
        }
    }

    fn restrict_to_fitting_hosts(&mut self) -> Result<(), PlacementError> {
        for v in 0..self.vms.len() {
            let candidates = self.candidate_hosts(v);
            let fitting: RegionMask = candidates
                .iter()
                .filter(|&&h| self.fits(v, h))
                .fold(0, |m, &h| m | region_bit(self.hosts[h].region));
            if fitting == 0 {
                let demand = self.vms[v].demand;
                let largest = |i: usize, hosts: &mut dyn Iterator<Item = usize>| {
                    hosts.map(|h| self.hosts[h].capacity[i]).max().unwrap_or(0)
                };
                let (resource, largest) = if demand[0] > largest(0, &mut candidates.iter().copied())
                {
                    (Resource::Cpu, largest(0, &mut candidates.iter().copied()))
                } else {
                    // Enough CPU somewhere and memory somewhere, never both.
                    let mut with_cpu = candidates
                        .iter()
                        .copied()
                        .filter(|&h| self.hosts[h].capacity[0] >= demand[0]);
                    (Resource::Memory, largest(1, &mut with_cpu))
                };
                return Err(PlacementError::VmLargerThanHosts {
                    vm: self.vms[v].name.clone(),
                    resource,
                    demand: demand[resource.index()],
                    largest,
                });
            }
            self.allowed[v] &= fitting;
        }
        Ok(())
    }

    fn add_groups(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        let n = self.vms.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut v: usize) -> usize {
            while parent[v] != v {
                parent[v] = parent[parent[v]];
                v = parent[v];
            }
            v
        }
        let mut grouped = vec![false; n];
        for constraint in &model.constraints {
            let members = match constraint {
                Constraint::KeepTogether { vms } | Constraint::AntiAffinity { vms } => vms,
                _ => continue,
            };
            let kind = constraint.kind();
            if members.len() < 2 {
                return Err(bad_value(
                    format!("{kind} vms"),
                    members.len(),
                    "at least 2 VMs",
                ));
            }
            let mut ids = Vec::with_capacity(members.len());
            for name in members {
                let v = self.vm_named(name, || format!("{kind} constraint"))?;
                if ids.contains(&v) {
                    return Err(bad_value(format!("{kind} vms"), name, "each VM once"));
                }
                ids.push(v);
            }
            if let Constraint::AntiAffinity { .. } = constraint {
                self.check_anti_affinity(&ids)?;
                self.anti_affinity.push(ids);
            } else {
                for &v in &ids {
                    grouped[v] = true;
                    let (a, b) = (root(&mut parent, ids[0]), root(&mut parent, v));
                    parent[b] = a;
                }
            }
        }
        let mut by_root: HashMap<usize, usize> = HashMap::new();
        for v in (0..n).filter(|&v| grouped[v]) {
            let r = root(&mut parent, v);
            let g = *by_root.entry(r).or_insert_with(|| {
                self.keep_together.push(Vec::new());
                self.keep_together.len() - 1
            });
            self.keep_together[g].push(v);
        }
        for group in &self.keep_together {
            let mut common = u64::MAX;
            for &v in group {
                if common & self.allowed[v] == 0 {
                    return Err(PlacementError::KeepTogetherConflict {
                        a: self.vms[group[0]].name.clone(),
                        b: self.vms[v].name.clone(),
                    });
                }
                common &= self.allowed[v];
            }
        }
        for g in 0..self.keep_together.len() {
            let common = self.keep_together[g]
                .iter()
                .fold(u64::MAX, |m, &v| m & self.allowed[v]);
            for &v in &self.keep_together[g] {
                self.allowed[v] = common;
            }
        }
        Ok(())
    }

    fn check_anti_affinity(&self, ids: &[usize]) -> Result<(), PlacementError> {
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                if let (Some(ha), Some(hb)) = (self.pinned_host[a], self.pinned_host[b]) {
                    if ha == hb {
                        return Err(PlacementError::AntiAffinityPinnedTogether {
                            a: self.vms[a].name.clone(),
                            b: self.vms[b].name.clone(),
                            host: self.hosts[ha].name.clone(),
                        });
                    }
                }
            }
        }
        let mut usable = vec![false; self.hosts.len()];
        for &v in ids {
            for h in self.candidate_hosts(v) {
                if self.fits(v, h) && self.allowed[v] & region_bit(self.hosts[h].region) != 0 {
                    usable[h] = true;
                }
            }
        }
        let hosts = usable.iter().filter(|&&u| u).count();
        if ids.len() > hosts {
            return Err(PlacementError::AntiAffinityTooLarge {
                members: ids.len(),
                first: self.vms[ids[0]].name.clone(),
                hosts,
            });
        }
        Ok(())
    }

    fn add_min_bandwidth(&mut self, model: &ClusterModel) -> Result<(), PlacementError> {
        for constraint in &model.constraints {
            let Constraint::MinBandwidth {
                a,
                b,
                min_bytes_per_s,
            } = constraint
            else {
                continue;
            };
            let context = || "min_bandwidth constraint".to_owned();
            let (va, vb) = (self.vm_named(a, context)?, self.vm_named(b, context)?);
            if va == vb {
                return Err(bad_value("min_bandwidth", a, "two distinct VMs"));
            }
            check_positive(format!("min_bandwidth {a}-{b}"), *min_bytes_per_s, f64::MAX)?;
            let k = self.regions.len();
            let mut best = 0.0f64;
            for r in (0..k).filter(|&r| self.allowed[va] & region_bit(r) != 0) {
                for s in (0..k).filter(|&s| self.allowed[vb] & region_bit(s) != 0) {
                    best = best.max(self.bandwidth(r, s));
                }
            }
            if best < *min_bytes_per_s {
                return Err(PlacementError::MinBandwidthUnsatisfiable {
                    a: a.clone(),
                    b: b.clone(),
                    min_bytes_per_s: *min_bytes_per_s,
                    best_bytes_per_s: best,
                });
            }
            self.min_bandwidth.push((va, vb, *min_bytes_per_s));
        }
        Ok(())
    }

    fn check_capacity(&self) -> Result<(), PlacementError> {
        for resource in Resource::ALL {
            let i = resource.index();
            let demand: u64 = self.vms.iter().map(|v| v.demand[i]).sum();
            let capacity: u64 = self.regions.iter().map(|r| r.capacity[i]).sum();
            if demand > capacity {
                return Err(PlacementError::DemandExceedsCapacity {
                    resource,
                    demand,
                    capacity,
                });
            }
            let mut per_region = vec![0u64; self.regions.len()];
            let mut per_host = vec![0u64; self.hosts.len()];
            for v in 0..self.vms.len() {
                if let Some(h) = self.pinned_host[v] {
                    per_host[h] += self.vms[v].demand[i];
                }
                if self.allowed[v].count_ones() == 1 {
                    per_region[self.allowed[v].trailing_zeros() as usize] += self.vms[v].demand[i];
                }
            }
            for (h, &demand) in per_host.iter().enumerate() {
                if demand > self.hosts[h].capacity[i] {
                    return Err(PlacementError::PinnedDemandExceedsCapacity {
                        constraint: "pin_host",
                        target: self.hosts[h].name.clone(),
                        resource,
                        demand,
                        capacity: self.hosts[h].capacity[i],
                    });
                }
            }
            for (r, &demand) in per_region.iter().enumerate() {
                if demand > self.regions[r].capacity[i] {
                    return Err(PlacementError::PinnedDemandExceedsCapacity {
                        constraint: "pin_region",
                        target: self.regions[r].name.clone(),
                        resource,
                        demand,
                        capacity: self.regions[r].capacity[i],
                    });
                }
            }
        }
        Ok(())
    }

    /// Latency between regions `a` and `b` (ms; 0 when equal).
    pub fn latency_ms(&self, a: usize, b: usize) -> f64 {
        self.latency_ms[a * self.regions.len() + b]
    }

    /// Bandwidth between regions `a` and `b` (bytes/s; infinite when equal).
    pub fn bandwidth(&self, a: usize, b: usize) -> f64 {
        self.bandwidth[a * self.regions.len() + b]
    }

    /// The region of host `h`.
    pub fn region_of_host(&self, h: usize) -> usize {
        self.hosts[h].region
    }

    /// The index of the VM named `name`.
    pub fn vm_id(&self, name: &str) -> Option<usize> {
        self.vm_index.get(name).copied()
    }

    /// The index of the host named `name`.
    pub fn host_id(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    /// The host of every VM under `placement` (`None`: not placed).
    pub fn resolve(&self, placement: &Placement) -> Result<Vec<Option<usize>>, PlacementError> {
        let mut host_of = vec![None; self.vms.len()];
        for (vm, host) in &placement.0 {
            let context = || "placement".to_owned();
            let v = self.vm_named(vm, context)?;
            host_of[v] = Some(self.host_named(host, context)?);
        }
        Ok(host_of)
    }

    /// `host_of` (every VM placed) as a [`Placement`].
    pub fn placement(&self, host_of: &[usize]) -> Placement {
        Placement(
            host_of
                .iter()
                .enumerate()
                .map(|(v, &h)| (self.vms[v].name.clone(), self.hosts[h].name.clone()))
                .collect(),
        )
    }

    /// The total `[cpu, memory]` demand of all VMs.
    pub fn total_demand(&self) -> [u64; 2] {
        self.vms
            .iter()
            .fold([0, 0], |t, v| [t[0] + v.demand[0], t[1] + v.demand[1]])
    }

    /// The total `[cpu, memory]` capacity of all hosts.
    pub fn total_capacity(&self) -> [u64; 2] {
        self.regions
            .iter()
            .fold([0, 0], |t, r| [t[0] + r.capacity[0], t[1] + r.capacity[1]])
    }
}
