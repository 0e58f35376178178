//! [`rebalance`]: from the current placement and new traffic, the smallest
//! set of migrations that brings the cross-region share `X/T` and the region
//! LIF back under their thresholds, each move weighed by its cost
//! `memory / predicted bandwidth` (docs/placement.md §6).
//!
//! # Design
//!
//! Hysteresis: nothing moves unless `X/T` is above `cross_share_high`, the
//! LIF above `lif_high`, or the current placement breaks a constraint; when
//! it acts it aims at the *low* thresholds, so the next call on the same or
//! slightly noisier traffic finds both under the high ones and proposes
//! nothing.
//!
//! The search is a `BinSpace` over all hosts grouped into regions,
//! started from the current placement. The objective is the CCR numerator
//! (link-seconds per second of cross-region traffic, `Σ t / B̂`): each move's
//! gain is what it saves there minus its migration penalty
//! `(1 + margin) · (memory / B̂(from, to)) / payback_s`, the link time the
//! migration takes spread over the payback period. So a set of moves is
//! proposed only when, within the payback period, it saves more WAN link
//! time than it spends, by the margin. Phases: (0) repair constraints the
//! placement breaks; (1) when the LIF is over `lif_high`, move the cheapest
//! VMs out of regions over the `lif_low` limit; (2) when `X/T` is over
//! `cross_share_high`, FM passes (moves between regions only, into regions
//! within the `lif_low` limit) stopped at the first prefix that reaches
//! `cross_share_low` with a positive net gain, or else the best net
//! prefix; once there, moves not needed are undone and large moves are
//! exchanged for sets of smaller ones that reach the aim with less memory
//! (`RegionSearch::exchange`); the best of a few independent runs is kept.
//! Keep-together groups do not move (a move of one member would split
//! them).

use super::bins::{Allowed, BinLayout, BinSpace, Penalty, Violation};
use super::cluster::Cluster;
use super::error::{PlacementError, Resource};
use super::graph::{Graph, Weight};
use super::model::LinkSpec;
use super::partition::{coarsen_levels, project_level};
use super::placer::{balanced_limit, check_placement, grain};
use super::quality::{loads, quality, PlacementQuality};
use super::rng::PlaceRng;
use super::units::{bandwidth_matrix, round_weight, traffic_divisor, traffic_graph, Units};
use serde::{Deserialize, Serialize};

/// Fixed-point scale of the costs: a cross-region unit of scaled traffic
/// costs this much, and a migration over a link of bandwidth `B̂` costs
/// `COST_SCALE · B̄ / B̂` per unit of its penalty factor (`B̄` the mean link).
const COST_SCALE: f64 = 65_536.0;

/// The largest per-VM penalty factor (a saturation far above any gain).
const MAX_PENALTY_FACTOR: f64 = (1u64 << 40) as f64;

/// The host step's cost of a traffic unit between regions, against 1
/// between hosts of one region.
const HOST_STEP_REGION_COST: Weight = 1_000;

/// FM passes at most...
const FM_PASSES: usize = 20;
/// ...stopping after this many in a row gain nothing (a call searches until
/// a second call from its result would find nothing either).
const FM_IDLE_PASSES: usize = 3;

/// Thresholds and weights of a rebalance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebalanceOptions {
    /// Act when `X/T` is above this (the original's 15 %).
    pub cross_share_high: f64,
    /// Aim at `X/T` at most this.
    pub cross_share_low: f64,
    /// Act when the region LIF is above this.
    pub lif_high: f64,
    /// Aim at a region LIF at most this.
    pub lif_low: f64,
    /// The period over which a migration must pay for itself (s).
    pub payback_s: f64,
    /// A move set must save `(1 + margin)` times the link time it costs.
    pub margin: f64,
    /// The seed of every random choice.
    pub seed: u64,
    /// Predicted bandwidth per region pair (bytes/s), replacing the model's
    /// for migration costs and the objective; pairs not listed keep it.
    pub predicted_bandwidth: Vec<LinkSpec>,
}

impl Default for RebalanceOptions {
    fn default() -> Self {
        Self {
            cross_share_high: 0.15,
            cross_share_low: 0.12,
            lif_high: 0.05,
            lif_low: 0.04,
            payback_s: 3600.0,
            margin: 0.5,
            seed: 1,
            predicted_bandwidth: Vec::new(),
        }
    }
}

