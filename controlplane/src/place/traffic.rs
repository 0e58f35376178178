//! [`TrafficGraph`]: tasks and the directed traffic between them, its
//! strongly connected components (Tarjan, via petgraph), and the
//! contraction into the undirected [`Graph`] the partitioner works on.
//!
//! # Design
//!
//! Traffic `t(u→v)` is directed (bytes/s, or any unit the caller picks);
//! the partitioner needs an undirected graph, whose edge `{u, v}` weighs
//! `t(u→v) + t(v→u)` (docs/placement.md §1). Groups of tasks that must stay
//! together (typically strongly connected components the caller marks so)
//! become one vertex whose weight is the sum of theirs; traffic inside a
//! group disappears, since no placement can cut it. [`Contracted::expand`]
//! maps a partition of the contracted graph back to the tasks.

use super::graph::{Graph, GraphError, VertexId, Weight, MAX_WEIGHT};
use petgraph::graph::{DiGraph, NodeIndex};
use thiserror::Error;

/// Why traffic or a contraction is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrafficError {
    /// A task id that does not exist.
    #[error("task {task} out of range ({tasks} tasks)")]
    UnknownTask {
        /// The id.
        task: usize,
        /// The number of tasks.
        tasks: usize,
    },
    /// Traffic from a task to itself.
    #[error("task {task}: traffic to itself")]
    SelfTraffic {
        /// The task.
        task: usize,
    },
    /// Traffic outside `1..=MAX_WEIGHT`, or a sum that leaves that range.
    #[error("traffic {from}->{to}: {bytes_per_s} outside 1..={MAX_WEIGHT} (pick a coarser unit)")]
    TrafficOutOfRange {
        /// Source task.
        from: usize,
        /// Destination task.
        to: usize,
        /// The rate (or sum) refused.
        bytes_per_s: Weight,
    },
    /// A task in two keep-together groups.
    #[error("task {task} is in keep-together groups {first} and {second}")]
    OverlappingGroups {
        /// The task.
        task: usize,
        /// One group (index in the list given).
        first: usize,
        /// The other.
        second: usize,
    },
    /// The contracted graph is not a valid [`Graph`] (a weight out of range).
    #[error("contracted graph")]
    Graph(#[source] GraphError),
}

/// Tasks with weights and directed traffic between them.
#[derive(Debug, Clone, Default)]
pub struct TrafficGraph {
    graph: DiGraph<Weight, Weight>,
}

/// A contracted, undirected graph and the map back to tasks.
#[derive(Debug, Clone)]
pub struct Contracted {
    /// The undirected graph: one vertex per group or ungrouped task.
    pub graph: Graph,
    /// The contracted vertex of each task.
    pub vertex_of: Vec<VertexId>,
}

impl Contracted {
    /// The part of each task, from a part per contracted vertex.
    pub fn expand(&self, assignment: &[u32]) -> Vec<u32> {
        assert_eq!(
            assignment.len(),
            self.graph.vertex_count(),
            "one part per contracted vertex"
        );
        self.vertex_of
            .iter()
            .map(|&c| assignment[c as usize])
            .collect()
    }
}

impl TrafficGraph {
    /// Tasks `0..weights.len()` with these weights, and no traffic yet.
    pub fn new(weights: &[Weight]) -> Self {
        let mut graph = DiGraph::with_capacity(weights.len(), 0);
        for &w in weights {
            graph.add_node(w);
        }
        Self { graph }
    }

    /// Number of tasks.
    pub fn task_count(&self) -> usize {
        self.graph.node_count()
    }

    fn node(&self, task: usize) -> Result<NodeIndex, TrafficError> {
        if task < self.task_count() {
            Ok(NodeIndex::new(task))
        } else {
            Err(TrafficError::UnknownTask {
                task,
                tasks: self.task_count(),
            })
        }
    }

