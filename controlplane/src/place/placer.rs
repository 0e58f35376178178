//! [`place`]: the whole placement of a [`Cluster`]: regions first, then
//! hosts inside each region (docs/placement.md §6).
//!
//! # Design
//!
//! 1. **Units.** Keep-together groups, and strongly connected components
//!    (Tarjan) small enough not to hurt the balance (at most
//!    [`SCC_MAX_REGION_SHARE`] of the smallest region in both resources,
//!    with a region all members may use), are contracted into one unit.
//! 2. **Regions.** The multilevel partitioner splits the units into one
//!    part per region, each aiming at the region's share of the capacity
//!    (CPU and memory shares averaged). A `BinSpace` with one bin per
//!    region then enforces what the partitioner does not see: per-resource
//!    limits (capacity, and the LIF bound `max_lif`), allowed regions
//!    (pins, latency bounds, host sizes), anti-affinity (a region takes at
//!    most as many members of a group as it has hosts) and minimum
//!    bandwidth, and refines by FM on the hierarchy-aware cost (edge weight
//!    times link latency). The best of `tries` seeds is kept.
//! 3. **Hosts.** Each region's VMs are split across its hosts by recursive
//!    bisection (halves of the host list; each bisection partitioned, then
//!    repaired and refined under the halves' capacities, pins, host sizes
//!    and anti-affinity slots), then one k-way pass over all its hosts
//!    enforces every host's capacity and anti-affinity exactly and refines
//!    the traffic between hosts. Host balance is a goal
//!    ([`PlaceOptions::host_lif_goal`]), relaxed in steps down to plain
//!    capacity when the VMs do not pack under it; the result reports it.
//!
//! Every constraint is checked before the search ([`Cluster::new`]); what
//! the search cannot satisfy comes back as a [`PlacementError`] naming the
//! constraint or resource, never as a placement that breaks it.

use super::bins::{Allowed, BinLayout, BinSpace, Violation};
use super::cluster::{Cluster, RegionMask};
use super::error::{PlacementError, Resource};
use super::graph::{Graph, VertexId, Weight};
use super::model::Placement;
use super::partition::{partition_to_targets, MAX_TRIES};
use super::quality::{quality, PlacementQuality};
use super::rng::PlaceRng;
use super::units::{
    combined_weight, for_each_permutation, has_region, round_weight, scaled_rate, traffic_divisor,
    traffic_graph, Units, PERMUTE_MAX,
};
use serde::{Deserialize, Serialize};

/// A strongly connected component is contracted when it needs at most this
/// share of the smallest region's capacity, in both resources.
pub const SCC_MAX_REGION_SHARE: f64 = 0.25;

/// Default bound on the region LIF (under the 5 % target, so that the
/// rebalancer's threshold is not crossed right away).
pub const DEFAULT_MAX_LIF: f64 = 0.04;

/// Default goal for the host LIF inside a region.
pub const DEFAULT_HOST_LIF_GOAL: f64 = 0.10;

/// Default number of region-level tries.
pub const DEFAULT_PLACE_TRIES: usize = 3;

/// A region-level try whose repair fails is replaced by a new seed, up to
/// this many attempts per try; then the first failure is the error.
const ATTEMPTS_PER_TRY: usize = 4;

/// FM passes per refinement at most.
const FM_PASSES: usize = 10;

/// The host balance goal is relaxed by these factors before falling back to
/// plain capacity.
const HOST_GOAL_STEPS: [f64; 3] = [1.0, 2.0, 4.0];

/// How to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaceOptions {
    /// The seed of every random choice.
    pub seed: u64,
    /// Bound on the region LIF: region `r` carries at most
    /// `(1 + max_lif)·κ_r·D/C` of each resource (and never more than it
    /// has). `null`: capacity only.
    pub max_lif: Option<f64>,
    /// Goal for the host LIF inside each region (relaxed when the VMs do
    /// not pack under it).
    pub host_lif_goal: f64,
    /// Region-level tries (partitioner seeds) that meet every limit; the
    /// best is kept. A try that cannot be repaired is replaced by another
    /// seed, up to four attempts per try.
    pub tries: usize,
}

impl Default for PlaceOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            max_lif: Some(DEFAULT_MAX_LIF),
            host_lif_goal: DEFAULT_HOST_LIF_GOAL,
            tries: DEFAULT_PLACE_TRIES,
        }
    }
}

