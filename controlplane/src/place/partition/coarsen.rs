//! Coarsening: heavy-edge matching and contraction.
//!
//! Each level visits the vertices in a random order; an unmatched vertex
//! matches the unmatched neighbour with the best rating
//! `w(u,v)^2 / (c(u)·c(v))` ("expansion*2" in KaHIP's terms: a heavy edge
//! between light vertices first, which keeps coarse vertex weights even;
//! ties to the neighbour of lower degree),
//! provided the pair weighs at most `max_vertex_weight` and, in a V-cycle,
//! both ends lie in the same part. Matched pairs become one coarse vertex;
//! parallel coarse edges are merged by adding their weights and edges
//! inside a pair disappear (their weight can no longer be cut).

use super::super::graph::{Graph, VertexId, Weight};
use crate::place::rng::PlaceRng;

/// Coarsening stops once a level keeps more than this fraction of the
/// vertices of the level before (the graph "stops shrinking").
pub(crate) const MIN_SHRINK: f64 = 0.92;

/// The most levels one hierarchy may have (a matching at least halves...
/// nothing in the worst case, hence the shrink test; this is a backstop).
pub(crate) const MAX_LEVELS: usize = 64;

/// One coarsening step: the coarse graph and, for each vertex of the finer
/// graph, its coarse vertex.
#[derive(Debug)]
pub(crate) struct Level {
    /// The coarse graph.
    pub graph: Graph,
    /// `fine vertex -> coarse vertex`.
    pub map: Vec<VertexId>,
}

const UNMATCHED: u32 = u32::MAX;

/// Matches the vertices of `graph` (see the module docs). Returns
/// `mate[v]` (`v` itself when unmatched).
#[inline(never)]
fn heavy_edge_matching(
    graph: &Graph,
    max_vertex_weight: Weight,
    restrict: Option<&[u32]>,
    rng: &mut PlaceRng,
) -> Vec<u32> {
    /// What the matching reads of a neighbour, packed so that looking at
    /// one costs one cache miss.
    #[derive(Clone, Copy)]
    struct Candidate {
        mate: u32,
        degree: u32,
        weight: Weight,
    }
    let n = graph.vertex_count();
    let mut info: Vec<Candidate> = (0..n)
        .map(|v| Candidate {
            mate: UNMATCHED,
            degree: u32::try_from(graph.degree(v)).unwrap_or(u32::MAX),
            weight: graph.vertex_weight(v),
        })
        .collect();
    let order = rng.permutation(n);
    for &v in &order {
        let vi = v as usize;
        if info[vi].mate != UNMATCHED {
            continue;
        }
        let wv = info[vi].weight;
        let mut best = UNMATCHED;
        let mut best_rating = f64::NEG_INFINITY;
        let mut best_degree = u32::MAX;
        for (u, w) in graph.edges(vi) {
            let c = info[u];
            if c.mate != UNMATCHED || wv + c.weight > max_vertex_weight {
                continue;
            }
            if let Some(part) = restrict {
                if part[u] != part[vi] {
                    continue;
                }
            }
            let wf = w as f64;
            let rating = wf * wf / ((wv.max(1) as f64) * (c.weight.max(1) as f64));
            // Ties (all ratings are equal on an unweighted graph's first
            // level) go to the neighbour with fewer edges, which has fewer
            // other partners left.
            if rating > best_rating || (rating == best_rating && c.degree < best_degree) {
                best_rating = rating;
                best_degree = c.degree;
                best = u32::try_from(u).expect("vertex ids fit in u32");
            }
        }
        if best == UNMATCHED {
            info[vi].mate = v;
        } else {
            info[vi].mate = best;
            info[best as usize].mate = v;
        }
    }
    info.iter().map(|c| c.mate).collect()
}

/// Contracts matched pairs into a coarse graph.
#[inline(never)]
fn contract(graph: &Graph, mate: &[u32]) -> Level {
    let n = graph.vertex_count();
    let mut map = vec![UNMATCHED; n];
    let mut coarse_n = 0u32;
    for v in 0..n {
        if map[v] == UNMATCHED {
            map[v] = coarse_n;
            map[mate[v] as usize] = coarse_n;
            coarse_n += 1;
        }
    }
    let cn = coarse_n as usize;
    let mut xadj = Vec::with_capacity(cn + 1);
    let mut adjncy: Vec<VertexId> = Vec::with_capacity(graph.csr().1.len());
    let mut adjwgt: Vec<Weight> = Vec::with_capacity(graph.csr().1.len());
    let mut vwgt = Vec::with_capacity(cn);
    // slot[c]: where in the coarse vertex being built its edge to coarse
    // vertex c is (an offset from its first edge), NONE when it has none;
    // reset after each coarse vertex by walking its (cache-hot) list.
    const NONE: u32 = u32::MAX;
    let mut slot = vec![NONE; cn];
    xadj.push(0);
    for v in 0..n {
        let m = mate[v] as usize;
        if m < v {
            continue; // built with its mate
        }
        let c = map[v];
        let first = adjncy.len();
        let mut weight = graph.vertex_weight(v);
        let ends: &[usize] = if m == v { &[v][..] } else { &[v, m][..] };
        if m != v {
            weight += graph.vertex_weight(m);
        }
        for &x in ends {
            for (u, w) in graph.edges(x) {
                let cu = map[u];
                if cu == c {
                    continue;
                }
                let at = slot[cu as usize];
                if at == NONE {
                    slot[cu as usize] =
                        u32::try_from(adjncy.len() - first).expect("a degree fits in u32");
                    adjncy.push(cu);
                    adjwgt.push(w);
                } else {
                    adjwgt[first + at as usize] += w;
                }
            }
        }
        for &cu in &adjncy[first..] {
            slot[cu as usize] = NONE;
        }
        vwgt.push(weight);
        xadj.push(adjncy.len());
    }
    debug_assert_eq!(vwgt.len(), cn);
    Level {
        graph: Graph::from_csr_trusted(xadj, adjncy, adjwgt, vwgt),
        map,
    }
}

