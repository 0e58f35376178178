//! [`PlacementQuality`]: the figures of docs/placement.md §2 for a placement
//! of a [`Cluster`]: cross-region traffic and its share, the
//! hierarchy-aware cost, CCR and LIF. Only placed VMs count (a partial
//! placement leaves the traffic of unplaced VMs out).

use super::cluster::Cluster;
use serde::{Deserialize, Serialize};

/// The quality of a placement (docs/placement.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementQuality {
    /// `T`: traffic between placed VMs (bytes/s).
    pub total_traffic: f64,
    /// `X`: traffic between VMs in different regions (bytes/s).
    pub cross_region_traffic: f64,
    /// `X / T` (0 without traffic).
    pub cross_region_share: f64,
    /// Traffic between different hosts of one region (bytes/s).
    pub cross_host_traffic: f64,
    /// `C = Σ t·d` (bytes/s × ms): `d` 0 on one host, the region's host
    /// latency between its hosts, the link latency between regions.
    pub hierarchy_cost: f64,
    /// Link-seconds per second of cross-region traffic over core-seconds
    /// per second of the placed VMs.
    pub ccr: f64,
    /// Load imbalance factor over the regions (the worse of CPU and memory).
    pub lif_regions: f64,
    /// The largest load imbalance factor over the hosts of one region.
    pub lif_hosts: f64,
}

/// `[cpu, memory]` load per bin, for the VMs placed (`bin_of_host` maps a
/// host to its bin).
pub fn loads(
    cluster: &Cluster,
    host_of: &[Option<usize>],
    bins: usize,
    bin_of_host: impl Fn(usize) -> usize,
) -> Vec<[u64; 2]> {
    let mut load = vec![[0u64; 2]; bins];
    for (v, h) in host_of.iter().enumerate() {
        if let Some(h) = *h {
            let b = bin_of_host(h);
            load[b][0] += cluster.vms[v].demand[0];
            load[b][1] += cluster.vms[v].demand[1];
        }
    }
    load
}

/// LIF over bins with `load` and `capacity`: the largest over the two
/// resources of `max_b (ℓ_b / κ_b) / (Σ ℓ / Σ κ) − 1` (0 without load).
pub fn load_imbalance(load: &[[u64; 2]], capacity: &[[u64; 2]]) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..2 {
        let total_load: u64 = load.iter().map(|l| l[i]).sum();
        let total_capacity: u64 = capacity.iter().map(|c| c[i]).sum();
        if total_load == 0 || total_capacity == 0 {
            continue;
        }
        let average = total_load as f64 / total_capacity as f64;
        let max = load
            .iter()
            .zip(capacity)
            .map(|(l, c)| l[i] as f64 / c[i] as f64)
            .fold(0.0f64, f64::max);
        worst = worst.max(max / average - 1.0);
    }
    worst
}

/// The region LIF of `host_of`.
pub fn region_lif(cluster: &Cluster, host_of: &[Option<usize>]) -> f64 {
    let load = loads(cluster, host_of, cluster.regions.len(), |h| {
        cluster.region_of_host(h)
    });
    let capacity: Vec<[u64; 2]> = cluster.regions.iter().map(|r| r.capacity).collect();
    load_imbalance(&load, &capacity)
}

/// The quality of `host_of` (see [`PlacementQuality`]).
pub fn quality(cluster: &Cluster, host_of: &[Option<usize>]) -> PlacementQuality {
    let (mut total, mut cross, mut cross_host, mut cost, mut link_seconds) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(from, to, rate) in &cluster.flows {
        let (Some(a), Some(b)) = (host_of[from], host_of[to]) else {
            continue;
        };
        let t = rate as f64;
        total += t;
        let (ra, rb) = (cluster.region_of_host(a), cluster.region_of_host(b));
        if ra != rb {
            cross += t;
            cost += t * cluster.latency_ms(ra, rb);
            link_seconds += t / cluster.bandwidth(ra, rb);
        } else if a != b {
            cross_host += t;
            cost += t * cluster.regions[ra].host_latency_ms;
        }
    }
    let cores: f64 = host_of
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_some())
        .map(|(v, _)| cluster.vms[v].demand[0] as f64 / 1000.0)
        .sum();
    let host_load = loads(cluster, host_of, cluster.hosts.len(), |h| h);
    let lif_hosts = cluster
        .regions
        .iter()
        .map(|r| {
            let capacity: Vec<[u64; 2]> =
                r.hosts.clone().map(|h| cluster.hosts[h].capacity).collect();
            load_imbalance(&host_load[r.hosts.clone()], &capacity)
        })
        .fold(0.0f64, f64::max);
    PlacementQuality {
        total_traffic: total,
        cross_region_traffic: cross,
        cross_region_share: if total > 0.0 { cross / total } else { 0.0 },
        cross_host_traffic: cross_host,
        hierarchy_cost: cost,
        ccr: if cores > 0.0 {
            link_seconds / cores
        } else {
            0.0
        },
        lif_regions: region_lif(cluster, host_of),
        lif_hosts,
    }
}