/// A placement and its quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementOutcome {
    /// VM → host.
    pub placement: Placement,
    /// Its quality.
    pub quality: PlacementQuality,
    /// Units the VMs were contracted into.
    pub units: usize,
    /// Strongly connected components contracted.
    pub contracted_components: usize,
    /// The host of each VM (by index).
    #[serde(skip)]
    pub host_of: Vec<usize>,
}

fn check_options(options: &PlaceOptions) -> Result<(), PlacementError> {
    if let Some(max_lif) = options.max_lif {
        if !(max_lif.is_finite() && (0.0..=10.0).contains(&max_lif)) {
            return Err(PlacementError::BadValue {
                what: "max_lif".into(),
                value: max_lif.to_string(),
                expected: "between 0 and 10",
            });
        }
    }
    if !(options.host_lif_goal.is_finite() && (0.0..=10.0).contains(&options.host_lif_goal)) {
        return Err(PlacementError::BadValue {
            what: "host_lif_goal".into(),
            value: options.host_lif_goal.to_string(),
            expected: "between 0 and 10",
        });
    }
    if !(1..=MAX_TRIES).contains(&options.tries) {
        return Err(PlacementError::BadValue {
            what: "tries".into(),
            value: options.tries.to_string(),
            expected: "between 1 and 64",
        });
    }
    Ok(())
}

/// The most a bin of `capacity` may carry of `demand` (out of `total`
/// capacity) for a LIF of `eps`: its fair share `capacity·demand/total`
/// times `1 + eps`, but never less than the fair share plus one `grain`
/// (the mean demand of a unit: a finer bound cannot be met in general, as
/// with 5 VMs over 2 regions), and never more than `capacity`. Everything
/// up to capacity when `eps` is `None`.
pub(crate) fn balanced_limit(
    capacity: [u64; 2],
    demand: [u64; 2],
    total: [u64; 2],
    eps: Option<f64>,
    grain: [f64; 2],
) -> [u64; 2] {
    let mut limit = capacity;
    if let Some(eps) = eps {
        for i in 0..2 {
            let fair = capacity[i] as f64 * demand[i] as f64 / total[i].max(1) as f64;
            let bound = ((1.0 + eps) * fair).floor().max((fair + grain[i]).ceil());
            let bound = u64::try_from(round_weight(bound).max(0)).expect("non-negative");
            limit[i] = limit[i].min(bound);
        }
    }
    limit
}

/// The mean `[cpu, memory]` demand of `count` units sharing `demand`.
pub(crate) fn grain(demand: [u64; 2], count: usize) -> [f64; 2] {
    let n = count.max(1) as f64;
    [demand[0] as f64 / n, demand[1] as f64 / n]
}

/// Places every VM of `cluster` (see the module docs).
pub fn place(
    cluster: &Cluster,
    options: &PlaceOptions,
) -> Result<PlacementOutcome, PlacementError> {
    check_options(options)?;
    let divisor = traffic_divisor(cluster);
    let traffic = traffic_graph(cluster, divisor);
    let (groups, contracted_components) = unit_groups(cluster, &traffic);
    let units = Units::new(cluster, &traffic, &groups);
    let region_of_unit = place_regions(cluster, &units, options)?;
    let region_of_vm: Vec<usize> = units
        .unit_of
        .iter()
        .map(|&u| region_of_unit[u as usize] as usize)
        .collect();
    let mut host_of = vec![usize::MAX; cluster.vms.len()];
    let mut rng = PlaceRng::new(options.seed ^ 0x686f_7374);
    for r in 0..cluster.regions.len() {
        let vms: Vec<usize> = (0..cluster.vms.len())
            .filter(|&v| region_of_vm[v] == r)
            .collect();
        for (v, h) in place_hosts(cluster, r, &vms, divisor, options, &mut rng)? {
            host_of[v] = h;
        }
    }
    let placed: Vec<Option<usize>> = host_of.iter().map(|&h| Some(h)).collect();
    Ok(PlacementOutcome {
        placement: cluster.placement(&host_of),
        quality: quality(cluster, &placed),
        units: units.graph.vertex_count(),
        contracted_components,
        host_of,
    })
}