/// One proposed migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// The VM.
    pub vm: String,
    /// Its host now.
    pub from_host: String,
    /// Its host after.
    pub to_host: String,
    /// Its region now.
    pub from_region: String,
    /// Its region after.
    pub to_region: String,
    /// Memory the migration moves (MiB).
    pub memory_mib: u64,
    /// `memory / predicted bandwidth` between the two regions (s).
    pub cost_s: f64,
}

/// What a rebalance concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebalanceStatus {
    /// Both figures under their high thresholds and no constraint broken:
    /// nothing to do.
    WithinThresholds,
    /// Moves that reach the low thresholds.
    Rebalanced,
    /// The low thresholds cannot be reached by moves that pay for
    /// themselves (the moves listed, if any, still improve).
    TargetNotReached,
}

/// A rebalance proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RebalancePlan {
    /// The conclusion.
    pub status: RebalanceStatus,
    /// Why, in words.
    pub reason: String,
    /// The migrations, in the order found.
    pub moves: Vec<Migration>,
    /// Memory all of them move (MiB).
    pub moved_memory_mib: u64,
    /// The sum of their costs (s).
    pub total_cost_s: f64,
    /// Quality now, under the new traffic.
    pub before: PlacementQuality,
    /// Quality after the moves.
    pub after: PlacementQuality,
    /// The host of every VM after the moves.
    #[serde(skip)]
    pub host_of: Vec<usize>,
}

fn check_options(options: &RebalanceOptions) -> Result<(), PlacementError> {
    let checks = [
        (
            "cross_share_low",
            options.cross_share_low,
            0.0,
            options.cross_share_high,
        ),
        (
            "cross_share_high",
            options.cross_share_high,
            options.cross_share_low,
            1.0,
        ),
        ("lif_low", options.lif_low, 0.0, options.lif_high),
        ("lif_high", options.lif_high, options.lif_low, 10.0),
        ("margin", options.margin, 0.0, 1e6),
        ("payback_s", options.payback_s, 1.0, 1e9),
    ];
    for (what, value, min, max) in checks {
        if !(value.is_finite() && value >= min && value <= max) {
            return Err(PlacementError::BadValue {
                what: what.into(),
                value: value.to_string(),
                expected: "within its range (0 <= low <= high <= 1 for shares, high <= 10 for LIF, margin >= 0, payback_s >= 1)",
            });
        }
    }
    Ok(())
}

/// The predicted bandwidth matrix: the model's, with the predictions in.
fn predicted_matrix(
    cluster: &Cluster,
    options: &RebalanceOptions,
) -> Result<Vec<f64>, PlacementError> {
    let k = cluster.regions.len();
    let mut matrix = bandwidth_matrix(cluster);
    let region = |name: &str| {
        cluster
            .regions
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| PlacementError::UnknownName {
                what: "region",
                name: name.to_owned(),
                context: "predicted_bandwidth".into(),
            })
    };
    for link in &options.predicted_bandwidth {
        let (a, b) = (region(&link.a)?, region(&link.b)?);
        let bw = link.bandwidth_bytes_per_s;
        if a == b || !(bw.is_finite() && bw > 0.0) {
            return Err(PlacementError::BadValue {
                what: format!("predicted_bandwidth {}-{}", link.a, link.b),
                value: bw.to_string(),
                expected: "two distinct regions and a bandwidth above 0",
            });
        }
        matrix[a * k + b] = bw;
        matrix[b * k + a] = bw;
    }
    Ok(matrix)
}

