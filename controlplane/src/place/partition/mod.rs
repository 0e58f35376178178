//! Multilevel k-way graph partitioning: split the vertices of a [`Graph`](crate::place::graph::Graph)
//! into `k` parts of bounded weight so that the edge cut is small.
//!
//! # Design
//!
//! The classic multilevel scheme (Hendrickson-Leland, Karypis-Kumar), in
//! three phases, all deterministic for a seed ([`PlaceRng`]):
//!
//! 1. **Coarsening** (`coarsen`): heavy-edge matching in a random visit
//!    order, rating an edge `w(u,v)^2 / (c(u)·c(v))` so that light pairs
//!    joined by heavy edges merge first, with a cap on the weight of a coarse
//!    vertex; matched pairs are contracted, parallel edges merged, until the
//!    graph has about `COARSEN_PER_PART·k` vertices or stops shrinking.
//! 2. **Initial partition** (`initial`): recursive bisection of the
//!    coarsest graph, each bisection itself multilevel down to a few dozen
//!    vertices, where greedy graph growing from several random seeds,
//!    each refined, gives the best cut.
//! 3. **Uncoarsening** (`refine`): the partition is projected level by
//!    level back to the input graph; at every level a rebalancing pass moves
//!    the cheapest vertices out of overweight parts, then k-way
//!    Fiduccia-Mattheyses passes move boundary vertices by best gain (negative
//!    gains allowed, the best prefix of moves kept) under the weight limit.
//!
//! [`partition_graph`] runs the whole scheme [`PartitionConfig::tries`]
//! times from scratch and keeps the best, then up to
//! [`PartitionConfig::vcycles`] V-cycles that coarsen only inside the parts
//! of the best partition so far (so that partition survives to the coarsest
//! level and can only get better), stopping at the first V-cycle that finds
//! nothing better.
//!
//! [`PlaceRng`]: crate::place::rng::PlaceRng

mod coarsen;
pub(crate) mod heap;
mod initial;
pub mod metrics;
mod multilevel;
mod refine;
mod subgraph;
mod targets;

pub(crate) use coarsen::{coarsen as coarsen_levels, project as project_level};
pub use metrics::{balance_limit, edge_cut, imbalance, part_weights};
pub use multilevel::partition_graph;
pub use targets::partition_to_targets;

use crate::place::graph::Weight;
use thiserror::Error;

/// The most parts a partition may have.
pub const MAX_PARTS: usize = 1 << 16;

/// The largest imbalance `ε` accepted (a part may be up to `1 + ε` times the
/// average).
pub const MAX_IMBALANCE: f64 = 10.0;

/// The most [`PartitionConfig::tries`] (and V-cycles) one call may run.
pub const MAX_TRIES: usize = 64;

/// What to partition into, and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionConfig {
    /// Number of parts `k` (1..=[`MAX_PARTS`], at most the vertex count).
    pub parts: usize,
    /// Allowed imbalance `ε`: every part weighs at most
    /// [`balance_limit`]`(W, k, ε)`.
    pub imbalance: f64,
    /// The seed: the same graph, configuration and seed give the same
    /// partition.
    pub seed: u64,
    /// Independent multilevel runs from scratch (1..=[`MAX_TRIES`]); the
    /// best is kept.
    pub tries: usize,
    /// V-cycles at most after the tries (0..=[`MAX_TRIES`]; they stop at the
    /// first that finds nothing better): coarsen inside the
    /// parts of the best partition so far and refine it again.
    pub vcycles: usize,
}

impl PartitionConfig {
    /// The default effort ([`DEFAULT_TRIES`], [`DEFAULT_VCYCLES`]) for
    /// `parts` and `imbalance`.
    pub fn new(parts: usize, imbalance: f64, seed: u64) -> Self {
        Self {
            parts,
            imbalance,
            seed,
            tries: DEFAULT_TRIES,
            vcycles: DEFAULT_VCYCLES,
        }
    }
}

/// Default [`PartitionConfig::tries`]: the spread between seeds of one run
/// is several percent of the cut on small graphs; the best of two, then
/// V-cycles on it ([`DEFAULT_VCYCLES`]), removes most of it.
pub const DEFAULT_TRIES: usize = 2;

