//! The placement model (`dwcp_controlplane::place::cluster`): a model is
//! checked before any search, and every infeasible or malformed one gets a
//! `PlacementError` naming the constraint or resource with its numbers.

mod place_fixtures;

use dwcp_controlplane::place::cluster::Cluster;
use dwcp_controlplane::place::error::{PlacementError, Resource};
use dwcp_controlplane::place::model::ClusterModel;
use dwcp_controlplane::place::placer::{place, PlaceOptions};
use place_fixtures::{flow, host, link, model, region, uniform_regions, vm};
use serde_json::{json, Value};

/// Two regions of two 16-core 64 GiB hosts, `vms` and `constraints`.
fn two_regions(vms: Vec<Value>, constraints: Vec<Value>) -> ClusterModel {
    let (regions, links) = uniform_regions(2, 2);
    model(regions, links, vms, vec![], constraints)
}

fn refused(model: &ClusterModel) -> PlacementError {
    Cluster::new(model).expect_err("the model is refused")
}

#[test]
fn more_demand_than_capacity_names_the_resource_and_numbers() {
    // 4 hosts x 64 GiB = 256 GiB; 5 VMs x 60 GiB = 300 GiB.
    let vms = (0..5).map(|i| vm(&format!("v{i}"), 1, 60)).collect();
    let err = refused(&two_regions(vms, vec![]));
    assert_eq!(
        err,
        PlacementError::DemandExceedsCapacity {
            resource: Resource::Memory,
            demand: 300 * 1024,
            capacity: 256 * 1024,
        }
    );
    assert_eq!(err.constraint(), "capacity");
    assert!(!err.is_malformed());
    assert!(err.to_string().contains("307200"), "{err}");
}

#[test]
fn contradictory_pins_are_named() {
    let vms = vec![vm("a", 1, 1)];
    let err = refused(&two_regions(
        vms.clone(),
        vec![
            json!({"kind": "pin_region", "vm": "a", "region": "r0"}),
            json!({"kind": "pin_region", "vm": "a", "region": "r1"}),
        ],
    ));
    assert!(
        matches!(&err, PlacementError::ContradictoryPins { constraint: "pin_region", vm, first, second }
            if vm == "a" && first == "r0" && second == "r1"),
        "{err:?}"
    );
    let err = refused(&two_regions(
        vms,
        vec![
            json!({"kind": "pin_region", "vm": "a", "region": "r0"}),
            json!({"kind": "pin_host", "vm": "a", "host": "r1h0"}),
        ],
    ));
    assert_eq!(err.constraint(), "pin_host");
    assert!(err.to_string().contains("r1h0"), "{err}");
}