/// Proposes migrations for `current` (every VM placed) under the model's
/// traffic (see the module docs).
pub fn rebalance(
    cluster: &Cluster,
    current: &[Option<usize>],
    options: &RebalanceOptions,
) -> Result<RebalancePlan, PlacementError> {
    check_options(options)?;
    let origin: Vec<usize> = current
        .iter()
        .enumerate()
        .map(|(v, h)| {
            h.ok_or_else(|| PlacementError::BadValue {
                what: "placement".into(),
                value: cluster.vms[v].name.clone(),
                expected: "every VM of the model placed",
            })
        })
        .collect::<Result<_, _>>()?;
    let predicted = predicted_matrix(cluster, options)?;
    let before = quality(cluster, current);
    let broken = check_placement(cluster, &origin);
    let (x_over, lif_over) = (
        before.cross_region_share > options.cross_share_high,
        over_balance(cluster, &origin, options.lif_high),
    );
    if broken.is_none() && !x_over && !lif_over {
        let reason = format!(
            "X/T {:.4} <= {} and no region over the balance limit of LIF {} (LIF {:.4}): nothing to do",
            before.cross_region_share,
            options.cross_share_high,
            options.lif_high,
            before.lif_regions
        );
        return Ok(plan(
            cluster,
            &origin,
            origin.clone(),
            &predicted,
            before,
            RebalanceStatus::WithinThresholds,
            reason,
        ));
    }
    let divisor = traffic_divisor(cluster);
    let units = Units::new(cluster, &traffic_graph(cluster, divisor), &[]);
    let mut rng = PlaceRng::new(options.seed);
    let mut reasons = Vec::new();
    let mut reached = true;
    // Phase 0: a placement that breaks a constraint is repaired on hosts.
    let mut hosts_now = origin.clone();
    if let Some((constraint, vm)) = &broken {
        reasons.push(format!("the placement breaks {constraint} ({vm})"));
        let allowed = (0..cluster.vms.len())
            .map(|v| Allowed::Groups(cluster.allowed[v]))
            .collect();
        hosts_now = host_step(cluster, &units, &hosts_now, allowed, &mut rng).map_err(|_| {
            PlacementError::Unsatisfied {
                constraint,
                vm: vm.clone(),
            }
        })?;
    }
    // Phases 1 and 2, on regions.
    let search = RegionSearch::new(cluster, &units, &origin, &predicted, divisor, options);
    let mut regions: Vec<u32> = hosts_now
        .iter()
        .map(|&h| u32::try_from(cluster.region_of_host(h)).expect("regions fit"))
        .collect();
    if lif_over {
        reasons.push(format!(
            "LIF {:.4}: a region over the balance limit of LIF {}",
            before.lif_regions, options.lif_high
        ));
        let mut space = search.space(
            &units.graph,
            &search.fine,
            regions.clone(),
            search.low_limits.clone(),
        );
        reached &= space.repair(&mut rng).is_ok();
        regions = space.bin_of().to_vec();
    }
    let total = units.graph.total_edge_weight().max(1) as f64;
    let target = options.cross_share_low * total;
    let cross_now = search
        .space(
            &units.graph,
            &search.fine,
            regions.clone(),
            search.open_limits(&regions),
        )
        .cross_group_weight();
    if x_over || cross_now as f64 > options.cross_share_high * total {
        reasons.push(format!(
            "X/T {:.4} > {}",
            before.cross_region_share, options.cross_share_high
        ));
        let (found, met) = search.search(&units.graph, regions, target, &mut rng);
        regions = found;
        reached &= met;
    }
    // Hosts for the VMs that changed region.
    let allowed = (0..cluster.vms.len())
        .map(|v| Allowed::Groups(1u64 << regions[v]))
        .collect();
    let start = arrival_hosts(cluster, &hosts_now, &regions);
    let after_hosts = host_step(cluster, &units, &start, allowed, &mut rng).map_err(
        |violation| match violation {
            Violation::BinOver(h, i, load, capacity) => PlacementError::HostPacking {
                region: cluster.regions[cluster.region_of_host(h)].name.clone(),
                host: cluster.hosts[h].name.clone(),
                resource: Resource::ALL[i],
                load,
                capacity,
            },
            other => PlacementError::Unsatisfied {
                constraint: "anti_affinity",
                vm: cluster.vms[match other {
                    Violation::NotAllowed(v) | Violation::Separation(v) | Violation::Pair(v) => v,
                    _ => 0,
                }]
                .name
                .clone(),
            },
        },
    )?;
    let placed: Vec<Option<usize>> = after_hosts.iter().map(|&h| Some(h)).collect();
    let after = quality(cluster, &placed);
    let found = format!(
        "X/T {:.4} (aim {}), LIF {:.4} (aim {})",
        after.cross_region_share, options.cross_share_low, after.lif_regions, options.lif_low
    );
    if reached {
        let reason = format!("{}; after: {found}", reasons.join(", "));
        return Ok(plan(
            cluster,
            &origin,
            after_hosts,
            &predicted,
            before,
            RebalanceStatus::Rebalanced,
            reason,
        ));
    }
    // Short of the aim: kept only when it leaves both figures well under
    // their high thresholds, so that the next call has nothing to do.
    let settled = after.cross_region_share
        <= (options.cross_share_low + options.cross_share_high) / 2.0
        && !over_balance(
            cluster,
            &after_hosts,
            (options.lif_low + options.lif_high) / 2.0,
        );
    let (hosts, reason) = if settled {
        (
            after_hosts,
            format!(
                "{}; short of the aim but settled: {found}",
                reasons.join(", ")
            ),
        )
    } else {
        (
            hosts_now,
            format!(
                "{}; the best moves found that pay for themselves reach {found}, not halfway from the high to the low thresholds: none proposed{}",
                reasons.join(", "),
                if broken.is_some() { " beyond the constraint repair" } else { "" }
            ),
        )
    };
    Ok(plan(
        cluster,
        &origin,
        hosts,
        &predicted,
        before,
        RebalanceStatus::TargetNotReached,
        reason,
    ))
}

