//! The METIS graph reader and writer (`dwcp_controlplane::place::metis`):
//! every `fmt`, comments, isolated vertices, and each error with its line.

use dwcp_controlplane::place::graph::{Graph, GraphError};
use dwcp_controlplane::place::metis::{parse_metis, write_metis, MetisError};

/// A 4-cycle 1-2-3-4-1 with edge weights 1..4 and vertex weights 5..8.
const CYCLE_11: &str = "% a comment\n4 4 11\n5 2 1 4 4\n6 1 1 3 2\n7 2 2 4 3\n8 3 3 1 4\n";

fn error(text: &str) -> MetisError {
    parse_metis(text).expect_err("the text is malformed")
}

#[test]
fn unweighted_file_has_unit_weights() {
    let g = parse_metis("3 2\n2\n1 3\n2\n").expect("valid").graph;
    assert_eq!(g.vertex_count(), 3);
    assert_eq!(g.edge_count(), 2);
    assert_eq!(g.vertex_weights(), &[1, 1, 1]);
    assert_eq!(g.neighbors(1), &[0, 2]);
    assert_eq!(g.edge_weights(1), &[1, 1]);
}

#[test]
fn fmt_11_reads_vertex_and_edge_weights() {
    let m = parse_metis(CYCLE_11).expect("valid");
    assert!(m.has_vertex_weights && m.has_edge_weights);
    assert_eq!(m.graph.vertex_weights(), &[5, 6, 7, 8]);
    assert_eq!(m.graph.edges(0).collect::<Vec<_>>(), vec![(1, 1), (3, 4)]);
    assert_eq!(m.graph.total_edge_weight(), 10);
}

#[test]
fn fmt_1_and_10_and_leading_zeros() {
    let edges = parse_metis("2 1 1\n2 7\n1 7\n").expect("fmt 1").graph;
    assert_eq!(edges.edge_weights(0), &[7]);
    assert_eq!(edges.vertex_weights(), &[1, 1]);
    let vertices = parse_metis("2 1 010\n3 2\n4 1\n").expect("fmt 010").graph;
    assert_eq!(vertices.vertex_weights(), &[3, 4]);
    assert_eq!(vertices.edge_weights(0), &[1]);
}

#[test]
fn vertex_sizes_are_skipped_and_ncon_read() {
    // fmt 111: size, then 2 weights (ncon 2), then neighbour/weight pairs.
    let m = parse_metis("2 1 111 2\n9 1 2 2 5\n9 3 4 1 5\n").expect("valid");
    assert_eq!(m.constraints, 2);
    assert_eq!(m.constraint_weights, vec![1, 2, 3, 4]);
    assert_eq!(m.graph.vertex_weights(), &[1, 3]);
    assert_eq!(m.graph.edge_weights(0), &[5]);
}

#[test]
fn empty_lines_are_isolated_vertices_and_comments_anywhere() {
    let g = parse_metis("%c\n\n4 1\n\n3\n% in between\n2\n\n")
        .expect("valid")
        .graph;
    assert_eq!(g.vertex_count(), 4);
    assert_eq!(g.degree(0), 0);
    assert_eq!(g.neighbors(1), &[2]);
    assert_eq!(g.degree(3), 0);
}

#[test]
fn writer_round_trips() {
    let original = parse_metis(CYCLE_11).expect("valid").graph;
    let again = parse_metis(&write_metis(&original))
        .expect("written text parses")
        .graph;
    assert_eq!(original, again);
    let plain = Graph::from_edges(vec![1; 3], &[(0, 1, 1), (1, 2, 1)]).expect("valid");
    let text = write_metis(&plain);
    assert_eq!(text, "3 2\n2\n1 3\n2\n");
}

#[test]
fn header_errors() {
    assert!(matches!(error(""), MetisError::MissingHeader));
    assert!(matches!(error("% only\n"), MetisError::MissingHeader));
    assert!(matches!(
        error("3\n"),
        MetisError::BadHeader { line: 1, .. }
    ));
    assert!(matches!(
        error("%c\n3 1 12\n"),
        MetisError::BadHeader { line: 2, .. }
    ));
    assert!(matches!(
        error("2 1 1 2\n2 1\n1 1\n"),
        MetisError::BadHeader { line: 1, .. }
    ));
    assert!(matches!(
        error("x 1\n"),
        MetisError::BadNumber { line: 1, .. }
    ));
}