/// Keep-together groups, plus the small strongly connected components
/// (see the module docs) that touch no such group.
fn unit_groups(
    cluster: &Cluster,
    traffic: &super::traffic::TrafficGraph,
) -> (Vec<Vec<usize>>, usize) {
    let mut groups = cluster.keep_together.clone();
    let mut in_group = vec![false; cluster.vms.len()];
    for &v in groups.iter().flatten() {
        in_group[v] = true;
    }
    let smallest = Resource::ALL.map(|r| {
        cluster
            .regions
            .iter()
            .map(|region| region.capacity[r.index()])
            .min()
            .unwrap_or(0) as f64
    });
    let mut contracted = 0;
    for component in traffic.strongly_connected_components() {
        if component.len() < 2 || component.iter().any(|&v| in_group[v]) {
            continue;
        }
        let demand = component.iter().fold([0u64; 2], |d, &v| {
            [
                d[0] + cluster.vms[v].demand[0],
                d[1] + cluster.vms[v].demand[1],
            ]
        });
        let small = (0..2).all(|i| demand[i] as f64 <= SCC_MAX_REGION_SHARE * smallest[i]);
        let common: RegionMask = component
            .iter()
            .fold(RegionMask::MAX, |m, &v| m & cluster.allowed[v]);
        if small && common != 0 {
            groups.push(component);
            contracted += 1;
        }
    }
    (groups, contracted)
}

/// The region of every unit.
fn place_regions(
    cluster: &Cluster,
    units: &Units,
    options: &PlaceOptions,
) -> Result<Vec<u32>, PlacementError> {
    let k = cluster.regions.len();
    let n = units.graph.vertex_count();
    let demand = cluster.total_demand();
    let capacity = cluster.total_capacity();
    let limits: Vec<[u64; 2]> = cluster
        .regions
        .iter()
        .map(|r| {
            balanced_limit(
                r.capacity,
                demand,
                capacity,
                options.max_lif,
                grain(demand, n),
            )
        })
        .collect();
    let group_cost: Vec<Weight> = (0..k * k)
        .map(|i| round_weight(cluster.latency_ms(i / k, i % k) * 1000.0))
        .collect();
    let layout = BinLayout {
        bin_limit: limits.clone(),
        group_of_bin: (0..k)
            .map(|r| u32::try_from(r).expect("regions fit"))
            .collect(),
        group_limit: limits.clone(),
        group_cost,
        intra_cost: 0,
    };
    // The partitioner's view: combined weights and shares.
    let weights: Vec<Weight> = units
        .demand
        .iter()
        .map(|&d| combined_weight(d, capacity))
        .collect();
    let (xadj, adjncy, adjwgt, _) = units.graph.csr();
    let combined = Graph::from_csr(xadj.to_vec(), adjncy.to_vec(), adjwgt.to_vec(), weights)
        .expect("the unit graph with other vertex weights");
    let shares: Vec<f64> = cluster
        .regions
        .iter()
        .map(|r| {
            (r.capacity[0] as f64 / capacity[0] as f64 + r.capacity[1] as f64 / capacity[1] as f64)
                / 2.0
        })
        .collect();
    let eps = options.max_lif.unwrap_or(1.0);
    let total_weight = combined.total_vertex_weight() as f64;
    let part_limits: Vec<Weight> = shares
        .iter()
        .map(|s| round_weight(((1.0 + eps) * s * total_weight).floor()))
        .collect();
    let allowed: Vec<Allowed> = units.allowed.iter().map(|&m| Allowed::Groups(m)).collect();
    let separation = units.separation(cluster);
    let slots: Vec<u32> = cluster
        .regions
        .iter()
        .map(|r| u32::try_from(r.hosts.len()).expect("hosts fit"))
        .collect();
    let pairs = units.pairs(cluster);
    let bandwidth = super::units::bandwidth_matrix(cluster);
    let mut rng = PlaceRng::new(options.seed);
    let mut best: Option<(Weight, Vec<u32>)> = None;
    let mut first_error = None;
    let mut feasible = 0;
    for _ in 0..options.tries * ATTEMPTS_PER_TRY {
        if feasible == options.tries {
            break;
        }
        let seed = rng.next_u64();
        let start = if k == 1 || n == 0 {
            vec![0; n]
        } else {
            let parts =
                partition_to_targets(&combined, &shares, &part_limits, eps.min(1.0), seed, 1);
            map_parts(units, &parts, &limits, &layout.group_cost)
        };
        let mut space = BinSpace::new(&units.graph, units.demand.clone(), start, layout.clone());
        space.set_allowed(allowed.clone());
        space.set_separation(&separation, slots.clone());
        space.set_pairs(&pairs, bandwidth.clone());
        let mut try_rng = PlaceRng::new(seed);
        if let Err(violation) = space.repair(&mut try_rng) {
            first_error.get_or_insert(region_error(cluster, units, violation, options.max_lif));
            continue;
        }
        feasible += 1;
        space.refine(&mut try_rng, FM_PASSES, 1, &|_| false);
        let cost = unit_cost(&units.graph, space.bin_of(), &layout);
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, space.bin_of().to_vec()));
        }
    }
    match best {
        Some((_, regions)) => Ok(regions),
        None => Err(first_error.expect("a try ran and failed")),
    }
}