/// Whether a region of `host_of` carries more than the placement's balance
/// limit for a LIF of `eps` (`balanced_limit`: the fair share times
/// `1 + eps`, at least the fair share plus one average VM).
fn over_balance(cluster: &Cluster, host_of: &[usize], eps: f64) -> bool {
    let (demand, capacity) = (cluster.total_demand(), cluster.total_capacity());
    let placed: Vec<Option<usize>> = host_of.iter().map(|&h| Some(h)).collect();
    let load = loads(cluster, &placed, cluster.regions.len(), |h| {
        cluster.region_of_host(h)
    });
    let grain = grain(demand, cluster.vms.len());
    cluster.regions.iter().zip(&load).any(|(r, l)| {
        let limit = balanced_limit(r.capacity, demand, capacity, Some(eps), grain);
        l[0] > limit[0] || l[1] > limit[1]
    })
}

/// Independent runs of the region search, the best kept (they differ in
/// their random visit orders and coarsenings).
const SEARCH_RESTARTS: usize = 4;
const _: () = assert!(SEARCH_RESTARTS >= 1);

/// Moved VMs [`RegionSearch::exchange`] tries to exchange, largest first.
const EXCHANGE_MAX: usize = 32;

/// Coarsening of the region search stops at about this many VMs per
/// unit...
const COARSE_UNIT_VMS: usize = 8;
/// ...and never below this many units per region.
const COARSE_MIN_UNITS_PER_REGION: usize = 8;

/// Units of one level of the region search.
#[derive(Debug, Clone)]
struct LevelUnits {
    demand: Vec<[u64; 2]>,
    allowed: Vec<Allowed>,
    separation: Vec<Vec<u32>>,
    pairs: Vec<(u32, u32, f64)>,
    penalty: Vec<Weight>,
    origin: Vec<u32>,
}

impl LevelUnits {
    /// The units of the coarser level `map` leads to (`count` units).
    fn coarsen(&self, map: &[u32], count: usize) -> Self {
        let mut coarse = Self {
            demand: vec![[0; 2]; count],
            allowed: vec![Allowed::Groups(u64::MAX); count],
            separation: self
                .separation
                .iter()
                .map(|g| g.iter().map(|&u| map[u as usize]).collect())
                .collect(),
            pairs: self
                .pairs
                .iter()
                .map(|&(a, b, min)| (map[a as usize], map[b as usize], min))
                .filter(|&(a, b, _)| a != b)
                .collect(),
            penalty: vec![0; count],
            origin: vec![0; count],
        };
        for (u, &c) in map.iter().enumerate() {
            let c = c as usize;
            coarse.demand[c][0] += self.demand[u][0];
            coarse.demand[c][1] += self.demand[u][1];
            if let (Allowed::Groups(a), Allowed::Groups(b)) = (coarse.allowed[c], self.allowed[u]) {
                coarse.allowed[c] = Allowed::Groups(a & b);
            }
            coarse.penalty[c] += self.penalty[u];
            coarse.origin[c] = self.origin[u];
        }
        coarse
    }
}

/// The region-level search: one bin per region, costs `B_min / B̂`, the
/// migration penalty, the limits of `lif_low`.
#[derive(Debug)]
struct RegionSearch {
    fine: LevelUnits,
    objective_cost: Vec<Weight>,
    penalty_cost: Vec<Weight>,
    bandwidth: Vec<f64>,
    slots: Vec<u32>,
    low_limits: Vec<[u64; 2]>,
    settled_limits: Vec<[u64; 2]>,
    regions: usize,
}

