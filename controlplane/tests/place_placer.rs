//! Placement (`dwcp_controlplane::place::placer`, `greedy`, `single`) on
//! generated instances the benchmark does not use (seeds 101 and up) and on
//! small hand-made ones: better than greedy first-fit, balanced, every
//! constraint honoured, deterministic, hierarchy-aware.

mod place_fixtures;

use dwcp_controlplane::place::cluster::Cluster;
use dwcp_controlplane::place::error::PlacementError;
use dwcp_controlplane::place::generator::{generate, ScenarioSpec};
use dwcp_controlplane::place::greedy::{greedy_placement, Greedy};
use dwcp_controlplane::place::placer::{check_placement, place, PlaceOptions};
use dwcp_controlplane::place::quality::quality;
use dwcp_controlplane::place::single::place_vm;
use place_fixtures::{
    checked, flow, generated, host, link, model, region, region_of, uniform_regions, vm,
};
use serde_json::{json, Value};

fn placed(host_of: &[usize]) -> Vec<Option<usize>> {
    host_of.iter().map(|&h| Some(h)).collect()
}

#[test]
fn generated_instances_beat_greedy_first_fit_balanced_and_valid() {
    for (vms, regions, seed) in [(200, 3, 101), (240, 4, 102), (150, 2, 103)] {
        let (_, cluster, outcome) = generated(vms, regions, seed);
        let first_fit = greedy_placement(&cluster, Greedy::FirstFit).expect("greedy places");
        let ours = quality(&cluster, &placed(&outcome.host_of));
        let greedy = quality(&cluster, &placed(&first_fit));
        assert!(
            ours.cross_region_traffic <= 0.6 * greedy.cross_region_traffic,
            "seed {seed}: X {} vs greedy {}",
            ours.cross_region_traffic,
            greedy.cross_region_traffic
        );
        assert!(
            ours.lif_regions < 0.05,
            "seed {seed}: LIF {}",
            ours.lif_regions
        );
        assert_eq!(
            check_placement(&cluster, &outcome.host_of),
            None,
            "seed {seed}"
        );
        assert_eq!(check_placement(&cluster, &first_fit), None, "seed {seed}");
        assert_eq!(outcome.quality, ours);
        assert_eq!(outcome.placement.0.len(), vms);
    }
}

#[test]
fn the_same_seed_gives_the_same_placement() {
    let scenario = generate(&ScenarioSpec {
        vms: 180,
        regions: 3,
        seed: 104,
    });
    let cluster = checked(&scenario.model);
    let options = PlaceOptions {
        seed: 7,
        ..PlaceOptions::default()
    };
    let a = place(&cluster, &options).expect("places");
    let b = place(&cluster, &options).expect("places");
    assert_eq!(a.placement, b.placement);
    assert_eq!(a.quality, b.quality);
}

#[test]
fn unequal_regions_get_loads_in_proportion() {
    // r0 has three hosts, r1 one: 24 independent VMs split about 3:1.
    let regions = vec![
        region(
            "r0",
            (0..3).map(|h| host(&format!("a{h}"), 16, 64)).collect(),
        ),
        region("r1", vec![host("b0", 16, 64)]),
    ];
    let vms: Vec<Value> = (0..24).map(|i| vm(&format!("v{i}"), 2, 8)).collect();
    let m = model(
        regions,
        vec![link("r0", "r1", 10.0, 1e9)],
        vms,
        vec![],
        vec![],
    );
    let cluster = checked(&m);
    let outcome = place(&cluster, &PlaceOptions::default()).expect("places");
    let in_r1 = outcome
        .host_of
        .iter()
        .filter(|&&h| cluster.region_of_host(h) == 1)
        .count();
    assert_eq!(in_r1, 6, "a quarter of the VMs in the quarter-size region");
    assert!(outcome.quality.lif_regions < 0.05);
}