/// Relabels the parts of `parts` onto regions so that the heavy traffic
/// between parts crosses the cheap links: the permutation with, in order,
/// the least weight over the region limits, the fewest units outside their
/// allowed regions and the least hierarchy-aware cost (every permutation
/// up to [`PERMUTE_MAX`] regions, else pairwise swaps while one improves).
/// The partitioner sees neither latencies nor pins; the FM that follows
/// moves single units and cannot swap whole parts.
fn map_parts(units: &Units, parts: &[u32], limits: &[[u64; 2]], cost: &[Weight]) -> Vec<u32> {
    let k = limits.len();
    let mut load = vec![[0u64; 2]; k];
    let mut traffic = vec![0 as Weight; k * k];
    let mut stray = vec![0u64; k * k];
    for (u, &p) in parts.iter().enumerate() {
        let p = p as usize;
        load[p][0] += units.demand[u][0];
        load[p][1] += units.demand[u][1];
        for r in (0..k).filter(|&r| !has_region(units.allowed[u], r)) {
            stray[p * k + r] += 1;
        }
        for (w, weight) in units.graph.edges(u) {
            if w > u {
                traffic[p * k + parts[w] as usize] += weight;
            }
        }
    }
    let score = |perm: &[usize]| {
        let mut over = 0u64;
        let mut strays = 0u64;
        let mut hierarchy: i128 = 0;
        for p in 0..k {
            let (l, lim) = (load[p], limits[perm[p]]);
            over += l[0].saturating_sub(lim[0]) + l[1].saturating_sub(lim[1]);
            strays += stray[p * k + perm[p]];
            for q in 0..k {
                hierarchy +=
                    i128::from(traffic[p * k + q]) * i128::from(cost[perm[p] * k + perm[q]]);
            }
        }
        (over, strays, hierarchy)
    };
    let mut best: Vec<usize> = (0..k).collect();
    let mut best_score = score(&best);
    if k <= PERMUTE_MAX {
        for_each_permutation(k, |perm| {
            let s = score(perm);
            if s < best_score {
                best_score = s;
                best = perm.to_vec();
            }
        });
    } else {
        let mut improved = true;
        while improved {
            improved = false;
            for a in 0..k {
                for b in a + 1..k {
                    best.swap(a, b);
                    let s = score(&best);
                    if s < best_score {
                        best_score = s;
                        improved = true;
                    } else {
                        best.swap(a, b);
                    }
                }
            }
        }
    }
    parts
        .iter()
        .map(|&p| u32::try_from(best[p as usize]).expect("regions fit"))
        .collect()
}

/// `Σ ω·cost` over the unit graph's edges for bins that are groups.
fn unit_cost(graph: &Graph, bin_of: &[u32], layout: &BinLayout) -> Weight {
    let k = layout.group_limit.len();
    let mut twice = 0;
    for v in 0..graph.vertex_count() {
        for (u, w) in graph.edges(v) {
            twice += w * layout.group_cost[bin_of[v] as usize * k + bin_of[u] as usize];
        }
    }
    twice / 2
}

