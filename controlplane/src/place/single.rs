//! One VM at a time: the hosts a VM may take next to VMs already placed
//! ([`legal_hosts`], naming the constraint that excludes the last candidate
//! when none is left), and [`place_vm`], which puts one new VM where it adds
//! the least hierarchy-aware cost (the API's `place`). The greedy baselines
//! use the same filter.

use super::cluster::Cluster;
use super::error::PlacementError;
use super::quality::{load_imbalance, loads};
use super::units::has_region;
use serde::{Deserialize, Serialize};

/// Per-VM views of the constraints, built once per model.
#[derive(Debug, Clone)]
pub struct ConstraintIndex {
    keep_group_of: Vec<Option<usize>>,
    anti_groups_of: Vec<Vec<usize>>,
    pairs_of: Vec<Vec<(usize, f64)>>,
    flows_of: Vec<Vec<(usize, u64)>>,
}

impl ConstraintIndex {
    /// The index of `cluster`.
    pub fn new(cluster: &Cluster) -> Self {
        let n = cluster.vms.len();
        let mut index = Self {
            keep_group_of: vec![None; n],
            anti_groups_of: vec![Vec::new(); n],
            pairs_of: vec![Vec::new(); n],
            flows_of: vec![Vec::new(); n],
        };
        for (g, group) in cluster.keep_together.iter().enumerate() {
            for &v in group {
                index.keep_group_of[v] = Some(g);
            }
        }
        for (g, group) in cluster.anti_affinity.iter().enumerate() {
            for &v in group {
                index.anti_groups_of[v].push(g);
            }
        }
        for &(a, b, min) in &cluster.min_bandwidth {
            index.pairs_of[a].push((b, min));
            index.pairs_of[b].push((a, min));
        }
        for &(a, b, t) in &cluster.flows {
            index.flows_of[a].push((b, t));
            index.flows_of[b].push((a, t));
        }
        index
    }

    /// Traffic between `v` and each partner, both directions summed per
    /// entry (a partner may appear twice, once per direction).
    pub fn flows_of(&self, v: usize) -> &[(usize, u64)] {
        &self.flows_of[v]
    }
}

/// The hosts that can take VM `v` now: pinned, allowed by its latency
/// bounds, in the region of its placed keep-together partners, linked fast
/// enough to its placed bandwidth partners, holding no member of its
/// anti-affinity groups, with room (`load` per host). In host order. When
/// none is left, the error names the constraint that excluded the last
/// ones and how many each excluded.
pub fn legal_hosts(
    cluster: &Cluster,
    index: &ConstraintIndex,
    v: usize,
    host_of: &[Option<usize>],
    load: &[[u64; 2]],
) -> Result<Vec<usize>, PlacementError> {
    let region = |h: usize| cluster.region_of_host(h);
    let demand = cluster.vms[v].demand;
    type Filter<'a> = (&'static str, &'static str, Box<dyn Fn(usize) -> bool + 'a>);
    let filters: Vec<Filter<'_>> = vec![
        (
            "pin_host",
            "pin_host",
            Box::new(|h| cluster.pinned_host[v].is_none_or(|p| p == h)),
        ),
        (
            "pin_region",
            "pin_region",
            Box::new(|h| cluster.pinned_region[v].is_none_or(|p| p == region(h))),
        ),
        (
            "max_latency",
            "max_latency",
            Box::new(|h| has_region(cluster.latency_allowed[v], region(h))),
        ),
        (
            "keep_together",
            "keep_together",
            Box::new(|h| {
                index.keep_group_of[v].is_none_or(|g| {
                    cluster.keep_together[g]
                        .iter()
                        .filter_map(|&u| host_of[u])
                        .all(|hu| region(hu) == region(h))
                })
            }),
        ),
        (
            "min_bandwidth",
            "min_bandwidth",
            Box::new(|h| {
                index.pairs_of[v].iter().all(|&(u, min)| {
                    host_of[u].is_none_or(|hu| cluster.bandwidth(region(h), region(hu)) >= min)
                })
            }),
        ),
        (
            "anti_affinity",
            "anti_affinity",
            Box::new(|h| {
                index.anti_groups_of[v].iter().all(|&g| {
                    cluster.anti_affinity[g]
                        .iter()
                        .all(|&u| u == v || host_of[u] != Some(h))
                })
            }),
        ),
        (
            "capacity",
            "cpu",
            Box::new(|h| load[h][0] + demand[0] <= cluster.hosts[h].capacity[0]),
        ),
        (
            "capacity",
            "memory",
            Box::new(|h| load[h][1] + demand[1] <= cluster.hosts[h].capacity[1]),
        ),
    ];
    let mut hosts: Vec<usize> = (0..cluster.hosts.len()).collect();
    let mut excluded: Vec<String> = Vec::new();
    for (constraint, label, keep) in &filters {
        let before = hosts.len();
        hosts.retain(|&h| keep(h));
        if hosts.len() < before {
            excluded.push(format!("{label} excluded {}", before - hosts.len()));
        }
        if hosts.is_empty() {
            return Err(PlacementError::NoHostForVm {
                constraint,
                vm: cluster.vms[v].name.clone(),
                detail: format!("of {} hosts, {}", cluster.hosts.len(), excluded.join(", ")),
            });
        }
    }
    Ok(hosts)
}

