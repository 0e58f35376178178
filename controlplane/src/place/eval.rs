//! `dwcp-controlplane place-eval`: read a METIS graph, partition it, and
//! report the result as one JSON object ([`PlaceEvalReport`]), the last
//! stdout line, which perf/place-bench.sh and other tools parse.
//!
//! This is the I/O shell around the pure partitioner: it reads the file
//! and the clock (`seconds` is the partitioning time alone, without reading
//! the file, like gpmetis's "Partitioning" time). `valid` is recomputed here
//! from the assignment, not taken from the partitioner.

use super::graph::{Graph, Weight};
use super::metis::{read_metis_file, MetisError};
use super::partition::{
    balance_limit, edge_cut, imbalance, part_weights, partition_graph, PartitionConfig,
    PartitionError, DEFAULT_TRIES, DEFAULT_VCYCLES,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;
use thiserror::Error;

/// What `place-eval` was asked.
#[derive(Debug, Clone)]
pub struct PlaceEvalOptions {
    /// The METIS graph file.
    pub graph: PathBuf,
    /// Number of parts `k`.
    pub parts: usize,
    /// Allowed imbalance `ε`.
    pub imbalance: f64,
    /// The seed.
    pub seed: u64,
    /// Independent multilevel runs ([`PartitionConfig::tries`]).
    pub tries: usize,
    /// V-cycles after them ([`PartitionConfig::vcycles`]).
    pub vcycles: usize,
}

impl PlaceEvalOptions {
    /// Options with the default seed (0) and effort.
    pub fn new(graph: PathBuf, parts: usize, imbalance: f64) -> Self {
        Self {
            graph,
            parts,
            imbalance,
            seed: 0,
            tries: DEFAULT_TRIES,
            vcycles: DEFAULT_VCYCLES,
        }
    }
}

/// The JSON line `place-eval` prints last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceEvalReport {
    /// The edge cut (docs/placement.md); `null` when no partition was made.
    pub edge_cut: Option<Weight>,
    /// Max part weight over the average part weight; `null` without a
    /// partition.
    pub imbalance: Option<f64>,
    /// Number of parts asked for.
    pub parts: usize,
    /// Partitioning time in seconds (file reading excluded).
    pub seconds: f64,
    /// Every vertex assigned to a part in `0..parts` and every part within
    /// `limit`.
    pub valid: bool,
    /// Vertices in the graph.
    pub vertices: usize,
    /// Undirected edges in the graph.
    pub edges: usize,
    /// The part weight limit `max(⌊(1+ε)·W/k⌋, ⌈W/k⌉)`.
    pub limit: Weight,
    /// The imbalance `ε` asked for.
    pub epsilon: f64,
    /// The seed.
    pub seed: u64,
    /// Why the partition is missing or not valid.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl PlaceEvalReport {
    /// The report as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report serializes")
    }
}

/// Why `place-eval` produced no report.
#[derive(Debug, Error)]
pub enum PlaceEvalError {
    /// The graph file cannot be read or parsed.
    #[error("{}", path.display())]
    Graph {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: MetisError,
    },
    /// The file declares several balance constraints.
    #[error("{}: {constraints} balance constraints (ncon); place-eval partitions with one", path.display())]
    MultiConstraint {
        /// The file.
        path: PathBuf,
        /// `ncon`.
        constraints: usize,
    },
    /// Bad parts, imbalance, tries or V-cycles for this graph.
    #[error("bad request")]
    Request(#[source] PartitionError),
}

impl PlaceEvalError {
    /// Whether the arguments are at fault (exit status 2) rather than the
    /// input file (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, PlaceEvalError::Request(_))
    }
}

/// Whether `assignment` puts every vertex of `graph` in `0..parts` with
/// every part within `limit`.
pub fn partition_is_valid(graph: &Graph, assignment: &[u32], parts: usize, limit: Weight) -> bool {
    assignment.len() == graph.vertex_count()
        && assignment.iter().all(|&p| (p as usize) < parts)
        && part_weights(graph, assignment, parts)
            .iter()
            .all(|&w| w <= limit)
}

/// Runs `place-eval`: a report (valid or not) or why there is none.
pub fn run_place_eval(options: &PlaceEvalOptions) -> Result<PlaceEvalReport, PlaceEvalError> {
    let metis = read_metis_file(&options.graph).map_err(|source| PlaceEvalError::Graph {
        path: options.graph.clone(),
        source,
    })?;
    if metis.constraints != 1 {
        return Err(PlaceEvalError::MultiConstraint {
            path: options.graph.clone(),
            constraints: metis.constraints,
        });
    }
    evaluate(&metis.graph, options)
}

/// Partitions `graph` as `options` asks and reports (the file in `options`
/// is not read). A request the partitioner refuses outright (parts,
/// imbalance, effort out of range) is an error; an infeasible or unmet
/// balance constraint is a report with `valid: false` and `error`.
pub fn evaluate(
    graph: &Graph,
    options: &PlaceEvalOptions,
) -> Result<PlaceEvalReport, PlaceEvalError> {
    let config = PartitionConfig {
        parts: options.parts,
        imbalance: options.imbalance,
        seed: options.seed,
        tries: options.tries,
        vcycles: options.vcycles,
    };
    let limit = if options.parts > 0 && options.imbalance.is_finite() && options.imbalance >= 0.0 {
        balance_limit(
            graph.total_vertex_weight(),
            options.parts,
            options.imbalance,
        )
    } else {
        0
    };
    let started = Instant::now();
    let outcome = partition_graph(graph, &config);
    let seconds = started.elapsed().as_secs_f64();
    let mut report = PlaceEvalReport {
        edge_cut: None,
        imbalance: None,
        parts: options.parts,
        seconds,
        valid: false,
        vertices: graph.vertex_count(),
        edges: graph.edge_count(),
        limit,
        epsilon: options.imbalance,
        seed: options.seed,
        error: None,
    };
    let (assignment, error) = match outcome {
        Ok(partition) => (Some(partition.assignment), None),
        Err(PartitionError::Unbalanced { best, .. }) => {
            let message = PartitionError::Unbalanced {
                part: best.overweight_part().map_or(0, |(p, _)| p),
                weight: best.overweight_part().map_or(0, |(_, w)| w),
                limit,
                best: best.clone(),
            }
            .to_string();
            (Some(best.assignment), Some(message))
        }
        Err(err @ PartitionError::VertexHeavierThanLimit { .. }) => (None, Some(err.to_string())),
        Err(err) => return Err(PlaceEvalError::Request(err)),
    };
    if let Some(assignment) = assignment {
        report.edge_cut = Some(edge_cut(graph, &assignment));
        report.imbalance = Some(imbalance(&part_weights(graph, &assignment, options.parts)));
        report.valid = partition_is_valid(graph, &assignment, options.parts, limit);
    }
    report.error = error;
    Ok(report)
}