/// The error for what the region step could not repair.
fn region_error(
    cluster: &Cluster,
    units: &Units,
    violation: Violation,
    max_lif: Option<f64>,
) -> PlacementError {
    let vm_of = |u: usize| cluster.vms[units.members[u][0]].name.clone();
    match violation {
        Violation::BinOver(r, i, load, limit) | Violation::GroupOver(r, i, load, limit) => {
            PlacementError::Unbalanced {
                region: cluster.regions[r].name.clone(),
                resource: Resource::ALL[i],
                load,
                limit,
                max_lif: max_lif.unwrap_or(f64::INFINITY),
            }
        }
        Violation::NotAllowed(u) => {
            let v = units.members[u][0];
            let constraint = if cluster.pinned_region[v].is_some() {
                "pin_region"
            } else if cluster.latency_allowed[v] != RegionMask::MAX {
                "max_latency"
            } else {
                "capacity"
            };
            PlacementError::Unsatisfied {
                constraint,
                vm: vm_of(u),
            }
        }
        Violation::Separation(u) => PlacementError::Unsatisfied {
            constraint: "anti_affinity",
            vm: vm_of(u),
        },
        Violation::Pair(u) => PlacementError::Unsatisfied {
            constraint: "min_bandwidth",
            vm: vm_of(u),
        },
    }
}

/// The traffic between `vms` (scaled), as a graph on `0..vms.len()`.
fn local_graph(cluster: &Cluster, vms: &[usize], divisor: u64) -> Graph {
    let mut local = vec![VertexId::MAX; cluster.vms.len()];
    for (i, &v) in vms.iter().enumerate() {
        local[v] = VertexId::try_from(i).expect("VMs fit in u32");
    }
    let edges: Vec<(VertexId, VertexId, Weight)> = cluster
        .flows
        .iter()
        .filter(|&&(a, b, _)| local[a] != VertexId::MAX && local[b] != VertexId::MAX)
        .map(|&(a, b, t)| (local[a], local[b], scaled_rate(t, divisor)))
        .collect();
    let capacity = cluster.total_capacity();
    let weights = vms
        .iter()
        .map(|&v| combined_weight(cluster.vms[v].demand, capacity))
        .collect();
    Graph::from_edges(weights, &edges).expect("checked flows between distinct VMs")
}