impl RegionSearch {
    fn new(
        cluster: &Cluster,
        units: &Units,
        origin: &[usize],
        predicted: &[f64],
        divisor: u64,
        options: &RebalanceOptions,
    ) -> Self {
        // Objective: X (every cross-region byte alike). Penalty: the
        // migration's link time at B̂, as bytes at the mean WAN bandwidth.
        let finite: Vec<f64> = predicted
            .iter()
            .copied()
            .filter(|b| b.is_finite())
            .collect();
        let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        let scale: Weight = round_weight(COST_SCALE);
        let objective_cost = predicted
            .iter()
            .map(|&b| if b.is_finite() { scale } else { 0 })
            .collect();
        let penalty_cost = predicted
            .iter()
            .map(|&b| {
                if b.is_finite() {
                    round_weight(COST_SCALE * mean / b).max(1)
                } else {
                    0
                }
            })
            .collect();
        let mut pairs = units.pairs(cluster);
        for group in &cluster.keep_together {
            for &v in &group[1..] {
                pairs.push((units.unit_of[group[0]], units.unit_of[v], f64::INFINITY));
            }
        }
        let penalty = cluster
            .vms
            .iter()
            .map(|v| {
                let bytes = v.demand[Resource::Memory.index()] as f64 * 1_048_576.0;
                let factor = (1.0 + options.margin) * bytes / (options.payback_s * divisor as f64);
                round_weight(factor.min(MAX_PENALTY_FACTOR))
            })
            .collect();
        let (demand, capacity) = (cluster.total_demand(), cluster.total_capacity());
        let limits = |eps: f64| -> Vec<[u64; 2]> {
            cluster
                .regions
                .iter()
                .map(|r| {
                    balanced_limit(
                        r.capacity,
                        demand,
                        capacity,
                        Some(eps),
                        grain(demand, cluster.vms.len()),
                    )
                })
                .collect()
        };
        Self {
            fine: LevelUnits {
                demand: units.demand.clone(),
                allowed: units.allowed.iter().map(|&m| Allowed::Groups(m)).collect(),
                separation: units.separation(cluster),
                pairs,
                penalty,
                origin: origin
                    .iter()
                    .map(|&h| u32::try_from(cluster.region_of_host(h)).expect("regions fit"))
                    .collect(),
            },
            penalty_cost,
            objective_cost,
            bandwidth: bandwidth_matrix(cluster),
            slots: cluster
                .regions
                .iter()
                .map(|r| u32::try_from(r.hosts.len()).expect("hosts fit"))
                .collect(),
            low_limits: limits(options.lif_low),
            settled_limits: limits((options.lif_low + options.lif_high) / 2.0),
            regions: cluster.regions.len(),
        }
    }

    /// The limits of a settled balance (LIF halfway between `lif_low` and
    /// `lif_high`: what a proposal is checked against), raised to the load
    /// of regions already above them (they keep it, they only may not
    /// receive).
    fn open_limits(&self, regions: &[u32]) -> Vec<[u64; 2]> {
        let mut load = vec![[0u64; 2]; self.regions];
        for (v, &r) in regions.iter().enumerate() {
            load[r as usize][0] += self.fine.demand[v][0];
            load[r as usize][1] += self.fine.demand[v][1];
        }
        self.settled_limits
            .iter()
            .zip(&load)
            .map(|(l, g)| [l[0].max(g[0]), l[1].max(g[1])])
            .collect()
    }

