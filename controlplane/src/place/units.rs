//! The units placement moves: VMs, or groups of VMs contracted into one
//! vertex because they must share a region, with their summed demands, the
//! intersection of their allowed regions, and the traffic between units as
//! an undirected [`Graph`] in a scaled integer unit.

use super::cluster::{region_bit, Cluster, RegionMask};
use super::graph::{Graph, VertexId, Weight, MAX_WEIGHT};
use super::traffic::TrafficGraph;

/// The combined weight of all demand equal to all capacity (CPU and memory
/// shares averaged): the partitioner's vertex weight scale.
pub(crate) const COMBINED_SCALE: f64 = (1u64 << 29) as f64;

/// Traffic rates are divided by a divisor that keeps the total within half
/// of [`MAX_WEIGHT`], so that no edge or sum of parallel edges overflows.
pub(crate) fn traffic_divisor(cluster: &Cluster) -> u64 {
    let total: u128 = cluster.flows.iter().map(|&(_, _, t)| u128::from(t)).sum();
    let room = u128::try_from(MAX_WEIGHT / 2).expect("positive");
    u64::try_from(total.div_ceil(room).max(1))
        .expect("2^50 per flow times 2^21 flows over 2^30 fits")
}

/// A rate in the scaled unit (at least 1).
pub(crate) fn scaled_rate(rate: u64, divisor: u64) -> Weight {
    Weight::try_from((rate + divisor / 2) / divisor)
        .expect("below the total")
        .max(1)
}

/// `x` rounded to the nearest integer weight (`as` saturates; every value
/// converted here is far below `2^63`).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn round_weight(x: f64) -> Weight {
    x.round() as Weight
}

/// The partitioner's weight of a demand: its CPU and memory shares of the
/// cluster's capacity, averaged, times [`COMBINED_SCALE`].
pub(crate) fn combined_weight(demand: [u64; 2], capacity: [u64; 2]) -> Weight {
    let share =
        (demand[0] as f64 / capacity[0] as f64 + demand[1] as f64 / capacity[1] as f64) / 2.0;
    round_weight(share * COMBINED_SCALE)
}

/// The directed traffic of `cluster` in the scaled unit, VM weights the
/// combined weights.
pub(crate) fn traffic_graph(cluster: &Cluster, divisor: u64) -> TrafficGraph {
    let capacity = cluster.total_capacity();
    let weights: Vec<Weight> = cluster
        .vms
        .iter()
        .map(|v| combined_weight(v.demand, capacity))
        .collect();
    let mut traffic = TrafficGraph::new(&weights);
    for &(from, to, rate) in &cluster.flows {
        traffic
            .add_traffic(from, to, scaled_rate(rate, divisor))
            .expect("checked VMs, distinct, scaled within range");
    }
    traffic
}

/// VMs contracted into units.
#[derive(Debug, Clone)]
pub(crate) struct Units {
    /// Traffic between units (scaled).
    pub graph: Graph,
    /// The unit of each VM.
    pub unit_of: Vec<VertexId>,
    /// The VMs of each unit.
    pub members: Vec<Vec<usize>>,
    /// `[cpu, memory]` per unit.
    pub demand: Vec<[u64; 2]>,
    /// The regions every member may use.
    pub allowed: Vec<RegionMask>,
}

impl Units {
    /// `groups` (disjoint) contracted, every other VM alone.
    pub(crate) fn new(cluster: &Cluster, traffic: &TrafficGraph, groups: &[Vec<usize>]) -> Self {
        let contracted = traffic
            .contract(groups)
            .expect("disjoint groups of checked VMs");
        let count = contracted.graph.vertex_count();
        let mut members = vec![Vec::new(); count];
        let mut demand = vec![[0u64; 2]; count];
        let mut allowed = vec![RegionMask::MAX; count];
        for (v, &u) in contracted.vertex_of.iter().enumerate() {
            let u = u as usize;
            members[u].push(v);
            demand[u][0] += cluster.vms[v].demand[0];
            demand[u][1] += cluster.vms[v].demand[1];
            allowed[u] &= cluster.allowed[v];
        }
        Self {
            graph: contracted.graph,
            unit_of: contracted.vertex_of,
            members,
            demand,
            allowed,
        }
    }

    /// Anti-affinity groups as lists of units (a unit listed once per
    /// member it holds).
    pub(crate) fn separation(&self, cluster: &Cluster) -> Vec<Vec<u32>> {
        cluster
            .anti_affinity
            .iter()
            .map(|group| group.iter().map(|&v| self.unit_of[v]).collect())
            .collect()
    }

    /// Minimum-bandwidth pairs between units (pairs inside a unit dropped).
    pub(crate) fn pairs(&self, cluster: &Cluster) -> Vec<(u32, u32, f64)> {
        cluster
            .min_bandwidth
            .iter()
            .map(|&(a, b, min)| (self.unit_of[a], self.unit_of[b], min))
            .filter(|&(a, b, _)| a != b)
            .collect()
    }
}

/// The `regions × regions` bandwidth matrix of `cluster`.
pub(crate) fn bandwidth_matrix(cluster: &Cluster) -> Vec<f64> {
    let k = cluster.regions.len();
    (0..k * k)
        .map(|i| cluster.bandwidth(i / k, i % k))
        .collect()
}

/// Whether `mask` holds region `r`.
pub(crate) fn has_region(mask: RegionMask, r: usize) -> bool {
    mask & region_bit(r) != 0
}

/// The most items whose permutations are all visited (7! = 5040).
pub(crate) const PERMUTE_MAX: usize = 7;

/// Calls `visit` with every permutation of `0..k` (Heap's algorithm), the
/// identity first.
pub(crate) fn for_each_permutation(k: usize, mut visit: impl FnMut(&[usize])) {
    let mut perm: Vec<usize> = (0..k).collect();
    visit(&perm);
    let mut c = vec![0usize; k];
    let mut i = 0;
    while i < k {
        if c[i] < i {
            if i % 2 == 0 {
                perm.swap(0, i);
            } else {
                perm.swap(c[i], i);
            }
            visit(&perm);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
}