#[test]
fn vertex_line_errors_name_the_line() {
    let e = error("2 1\n2\nfoo\n");
    assert!(matches!(e, MetisError::BadNumber { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("line 3:"), "{e}");
    assert!(matches!(
        error("2 1\n3\n1\n"),
        MetisError::BadNumber { line: 2, .. }
    ));
    assert!(matches!(
        error("2 1\n0\n1\n"),
        MetisError::BadNumber { line: 2, .. }
    ));
    assert!(matches!(
        error("2 1 1\n2 5\n1\n"),
        MetisError::MissingEdgeWeight {
            line: 3,
            vertex: 2,
            neighbor: 1
        }
    ));
    assert!(matches!(
        error("2 1 1\n2 0\n1 0\n"),
        MetisError::BadNumber { line: 2, .. }
    ));
    assert!(matches!(
        error("2 1 10\n\n1\n"),
        MetisError::MissingVertexFields {
            line: 2,
            vertex: 1,
            ..
        }
    ));
    assert!(matches!(
        error("2 1 10\n-1 2\n1 1\n"),
        MetisError::BadNumber { line: 2, .. }
    ));
}

#[test]
fn structure_errors_name_the_line() {
    // Vertex 1 lists 2, but 2 (line 4, after a comment) does not list 1.
    let e = error("3 1\n2\n%c\n3\n\n");
    assert!(
        matches!(
            e,
            MetisError::Graph {
                line: 2,
                vertex: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("line (4)"), "{e}");
    let e = error("2 1 1\n2 3\n1 4\n");
    assert!(
        matches!(
            e,
            MetisError::Graph {
                line: 3,
                vertex: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("weight 4 here and 3 on line 2"),
        "{e}"
    );
    assert!(matches!(
        error("2 1\n1\n\n"),
        MetisError::Graph {
            line: 2,
            vertex: 1,
            ..
        }
    ));
    assert!(matches!(
        error("2 2\n2 2\n1 1\n"),
        MetisError::Graph {
            line: 2,
            vertex: 1,
            ..
        }
    ));
}

#[test]
fn count_errors() {
    assert!(matches!(
        error("3 1\n2\n1\n"),
        MetisError::TooFewVertices {
            header_line: 1,
            expected: 3,
            found: 2
        }
    ));
    assert!(matches!(
        error("2 1\n2\n1\n\n1\n"),
        MetisError::ExtraLine {
            line: 5,
            vertices: 2
        }
    ));
    assert!(matches!(
        error("3 3\n2\n1 3\n2\n"),
        MetisError::EdgeCountMismatch {
            expected: 3,
            entries: 4,
            half: 2,
            ..
        }
    ));
}

#[test]
fn graph_checks_symmetry_and_merges_duplicate_edges() {
    let g = Graph::from_edges(vec![1, 1, 1], &[(0, 1, 2), (1, 0, 3), (1, 2, 1)]).expect("valid");
    assert_eq!(g.edge_count(), 2);
    assert_eq!(g.edge_weights(0), &[5]);
    assert!(matches!(
        Graph::from_edges(vec![1], &[(0, 0, 1)]),
        Err(GraphError::SelfLoop { vertex: 0 })
    ));
    assert!(matches!(
        Graph::from_edges(vec![1, 1], &[(0, 2, 1)]),
        Err(GraphError::NeighborOutOfRange { neighbor: 2, .. })
    ));
    assert!(matches!(
        Graph::from_csr(vec![0, 1, 1], vec![1], vec![1], vec![1, 1]),
        Err(GraphError::Asymmetric {
            vertex: 0,
            neighbor: 1
        })
    ));
    assert!(matches!(
        Graph::from_csr(vec![0, 1, 2], vec![1, 0], vec![1, 2], vec![1, 1]),
        Err(GraphError::AsymmetricWeight { .. })
    ));
}
