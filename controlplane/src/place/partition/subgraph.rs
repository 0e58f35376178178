//! Induced subgraphs, for recursive bisection.

use crate::place::graph::{Graph, VertexId, Weight};

/// The subgraph induced by the vertices `v` with `keep(v)`, and the original
/// id of each of its vertices.
pub(crate) fn induced_subgraph(graph: &Graph, keep: impl Fn(usize) -> bool) -> (Graph, Vec<u32>) {
    let n = graph.vertex_count();
    let mut new_id = vec![u32::MAX; n];
    let mut original = Vec::new();
    for (v, id) in new_id.iter_mut().enumerate() {
        if keep(v) {
            *id = u32::try_from(original.len()).expect("vertex ids fit in u32");
            original.push(u32::try_from(v).expect("vertex ids fit in u32"));
        }
    }
    let mut xadj = Vec::with_capacity(original.len() + 1);
    let mut adjncy: Vec<VertexId> = Vec::new();
    let mut adjwgt: Vec<Weight> = Vec::new();
    let mut vwgt = Vec::with_capacity(original.len());
    xadj.push(0);
    for &v in &original {
        let vi = v as usize;
        for (u, w) in graph.edges(vi) {
            if new_id[u] != u32::MAX {
                adjncy.push(new_id[u]);
                adjwgt.push(w);
            }
        }
        vwgt.push(graph.vertex_weight(vi));
        xadj.push(adjncy.len());
    }
    (
        Graph::from_csr_trusted(xadj, adjncy, adjwgt, vwgt),
        original,
    )
}
