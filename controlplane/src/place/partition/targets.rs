//! Partitioning into parts of unequal size: part `p` aims at a share of the
//! total weight and is bounded by its own limit (regions or hosts of
//! different capacity). The same multilevel scheme as
//! [`partition_graph`](super::partition_graph), with the initial recursive
//! bisection splitting by the shares.

use super::initial::recursive_bisection_to_shares;
use super::metrics::{edge_cut, floor_count};
use super::multilevel::{
    multilevel, COARSEN_LOG_DIVISOR, COARSEN_PER_PART, INITIAL_IMBALANCE_FACTOR,
};
use super::{MAX_PARTS, MAX_TRIES};
use crate::place::graph::{Graph, Weight};
use crate::place::rng::PlaceRng;

/// The best of `tries` multilevel partitions of `graph` into `limits.len()`
/// parts: part `p` aims at `shares[p] / Σ shares` of the total vertex
/// weight (within `1 + imbalance` during the initial bisections) and is
/// bounded by `limits[p]` during refinement. Best means least weight over
/// the limits, then smallest edge cut. The assignment is returned whether
/// or not it fits: the caller checks its own, possibly stricter,
/// constraints.
///
/// Panics when `shares` and `limits` differ in length, when there are no
/// parts or more than [`MAX_PARTS`], when a share is negative or all are
/// zero, or when `tries` is outside `1..=MAX_TRIES`.
pub fn partition_to_targets(
    graph: &Graph,
    shares: &[f64],
    limits: &[Weight],
    imbalance: f64,
    seed: u64,
    tries: usize,
) -> Vec<u32> {
    let k = limits.len();
    assert_eq!(shares.len(), k, "one share per part");
    assert!((1..=MAX_PARTS).contains(&k), "1..={MAX_PARTS} parts");
    assert!(
        shares.iter().all(|s| s.is_finite() && *s >= 0.0) && shares.iter().sum::<f64>() > 0.0,
        "shares are non-negative and not all zero"
    );
    assert!((1..=MAX_TRIES).contains(&tries), "1..={MAX_TRIES} tries");
    let n = graph.vertex_count();
    if k == 1 || n == 0 {
        return vec![0; n];
    }
    let mut rng = PlaceRng::new(seed);
    let log_k = (k as f64).log2();
    let coarsen_to =
        (COARSEN_PER_PART * k).max(floor_count(n as f64 / (COARSEN_LOG_DIVISOR * log_k)));
    let initial_imbalance = INITIAL_IMBALANCE_FACTOR * imbalance;
    let initial = |coarse: &Graph, rng: &mut PlaceRng| {
        recursive_bisection_to_shares(coarse, shares, initial_imbalance, rng)
    };
    let mut best: Option<((Weight, Weight), Vec<u32>)> = None;
    for _ in 0..tries {
        let state = multilevel(graph, limits, coarsen_to, None, &initial, &mut rng);
        let score = (state.overload(), edge_cut(graph, &state.part));
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, state.part));
        }
    }
    best.map(|(_, part)| part).expect("at least one try")
}