/// Where one new VM went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinglePlacement {
    /// The VM.
    pub vm: String,
    /// Its region.
    pub region: String,
    /// Its host.
    pub host: String,
    /// The hierarchy-aware cost its traffic to placed VMs adds (bytes/s × ms).
    pub cost_increase: f64,
    /// The region LIF with it placed.
    pub lif_regions: f64,
    /// Hosts that could legally take it.
    pub legal_hosts: usize,
}

/// The hierarchy-aware distance between hosts `a` and `b` (ms).
pub fn host_distance(cluster: &Cluster, a: usize, b: usize) -> f64 {
    let (ra, rb) = (cluster.region_of_host(a), cluster.region_of_host(b));
    if a == b {
        0.0
    } else if ra == rb {
        cluster.regions[ra].host_latency_ms
    } else {
        cluster.latency_ms(ra, rb)
    }
}

/// Places VM `v` next to the VMs of `host_of`: among the legal hosts, the
/// one whose region stays within the LIF bound `max_lif` (when any does),
/// then the least added hierarchy-aware cost, then the emptiest region and
/// host, then the first.
pub fn place_vm(
    cluster: &Cluster,
    host_of: &[Option<usize>],
    v: usize,
    max_lif: f64,
) -> Result<SinglePlacement, PlacementError> {
    if let Some(h) = host_of[v] {
        return Err(PlacementError::AlreadyPlaced {
            vm: cluster.vms[v].name.clone(),
            host: cluster.hosts[h].name.clone(),
        });
    }
    let index = ConstraintIndex::new(cluster);
    let load = loads(cluster, host_of, cluster.hosts.len(), |h| h);
    let hosts = legal_hosts(cluster, &index, v, host_of, &load)?;
    let k = cluster.regions.len();
    let region_load = loads(cluster, host_of, k, |h| cluster.region_of_host(h));
    let region_capacity: Vec<[u64; 2]> = cluster.regions.iter().map(|r| r.capacity).collect();
    let lif_before = load_imbalance(&region_load, &region_capacity);
    let demand = cluster.vms[v].demand;
    let fill = |l: [u64; 2], c: [u64; 2]| {
        ((l[0] + demand[0]) as f64 / c[0] as f64).max((l[1] + demand[1]) as f64 / c[1] as f64)
    };
    let lif_with = |r: usize| {
        let mut after = region_load.clone();
        after[r][0] += demand[0];
        after[r][1] += demand[1];
        load_imbalance(&after, &region_capacity)
    };
    let scored = hosts.iter().map(|&h| {
        let r = cluster.region_of_host(h);
        let cost: f64 = index
            .flows_of(v)
            .iter()
            .filter_map(|&(u, t)| host_of[u].map(|hu| t as f64 * host_distance(cluster, h, hu)))
            .sum();
        let lif = lif_with(r);
        let over = lif > max_lif.max(lif_before) + 1e-12;
        (
            over,
            cost,
            fill(region_load[r], region_capacity[r]),
            fill(load[h], cluster.hosts[h].capacity),
            h,
            lif,
        )
    });
    let best = scored
        .min_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.total_cmp(&b.3))
                .then(a.4.cmp(&b.4))
        })
        .expect("legal_hosts returns at least one host");
    let (_, cost, _, _, h, lif) = best;
    Ok(SinglePlacement {
        vm: cluster.vms[v].name.clone(),
        region: cluster.regions[cluster.region_of_host(h)].name.clone(),
        host: cluster.hosts[h].name.clone(),
        cost_increase: cost,
        lif_regions: lif,
        legal_hosts: hosts.len(),
    })
}
