//! `dwcp-controlplane place-eval`, the real binary: the last stdout line on
//! a generated grid, determinism, and the exit status and message of bad
//! files, bad arguments and infeasible balance constraints.

mod common;

use common::{controlplane, Outcome, TempDir};

use dwcp_controlplane::place::eval::PlaceEvalReport;
use dwcp_controlplane::place::graph::Graph;
use dwcp_controlplane::place::metis::write_metis;
use std::path::Path;

fn place_eval(graph: &Path, args: &[&str]) -> Outcome {
    let mut argv: Vec<&std::ffi::OsStr> =
        vec!["place-eval".as_ref(), "--graph".as_ref(), graph.as_os_str()];
    argv.extend(args.iter().map(std::ffi::OsStr::new));
    controlplane(argv)
}

fn last_report(out: &Outcome) -> PlaceEvalReport {
    let last = out.stdout.lines().last().expect("a last stdout line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not a report ({e}): {last}"))
}

/// A `side x side` grid in METIS format.
fn grid_text(side: u32) -> String {
    let mut edges = Vec::new();
    for y in 0..side {
        for x in 0..side {
            let v = y * side + x;
            if x + 1 < side {
                edges.push((v, v + 1, 1));
            }
            if y + 1 < side {
                edges.push((v, v + side, 1));
            }
        }
    }
    let n = usize::try_from(side * side).expect("small");
    write_metis(&Graph::from_edges(vec![1; n], &edges).expect("a grid is valid"))
}

#[test]
fn grid_report_is_the_last_line() {
    let dir = TempDir::new("grid");
    let graph = dir.write("grid.graph", grid_text(24));
    let out = place_eval(
        &graph,
        &["--parts", "4", "--imbalance", "0.03", "--seed", "7"],
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let report = last_report(&out);
    assert!(report.valid);
    assert_eq!(report.parts, 4);
    assert_eq!(report.vertices, 576);
    assert_eq!(report.edges, 2 * 24 * 23);
    assert_eq!(report.limit, 148); // floor(1.03 * 576 / 4)
    let imbalance = report.imbalance.expect("a partition");
    assert!((1.0..=1.03).contains(&imbalance), "{imbalance}");
    // Two straight lines cut 48 edges; a random 4-way split about 828.
    let cut = report.edge_cut.expect("a partition");
    assert!((48..=72).contains(&cut), "cut {cut}");
    assert!(report.seconds >= 0.0);
    assert_eq!(report.seed, 7);
    assert!(report.error.is_none());
    // The JSON keys other tools read.
    let json: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a line")).expect("json");
    for key in ["edge_cut", "imbalance", "parts", "seconds", "valid"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // Same seed, same answer.
    let again = last_report(&place_eval(
        &graph,
        &["--parts", "4", "--imbalance", "0.03", "--seed", "7"],
    ));
    assert_eq!(again.edge_cut, report.edge_cut);
}

#[test]
fn bad_files_exit_1_naming_the_line() {
    let dir = TempDir::new("bad");
    let missing = dir.0.join("absent.graph");
    let out = place_eval(&missing, &["--parts", "2", "--imbalance", "0.03"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("absent.graph"), "{}", out.stderr);
    let asymmetric = dir.write("asym.graph", "3 2\n2\n1 3\n1\n");
    let out = place_eval(&asymmetric, &["--parts", "2", "--imbalance", "0.03"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("line 4: vertex 3"), "{}", out.stderr);
    let multi = dir.write("multi.graph", "2 1 10 2\n1 1 2\n1 1 1\n");
    let out = place_eval(&multi, &["--parts", "2", "--imbalance", "0.03"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("balance constraints"), "{}", out.stderr);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = TempDir::new("args");
    let graph = dir.write("g.graph", grid_text(4));
    for args in [
        &["--parts", "0", "--imbalance", "0.03"][..],
        &["--parts", "17", "--imbalance", "0.03"][..],
        &["--parts", "2", "--imbalance", "-1"][..],
        &["--parts", "2", "--imbalance", "0.03", "--tries", "0"][..],
        &["--parts", "2"][..],
    ] {
        let out = place_eval(&graph, args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn infeasible_balance_is_reported_not_hidden() {
    let dir = TempDir::new("infeasible");
    // Vertex 2 weighs 10; two parts of a total of 14 may weigh 7 at most.
    let graph = dir.write("heavy.graph", "5 4 10\n1 2\n1 1 3\n10 2 4\n1 3 5\n1 4\n");
    let out = place_eval(&graph, &["--parts", "2", "--imbalance", "0.03"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let report = last_report(&out);
    assert!(!report.valid);
    assert_eq!(report.edge_cut, None);
    let error = report.error.expect("an error");
    assert!(
        error.contains("vertex 2 weighs 10") && error.contains("limit 7"),
        "{error}"
    );
    assert!(
        out.stderr.contains("balance constraint unsatisfiable"),
        "{}",
        out.stderr
    );
}
