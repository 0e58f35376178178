//! Partition quality: edge cut, part weights, the balance limit and the
//! imbalance, exactly as docs/placement.md defines them.

use crate::place::graph::{Graph, Weight};

/// The edge cut: the sum of the weights of the undirected edges whose ends
/// lie in different parts (each edge counted once).
pub fn edge_cut(graph: &Graph, assignment: &[u32]) -> Weight {
    assert_eq!(
        assignment.len(),
        graph.vertex_count(),
        "one part per vertex"
    );
    let mut twice = 0;
    for v in 0..graph.vertex_count() {
        let pv = assignment[v];
        for (u, w) in graph.edges(v) {
            if assignment[u] != pv {
                twice += w;
            }
        }
    }
    twice / 2
}

/// The weight of each part `0..parts`.
pub fn part_weights(graph: &Graph, assignment: &[u32], parts: usize) -> Vec<Weight> {
    assert_eq!(
        assignment.len(),
        graph.vertex_count(),
        "one part per vertex"
    );
    let mut weights = vec![0; parts];
    for (v, &p) in assignment.iter().enumerate() {
        weights[p as usize] += graph.vertex_weight(v);
    }
    weights
}

/// The largest weight a part may have: `max(⌊(1 + ε)·W/k⌋, ⌈W/k⌉)` for
/// total vertex weight `W`, `k` parts and imbalance `ε`. The second term
/// only matters when `W/k` is below `1/ε`: a perfectly even split is always
/// allowed.
pub fn balance_limit(total: Weight, parts: usize, imbalance: f64) -> Weight {
    assert!(parts > 0, "at least one part");
    assert!(imbalance >= 0.0, "imbalance is not negative");
    let k = Weight::try_from(parts).expect("parts fit in i64");
    let even = (total + k - 1) / k;
    // The tiny relative nudge keeps e.g. 1.03 * 1000 from flooring to 1029.
    let loose = (1.0 + imbalance) * (total as f64) / (parts as f64) * (1.0 + 1e-12);
    even.max(floor_weight(loose))
}

/// `x` rounded down to a weight. The values converted here are fractions
/// of a total weight (below 2^63), and `as` saturates anyway, so nothing
/// is truncated.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn floor_weight(x: f64) -> Weight {
    x.floor() as Weight
}

/// `x` rounded up to a weight (see [`floor_weight`]).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn ceil_weight(x: f64) -> Weight {
    x.ceil() as Weight
}

/// `x` rounded down to a count (non-negative, below the vertex count;
/// `as` saturates).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn floor_count(x: f64) -> usize {
    x.floor() as usize
}

/// Max part weight over the average part weight `W/k` (1.0 = perfect; 0 for
/// an empty graph).
pub fn imbalance(weights: &[Weight]) -> f64 {
    let total: Weight = weights.iter().sum();
    if total == 0 || weights.is_empty() {
        return if weights.is_empty() { 0.0 } else { 1.0 };
    }
    let max = weights.iter().copied().max().unwrap_or(0);
    (max as f64) * (weights.len() as f64) / (total as f64)
}
