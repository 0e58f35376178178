//! The METIS graph file format (METIS 5 manual, §4.1.1): reader and writer.
//!
//! ```text
//! % comment lines start with '%'
//! n m [fmt [ncon]]
//! [size] [w_1 .. w_ncon] v_1 [e_1] v_2 [e_2] ...     (one line per vertex)
//! ```
//!
//! `n` vertices and `m` undirected edges. `fmt` is up to three binary
//! digits `abc`: `a` = each line starts with a vertex size (read and
//! ignored: it only matters to communication volume), `b` = vertex weights
//! follow (`ncon` of them, default 1), `c` = each neighbour is followed by
//! its edge weight. So `0`/absent = unweighted, `1` = edge weights, `10` =
//! vertex weights, `11` = both. Neighbours are 1-based. An empty line is a
//! vertex without neighbours. Every edge must appear in both of its
//! vertices' lines with the same weight, and the lines must hold `2m`
//! neighbour entries in all. Every error names the 1-based line.

use super::graph::{Graph, GraphError, VertexId, Weight, MAX_VERTICES, MAX_WEIGHT};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The most balance constraints (`ncon`) a file may declare.
pub const MAX_CONSTRAINTS: usize = 64;

/// Why a METIS graph file cannot be read. Lines are 1-based; vertex ids are
/// 1-based as in the file.
#[derive(Debug, Error)]
pub enum MetisError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No header line (the file is empty or only comments).
    #[error("no header line (expected `n m [fmt [ncon]]`)")]
    MissingHeader,
    /// The header line is malformed.
    #[error("line {line}: bad header: {what}")]
    BadHeader {
        /// The line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A token is not a number, or a number is out of range.
    #[error("line {line}: {what}")]
    BadNumber {
        /// The line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A vertex line has a vertex weight but not a whole neighbour/weight pair.
    #[error("line {line}: vertex {vertex}: neighbour {neighbor} has no edge weight (fmt says edge weights follow each neighbour)")]
    MissingEdgeWeight {
        /// The line.
        line: usize,
        /// The vertex (1-based).
        vertex: usize,
        /// The neighbour without a weight (1-based).
        neighbor: usize,
    },
    /// A vertex line is too short for its size/weights.
    #[error("line {line}: vertex {vertex}: expected {expected} leading size/weight fields, found {found}")]
    MissingVertexFields {
        /// The line.
        line: usize,
        /// The vertex (1-based).
        vertex: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// Fewer vertex lines than the header's `n`.
    #[error("the header (line {header_line}) says {expected} vertices but the file has {found} vertex lines")]
    TooFewVertices {
        /// The header line.
        header_line: usize,
        /// `n`.
        expected: usize,
        /// Lines found.
        found: usize,
    },
    /// A non-empty line after the `n`th vertex.
    #[error("line {line}: extra line after the {vertices} vertices the header announced")]
    ExtraLine {
        /// The line.
        line: usize,
        /// `n`.
        vertices: usize,
    },
    /// The neighbour entries do not add up to `2m`.
    #[error("the header (line {header_line}) says {expected} edges but the vertex lines hold {entries} neighbour entries ({half} edges)")]
    EdgeCountMismatch {
        /// The header line.
        header_line: usize,
        /// `m`.
        expected: usize,
        /// Entries found.
        entries: usize,
        /// `entries / 2`, rounded down.
        half: usize,
    },
    /// The adjacency lists do not make a valid undirected graph (asymmetric,
    /// duplicate, self-loop...).
    #[error("line {line}: vertex {vertex}: {what}")]
    Graph {
        /// The line of the vertex concerned.
        line: usize,
        /// The vertex (1-based).
        vertex: usize,
        /// What is wrong, with 1-based ids.
        what: String,
    },
}

/// A graph read from a METIS file.
#[derive(Debug, Clone)]
pub struct MetisGraph {
    /// The graph, with the first balance constraint as vertex weights (1 each
    /// when the file has none).
    pub graph: Graph,
    /// Number of balance constraints (`ncon`, 1 unless the header says more).
    pub constraints: usize,
    /// All vertex weights, `constraints` per vertex, row-major.
    pub constraint_weights: Vec<Weight>,
    /// The file declared vertex weights.
    pub has_vertex_weights: bool,
    /// The file declared edge weights.
    pub has_edge_weights: bool,
}

/// Reads and parses a METIS graph file.
pub fn read_metis_file(path: &Path) -> Result<MetisGraph, MetisError> {
    let text = std::fs::read_to_string(path).map_err(|source| MetisError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_metis(&text)
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('%')
}

fn number(
    token: &str,
    line: usize,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, MetisError> {
    let value: i64 = token.parse().map_err(|_| MetisError::BadNumber {
        line,
        what: format!("{what} `{token}` is not an integer"),
    })?;
    if !range.contains(&value) {
        return Err(MetisError::BadNumber {
            line,
            what: format!("{what} {value} outside {}..={}", range.start(), range.end()),
        });
    }
    Ok(value)
}

struct Header {
    line: usize,
    vertices: usize,
    edges: usize,
    sizes: bool,
    vertex_weights: bool,
    edge_weights: bool,
    constraints: usize,
}

fn parse_header(text: &str, line: usize) -> Result<Header, MetisError> {
    let bad = |what: String| MetisError::BadHeader { line, what };
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    if !(2..=4).contains(&tokens.len()) {
        return Err(bad(format!(
            "expected `n m [fmt [ncon]]`, found {} fields",
            tokens.len()
        )));
    }
    let max_vertices = i64::try_from(MAX_VERTICES).expect("fits");
    let vertices = number(tokens[0], line, "vertex count", 0..=max_vertices)?;
    let edges = number(tokens[1], line, "edge count", 0..=i64::MAX / 2)?;
    let fmt = tokens.get(2).copied().unwrap_or("0");
    if fmt.is_empty() || fmt.len() > 3 || !fmt.bytes().all(|b| b == b'0' || b == b'1') {
        return Err(bad(format!(
            "fmt `{fmt}` must be up to three binary digits (e.g. 0, 1, 10, 11, 100)"
        )));
    }
    let digits = format!("{fmt:0>3}");
    let flag = |i: usize| digits.as_bytes()[i] == b'1';
    let constraints = match tokens.get(3) {
        Some(token) => {
            let max = i64::try_from(MAX_CONSTRAINTS).expect("fits");
            usize::try_from(number(token, line, "ncon", 1..=max)?).expect("in range")
        }
        None => 1,
    };
    if constraints > 1 && !flag(1) {
        return Err(bad(format!(
            "ncon {constraints} given but fmt `{fmt}` declares no vertex weights"
        )));
    }
    Ok(Header {
        line,
        vertices: usize::try_from(vertices).expect("non-negative"),
        edges: usize::try_from(edges).expect("non-negative"),
        sizes: flag(0),
        vertex_weights: flag(1),
        edge_weights: flag(2),
        constraints,
    })
}

/// Parses the text of a METIS graph file.
pub fn parse_metis(text: &str) -> Result<MetisGraph, MetisError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header = loop {
        match lines.next() {
            None => return Err(MetisError::MissingHeader),
            Some((_, l)) if is_comment(l) => continue,
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((number, l)) => break parse_header(l, number)?,
        }
    };
    let n = header.vertices;
    let ncon = header.constraints;
    let n_id = i64::try_from(n).expect("n <= MAX_VERTICES");
    let mut xadj = Vec::with_capacity(n + 1);
    let mut adjncy: Vec<VertexId> = Vec::with_capacity(header.edges.saturating_mul(2).min(1 << 28));
    let mut adjwgt: Vec<Weight> = Vec::with_capacity(adjncy.capacity());
    let mut constraint_weights: Vec<Weight> = Vec::with_capacity(n * ncon);
    let mut line_of = Vec::with_capacity(n);
    xadj.push(0usize);
    let leading = usize::from(header.sizes) + if header.vertex_weights { ncon } else { 0 };
    for (number_, l) in lines {
        if is_comment(l) {
            continue;
        }
        if line_of.len() == n {
            if l.trim().is_empty() {
                continue;
            }
            return Err(MetisError::ExtraLine {
                line: number_,
                vertices: n,
            });
        }
        let vertex = line_of.len() + 1;
        line_of.push(number_);
        let mut tokens = l.split_ascii_whitespace();
        let mut found = 0;
        if header.sizes {
            match tokens.next() {
                Some(token) => {
                    number(token, number_, "vertex size", 0..=MAX_WEIGHT)?;
                    found += 1;
                }
                None => {
                    return Err(MetisError::MissingVertexFields {
                        line: number_,
                        vertex,
                        expected: leading,
                        found,
                    })
                }
            }
        }
        if header.vertex_weights {
            for _ in 0..ncon {
                match tokens.next() {
                    Some(token) => {
                        constraint_weights.push(number(
                            token,
                            number_,
                            "vertex weight",
                            0..=MAX_WEIGHT,
                        )?);
                        found += 1;
                    }
                    None => {
                        return Err(MetisError::MissingVertexFields {
                            line: number_,
                            vertex,
                            expected: leading,
                            found,
                        })
                    }
                }
            }
        } else {
            constraint_weights.extend(std::iter::repeat_n(1, ncon));
        }
        while let Some(token) = tokens.next() {
            let neighbor = number(token, number_, "neighbour", 1..=n_id.max(1))?;
            let neighbor = usize::try_from(neighbor).expect("positive");
            let weight = if header.edge_weights {
                match tokens.next() {
                    Some(token) => number(token, number_, "edge weight", 1..=MAX_WEIGHT)?,
                    None => {
                        return Err(MetisError::MissingEdgeWeight {
                            line: number_,
                            vertex,
                            neighbor,
                        })
                    }
                }
            } else {
                1
            };
            if neighbor > n {
                return Err(MetisError::BadNumber {
                    line: number_,
                    what: format!("neighbour {neighbor} outside 1..={n}"),
                });
            }
            adjncy.push(VertexId::try_from(neighbor - 1).expect("n <= MAX_VERTICES"));
            adjwgt.push(weight);
        }
        xadj.push(adjncy.len());
    }
    if line_of.len() < n {
        return Err(MetisError::TooFewVertices {
            header_line: header.line,
            expected: n,
            found: line_of.len(),
        });
    }
    // Symmetry first: an edge listed one way only is the likelier mistake
    // and its message names the line.
    let entries = adjncy.len();
    let vwgt: Vec<Weight> = constraint_weights.iter().step_by(ncon).copied().collect();
    let graph =
        Graph::from_csr(xadj, adjncy, adjwgt, vwgt).map_err(|err| graph_error(&err, &line_of))?;
    if entries != header.edges.saturating_mul(2) {
        return Err(MetisError::EdgeCountMismatch {
            header_line: header.line,
            expected: header.edges,
            entries,
            half: entries / 2,
        });
    }
    Ok(MetisGraph {
        graph,
        constraints: ncon,
        constraint_weights,
        has_vertex_weights: header.vertex_weights,
        has_edge_weights: header.edge_weights,
    })
}

/// A [`GraphError`] (0-based ids) as a [`MetisError`] naming the line.
fn graph_error(err: &GraphError, line_of: &[usize]) -> MetisError {
    let at = |vertex: usize, what: String| MetisError::Graph {
        line: line_of.get(vertex).copied().unwrap_or(0),
        vertex: vertex + 1,
        what,
    };
    match *err {
        GraphError::SelfLoop { vertex } => at(vertex, "lists itself (self-loop)".into()),
        GraphError::DuplicateEdge { vertex, neighbor } => {
            at(vertex, format!("lists neighbour {} twice", neighbor + 1))
        }
        GraphError::Asymmetric { vertex, neighbor } => at(
            vertex,
            format!(
                "lists neighbour {}, whose line ({}) does not list it back",
                neighbor + 1,
                line_of.get(neighbor).copied().unwrap_or(0)
            ),
        ),
        GraphError::AsymmetricWeight {
            vertex,
            neighbor,
            weight,
            reverse,
        } => at(
            vertex,
            format!(
                "edge to {} has weight {weight} here and {reverse} on line {}",
                neighbor + 1,
                line_of.get(neighbor).copied().unwrap_or(0)
            ),
        ),
        GraphError::NeighborOutOfRange {
            vertex, neighbor, ..
        } => at(vertex, format!("neighbour {} out of range", neighbor + 1)),
        GraphError::EdgeWeightOutOfRange {
            vertex,
            neighbor,
            weight,
            ..
        } => at(
            vertex,
            format!(
                "edge to {} has weight {weight}, outside 1..={MAX_WEIGHT}",
                neighbor + 1
            ),
        ),
        GraphError::VertexWeightOutOfRange { vertex, weight, .. } => {
            at(vertex, format!("weight {weight} outside 0..={MAX_WEIGHT}"))
        }
        GraphError::TooManyVertices { .. } | GraphError::Malformed { .. } => at(0, err.to_string()),
    }
}

/// The METIS text of `graph`: fmt `0`, `1`, `10` or `11`, weights written
/// only where some differ from 1.
pub fn write_metis(graph: &Graph) -> String {
    let n = graph.vertex_count();
    let vertex_weights = graph.vertex_weights().iter().any(|&w| w != 1);
    let edge_weights = (0..n).any(|v| graph.edge_weights(v).iter().any(|&w| w != 1));
    let fmt = match (vertex_weights, edge_weights) {
        (false, false) => "",
        (false, true) => " 1",
        (true, false) => " 10",
        (true, true) => " 11",
    };
    let mut out = String::with_capacity(16 * (n + graph.edge_count()));
    let _ = writeln!(out, "{} {}{fmt}", n, graph.edge_count());
    for v in 0..n {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push(' ');
            }
            first = false;
        };
        if vertex_weights {
            sep(&mut out);
            let _ = write!(out, "{}", graph.vertex_weight(v));
        }
        for (u, w) in graph.edges(v) {
            sep(&mut out);
            let _ = write!(out, "{}", u + 1);
            if edge_weights {
                let _ = write!(out, " {w}");
            }
        }
        out.push('\n');
    }
    out
}