    /// Adds `bytes_per_s` to the traffic `from → to`.
    pub fn add_traffic(
        &mut self,
        from: usize,
        to: usize,
        bytes_per_s: Weight,
    ) -> Result<(), TrafficError> {
        let (a, b) = (self.node(from)?, self.node(to)?);
        if a == b {
            return Err(TrafficError::SelfTraffic { task: from });
        }
        let out_of_range = |bytes_per_s| TrafficError::TrafficOutOfRange {
            from,
            to,
            bytes_per_s,
        };
        if !(1..=MAX_WEIGHT).contains(&bytes_per_s) {
            return Err(out_of_range(bytes_per_s));
        }
        match self.graph.find_edge(a, b) {
            Some(edge) => {
                let sum = self.graph[edge] + bytes_per_s;
                if sum > MAX_WEIGHT {
                    return Err(out_of_range(sum));
                }
                self.graph[edge] = sum;
            }
            None => {
                self.graph.add_edge(a, b, bytes_per_s);
            }
        }
        Ok(())
    }

    /// The traffic `from → to` (0 when none).
    pub fn traffic(&self, from: usize, to: usize) -> Weight {
        match (self.node(from), self.node(to)) {
            (Ok(a), Ok(b)) => self.graph.find_edge(a, b).map_or(0, |e| self.graph[e]),
            _ => 0,
        }
    }

    /// The strongly connected components (Tarjan), each sorted, listed by
    /// their smallest task: a deterministic order.
    pub fn strongly_connected_components(&self) -> Vec<Vec<usize>> {
        let mut components: Vec<Vec<usize>> = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .map(|c| {
                let mut tasks: Vec<usize> = c.into_iter().map(NodeIndex::index).collect();
                tasks.sort_unstable();
                tasks
            })
            .collect();
        components.sort_unstable_by_key(|c| c[0]);
        components
    }

    /// Cross-part traffic `Σ t(u→v)` over `u → v` in different parts
    /// (each direction counted): the cross-region traffic of
    /// docs/placement.md §2 when the parts are regions.
    pub fn cross_traffic(&self, part_of_task: &[u32]) -> Weight {
        assert_eq!(part_of_task.len(), self.task_count(), "one part per task");
        self.graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                (part_of_task[a.index()] != part_of_task[b.index()]).then_some(self.graph[e])
            })
            .sum()
    }

    /// The undirected graph with each group in `together` contracted to one
    /// vertex (groups must be disjoint; tasks in none stay alone). Vertex
    /// ids: the groups in order, then the other tasks in id order.
    pub fn contract(&self, together: &[Vec<usize>]) -> Result<Contracted, TrafficError> {
        let n = self.task_count();
        const NONE: VertexId = VertexId::MAX;
        let mut vertex_of = vec![NONE; n];
        let mut group_of = vec![usize::MAX; n];
        for (g, group) in together.iter().enumerate() {
            for &task in group {
                self.node(task)?;
                if group_of[task] != usize::MAX && group_of[task] != g {
                    return Err(TrafficError::OverlappingGroups {
                        task,
                        first: group_of[task],
                        second: g,
                    });
                }
                group_of[task] = g;
                vertex_of[task] = VertexId::try_from(g).expect("fewer groups than tasks");
            }
        }
        let mut next = VertexId::try_from(together.len()).expect("fewer groups than tasks");
        for v in &mut vertex_of {
            if *v == NONE {
                *v = next;
                next += 1;
            }
        }
        let mut weights = vec![0; next as usize];
        for (task, &v) in vertex_of.iter().enumerate() {
            weights[v as usize] += self.graph[NodeIndex::new(task)];
        }
        let edges: Vec<(VertexId, VertexId, Weight)> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                let (u, v) = (vertex_of[a.index()], vertex_of[b.index()]);
                (u != v).then_some((u, v, self.graph[e]))
            })
            .collect();
        let graph = Graph::from_edges(weights, &edges).map_err(TrafficError::Graph)?;
        Ok(Contracted { graph, vertex_of })
    }
}