/// Default [`PartitionConfig::vcycles`] (at most: they stop at the first
/// that finds nothing better). A V-cycle costs less than a try (no initial
/// partitioning) and, keeping the best partition's parts through its
/// coarsening, cannot lose it; the gain is largest where a try's initial
/// recursive bisection is the weak step, at many parts of geometric graphs
/// (docs/placement.md §5).
pub const DEFAULT_VCYCLES: usize = 2;

/// A partition of a graph's vertices into parts `0..parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The part of each vertex.
    pub assignment: Vec<u32>,
    /// The number of parts.
    pub parts: usize,
    /// The weight of each part.
    pub part_weights: Vec<Weight>,
    /// The edge cut ([`edge_cut`]).
    pub edge_cut: Weight,
    /// The weight limit every part had to respect ([`balance_limit`]).
    pub limit: Weight,
}

impl Partition {
    /// Max part weight over the average ([`imbalance`]).
    pub fn imbalance(&self) -> f64 {
        imbalance(&self.part_weights)
    }

    /// The first part over [`limit`](Self::limit), if any: `(part, weight)`.
    pub fn overweight_part(&self) -> Option<(usize, Weight)> {
        self.part_weights
            .iter()
            .enumerate()
            .find(|&(_, &w)| w > self.limit)
            .map(|(p, &w)| (p, w))
    }
}

/// Why a graph cannot be partitioned as asked.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PartitionError {
    /// `parts` is 0, above [`MAX_PARTS`] or above the vertex count.
    #[error("cannot split {vertices} vertices into {parts} parts (1..={max} parts, at most one per vertex)")]
    BadPartCount {
        /// Parts asked for.
        parts: usize,
        /// Vertices in the graph.
        vertices: usize,
        /// The lesser of [`MAX_PARTS`] and the vertex count.
        max: usize,
    },
    /// `imbalance` is negative, not finite or above [`MAX_IMBALANCE`].
    #[error("imbalance {imbalance} outside 0..={MAX_IMBALANCE}")]
    BadImbalance {
        /// The value given.
        imbalance: f64,
    },
    /// `tries` outside 1..=[`MAX_TRIES`] or `vcycles` above it.
    #[error("tries {tries} outside 1..={MAX_TRIES} or vcycles {vcycles} above {MAX_TRIES}")]
    BadEffort {
        /// Tries asked for.
        tries: usize,
        /// V-cycles asked for.
        vcycles: usize,
    },
    /// A single vertex weighs more than a part may: no partition respects the
    /// balance constraint.
    #[error("balance constraint unsatisfiable: vertex {vertex} weighs {weight}, more than the part limit {limit} (imbalance {imbalance})")]
    VertexHeavierThanLimit {
        /// The vertex (0-based).
        vertex: usize,
        /// Its weight.
        weight: Weight,
        /// The part weight limit.
        limit: Weight,
        /// The imbalance asked for.
        imbalance: f64,
    },
    /// The heuristic found no partition within the limit (the vertex weights
    /// may not pack into `k` parts of that size). The best one found is
    /// returned for inspection.
    #[error("balance constraint not met: part {part} weighs {weight}, over the limit {limit}")]
    Unbalanced {
        /// The first overweight part.
        part: usize,
        /// Its weight.
        weight: Weight,
        /// The limit.
        limit: Weight,
        /// The best partition found.
        best: Box<Partition>,
    },
}

/// The subgraph induced by `members` (sorted vertex ids), vertex `i` of it
/// being `members[i]`, and those ids as `u32`.
pub(crate) fn subgraph_of(
    graph: &crate::place::graph::Graph,
    members: &[usize],
) -> (crate::place::graph::Graph, Vec<u32>) {
    assert!(members.windows(2).all(|w| w[0] < w[1]), "sorted members");
    let mut keep = vec![false; graph.vertex_count()];
    for &m in members {
        keep[m] = true;
    }
    subgraph::induced_subgraph(graph, |v| keep[v])
}