#[test]
fn anti_affinity_larger_than_the_hosts_available() {
    // Pinned to r0 (two hosts), three must be apart.
    let vms = vec![vm("a", 1, 1), vm("b", 1, 1), vm("c", 1, 1)];
    let mut constraints: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|v| json!({"kind": "pin_region", "vm": v, "region": "r0"}))
        .collect();
    constraints.push(json!({"kind": "anti_affinity", "vms": ["a", "b", "c"]}));
    let err = refused(&two_regions(vms.clone(), constraints));
    assert!(
        matches!(
            err,
            PlacementError::AntiAffinityTooLarge {
                members: 3,
                hosts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.constraint(), "anti_affinity");
    // Without the pins four hosts are available: accepted.
    let fine = two_regions(
        vms,
        vec![json!({"kind": "anti_affinity", "vms": ["a", "b", "c"]})],
    );
    assert!(Cluster::new(&fine).is_ok());
}

#[test]
fn anti_affinity_members_pinned_to_one_host() {
    let err = refused(&two_regions(
        vec![vm("a", 1, 1), vm("b", 1, 1)],
        vec![
            json!({"kind": "pin_host", "vm": "a", "host": "r0h1"}),
            json!({"kind": "pin_host", "vm": "b", "host": "r0h1"}),
            json!({"kind": "anti_affinity", "vms": ["a", "b"]}),
        ],
    ));
    assert!(
        matches!(&err, PlacementError::AntiAffinityPinnedTogether { host, .. } if host == "r0h1"),
        "{err:?}"
    );
}

#[test]
fn no_region_within_the_latency_bound() {
    let regions = vec![
        region("near", vec![host("n0", 16, 64)]),
        region("far", vec![host("f0", 16, 64)]),
    ];
    let links = vec![link("near", "far", 80.0, 1e9)];
    let base = |max_ms: f64, pin: Option<&str>| {
        let mut constraints =
            vec![json!({"kind": "max_latency", "vm": "a", "region": "near", "max_ms": max_ms})];
        if let Some(r) = pin {
            constraints.insert(0, json!({"kind": "pin_region", "vm": "a", "region": r}));
        }
        model(
            regions.clone(),
            links.clone(),
            vec![vm("a", 1, 1)],
            vec![],
            constraints,
        )
    };
    // Pinned far away, 80 ms from `near`: 50 ms cannot be met.
    let err = refused(&base(50.0, Some("far")));
    assert_eq!(
        err,
        PlacementError::NoRegionWithinLatency {
            vm: "a".into(),
            region: "near".into(),
            max_ms: 50.0,
            nearest_ms: 80.0,
        }
    );
    assert_eq!(err.constraint(), "max_latency");
    // Unpinned it may run in `near` itself.
    let cluster = Cluster::new(&base(50.0, None)).expect("feasible");
    assert_eq!(cluster.allowed[0], 0b01);
}

#[test]
fn minimum_bandwidth_that_no_region_pair_offers() {
    let err = refused(&two_regions(
        vec![vm("a", 1, 1), vm("b", 1, 1)],
        vec![
            json!({"kind": "pin_region", "vm": "a", "region": "r0"}),
            json!({"kind": "pin_region", "vm": "b", "region": "r1"}),
            json!({"kind": "min_bandwidth", "a": "a", "b": "b", "min_bytes_per_s": 1e9}),
        ],
    ));
    assert!(
        matches!(err, PlacementError::MinBandwidthUnsatisfiable { best_bytes_per_s, .. } if best_bytes_per_s == 1.25e8),
        "{err:?}"
    );
    assert_eq!(err.constraint(), "min_bandwidth");
}

#[test]
fn a_vm_larger_than_every_host() {
    let err = refused(&two_regions(vec![vm("big", 32, 8)], vec![]));
    assert_eq!(
        err,
        PlacementError::VmLargerThanHosts {
            vm: "big".into(),
            resource: Resource::Cpu,
            demand: 32_000,
            largest: 16_000,
        }
    );
}

#[test]
fn pinned_demand_over_a_host_and_keep_together_conflicts() {
    let err = refused(&two_regions(
        vec![vm("a", 10, 1), vm("b", 10, 1)],
        vec![
            json!({"kind": "pin_host", "vm": "a", "host": "r0h0"}),
            json!({"kind": "pin_host", "vm": "b", "host": "r0h0"}),
        ],
    ));
    assert!(
        matches!(&err, PlacementError::PinnedDemandExceedsCapacity { constraint: "pin_host", target, resource: Resource::Cpu, demand: 20_000, capacity: 16_000 } if target == "r0h0"),
        "{err:?}"
    );
    let err = refused(&two_regions(
        vec![vm("a", 1, 1), vm("b", 1, 1)],
        vec![
            json!({"kind": "pin_region", "vm": "a", "region": "r0"}),
            json!({"kind": "pin_region", "vm": "b", "region": "r1"}),
            json!({"kind": "keep_together", "vms": ["a", "b"]}),
        ],
    ));
    assert_eq!(err.constraint(), "keep_together");
}

#[test]
fn malformed_models_are_400_class_errors() {
    let (regions, links) = uniform_regions(2, 1);
    let cases: Vec<(ClusterModel, &str)> = vec![
        (
            model(
                regions.clone(),
                links.clone(),
                vec![vm("a", 1, 1)],
                vec![flow("a", "ghost", 5)],
                vec![],
            ),
            "ghost",
        ),
        (
            model(regions.clone(), vec![], vec![vm("a", 1, 1)], vec![], vec![]),
            "no link between regions r0 and r1",
        ),
        (
            model(
                regions.clone(),
                links.clone(),
                vec![vm("a", 1, 1), vm("a", 1, 1)],
                vec![],
                vec![],
            ),
            "\"a\" is used twice",
        ),
        (
            model(
                regions.clone(),
                vec![link("r0", "r1", -1.0, 1e9)],
                vec![vm("a", 1, 1)],
                vec![],
                vec![],
            ),
            "latency_ms",
        ),
        (
            model(
                regions,
                links,
                vec![vm("a", 1, 1)],
                vec![flow("a", "a", 5)],
                vec![],
            ),
            "to itself",
        ),
    ];
    for (model, needle) in cases {
        let err = refused(&model);
        assert!(err.is_malformed(), "{err:?}");
        assert_eq!(err.constraint(), "model");
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    // Unknown fields and constraint kinds are refused by serde.
    let text = r#"{"regions": [], "vms": [], "colour": 1}"#;
    assert!(serde_json::from_str::<ClusterModel>(text).is_err());
    let text = r#"{"regions": [], "vms": [], "constraints": [{"kind": "pin_moon", "vm": "a"}]}"#;
    assert!(serde_json::from_str::<ClusterModel>(text).is_err());
}

#[test]
fn a_balance_bound_that_pins_make_impossible_is_an_error_not_a_best_effort() {
    // Two equal regions; 3/4 of the demand pinned to r0. A LIF of 4 % is
    // impossible; without a LIF bound it places (within capacity).
    let vms: Vec<Value> = (0..8).map(|i| vm(&format!("v{i}"), 2, 8)).collect();
    let pins = (0..6)
        .map(|i| json!({"kind": "pin_region", "vm": format!("v{i}"), "region": "r0"}))
        .collect();
    let m = two_regions(vms, pins);
    let cluster = Cluster::new(&m).expect("within capacity");
    let err = place(&cluster, &PlaceOptions::default()).expect_err("LIF bound unmet");
    assert!(
        matches!(&err, PlacementError::Unbalanced { region, max_lif, .. } if region == "r0" && *max_lif == 0.04),
        "{err:?}"
    );
    assert_eq!(err.constraint(), "balance");
    let relaxed = PlaceOptions {
        max_lif: None,
        ..PlaceOptions::default()
    };
    let outcome = place(&cluster, &relaxed).expect("capacity only");
    assert!(outcome.quality.lif_regions > 0.4);
}

#[test]
fn hosts_that_cannot_pack_a_region_are_named() {
    // One region, two 10-core hosts, three 6-core VMs: 18 <= 20 cores in
    // all, every VM fits a host, but no two fit one host.
    let m = model(
        vec![region("only", vec![host("h0", 10, 64), host("h1", 10, 64)])],
        vec![],
        (0..3).map(|i| vm(&format!("v{i}"), 6, 1)).collect(),
        vec![],
        vec![],
    );
    let cluster = Cluster::new(&m).expect("passes the up-front checks");
    let err = place(&cluster, &PlaceOptions::default()).expect_err("cannot pack");
    assert!(
        matches!(&err, PlacementError::HostPacking { region, resource: Resource::Cpu, capacity: 10_000, load, .. } if region == "only" && *load > 10_000),
        "{err:?}"
    );
    assert_eq!(err.constraint(), "capacity");
}