#[test]
fn heavy_pairs_cross_the_short_link_not_the_long_one() {
    // Three groups that each fill a region; A-B talk heavily, B-C a little.
    // r0-r1 is 5 ms, both to r2 100 ms: A and B go to r0 and r1.
    let regions: Vec<Value> = (0..3)
        .map(|r| region(&format!("r{r}"), vec![host(&format!("h{r}"), 8, 32)]))
        .collect();
    let links = vec![
        link("r0", "r1", 5.0, 1e9),
        link("r0", "r2", 100.0, 1e9),
        link("r1", "r2", 100.0, 1e9),
    ];
    let mut vms = Vec::new();
    let mut traffic = Vec::new();
    for g in ["a", "b", "c"] {
        for i in 0..4 {
            vms.push(vm(&format!("{g}{i}"), 2, 8));
            for j in 0..i {
                traffic.push(flow(&format!("{g}{i}"), &format!("{g}{j}"), 10_000_000));
            }
        }
    }
    for i in 0..4 {
        traffic.push(flow(&format!("a{i}"), &format!("b{i}"), 3_000_000));
    }
    traffic.push(flow("b0", "c0", 100_000));
    // The groups are listed C, B, A so that model order does not help.
    let m = model(
        regions,
        links,
        vms.into_iter().rev().collect(),
        traffic,
        vec![],
    );
    let cluster = checked(&m);
    let outcome = place(&cluster, &PlaceOptions::default()).expect("places");
    let ra = region_of(&cluster, &outcome.host_of, "a0");
    let rb = region_of(&cluster, &outcome.host_of, "b0");
    let rc = region_of(&cluster, &outcome.host_of, "c0");
    assert_eq!(rc, 2, "the lightly linked group goes far");
    assert_ne!(ra, rb);
    for g in ["a", "b", "c"] {
        let r = region_of(&cluster, &outcome.host_of, &format!("{g}0"));
        for i in 1..4 {
            assert_eq!(region_of(&cluster, &outcome.host_of, &format!("{g}{i}")), r);
        }
    }
}

#[test]
fn constraints_are_honoured_on_a_small_model() {
    let (regions, links) = uniform_regions(3, 2);
    let vms: Vec<Value> = (0..12).map(|i| vm(&format!("v{i}"), 2, 8)).collect();
    let mut traffic = Vec::new();
    for i in 0..12 {
        traffic.push(flow(
            &format!("v{i}"),
            &format!("v{}", (i + 1) % 12),
            5_000_000,
        ));
    }
    let constraints = vec![
        json!({"kind": "pin_region", "vm": "v0", "region": "r2"}),
        json!({"kind": "pin_host", "vm": "v5", "host": "r1h1"}),
        json!({"kind": "anti_affinity", "vms": ["v1", "v2", "v3"]}),
        json!({"kind": "keep_together", "vms": ["v7", "v8"]}),
        json!({"kind": "max_latency", "vm": "v9", "region": "r0", "max_ms": 0.0}),
    ];
    let m = model(regions, links, vms, traffic, constraints);
    let cluster = checked(&m);
    let outcome = place(&cluster, &PlaceOptions::default()).expect("places");
    let host = |name: &str| outcome.host_of[cluster.vm_id(name).expect("vm")];
    assert_eq!(check_placement(&cluster, &outcome.host_of), None);
    assert_eq!(region_of(&cluster, &outcome.host_of, "v0"), 2);
    assert_eq!(cluster.hosts[host("v5")].name, "r1h1");
    assert_eq!(region_of(&cluster, &outcome.host_of, "v9"), 0);
    assert_eq!(
        region_of(&cluster, &outcome.host_of, "v7"),
        region_of(&cluster, &outcome.host_of, "v8")
    );
    let apart = [host("v1"), host("v2"), host("v3")];
    assert!(apart[0] != apart[1] && apart[1] != apart[2] && apart[0] != apart[2]);
}

