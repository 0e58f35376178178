//! The baselines placement is measured against: what an operator would do
//! without a partitioner. Both visit the VMs in model order (the order they
//! were created) and honour every constraint through
//! `single::legal_hosts`.
//!
//! - [`Greedy::FirstFit`]: the first legal host, hosts in model order
//!   (region by region): first-fit bin packing.
//! - [`Greedy::Affinity`]: the legal host whose region already holds most
//!   of the VM's traffic partners (then its host, then first fit): a
//!   traffic-aware greedy, for reference.

use super::cluster::Cluster;
use super::error::PlacementError;
use super::single::{legal_hosts, ConstraintIndex};
use serde::{Deserialize, Serialize};

/// A baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Greedy {
    /// First legal host in model order.
    FirstFit,
    /// Most traffic to placed partners in the region, then on the host.
    Affinity,
}

/// The host of every VM under the baseline (in the order of the module
/// docs), or the error of the first VM no host can take. A keep-together
/// group is placed whole when its first
/// member comes: in the first region (model order) where every member
/// finds a host.
pub fn greedy_placement(cluster: &Cluster, kind: Greedy) -> Result<Vec<usize>, PlacementError> {
    let index = ConstraintIndex::new(cluster);
    let mut state = GreedyState {
        host_of: vec![None; cluster.vms.len()],
        load: vec![[0u64; 2]; cluster.hosts.len()],
        region_traffic: vec![0u64; cluster.regions.len()],
        host_traffic: vec![0u64; cluster.hosts.len()],
    };
    let mut group_of = vec![None; cluster.vms.len()];
    for (g, group) in cluster.keep_together.iter().enumerate() {
        for &v in group {
            group_of[v] = Some(g);
        }
    }
    let all = cluster.allowed.iter().fold(0, |m, &a| m | a);
    let restricted = |v: usize| cluster.pinned_host[v].is_some() || cluster.allowed[v] != all;
    let order = (0..cluster.vms.len())
        .filter(|&v| restricted(v))
        .chain((0..cluster.vms.len()).filter(|&v| !restricted(v)));
    for v in order {
        if state.host_of[v].is_some() {
            continue;
        }
        let Some(g) = group_of[v] else {
            let h = state.choose(cluster, &index, kind, v, None)?;
            state.put(cluster, v, h);
            continue;
        };
        let group = &cluster.keep_together[g];
        let mut first_error = None;
        let mut placed = false;
        for r in 0..cluster.regions.len() {
            let saved = (state.host_of.clone(), state.load.clone());
            let mut fits = true;
            for &m in group {
                match state.choose(cluster, &index, kind, m, Some(r)) {
                    Ok(h) => state.put(cluster, m, h),
                    Err(err) => {
                        first_error.get_or_insert(err);
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                placed = true;
                break;
            }
            (state.host_of, state.load) = saved;
        }
        if !placed {
            return Err(first_error.expect("a region was tried"));
        }
    }
    Ok(state
        .host_of
        .into_iter()
        .map(|h| h.expect("every VM placed"))
        .collect())
}

/// Hosts and loads so far.
struct GreedyState {
    host_of: Vec<Option<usize>>,
    load: Vec<[u64; 2]>,
    region_traffic: Vec<u64>,
    host_traffic: Vec<u64>,
}

impl GreedyState {
    /// The host the baseline picks for `v` (in `region` when given).
    fn choose(
        &mut self,
        cluster: &Cluster,
        index: &ConstraintIndex,
        kind: Greedy,
        v: usize,
        region: Option<usize>,
    ) -> Result<usize, PlacementError> {
        let mut hosts = legal_hosts(cluster, index, v, &self.host_of, &self.load)?;
        if let Some(r) = region {
            hosts.retain(|&h| cluster.region_of_host(h) == r);
            if hosts.is_empty() {
                return Err(PlacementError::NoHostForVm {
                    constraint: "keep_together",
                    vm: cluster.vms[v].name.clone(),
                    detail: format!("no legal host in {}", cluster.regions[r].name),
                });
            }
        }
        Ok(match kind {
            Greedy::FirstFit => hosts[0],
            Greedy::Affinity => {
                self.region_traffic.iter_mut().for_each(|t| *t = 0);
                for &(u, t) in index.flows_of(v) {
                    if let Some(hu) = self.host_of[u] {
                        self.region_traffic[cluster.region_of_host(hu)] += t;
                        self.host_traffic[hu] += t;
                    }
                }
                let best = *hosts
                    .iter()
                    .max_by_key(|&&h| {
                        (
                            self.region_traffic[cluster.region_of_host(h)],
                            self.host_traffic[h],
                            std::cmp::Reverse(h),
                        )
                    })
                    .expect("at least one legal host");
                for &(u, _) in index.flows_of(v) {
                    if let Some(hu) = self.host_of[u] {
                        self.host_traffic[hu] = 0;
                    }
                }
                best
            }
        })
    }

    fn put(&mut self, cluster: &Cluster, v: usize, h: usize) {
        self.host_of[v] = Some(h);
        self.load[h][0] += cluster.vms[v].demand[0];
        self.load[h][1] += cluster.vms[v].demand[1];
    }
}
