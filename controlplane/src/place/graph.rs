//! [`Graph`]: an undirected graph with vertex and edge weights in
//! compressed-sparse-row arrays, the form every partitioning pass works on.
//!
//! # Design
//!
//! Vertex `v`'s neighbours are `adjncy[xadj[v]..xadj[v + 1]]`, the weights of
//! those edges are the same range of `adjwgt`, and each undirected edge
//! `{u, v}` is stored twice (in `u`'s list and in `v`'s) with the same weight,
//! as in METIS. A [`Graph`] built through [`Graph::from_csr`] or
//! [`Graph::from_edges`] is checked: ids in range, no self-loops, no
//! duplicate edges, symmetric with equal weights, weights in range. The
//! partitioner's own graphs (coarse levels, induced subgraphs) are built by
//! construction and only checked in debug builds.

use thiserror::Error;

/// A vertex id: `0..vertex_count()`.
pub type VertexId = u32;

/// A vertex or edge weight. Sums of weights are `i64` as well.
pub type Weight = i64;

/// The most vertices a graph may have (ids are `u32`; one id is kept free).
pub const MAX_VERTICES: usize = (u32::MAX - 1) as usize;

/// The largest vertex or edge weight (METIS's 32-bit `idx_t`). With at most
/// `2^32` edges the sum of all edge weights stays below `2^63`.
pub const MAX_WEIGHT: Weight = i32::MAX as Weight;

/// Why arrays or an edge list do not make a valid [`Graph`]. Vertex ids in
/// the messages are 0-based, as given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    /// More than [`MAX_VERTICES`] vertices.
    #[error("{vertices} vertices, more than the {max} supported")]
    TooManyVertices {
        /// Vertices asked for.
        vertices: usize,
        /// [`MAX_VERTICES`].
        max: usize,
    },
    /// The CSR arrays disagree on their lengths.
    #[error("malformed CSR arrays: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// An edge names a vertex that does not exist.
    #[error(
        "vertex {vertex}: neighbour {neighbor} out of range (the graph has {vertices} vertices)"
    )]
    NeighborOutOfRange {
        /// The vertex whose list holds the edge.
        vertex: usize,
        /// The bad neighbour id.
        neighbor: usize,
        /// The vertex count.
        vertices: usize,
    },
    /// An edge from a vertex to itself.
    #[error("vertex {vertex}: self-loop")]
    SelfLoop {
        /// The vertex.
        vertex: usize,
    },
    /// A vertex lists the same neighbour twice.
    #[error("vertex {vertex}: neighbour {neighbor} listed twice")]
    DuplicateEdge {
        /// The vertex.
        vertex: usize,
        /// The repeated neighbour.
        neighbor: usize,
    },
    /// `vertex` lists `neighbor` but not the other way round.
    #[error("vertex {vertex} lists neighbour {neighbor}, which does not list it back")]
    Asymmetric {
        /// The vertex whose list holds the edge.
        vertex: usize,
        /// The neighbour missing the reverse edge.
        neighbor: usize,
    },
    /// Both directions exist with different weights.
    #[error("edge {vertex}-{neighbor} has weight {weight} one way and {reverse} the other")]
    AsymmetricWeight {
        /// One end.
        vertex: usize,
        /// The other end.
        neighbor: usize,
        /// The weight in `vertex`'s list.
        weight: Weight,
        /// The weight in `neighbor`'s list.
        reverse: Weight,
    },
    /// An edge weight outside `1..=MAX_WEIGHT`.
    #[error("vertex {vertex}: edge to {neighbor} has weight {weight}, outside 1..={max}")]
    EdgeWeightOutOfRange {
        /// The vertex.
        vertex: usize,
        /// The neighbour.
        neighbor: usize,
        /// The weight.
        weight: Weight,
        /// [`MAX_WEIGHT`].
        max: Weight,
    },
    /// A vertex weight outside `0..=MAX_WEIGHT`.
    #[error("vertex {vertex}: weight {weight} outside 0..={max}")]
    VertexWeightOutOfRange {
        /// The vertex.
        vertex: usize,
        /// The weight.
        weight: Weight,
        /// [`MAX_WEIGHT`].
        max: Weight,
    },
}

/// An undirected graph with vertex and edge weights (CSR; see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    xadj: Vec<usize>,
    adjncy: Vec<VertexId>,
    adjwgt: Vec<Weight>,
    vwgt: Vec<Weight>,
    total_vertex_weight: Weight,
}

impl Graph {
    /// A checked graph from METIS-style CSR arrays (0-based): `xadj` has
    /// `vwgt.len() + 1` entries starting at 0, `adjncy` and `adjwgt` have
    /// `xadj[n]` entries.
    pub fn from_csr(
        xadj: Vec<usize>,
        adjncy: Vec<VertexId>,
        adjwgt: Vec<Weight>,
        vwgt: Vec<Weight>,
    ) -> Result<Self, GraphError> {
        check_csr(&xadj, &adjncy, &adjwgt, &vwgt)?;
        Ok(Self::from_csr_trusted(xadj, adjncy, adjwgt, vwgt))
    }

