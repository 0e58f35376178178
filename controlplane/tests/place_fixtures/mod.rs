//! Small VM placement models for the `place_*` tests, written as JSON (the
//! form callers use). Each test crate uses only some of these.
#![allow(dead_code)]

use dwcp_controlplane::place::cluster::Cluster;
use dwcp_controlplane::place::generator::{generate, Scenario, ScenarioSpec};
use dwcp_controlplane::place::model::ClusterModel;
use dwcp_controlplane::place::placer::{place, PlaceOptions, PlacementOutcome};
use serde_json::{json, Value};

/// A host with `cores` CPUs and `gib` GiB.
pub fn host(name: &str, cores: u64, gib: u64) -> Value {
    json!({"name": name, "cpu_millicores": cores * 1000, "memory_mib": gib * 1024})
}

/// A region of hosts.
pub fn region(name: &str, hosts: Vec<Value>) -> Value {
    json!({"name": name, "hosts": hosts})
}

/// A link between two regions.
pub fn link(a: &str, b: &str, latency_ms: f64, bandwidth: f64) -> Value {
    json!({"a": a, "b": b, "latency_ms": latency_ms, "bandwidth_bytes_per_s": bandwidth})
}

/// A VM with `cores` CPUs and `gib` GiB.
pub fn vm(name: &str, cores: u64, gib: u64) -> Value {
    json!({"name": name, "cpu_millicores": cores * 1000, "memory_mib": gib * 1024})
}

/// Traffic `from -> to`.
pub fn flow(from: &str, to: &str, bytes_per_s: u64) -> Value {
    json!({"from": from, "to": to, "bytes_per_s": bytes_per_s})
}

/// The model of these parts (panics when serde refuses it).
pub fn model(
    regions: Vec<Value>,
    links: Vec<Value>,
    vms: Vec<Value>,
    traffic: Vec<Value>,
    constraints: Vec<Value>,
) -> ClusterModel {
    serde_json::from_value(json!({
        "regions": regions, "links": links, "vms": vms,
        "traffic": traffic, "constraints": constraints,
    }))
    .expect("a well-formed model")
}

/// Regions `r0..rk`, each with `hosts` hosts of 16 cores and 64 GiB, all
/// linked at 20 ms and 1 Gbit/s.
pub fn uniform_regions(k: usize, hosts: usize) -> (Vec<Value>, Vec<Value>) {
    let regions = (0..k)
        .map(|r| {
            region(
                &format!("r{r}"),
                (0..hosts)
                    .map(|h| host(&format!("r{r}h{h}"), 16, 64))
                    .collect(),
            )
        })
        .collect();
    let mut links = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            links.push(link(&format!("r{a}"), &format!("r{b}"), 20.0, 1.25e8));
        }
    }
    (regions, links)
}

/// `Cluster::new` that must succeed.
pub fn checked(model: &ClusterModel) -> Cluster {
    Cluster::new(model).expect("a feasible model")
}

/// The region index of VM `name` under `host_of`.
pub fn region_of(cluster: &Cluster, host_of: &[usize], name: &str) -> usize {
    let v = cluster.vm_id(name).expect("a VM of the model");
    cluster.region_of_host(host_of[v])
}

/// A generated scenario, its checked model and its placement with `seed`.
pub fn generated(vms: usize, regions: usize, seed: u64) -> (Scenario, Cluster, PlacementOutcome) {
    let scenario = generate(&ScenarioSpec { vms, regions, seed });
    let cluster = checked(&scenario.model);
    let options = PlaceOptions {
        seed,
        ..PlaceOptions::default()
    };
    let outcome = place(&cluster, &options).expect("a generated instance places");
    (scenario, cluster, outcome)
}