    fn space<'g>(
        &self,
        graph: &'g Graph,
        level: &LevelUnits,
        start: Vec<u32>,
        limits: Vec<[u64; 2]>,
    ) -> BinSpace<'g> {
        let k = self.regions;
        let layout = BinLayout {
            bin_limit: limits.clone(),
            group_of_bin: (0..k)
                .map(|r| u32::try_from(r).expect("regions fit"))
                .collect(),
            group_limit: limits,
            group_cost: self.objective_cost.clone(),
            intra_cost: 0,
        };
        let mut space = BinSpace::new(graph, level.demand.clone(), start, layout);
        space.set_allowed(level.allowed.clone());
        space.set_separation(&level.separation, self.slots.clone());
        space.set_pairs(&level.pairs, self.bandwidth.clone());
        space.set_penalty(Penalty {
            origin: level.origin.clone(),
            per_unit: level.penalty.clone(),
            link: self.penalty_cost.clone(),
            intra: 0,
        });
        space
    }

    /// The search from `regions` for a cross weight at most `target`:
    /// [`SEARCH_RESTARTS`] independent runs of [`RegionSearch::search_once`]
    /// (each with its own random visit orders and coarsenings), the best
    /// kept: the target met with the least memory moved, else the smallest
    /// cross weight. Returns the regions and whether the target was met.
    fn search(
        &self,
        graph: &Graph,
        regions: Vec<u32>,
        target: f64,
        rng: &mut PlaceRng,
    ) -> (Vec<u32>, bool) {
        let limits = self.open_limits(&regions);
        let met = |s: &BinSpace<'_>| s.cross_group_weight() as f64 <= target;
        let mut best: Option<((bool, u64, Weight), Vec<u32>)> = None;
        for _ in 0..SEARCH_RESTARTS {
            let found = self.search_once(graph, regions.clone(), &limits, &met, rng);
            let reached = met(&found);
            let score = (
                !reached,
                if reached {
                    self.moved_memory(&found)
                } else {
                    0
                },
                found.cross_group_weight(),
            );
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, found.bin_of().to_vec()));
            }
        }
        let ((missed, ..), found) = best.expect("at least one run");
        (found, !missed)
    }

    /// One run of the search: the best moves per MiB first while they
    /// gain, then FM on VMs, stopping at the target; when that falls short,
    /// the multilevel search too (coarsened inside (region now, region of
    /// origin) classes, FM from the coarsest level down), and the better of
    /// the two (the target met with less memory, else the smaller cross
    /// weight). When the target is met, moves not needed to stay under it
    /// are undone, largest memory first ([`RegionSearch::trim`]), and then
    /// large moves are exchanged for cheaper sets
    /// ([`RegionSearch::exchange`]).
    fn search_once<'g>(
        &self,
        graph: &'g Graph,
        regions: Vec<u32>,
        limits: &[[u64; 2]],
        met: &dyn Fn(&BinSpace<'_>) -> bool,
        rng: &mut PlaceRng,
    ) -> BinSpace<'g> {
        let mut flat = self.space(graph, &self.fine, regions.clone(), limits.to_vec());
        let memory: Vec<u64> = self.fine.demand.iter().map(|d| d[1]).collect();
        flat.greedy_by_ratio(&memory, rng, met);
        if !met(&flat) {
            flat.refine(rng, FM_PASSES, FM_IDLE_PASSES, met);
        }
        let mut best = flat;
        if !met(&best) {
            let layered = self.multilevel(graph, regions, limits, met, rng);
            let score = |s: &BinSpace<'_>| {
                (
                    !met(s),
                    if met(s) { self.moved_memory(s) } else { 0 },
                    s.cross_group_weight(),
                )
            };
            if score(&layered) < score(&best) {
                best = layered;
            }
        }
        if met(&best) {
            self.trim(&mut best, met);
            self.exchange(&mut best, &memory, met, rng);
        }
        best
    }

    /// Exchanges large moves for cheaper sets: for each moved VM, largest
    /// memory first (at most [`EXCHANGE_MAX`]), send it back to its origin,
    /// hold it there, and reach the target again by the best moves per MiB
    /// ([`BinSpace::greedy_by_ratio`]) and [`RegionSearch::trim`]; kept
    /// when the target is met with less memory moved, else undone. This is
    /// the 1-exchange local search of a covering knapsack: the greedy by
    /// ratio alone keeps a large VM that was cheap per MiB early, when a
    /// few small ones finish the job once the others have moved.
    fn exchange(
        &self,
        space: &mut BinSpace<'_>,
        memory: &[u64],
        met: &dyn Fn(&BinSpace<'_>) -> bool,
        rng: &mut PlaceRng,
    ) {
        let mut moved: Vec<usize> = (0..self.fine.origin.len())
            .filter(|&v| space.bin_of()[v] != self.fine.origin[v])
            .collect();
        moved.sort_by_key(|&v| (std::cmp::Reverse(memory[v]), v));
        moved.truncate(EXCHANGE_MAX);
        for v in moved {
            let origin = self.fine.origin[v];
            if space.bin_of()[v] == origin || !space.can_move(v, origin as usize) {
                continue;
            }
            let snapshot = space.bin_of().to_vec();
            let before = self.moved_memory(space);
            space.apply(v, origin);
            let held = space.hold(v, origin);
            space.greedy_by_ratio(memory, rng, met);
            if met(space) {
                self.trim(space, met);
            }
            space.release(v, held);
            if !(met(space) && self.moved_memory(space) < before) {
                space.restore(&snapshot);
            }
        }
    }

    /// Memory of the units away from their origin.
    fn moved_memory(&self, space: &BinSpace<'_>) -> u64 {
        (0..self.fine.origin.len())
            .filter(|&v| space.bin_of()[v] != self.fine.origin[v])
            .map(|v| self.fine.demand[v][1])
            .sum()
    }

    /// The multilevel search (see [`RegionSearch::search`]).
    fn multilevel<'g>(
        &self,
        graph: &'g Graph,
        regions: Vec<u32>,
        limits: &[[u64; 2]],
        met: &dyn Fn(&BinSpace<'_>) -> bool,
        rng: &mut PlaceRng,
    ) -> BinSpace<'g> {
        let k = u32::try_from(self.regions).expect("regions fit");
        let n = graph.vertex_count();
        let class: Vec<u32> = regions
            .iter()
            .zip(&self.fine.origin)
            .map(|(&r, &o)| r * k + o)
            .collect();
        let coarsen_to = (n / COARSE_UNIT_VMS).max(COARSE_MIN_UNITS_PER_REGION * self.regions);
        let max_weight =
            round_weight(1.5 * graph.total_vertex_weight() as f64 / coarsen_to as f64).max(1);
        let levels = coarsen_levels(graph, coarsen_to, max_weight, Some(&class), rng);
        let mut data = vec![self.fine.clone()];
        let mut assign = regions;
        for level in &levels {
            let coarse = data
                .last()
                .expect("the fine level")
                .coarsen(&level.map, level.graph.vertex_count());
            let mut coarse_regions = vec![0u32; level.graph.vertex_count()];
            for (u, &c) in level.map.iter().enumerate() {
                coarse_regions[c as usize] = assign[u];
            }
            data.push(coarse);
            assign = coarse_regions;
        }
        for i in (1..=levels.len()).rev() {
            let mut space = self.space(&levels[i - 1].graph, &data[i], assign, limits.to_vec());
            if !met(&space) {
                space.refine(rng, FM_PASSES, FM_IDLE_PASSES, met);
            }
            assign = project_level(&levels[i - 1], space.bin_of());
        }
        let mut space = self.space(graph, &self.fine, assign, limits.to_vec());
        if !met(&space) {
            space.refine(rng, FM_PASSES, FM_IDLE_PASSES, met);
        }
        space
    }

    /// Undoes moves (largest memory first) while the target stays met.
    fn trim(&self, space: &mut BinSpace<'_>, met: &dyn Fn(&BinSpace<'_>) -> bool) {
        let mut moved: Vec<usize> = (0..self.fine.origin.len())
            .filter(|&v| space.bin_of()[v] != self.fine.origin[v])
            .collect();
        moved.sort_by_key(|&v| (std::cmp::Reverse(self.fine.demand[v][1]), v));
        for v in moved {
            let (now, origin) = (space.bin_of()[v], self.fine.origin[v]);
            if space.can_move(v, origin as usize) {
                space.apply(v, origin);
                if !met(space) {
                    space.apply(v, now);
                }
            }
        }
    }
}