    /// A checked graph from an undirected edge list: `(u, v, weight)` with
    /// `u != v`; an edge given more than once (either way round) counts once
    /// with the sum of its weights.
    pub fn from_edges(
        vertex_weights: Vec<Weight>,
        edges: &[(VertexId, VertexId, Weight)],
    ) -> Result<Self, GraphError> {
        let n = vertex_weights.len();
        if n > MAX_VERTICES {
            return Err(GraphError::TooManyVertices {
                vertices: n,
                max: MAX_VERTICES,
            });
        }
        let mut degree = vec![0usize; n + 1];
        for &(u, v, weight) in edges {
            let (ui, vi) = (u as usize, v as usize);
            for (a, b) in [(ui, vi), (vi, ui)] {
                if b >= n {
                    return Err(GraphError::NeighborOutOfRange {
                        vertex: a,
                        neighbor: b,
                        vertices: n,
                    });
                }
            }
            if ui == vi {
                return Err(GraphError::SelfLoop { vertex: ui });
            }
            if !(1..=MAX_WEIGHT).contains(&weight) {
                return Err(GraphError::EdgeWeightOutOfRange {
                    vertex: ui,
                    neighbor: vi,
                    weight,
                    max: MAX_WEIGHT,
                });
            }
            degree[ui] += 1;
            degree[vi] += 1;
        }
        // Bucket both directions of every edge, then merge repeats per vertex.
        let mut start = vec![0usize; n + 1];
        for v in 0..n {
            start[v + 1] = start[v] + degree[v];
        }
        let mut fill = start.clone();
        let mut raw = vec![(0 as VertexId, 0 as Weight); start[n]];
        for &(u, v, weight) in edges {
            raw[fill[u as usize]] = (v, weight);
            fill[u as usize] += 1;
            raw[fill[v as usize]] = (u, weight);
            fill[v as usize] += 1;
        }
        let mut xadj = Vec::with_capacity(n + 1);
        let mut adjncy = Vec::with_capacity(raw.len());
        let mut adjwgt: Vec<Weight> = Vec::with_capacity(raw.len());
        let mut slot = vec![usize::MAX; n];
        xadj.push(0);
        for v in 0..n {
            let first = adjncy.len();
            for &(u, weight) in &raw[start[v]..start[v + 1]] {
                let at = slot[u as usize];
                if at != usize::MAX && at >= first {
                    adjwgt[at] = adjwgt[at].saturating_add(weight);
                } else {
                    slot[u as usize] = adjncy.len();
                    adjncy.push(u);
                    adjwgt.push(weight);
                }
            }
            xadj.push(adjncy.len());
        }
        Self::from_csr(xadj, adjncy, adjwgt, vertex_weights)
    }

    /// A graph the partitioner built itself (coarse level, subgraph):
    /// checked in debug builds only.
    pub(crate) fn from_csr_trusted(
        xadj: Vec<usize>,
        adjncy: Vec<VertexId>,
        adjwgt: Vec<Weight>,
        vwgt: Vec<Weight>,
    ) -> Self {
        debug_assert_eq!(check_csr(&xadj, &adjncy, &adjwgt, &vwgt), Ok(()));
        let total_vertex_weight = vwgt.iter().sum();
        Self {
            xadj,
            adjncy,
            adjwgt,
            vwgt,
            total_vertex_weight,
        }
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.vwgt.len()
    }

    /// Number of undirected edges (each stored twice).
    pub fn edge_count(&self) -> usize {
        self.adjncy.len() / 2
    }

    /// The neighbours of `v`.
    #[inline]
    pub fn neighbors(&self, v: usize) -> &[VertexId] {
        &self.adjncy[self.xadj[v]..self.xadj[v + 1]]
    }

    /// The weights of the edges to [`neighbors(v)`](Self::neighbors), in the
    /// same order.
    #[inline]
    pub fn edge_weights(&self, v: usize) -> &[Weight] {
        &self.adjwgt[self.xadj[v]..self.xadj[v + 1]]
    }

    /// `(neighbour, edge weight)` pairs of `v`.
    #[inline]
    pub fn edges(&self, v: usize) -> impl Iterator<Item = (usize, Weight)> + '_ {
        self.neighbors(v)
            .iter()
            .zip(self.edge_weights(v))
            .map(|(&u, &w)| (u as usize, w))
    }

    /// The degree of `v`.
    pub fn degree(&self, v: usize) -> usize {
        self.xadj[v + 1] - self.xadj[v]
    }

    /// The weight of vertex `v`.
    #[inline]
    pub fn vertex_weight(&self, v: usize) -> Weight {
        self.vwgt[v]
    }

    /// All vertex weights.
    pub fn vertex_weights(&self) -> &[Weight] {
        &self.vwgt
    }

    /// The sum of all vertex weights.
    pub fn total_vertex_weight(&self) -> Weight {
        self.total_vertex_weight
    }

    /// The sum of the weights of all undirected edges.
    pub fn total_edge_weight(&self) -> Weight {
        self.adjwgt.iter().sum::<Weight>() / 2
    }

    /// The heaviest vertex weight (0 for an empty graph).
    pub fn max_vertex_weight(&self) -> Weight {
        self.vwgt.iter().copied().max().unwrap_or(0)
    }

    /// The CSR arrays `(xadj, adjncy, adjwgt, vwgt)`.
    pub fn csr(&self) -> (&[usize], &[VertexId], &[Weight], &[Weight]) {
        (&self.xadj, &self.adjncy, &self.adjwgt, &self.vwgt)
    }
}