/// The hosts of region `r` for its `vms`: `(vm, host)` pairs.
fn place_hosts(
    cluster: &Cluster,
    r: usize,
    vms: &[usize],
    divisor: u64,
    options: &PlaceOptions,
    rng: &mut PlaceRng,
) -> Result<Vec<(usize, usize)>, PlacementError> {
    let hosts: Vec<usize> = cluster.regions[r].hosts.clone().collect();
    if vms.is_empty() {
        return Ok(Vec::new());
    }
    let graph = local_graph(cluster, vms, divisor);
    let demand: Vec<[u64; 2]> = vms.iter().map(|&v| cluster.vms[v].demand).collect();
    let region_demand = demand
        .iter()
        .fold([0, 0], |t, d| [t[0] + d[0], t[1] + d[1]]);
    let region_capacity = cluster.regions[r].capacity;
    let mut last_error = None;
    let goals = HOST_GOAL_STEPS
        .iter()
        .map(|f| Some(f * options.host_lif_goal))
        .chain(std::iter::once(None));
    for goal in goals {
        let limit = |h: usize| {
            balanced_limit(
                cluster.hosts[h].capacity,
                region_demand,
                region_capacity,
                goal,
                grain(region_demand, vms.len()),
            )
        };
        let region = RegionHosts {
            cluster,
            vms,
            hosts: &hosts,
            graph: &graph,
            demand: &demand,
            limit: &limit,
        };
        let mut slot_of = vec![0u32; vms.len()];
        region.bisect(&hosts, &mut slot_of, (0..vms.len()).collect(), 0, rng);
        match region.kway(slot_of, rng) {
            Ok(slots) => {
                return Ok(vms
                    .iter()
                    .zip(slots)
                    .map(|(&v, s)| (v, hosts[s as usize]))
                    .collect());
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.expect("at least one goal tried"))
}

/// Separation groups restricted to `members` (indices into `vms`), as
/// local unit lists.
fn local_separation(cluster: &Cluster, vms: &[usize], members: &[usize]) -> Vec<Vec<u32>> {
    let mut local = std::collections::HashMap::new();
    for (i, &m) in members.iter().enumerate() {
        local.insert(vms[m], u32::try_from(i).expect("fits"));
    }
    cluster
        .anti_affinity
        .iter()
        .map(|g| {
            g.iter()
                .filter_map(|v| local.get(v).copied())
                .collect::<Vec<u32>>()
        })
        .filter(|g| g.len() > 1)
        .collect()
}

/// One region's VMs and hosts, for the host steps.
struct RegionHosts<'a> {
    cluster: &'a Cluster,
    /// The region's VMs (cluster indices).
    vms: &'a [usize],
    /// The region's hosts (cluster indices).
    hosts: &'a [usize],
    /// Traffic between the VMs (local indices).
    graph: &'a Graph,
    /// Each VM's demand (local indices).
    demand: &'a [[u64; 2]],
    /// The limit of each host (cluster index).
    limit: &'a dyn Fn(usize) -> [u64; 2],
}

impl RegionHosts<'_> {
    /// Recursive bisection of `members` (indices into `vms`) across
    /// `hosts[first..first + len]`: writes each member's host slot (index into
    /// `hosts`) into `slot_of`. Violations left here are for the k-way step.
    fn bisect(
        &self,
        hosts: &[usize],
        slot_of: &mut [u32],
        members: Vec<usize>,
        first: usize,
        rng: &mut PlaceRng,
    ) {
        let (cluster, vms, graph, demand, limit) =
            (self.cluster, self.vms, self.graph, self.demand, self.limit);
        let span = hosts.len();
        if span == 1 || members.is_empty() {
            for &m in &members {
                slot_of[m] = u32::try_from(first).expect("hosts fit");
            }
            return;
        }
        let half = span / 2;
        let sides = [&hosts[..half], &hosts[half..]];
        let side_limit: Vec<[u64; 2]> = sides
            .iter()
            .map(|s| {
                s.iter().fold([0, 0], |t, &h| {
                    let l = limit(h);
                    [t[0] + l[0], t[1] + l[1]]
                })
            })
            .collect();
        let (sub, _) = super::partition::subgraph_of(graph, &members);
        let sub_demand: Vec<[u64; 2]> = members.iter().map(|&m| demand[m]).collect();
        let capacity = cluster.total_capacity();
        let shares: Vec<f64> = side_limit
            .iter()
            .map(|l| combined_weight(*l, capacity).max(1) as f64)
            .collect();
        let total_weight = sub.total_vertex_weight() as f64;
        let share_sum: f64 = shares.iter().sum();
        let part_limits: Vec<Weight> = shares
            .iter()
            .map(|s| round_weight((1.03 * s / share_sum * total_weight).ceil()))
            .collect();
        let start = if members.len() < 2 {
            vec![0; members.len()]
        } else {
            partition_to_targets(&sub, &shares, &part_limits, 0.03, rng.next_u64(), 1)
        };
        let allowed: Vec<Allowed> = members
            .iter()
            .map(|&m| {
                let v = vms[m];
                match cluster.pinned_host[v] {
                    Some(h) => Allowed::Bin(u32::from(!sides[0].contains(&h))),
                    None => Allowed::Groups(
                        (0..2)
                            .filter(|&s| sides[s].iter().any(|&h| cluster.fits(v, h)))
                            .fold(0, |m, s| m | (1u64 << s)),
                    ),
                }
            })
            .collect();
        let layout = BinLayout {
            bin_limit: side_limit.clone(),
            group_of_bin: vec![0, 1],
            group_limit: side_limit,
            group_cost: vec![0, 1, 1, 0],
            intra_cost: 0,
        };
        let mut space = BinSpace::new(&sub, sub_demand, start, layout);
        space.set_allowed(allowed);
        let slots = sides
            .iter()
            .map(|s| u32::try_from(s.len()).expect("hosts fit"))
            .collect();
        space.set_separation(&local_separation(cluster, vms, &members), slots);
        // A bisection that cannot be repaired is left to the k-way step.
        if space.repair(rng).is_ok() {
            space.refine(rng, FM_PASSES, 1, &|_| false);
        }
        let mut split: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (i, &m) in members.iter().enumerate() {
            split[space.bin_of()[i] as usize].push(m);
        }
        let [left, right] = split;
        self.bisect(&hosts[..half], slot_of, left, first, rng);
        self.bisect(&hosts[half..], slot_of, right, first + half, rng);
    }

    /// The k-way step over all hosts of a region, from the bisection's slots:
    /// every host within `limit`, every pin and anti-affinity group honoured.
    fn kway(&self, slot_of: Vec<u32>, rng: &mut PlaceRng) -> Result<Vec<u32>, PlacementError> {
        let (cluster, vms, hosts, graph, demand, limit) = (
            self.cluster,
            self.vms,
            self.hosts,
            self.graph,
            self.demand,
            self.limit,
        );
        let bin_limit: Vec<[u64; 2]> = hosts.iter().map(|&h| limit(h)).collect();
        let layout = BinLayout {
            bin_limit,
            group_of_bin: vec![0; hosts.len()],
            group_limit: vec![[u64::MAX; 2]],
            group_cost: vec![0],
            intra_cost: 1,
        };
        let mut space = BinSpace::new(graph, demand.to_vec(), slot_of, layout);
        let allowed = vms
            .iter()
            .map(|&v| match cluster.pinned_host[v] {
                Some(h) => Allowed::Bin(
                    u32::try_from(
                        hosts
                            .iter()
                            .position(|&x| x == h)
                            .expect("pinned host in the region"),
                    )
                    .expect("fits"),
                ),
                None => Allowed::Groups(1),
            })
            .collect();
        space.set_allowed(allowed);
        let members: Vec<usize> = (0..vms.len()).collect();
        space.set_separation(
            &local_separation(cluster, vms, &members),
            vec![1; hosts.len()],
        );
        if let Err(violation) = space.repair(rng) {
            let vm = |i: usize| cluster.vms[vms[i]].name.clone();
            return Err(match violation {
                Violation::BinOver(b, i, load, limit) | Violation::GroupOver(b, i, load, limit) => {
                    PlacementError::HostPacking {
                        region: cluster.regions[cluster.hosts[hosts[b]].region].name.clone(),
                        host: cluster.hosts[hosts[b]].name.clone(),
                        resource: Resource::ALL[i],
                        load,
                        capacity: limit,
                    }
                }
                Violation::NotAllowed(i) => PlacementError::Unsatisfied {
                    constraint: "pin_host",
                    vm: vm(i),
                },
                Violation::Separation(i) | Violation::Pair(i) => PlacementError::Unsatisfied {
                    constraint: "anti_affinity",
                    vm: vm(i),
                },
            });
        }
        space.refine(rng, FM_PASSES, 1, &|_| false);
        Ok(space.bin_of().to_vec())
    }
}