#[test]
fn small_cycles_are_contracted_and_stay_together() {
    // A 3-VM directed cycle and a pair with one-way traffic only.
    let (regions, links) = uniform_regions(2, 2);
    let vms: Vec<Value> = ["x", "y", "z", "p", "q"]
        .iter()
        .map(|n| vm(n, 1, 4))
        .collect();
    let traffic = vec![
        flow("x", "y", 1_000),
        flow("y", "z", 1_000),
        flow("z", "x", 1_000),
        flow("p", "q", 1_000),
    ];
    let m = model(regions, links, vms, traffic, vec![]);
    let cluster = checked(&m);
    let outcome = place(&cluster, &PlaceOptions::default()).expect("places");
    assert_eq!(outcome.contracted_components, 1);
    assert_eq!(outcome.units, 3);
    let r = region_of(&cluster, &outcome.host_of, "x");
    assert_eq!(region_of(&cluster, &outcome.host_of, "y"), r);
    assert_eq!(region_of(&cluster, &outcome.host_of, "z"), r);
}

#[test]
fn one_new_vm_goes_next_to_its_partners_or_gets_a_typed_error() {
    let (regions, links) = uniform_regions(2, 2);
    let vms = vec![vm("a", 2, 8), vm("b", 2, 8), vm("new", 2, 8)];
    let traffic = vec![flow("new", "b", 9_000_000), flow("a", "new", 1_000)];
    let m = model(regions.clone(), links.clone(), vms, traffic, vec![]);
    let cluster = checked(&m);
    let mut host_of = vec![None; 3];
    host_of[cluster.vm_id("a").expect("a")] = cluster.host_id("r0h0");
    host_of[cluster.vm_id("b").expect("b")] = cluster.host_id("r1h1");
    let new = cluster.vm_id("new").expect("new");
    let answer = place_vm(&cluster, &host_of, new, 0.5).expect("room everywhere");
    assert_eq!(answer.host, "r1h1", "on its heavy partner's host");
    assert_eq!(answer.region, "r1");
    assert_eq!(answer.legal_hosts, 4);
    // Placed already.
    host_of[new] = cluster.host_id("r0h1");
    assert!(matches!(
        place_vm(&cluster, &host_of, new, 0.5),
        Err(PlacementError::AlreadyPlaced { .. })
    ));
    // Anti-affinity with VMs on every host of its pinned region.
    let vms = vec![vm("a", 2, 8), vm("b", 2, 8), vm("new", 2, 8)];
    let constraints = vec![
        json!({"kind": "pin_region", "vm": "new", "region": "r0"}),
        json!({"kind": "anti_affinity", "vms": ["a", "b", "new"]}),
    ];
    let m = model(regions.clone(), links.clone(), vms, vec![], constraints);
    let cluster = checked(&m);
    let host_of = vec![cluster.host_id("r0h0"), cluster.host_id("r0h1"), None];
    let err = place_vm(&cluster, &host_of, 2, 0.5).expect_err("no host left");
    assert_eq!(err.constraint(), "anti_affinity");
    assert!(err.to_string().contains("pin_region excluded 2"), "{err}");
    // Memory: a 60 GiB VM next to hosts that each hold 10 GiB already.
    let vms = vec![
        vm("a", 1, 10),
        vm("b", 1, 10),
        vm("c", 1, 10),
        vm("d", 1, 10),
        vm("new", 1, 60),
    ];
    let m = model(regions, links, vms, vec![], vec![]);
    let cluster = checked(&m);
    let host_of = vec![Some(0), Some(1), Some(2), Some(3), None];
    let err = place_vm(&cluster, &host_of, 4, 0.5).expect_err("no room");
    assert!(
        matches!(
            &err,
            PlacementError::NoHostForVm {
                constraint: "capacity",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("memory excluded 4"), "{err}");
}

#[test]
fn greedy_first_fit_fills_hosts_in_order() {
    let (regions, links) = uniform_regions(2, 2);
    let vms: Vec<Value> = (0..6).map(|i| vm(&format!("v{i}"), 6, 8)).collect();
    let cluster = Cluster::new(&model(regions, links, vms, vec![], vec![])).expect("feasible");
    let hosts = greedy_placement(&cluster, Greedy::FirstFit).expect("fits");
    assert_eq!(hosts, vec![0, 0, 1, 1, 2, 2]);
}