/// Checks CSR arrays: lengths, ids, self-loops, duplicates, symmetry,
/// weights. O(n + m).
fn check_csr(
    xadj: &[usize],
    adjncy: &[VertexId],
    adjwgt: &[Weight],
    vwgt: &[Weight],
) -> Result<(), GraphError> {
    let n = vwgt.len();
    if n > MAX_VERTICES {
        return Err(GraphError::TooManyVertices {
            vertices: n,
            max: MAX_VERTICES,
        });
    }
    if xadj.len() != n + 1 || xadj[0] != 0 {
        return Err(GraphError::Malformed {
            what: "xadj must have vertex_count + 1 entries starting at 0",
        });
    }
    if xadj.windows(2).any(|w| w[0] > w[1]) {
        return Err(GraphError::Malformed {
            what: "xadj must not decrease",
        });
    }
    if adjncy.len() != xadj[n] || adjwgt.len() != xadj[n] {
        return Err(GraphError::Malformed {
            what: "adjncy and adjwgt must have xadj[n] entries",
        });
    }
    for (v, &weight) in vwgt.iter().enumerate() {
        if !(0..=MAX_WEIGHT).contains(&weight) {
            return Err(GraphError::VertexWeightOutOfRange {
                vertex: v,
                weight,
                max: MAX_WEIGHT,
            });
        }
    }
    // Per vertex: ids, self-loops, weights, duplicates.
    let mut mark = vec![usize::MAX; n];
    for v in 0..n {
        for i in xadj[v]..xadj[v + 1] {
            let u = adjncy[i] as usize;
            if u >= n {
                return Err(GraphError::NeighborOutOfRange {
                    vertex: v,
                    neighbor: u,
                    vertices: n,
                });
            }
            if u == v {
                return Err(GraphError::SelfLoop { vertex: v });
            }
            if !(1..=MAX_WEIGHT).contains(&adjwgt[i]) {
                return Err(GraphError::EdgeWeightOutOfRange {
                    vertex: v,
                    neighbor: u,
                    weight: adjwgt[i],
                    max: MAX_WEIGHT,
                });
            }
            if mark[u] == v {
                return Err(GraphError::DuplicateEdge {
                    vertex: v,
                    neighbor: u,
                });
            }
            mark[u] = v;
        }
    }
    // Symmetry: every v -> u (weight w) needs u -> v with weight w. Walk the
    // reverse lists (sources in increasing order) against a weight map of u.
    let mut rev_start = vec![0usize; n + 1];
    for &u in adjncy {
        rev_start[u as usize + 1] += 1;
    }
    for v in 0..n {
        rev_start[v + 1] += rev_start[v];
    }
    let mut fill = rev_start.clone();
    let mut rev = vec![(0usize, 0 as Weight); adjncy.len()];
    for v in 0..n {
        for i in xadj[v]..xadj[v + 1] {
            let u = adjncy[i] as usize;
            rev[fill[u]] = (v, adjwgt[i]);
            fill[u] += 1;
        }
    }
    let mut weight_to = vec![0 as Weight; n];
    for u in 0..n {
        for i in xadj[u]..xadj[u + 1] {
            weight_to[adjncy[i] as usize] = adjwgt[i];
        }
        for &(v, weight) in &rev[rev_start[u]..rev_start[u + 1]] {
            // v lists u with `weight`; u must list v with the same weight.
            match weight_to[v] {
                0 => {
                    return Err(GraphError::Asymmetric {
                        vertex: v,
                        neighbor: u,
                    })
                }
                reverse if reverse != weight => {
                    return Err(GraphError::AsymmetricWeight {
                        vertex: v,
                        neighbor: u,
                        weight,
                        reverse,
                    })
                }
                _ => {}
            }
        }
        if rev_start[u + 1] - rev_start[u] != xadj[u + 1] - xadj[u] {
            // u lists someone who does not list u: find it for the message.
            let listed_back: std::collections::HashSet<usize> = rev[rev_start[u]..rev_start[u + 1]]
                .iter()
                .map(|&(v, _)| v)
                .collect();
            let missing = adjncy[xadj[u]..xadj[u + 1]]
                .iter()
                .map(|&x| x as usize)
                .find(|x| !listed_back.contains(x))
                .expect("more entries than reverse entries, none duplicated");
            return Err(GraphError::Asymmetric {
                vertex: u,
                neighbor: missing,
            });
        }
        for i in xadj[u]..xadj[u + 1] {
            weight_to[adjncy[i] as usize] = 0;
        }
    }
    Ok(())
}