/// Every VM's host before the host step: unchanged when its region is,
/// else the host of its new region with the most room left that takes it
/// (anti-affinity included), largest VMs first.
fn arrival_hosts(cluster: &Cluster, hosts_now: &[usize], regions: &[u32]) -> Vec<usize> {
    let mut hosts = hosts_now.to_vec();
    let mut arriving: Vec<usize> = (0..cluster.vms.len())
        .filter(|&v| cluster.region_of_host(hosts_now[v]) != regions[v] as usize)
        .collect();
    arriving.sort_by_key(|&v| (std::cmp::Reverse(cluster.vms[v].demand[1]), v));
    let mut load = vec![[0u64; 2]; cluster.hosts.len()];
    for (v, &h) in hosts_now.iter().enumerate() {
        if !arriving.contains(&v) {
            load[h][0] += cluster.vms[v].demand[0];
            load[h][1] += cluster.vms[v].demand[1];
        }
    }
    for v in arriving {
        let d = cluster.vms[v].demand;
        let region = &cluster.regions[regions[v] as usize];
        let room = |h: usize| {
            let c = cluster.hosts[h].capacity;
            ((c[0] as f64 - (load[h][0] + d[0]) as f64) / c[0] as f64)
                .min((c[1] as f64 - (load[h][1] + d[1]) as f64) / c[1] as f64)
        };
        let apart = |h: usize| {
            cluster
                .anti_affinity
                .iter()
                .filter(|g| g.contains(&v))
                .all(|g| g.iter().all(|&u| u == v || hosts[u] != h))
        };
        let host = match cluster.pinned_host[v] {
            Some(h) => h,
            None => region
                .hosts
                .clone()
                .max_by(|&a, &b| {
                    (apart(a), room(a))
                        .partial_cmp(&(apart(b), room(b)))
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .expect("regions have hosts"),
        };
        hosts[v] = host;
        load[host][0] += d[0];
        load[host][1] += d[1];
    }
    hosts
}

/// Repairs `hosts` on hosts: capacities, pins, anti-affinity, with each VM
/// kept within `allowed` regions. Returns the hosts, or what is left
/// broken.
fn host_step(
    cluster: &Cluster,
    units: &Units,
    hosts: &[usize],
    mut allowed: Vec<Allowed>,
    rng: &mut PlaceRng,
) -> Result<Vec<usize>, Violation> {
    let k = cluster.regions.len();
    let layout = BinLayout {
        bin_limit: cluster.hosts.iter().map(|h| h.capacity).collect(),
        group_of_bin: cluster
            .hosts
            .iter()
            .map(|h| u32::try_from(h.region).expect("regions fit"))
            .collect(),
        group_limit: vec![[u64::MAX; 2]; cluster.regions.len()],
        // Leaving the region costs far more than changing host: a repair
        // stays inside the region when it can.
        group_cost: (0..k * k)
            .map(|i| {
                if i / k == i % k {
                    0
                } else {
                    HOST_STEP_REGION_COST
                }
            })
            .collect(),
        intra_cost: 1,
    };
    let start = hosts
        .iter()
        .map(|&h| u32::try_from(h).expect("hosts fit"))
        .collect();
    let mut space = BinSpace::new(&units.graph, units.demand.clone(), start, layout);
    for (v, a) in allowed.iter_mut().enumerate() {
        if let Some(h) = cluster.pinned_host[v] {
            *a = Allowed::Bin(u32::try_from(h).expect("hosts fit"));
        }
    }
    space.set_allowed(allowed);
    space.set_separation(&units.separation(cluster), vec![1; cluster.hosts.len()]);
    space.repair(rng)?;
    Ok(space.bin_of().iter().map(|&b| b as usize).collect())
}

/// The plan for moving from `origin` to `after`.
fn plan(
    cluster: &Cluster,
    origin: &[usize],
    after: Vec<usize>,
    predicted: &[f64],
    before: PlacementQuality,
    status: RebalanceStatus,
    reason: String,
) -> RebalancePlan {
    let k = cluster.regions.len();
    let moves: Vec<Migration> = (0..cluster.vms.len())
        .filter(|&v| origin[v] != after[v])
        .map(|v| {
            let (from, to) = (origin[v], after[v]);
            let (rf, rt) = (cluster.region_of_host(from), cluster.region_of_host(to));
            let memory_mib = cluster.vms[v].demand[Resource::Memory.index()];
            let bandwidth = if rf == rt {
                cluster.regions[rf].lan_bandwidth
            } else {
                predicted[rf * k + rt]
            };
            Migration {
                vm: cluster.vms[v].name.clone(),
                from_host: cluster.hosts[from].name.clone(),
                to_host: cluster.hosts[to].name.clone(),
                from_region: cluster.regions[rf].name.clone(),
                to_region: cluster.regions[rt].name.clone(),
                memory_mib,
                cost_s: memory_mib as f64 * 1_048_576.0 / bandwidth,
            }
        })
        .collect();
    let placed: Vec<Option<usize>> = after.iter().map(|&h| Some(h)).collect();
    RebalancePlan {
        status,
        reason,
        moved_memory_mib: moves.iter().map(|m| m.memory_mib).sum(),
        total_cost_s: moves.iter().map(|m| m.cost_s).sum(),
        moves,
        after: quality(cluster, &placed),
        before,
        host_of: after,
    }
}