/// Coarsens `graph` level by level until it has at most `coarsen_to`
/// vertices or stops shrinking ([`MIN_SHRINK`]). `restrict` (a part per
/// vertex of `graph`) keeps every coarse vertex inside one part. Returns the
/// levels, finest first (empty when `graph` is already small enough).
pub(crate) fn coarsen(
    graph: &Graph,
    coarsen_to: usize,
    max_vertex_weight: Weight,
    restrict: Option<&[u32]>,
    rng: &mut PlaceRng,
) -> Vec<Level> {
    let mut levels: Vec<Level> = Vec::new();
    let mut restrict_owned: Option<Vec<u32>> = None;
    loop {
        let current = levels.last().map_or(graph, |l| &l.graph);
        let n = current.vertex_count();
        if n <= coarsen_to || levels.len() >= MAX_LEVELS {
            break;
        }
        let current_restrict = match (&restrict_owned, restrict) {
            (Some(owned), _) => Some(owned.as_slice()),
            (None, given) => given,
        };
        let mate = heavy_edge_matching(current, max_vertex_weight, current_restrict, rng);
        let level = contract(current, &mate);
        let shrunk = level.graph.vertex_count();
        if (shrunk as f64) > MIN_SHRINK * (n as f64) {
            break;
        }
        if let Some(parts) = current_restrict {
            let mut coarse_parts = vec![0u32; shrunk];
            for (v, &c) in level.map.iter().enumerate() {
                coarse_parts[c as usize] = parts[v];
            }
            restrict_owned = Some(coarse_parts);
        }
        levels.push(level);
    }
    levels
}

/// The part of each coarse vertex of `level` given to each fine vertex.
pub(crate) fn project(level: &Level, coarse_assignment: &[u32]) -> Vec<u32> {
    level
        .map
        .iter()
        .map(|&c| coarse_assignment[c as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random graph with weights, for the invariants below.
    fn sample(rng: &mut PlaceRng) -> Graph {
        let n = 200;
        let weights = (0..n).map(|_| 1 + rng.below(4) as Weight).collect();
        let edges: Vec<(u32, u32, Weight)> = (0..600)
            .filter_map(|_| {
                let u = rng.below(n);
                let v = (u + 1 + rng.below(9)) % n;
                let id = |x: usize| u32::try_from(x).expect("small");
                (u != v).then(|| (id(u), id(v), 1 + rng.below(5) as Weight))
            })
            .collect();
        Graph::from_edges(weights, &edges).expect("valid")
    }

    #[test]
    fn contraction_keeps_weights_and_cuts() {
        let mut rng = PlaceRng::new(11);
        let graph = sample(&mut rng);
        let levels = coarsen(&graph, 20, 40, None, &mut rng);
        assert!(levels.len() >= 2, "a 200-vertex graph coarsens");
        let mut finer = &graph;
        for level in &levels {
            let coarse = &level.graph;
            assert!(coarse.vertex_count() < finer.vertex_count());
            assert_eq!(coarse.total_vertex_weight(), finer.total_vertex_weight());
            assert!(coarse.max_vertex_weight() <= 40.max(finer.max_vertex_weight()));
            // Any coarse partition cuts exactly as much as its projection.
            let part: Vec<u32> = (0..coarse.vertex_count())
                .map(|_| u32::try_from(rng.below(3)).expect("small"))
                .collect();
            let projected = project(level, &part);
            assert_eq!(
                super::super::metrics::edge_cut(coarse, &part),
                super::super::metrics::edge_cut(finer, &projected)
            );
            finer = coarse;
        }
    }

    #[test]
    fn restricted_coarsening_stays_inside_parts() {
        let mut rng = PlaceRng::new(12);
        let graph = sample(&mut rng);
        let parts: Vec<u32> = (0..200).map(|v| (v / 50) as u32).collect();
        let levels = coarsen(&graph, 10, 1000, Some(&parts), &mut rng);
        let level = levels.first().expect("one level at least");
        let mut coarse_part = vec![u32::MAX; level.graph.vertex_count()];
        for (v, &c) in level.map.iter().enumerate() {
            let seen = &mut coarse_part[c as usize];
            assert!(
                *seen == u32::MAX || *seen == parts[v],
                "a pair crosses parts"
            );
            *seen = parts[v];
        }
    }
}