/// Whether `host_of` honours every constraint of `cluster` and every host
/// capacity: `None`, or the first constraint broken (its kind and a VM).
pub fn check_placement(cluster: &Cluster, host_of: &[usize]) -> Option<(&'static str, String)> {
    let name = |v: usize| cluster.vms[v].name.clone();
    let region = |v: usize| cluster.region_of_host(host_of[v]);
    let mut load = vec![[0u64; 2]; cluster.hosts.len()];
    for (v, &h) in host_of.iter().enumerate() {
        if cluster.pinned_host[v].is_some_and(|p| p != h) {
            return Some(("pin_host", name(v)));
        }
        if cluster.pinned_region[v].is_some_and(|p| p != region(v)) {
            return Some(("pin_region", name(v)));
        }
        if !has_region(cluster.latency_allowed[v], region(v)) {
            return Some(("max_latency", name(v)));
        }
        load[h][0] += cluster.vms[v].demand[0];
        load[h][1] += cluster.vms[v].demand[1];
    }
    for (h, l) in load.iter().enumerate() {
        if l[0] > cluster.hosts[h].capacity[0] || l[1] > cluster.hosts[h].capacity[1] {
            let v = host_of
                .iter()
                .position(|&x| x == h)
                .expect("a loaded host has a VM");
            return Some(("capacity", name(v)));
        }
    }
    for group in &cluster.anti_affinity {
        for (i, &a) in group.iter().enumerate() {
            if group[i + 1..].iter().any(|&b| host_of[b] == host_of[a]) {
                return Some(("anti_affinity", name(a)));
            }
        }
    }
    for group in &cluster.keep_together {
        if group.iter().any(|&v| region(v) != region(group[0])) {
            return Some(("keep_together", name(group[0])));
        }
    }
    for &(a, b, min) in &cluster.min_bandwidth {
        if cluster.bandwidth(region(a), region(b)) < min {
            return Some(("min_bandwidth", name(a)));
        }
    }
    None
}
