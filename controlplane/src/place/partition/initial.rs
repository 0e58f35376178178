//! Initial partitioning of the coarsest graph: recursive bisection, each
//! bisection multilevel down to [`BISECT_COARSEN_TO`] vertices, where greedy
//! graph growing from [`GROW_TRIES`] random seeds, each refined by FM,
//! gives the best cut.

use super::heap::GainHeap;
use super::metrics::{ceil_weight, floor_weight};
use super::multilevel::multilevel;
use super::refine::{refine, KwayState};
use super::subgraph::induced_subgraph;
use crate::place::graph::{Graph, Weight};
use crate::place::rng::PlaceRng;

/// A bisection coarsens its graph down to this many vertices.
pub(crate) const BISECT_COARSEN_TO: usize = 100;

/// Independent multilevel bisections of a graph larger than
/// [`BISECT_COARSEN_TO`] (each its own coarsening; the best is kept).
pub(crate) const BISECT_TRIES: usize = 4;

/// Greedy-growing tries per bisection of a small graph (the best is kept).
pub(crate) const GROW_TRIES: usize = 8;

/// `⌊(1 + ε)·target⌋`, but never below `target` rounded up.
fn limit_for(target: f64, imbalance: f64) -> Weight {
    let even = ceil_weight(target);
    even.max(floor_weight((1.0 + imbalance) * target * (1.0 + 1e-12)))
}

/// Splits `graph` into `parts` parts of even weight, each within
/// `(1 + imbalance)` of its target, by recursive bisection.
pub(crate) fn recursive_bisection(
    graph: &Graph,
    parts: usize,
    imbalance: f64,
    rng: &mut PlaceRng,
) -> Vec<u32> {
    recursive_bisection_to_shares(graph, &vec![1.0; parts], imbalance, rng)
}

/// Splits `graph` into `shares.len()` parts, part `p` aiming at
/// `shares[p] / Σ shares` of the total weight within `(1 + imbalance)`, by
/// recursive bisection (the first half of the parts against the second).
/// Equal shares give exactly [`recursive_bisection`]'s split: the sums of
/// ones are exact.
pub(crate) fn recursive_bisection_to_shares(
    graph: &Graph,
    shares: &[f64],
    imbalance: f64,
    rng: &mut PlaceRng,
) -> Vec<u32> {
    let n = graph.vertex_count();
    let parts = shares.len();
    if parts <= 1 || n == 0 {
        return vec![0; n];
    }
    let left = parts / 2;
    let total = graph.total_vertex_weight() as f64;
    let left_share: f64 = shares[..left].iter().sum();
    let all_shares: f64 = shares.iter().sum();
    let target0 = total * left_share / all_shares;
    let target1 = total - target0;
    let limits = vec![limit_for(target0, imbalance), limit_for(target1, imbalance)];
    let side = bisect(graph, floor_weight(target0 + 0.5), limits, rng);
    let mut assignment = vec![0u32; n];
    for (half, offset, half_shares) in [
        (0u32, 0u32, &shares[..left]),
        (
            1,
            u32::try_from(left).expect("parts fit in u32"),
            &shares[left..],
        ),
    ] {
        let (sub, original) = induced_subgraph(graph, |v| side[v] == half);
        let sub_parts = recursive_bisection_to_shares(&sub, half_shares, imbalance, rng);
        for (i, &v) in original.iter().enumerate() {
            assignment[v as usize] = offset + sub_parts[i];
        }
    }
    assignment
}

/// Two parts: part 0 aims at `target0`; `limits` bound both.
fn bisect(graph: &Graph, target0: Weight, limits: Vec<Weight>, rng: &mut PlaceRng) -> Vec<u32> {
    if graph.vertex_count() <= BISECT_COARSEN_TO {
        return best_grown_bisection(graph, target0, &limits, rng);
    }
    let grow =
        |coarse: &Graph, rng: &mut PlaceRng| best_grown_bisection(coarse, target0, &limits, rng);
    let mut best: Option<((Weight, Weight), Vec<u32>)> = None;
    for _ in 0..BISECT_TRIES {
        let state = multilevel(graph, &limits, BISECT_COARSEN_TO, None, &grow, rng);
        let score = (
            state.overload(),
            super::metrics::edge_cut(graph, &state.part),
        );
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, state.part));
        }
    }
    best.map(|(_, part)| part).expect("at least one try")
}

/// The best of [`GROW_TRIES`] grown and refined bisections: balanced first,
/// then the smallest cut.
fn best_grown_bisection(
    graph: &Graph,
    target0: Weight,
    limits: &[Weight],
    rng: &mut PlaceRng,
) -> Vec<u32> {
    let mut best: Option<((Weight, Weight), Vec<u32>)> = None;
    for _ in 0..GROW_TRIES {
        let grown = grow_bisection(graph, target0, limits[0], rng);
        let mut state = KwayState::new(graph, grown, limits.to_vec());
        refine(graph, &mut state, rng);
        let score = (
            state.overload(),
            super::metrics::edge_cut(graph, &state.part),
        );
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, state.part));
        }
    }
    best.map(|(_, part)| part)
        .unwrap_or_else(|| vec![1; graph.vertex_count()])
}

/// Greedy graph growing: part 0 starts at a random vertex and repeatedly
/// takes the frontier vertex whose move cuts least (largest
/// `conn(v, 0) - conn(v, 1)`) until it weighs `target0`; a disconnected
/// remainder is entered at another random vertex.
fn grow_bisection(graph: &Graph, target0: Weight, limit0: Weight, rng: &mut PlaceRng) -> Vec<u32> {
    let n = graph.vertex_count();
    let mut part = vec![1u32; n];
    let mut heap = GainHeap::new(n);
    let order = rng.permutation(n);
    let mut next_seed = 0usize;
    let mut weight0: Weight = 0;
    let degree: Vec<Weight> = (0..n).map(|v| graph.edge_weights(v).iter().sum()).collect();
    let mut skipped = vec![false; n];
    while weight0 < target0 {
        let v = match heap.pop() {
            Some((v, _)) => v as usize,
            None => {
                while next_seed < n
                    && (part[order[next_seed] as usize] == 0 || skipped[order[next_seed] as usize])
                {
                    next_seed += 1;
                }
                if next_seed == n {
                    break;
                }
                order[next_seed] as usize
            }
        };
        if weight0 + graph.vertex_weight(v) > limit0 {
            skipped[v] = true;
            continue;
        }
        part[v] = 0;
        weight0 += graph.vertex_weight(v);
        for (u, w) in graph.edges(v) {
            if part[u] == 1 && !skipped[u] {
                let uid = u32::try_from(u).expect("vertex ids fit in u32");
                let key = heap.key(uid).unwrap_or(-degree[u]);
                heap.set(uid, key + 2 * w);
            }
        }
    }
    part
}
