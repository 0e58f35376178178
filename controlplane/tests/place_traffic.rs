//! The directed traffic graph (`dwcp_controlplane::place::traffic`): SCCs,
//! contraction of keep-together groups, expansion of a partition, and
//! cross-part traffic equal to the contracted graph's edge cut.

use dwcp_controlplane::place::partition::{edge_cut, partition_graph, PartitionConfig};
use dwcp_controlplane::place::traffic::{TrafficError, TrafficGraph};

/// Tasks 0-1-2 in a cycle, 3 <-> 4 both ways, 5 alone with one-way
/// traffic from 2 and to 3.
fn sample() -> TrafficGraph {
    let mut t = TrafficGraph::new(&[1, 2, 3, 4, 5, 6]);
    for (a, b, w) in [
        (0, 1, 10),
        (1, 2, 10),
        (2, 0, 10),
        (3, 4, 7),
        (4, 3, 8),
        (2, 5, 1),
        (5, 3, 2),
    ] {
        t.add_traffic(a, b, w).expect("valid traffic");
    }
    t
}

#[test]
fn tarjan_components_in_a_fixed_order() {
    let t = sample();
    assert_eq!(
        t.strongly_connected_components(),
        vec![vec![0, 1, 2], vec![3, 4], vec![5]]
    );
}

#[test]
fn contraction_sums_weights_and_symmetrises_traffic() {
    let t = sample();
    let c = t.contract(&[vec![0, 1, 2]]).expect("disjoint groups");
    // Vertex 0 = the group; 1..=3 = tasks 3, 4, 5.
    assert_eq!(c.vertex_of, vec![0, 0, 0, 1, 2, 3]);
    assert_eq!(c.graph.vertex_weights(), &[6, 4, 5, 6]);
    assert_eq!(c.graph.edge_count(), 3);
    // 3 <-> 4 is one undirected edge of 7 + 8.
    assert_eq!(c.graph.edges(1).find(|&(u, _)| u == 2), Some((2, 15)));
    // The cycle's internal traffic (30) is gone: 15 + 1 + 2 left.
    assert_eq!(c.graph.total_edge_weight(), 18);
    assert_eq!(c.expand(&[1, 0, 0, 1]), vec![1, 1, 1, 0, 0, 1]);
}

#[test]
fn cross_traffic_is_the_edge_cut_of_the_contracted_graph() {
    let t = sample();
    let groups = t.strongly_connected_components();
    let together: Vec<Vec<usize>> = groups.into_iter().filter(|g| g.len() > 1).collect();
    let c = t.contract(&together).expect("disjoint groups");
    let partition = partition_graph(&c.graph, &PartitionConfig::new(2, 0.5, 1)).expect("feasible");
    let tasks = c.expand(&partition.assignment);
    // Each group lands whole in one part.
    assert!(tasks[0] == tasks[1] && tasks[1] == tasks[2]);
    assert_eq!(tasks[3], tasks[4]);
    assert_eq!(
        t.cross_traffic(&tasks),
        edge_cut(&c.graph, &partition.assignment)
    );
    // Only 2 -> 5 (1) crosses; 5 -> 3 stays inside part 1.
    assert_eq!(t.cross_traffic(&[0, 0, 0, 1, 1, 1]), 1);
    assert_eq!(t.cross_traffic(&[0, 0, 0, 0, 0, 1]), 1 + 2);
}

#[test]
fn refused_traffic_and_groups_are_typed() {
    let mut t = TrafficGraph::new(&[1, 1]);
    assert_eq!(
        t.add_traffic(0, 0, 1),
        Err(TrafficError::SelfTraffic { task: 0 })
    );
    assert_eq!(
        t.add_traffic(0, 2, 1),
        Err(TrafficError::UnknownTask { task: 2, tasks: 2 })
    );
    assert!(matches!(
        t.add_traffic(0, 1, 0),
        Err(TrafficError::TrafficOutOfRange { .. })
    ));
    t.add_traffic(0, 1, i64::from(i32::MAX))
        .expect("at the maximum");
    assert!(matches!(
        t.add_traffic(0, 1, 1),
        Err(TrafficError::TrafficOutOfRange { .. })
    ));
    assert_eq!(t.traffic(0, 1), i64::from(i32::MAX));
    assert!(matches!(
        t.contract(&[vec![0], vec![0, 1]]),
        Err(TrafficError::OverlappingGroups {
            task: 0,
            first: 0,
            second: 1
        })
    ));
}
