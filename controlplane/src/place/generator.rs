//! [`generate`]: a seeded VM-traffic scenario with community structure:
//! regions of hosts, VMs from a size catalogue grouped into applications
//! that talk mostly inside themselves and a little to the applications
//! they depend on, a few constraints of every kind, and a traffic shift to
//! apply after placement. Every figure comes from the seed and the sizes,
//! none is fitted to an instance (docs/placement.md §7).
//!
//! VMs are named in creation order, and applications are created in
//! interleaved bursts (a few VMs of one, then of another), as teams deploy
//! over time: the order greedy first-fit sees.

use super::cluster::Cluster;
use super::model::{ClusterModel, Constraint, Flow, HostSpec, LinkSpec, RegionSpec, VmSpec};
use super::partition::metrics::floor_count;
use super::rng::PlaceRng;

/// VM sizes `(millicores, MiB)` and their relative frequency.
const VM_CATALOGUE: [(u64, u64, f64); 7] = [
    (1000, 2048, 0.20),
    (2000, 4096, 0.25),
    (2000, 8192, 0.15),
    (4000, 8192, 0.15),
    (4000, 16384, 0.12),
    (8000, 32768, 0.10),
    (16000, 65536, 0.03),
];

/// Host types `(millicores, MiB)`.
const HOST_TYPES: [(u64, u64); 3] = [(32_000, 131_072), (48_000, 196_608), (64_000, 262_144)];

/// Demand over capacity the cluster is sized for.
pub const UTILISATION: f64 = 0.7;

/// Application sizes: `APP_MIN + Exp(APP_MEAN_EXTRA)`, at most `APP_MAX`.
const APP_MIN: f64 = 4.0;
const APP_MEAN_EXTRA: f64 = 12.0;
const APP_MAX: usize = 40;

/// Peers each VM talks to inside its application: `2 + 0..4`.
const INTRA_PEERS_MIN: usize = 2;

/// Per-application traffic base: log-uniform in this range (bytes/s).
const APP_RATE: (f64, f64) = (1e6, 1e7);

/// The share of an application's traffic that goes to the applications
/// it depends on (uniform in this range, per application)...
const MIXING: (f64, f64) = (0.05, 0.30);
/// ...which are 1 to this many other applications...
const DEPENDENCIES_MAX: usize = 3;
/// ...each through `1 + size / DEPENDENCY_PAIRS_PER` VM pairs.
const DEPENDENCY_PAIRS_PER: usize = 5;

/// Both shifts add new traffic between regions until the placement's
/// cross-region share reaches this: three points over the rebalancer's
/// 15 % threshold, so that it must act, and every other flow changes by up
/// to [`SHIFT_NOISE`].
pub const SHIFT_CROSS_SHARE: f64 = 0.18;
/// Noise on every flow at a shift.
pub const SHIFT_NOISE: f64 = 0.10;
/// A hot VM talks with this many VMs of its partner application...
pub const HOT_PEERS: usize = 3;
/// ...at this multiple of its application's base rate.
pub const HOT_RATE: f64 = 8.0;
/// A re-wired application's VMs each talk with this many VMs of the
/// partner, at about their application's base rate.
pub const REWIRED_PEERS: usize = 2;

/// How traffic shifts after placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftKind {
    /// Hot spots: single VMs, one after another, start heavy traffic
    /// ([`HOT_RATE`] × their application's base rate) with [`HOT_PEERS`]
    /// VMs of an application placed mostly in another region, in that
    /// region (a batch job reading a remote database, a client moved to a
    /// remote service).
    HotSpots,
    /// Re-wired applications: whole applications, one after another, start
    /// traffic at their own base rate, every VM with [`REWIRED_PEERS`] VMs
    /// of an application placed mostly in another region, in that region
    /// (a new dependency as heavy as the application's own traffic).
    Applications,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioSpec {
    /// VMs.
    pub vms: usize,
    /// Regions.
    pub regions: usize,
    /// The seed.
    pub seed: u64,
}

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The model (traffic before the shift).
    pub model: ClusterModel,
    /// The application of each VM.
    pub app_of: Vec<usize>,
    /// Applications.
    pub apps: usize,
    /// The base rate of each application (bytes/s).
    pub app_rate: Vec<f64>,
    /// The share of the traffic between applications.
    pub inter_app_share: f64,
}

fn uniform(rng: &mut PlaceRng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.unit()
}

/// A rate in bytes/s from a float: rounded, at least 1.
pub fn rate(x: f64) -> u64 {
    // Rates here are between 1e5 and 1e9 bytes/s.
    u64::try_from(super::units::round_weight(x).max(1)).expect("positive")
}

fn pick_size(rng: &mut PlaceRng) -> (u64, u64) {
    let mut x = rng.unit() * VM_CATALOGUE.iter().map(|c| c.2).sum::<f64>();
    for &(cpu, mem, p) in &VM_CATALOGUE {
        if x < p {
            return (cpu, mem);
        }
        x -= p;
    }
    let last = VM_CATALOGUE[VM_CATALOGUE.len() - 1];
    (last.0, last.1)
}

/// Generates the scenario of `spec` (at least 2 VMs and 1 region).
pub fn generate(spec: &ScenarioSpec) -> Scenario {
    assert!(
        spec.vms >= 2 && spec.regions >= 1,
        "at least 2 VMs and 1 region"
    );
    let mut rng = PlaceRng::new(spec.seed);
    // Applications and the creation order.
    let mut sizes = Vec::new();
    let mut left = spec.vms;
    while left > 0 {
        let extra = -APP_MEAN_EXTRA * (1.0 - rng.unit()).ln();
        let size = floor_count((APP_MIN + extra).min(APP_MAX as f64));
        let size = size.clamp(2, APP_MAX).min(left);
        sizes.push(size);
        left -= size;
    }
    if sizes.len() > 1 && sizes[sizes.len() - 1] < 2 {
        let last = sizes.pop().expect("non-empty");
        *sizes.last_mut().expect("non-empty") += last;
    }
    let apps = sizes.len();
    let mut remaining = sizes.clone();
    let mut app_of = Vec::with_capacity(spec.vms);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); apps];
    while app_of.len() < spec.vms {
        let open: Vec<usize> = (0..apps).filter(|&a| remaining[a] > 0).collect();
        let a = open[rng.below(open.len())];
        let burst = (1 + rng.below(4)).min(remaining[a]);
        for _ in 0..burst {
            members[a].push(app_of.len());
            app_of.push(a);
        }
        remaining[a] -= burst;
    }
    let vms: Vec<VmSpec> = (0..spec.vms)
        .map(|i| {
            let (cpu, mem) = pick_size(&mut rng);
            VmSpec {
                name: format!("vm-{i:04}"),
                cpu_millicores: cpu,
                memory_mib: mem,
            }
        })
        .collect();
    // Traffic: inside applications, then along dependencies.
    let app_rate: Vec<f64> = (0..apps)
        .map(|_| APP_RATE.0 * (APP_RATE.1 / APP_RATE.0).powf(rng.unit()))
        .collect();
    let mut traffic = Vec::new();
    let (mut intra, mut inter) = (0.0, 0.0);
    let flow = |traffic: &mut Vec<Flow>, a: usize, b: usize, r: f64| {
        traffic.push(Flow {
            from: vms[a].name.clone(),
            to: vms[b].name.clone(),
            bytes_per_s: rate(r),
        });
    };
    let mut app_traffic = vec![0.0; apps];
    for (a, group) in members.iter().enumerate() {
        for &v in group {
            let peers = (INTRA_PEERS_MIN + rng.below(4)).min(group.len() - 1);
            for _ in 0..peers {
                let u = group[rng.below(group.len())];
                if u == v {
                    continue;
                }
                let forward = app_rate[a] * uniform(&mut rng, (0.5, 1.5));
                let back = forward * uniform(&mut rng, (0.3, 1.0));
                flow(&mut traffic, v, u, forward);
                flow(&mut traffic, u, v, back);
                app_traffic[a] += forward + back;
            }
        }
        intra += app_traffic[a];
    }
    if apps >= 2 {
        for a in 0..apps {
            let mixing = uniform(&mut rng, MIXING);
            let outgoing = app_traffic[a] * mixing / (1.0 - mixing);
            let dependencies = 1 + rng.below(DEPENDENCIES_MAX.min(apps - 1));
            for _ in 0..dependencies {
                let mut b = rng.below(apps - 1);
                if b >= a {
                    b += 1;
                }
                let pairs = 1 + members[a].len() / DEPENDENCY_PAIRS_PER;
                let r = outgoing / (dependencies * pairs) as f64 / 1.5;
                for _ in 0..pairs {
                    let va = members[a][rng.below(members[a].len())];
                    let vb = members[b][rng.below(members[b].len())];
                    flow(&mut traffic, va, vb, r);
                    flow(&mut traffic, vb, va, r * 0.5);
                    inter += 1.5 * r;
                }
            }
        }
    }
    let regions = regions(&mut rng, spec.regions, &vms);
    let links = links(&mut rng, spec.regions);
    let mut model = ClusterModel {
        regions,
        links,
        vms,
        traffic,
        constraints: Vec::new(),
    };
    model.constraints = constraints(&mut rng, &model, &members);
    Scenario {
        model,
        app_of,
        apps,
        app_rate,
        inter_app_share: inter / (intra + inter),
    }
}

/// Regions of random host types, sized for [`UTILISATION`], region sizes
/// varying by ±30 %.
fn regions(rng: &mut PlaceRng, count: usize, vms: &[VmSpec]) -> Vec<RegionSpec> {
    let demand = [
        vms.iter().map(|v| v.cpu_millicores).sum::<u64>() as f64,
        vms.iter().map(|v| v.memory_mib).sum::<u64>() as f64,
    ];
    let weights: Vec<f64> = (0..count).map(|_| uniform(rng, (0.7, 1.3))).collect();
    let total: f64 = weights.iter().sum();
    let mut host = 0;
    (0..count)
        .map(|r| {
            let target = demand.map(|d| d / UTILISATION * weights[r] / total);
            let mut hosts = Vec::new();
            let mut capacity = [0.0, 0.0];
            // At least two hosts, so anti-affinity groups fit a region.
            while hosts.len() < 2 || capacity[0] < target[0] || capacity[1] < target[1] {
                let (cpu, mem) = HOST_TYPES[rng.below(HOST_TYPES.len())];
                capacity[0] += cpu as f64;
                capacity[1] += mem as f64;
                hosts.push(HostSpec {
                    name: format!("r{r}-h{host:03}"),
                    cpu_millicores: cpu,
                    memory_mib: mem,
                });
                host += 1;
            }
            RegionSpec {
                name: format!("region-{r}"),
                hosts,
                host_latency_ms: 0.2,
                lan_bandwidth_bytes_per_s: 1.25e9,
            }
        })
        .collect()
}

/// Links between regions placed at random on a 100 × 100 map: latency
/// `5 + 1.2·distance` ms, bandwidth 1 to 10 Gbit/s.
fn links(rng: &mut PlaceRng, count: usize) -> Vec<LinkSpec> {
    let at: Vec<(f64, f64)> = (0..count)
        .map(|_| (100.0 * rng.unit(), 100.0 * rng.unit()))
        .collect();
    let mut links = Vec::new();
    for a in 0..count {
        for b in a + 1..count {
            let distance = ((at[a].0 - at[b].0).powi(2) + (at[a].1 - at[b].1).powi(2)).sqrt();
            links.push(LinkSpec {
                a: format!("region-{a}"),
                b: format!("region-{b}"),
                latency_ms: (5.0 + 1.2 * distance).round(),
                bandwidth_bytes_per_s: 1.25e8 * (1.0 + 9.0 * rng.unit()).round(),
            });
        }
    }
    links
}

/// A few constraints of every kind, drawn per application.
fn constraints(
    rng: &mut PlaceRng,
    model: &ClusterModel,
    members: &[Vec<usize>],
) -> Vec<Constraint> {
    let name = |v: usize| model.vms[v].name.clone();
    let regions = model.regions.len();
    let region = |r: usize| model.regions[r].name.clone();
    let mut out = Vec::new();
    for group in members {
        if rng.unit() < 0.15 {
            out.push(Constraint::PinRegion {
                vm: name(group[0]),
                region: region(rng.below(regions)),
            });
        }
        if group.len() >= 6 && rng.unit() < 0.5 {
            out.push(Constraint::AntiAffinity {
                vms: group[1..4].iter().map(|&v| name(v)).collect(),
            });
        }
        if regions >= 2 && rng.unit() < 0.1 {
            // Within reach of a region and its nearest neighbour.
            let to = rng.below(regions);
            let nearest = model
                .links
                .iter()
                .filter(|l| l.a == region(to) || l.b == region(to))
                .map(|l| l.latency_ms)
                .fold(f64::INFINITY, f64::min);
            out.push(Constraint::MaxLatency {
                vm: name(group[group.len() - 1]),
                region: region(to),
                max_ms: nearest,
            });
        }
        if group.len() >= 4 && rng.unit() < 0.1 {
            out.push(Constraint::KeepTogether {
                vms: vec![name(group[group.len() - 2]), name(group[group.len() - 3])],
            });
        }
    }
    if regions >= 2 && members.len() >= 2 {
        let mut bandwidths: Vec<f64> = model
            .links
            .iter()
            .map(|l| l.bandwidth_bytes_per_s)
            .collect();
        bandwidths.sort_by(f64::total_cmp);
        let median = bandwidths[bandwidths.len() / 2];
        for _ in 0..3 {
            let (a, b) = (rng.below(members.len()), rng.below(members.len()));
            if a != b {
                out.push(Constraint::MinBandwidth {
                    a: name(members[a][0]),
                    b: name(members[b][0]),
                    min_bytes_per_s: median,
                });
            }
        }
    }
    out
}

/// The traffic after a shift of `kind` (see [`ShiftKind`]) from the
/// placement `placed` (host of each VM): sources in a random order add
/// traffic until `placed`'s cross-region share reaches
/// [`SHIFT_CROSS_SHARE`].
pub fn shifted_traffic(
    scenario: &Scenario,
    cluster: &Cluster,
    placed: &[usize],
    kind: ShiftKind,
    seed: u64,
) -> Vec<Flow> {
    let mut rng = PlaceRng::new(seed ^ 0x0053_4849_4654);
    let model = &scenario.model;
    let apps = scenario.apps;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); apps];
    for (v, &a) in scenario.app_of.iter().enumerate() {
        members[a].push(v);
    }
    let region_of = |v: usize| cluster.region_of_host(placed[v]);
    let main_region: Vec<usize> = members
        .iter()
        .map(|group| {
            let mut count = vec![0usize; cluster.regions.len()];
            for &v in group {
                count[region_of(v)] += 1;
            }
            (0..count.len())
                .max_by_key(|&r| (count[r], std::cmp::Reverse(r)))
                .expect("a region")
        })
        .collect();
    let mut traffic: Vec<Flow> = model
        .traffic
        .iter()
        .map(|f| Flow {
            bytes_per_s: rate(
                f.bytes_per_s as f64 * uniform(&mut rng, (1.0 - SHIFT_NOISE, 1.0 + SHIFT_NOISE)),
            ),
            ..f.clone()
        })
        .collect();
    let index: std::collections::HashMap<&str, usize> = model
        .vms
        .iter()
        .enumerate()
        .map(|(v, spec)| (spec.name.as_str(), v))
        .collect();
    let (mut total, mut cross) = (0.0, 0.0);
    for f in &traffic {
        let t = f.bytes_per_s as f64;
        total += t;
        if region_of(index[f.from.as_str()]) != region_of(index[f.to.as_str()]) {
            cross += t;
        }
    }
    // Both directions (between regions), the answer half the request;
    // returns the rate added.
    let add = |traffic: &mut Vec<Flow>, v: usize, u: usize, r: f64| {
        for (from, to, r) in [(v, u, r), (u, v, r * 0.5)] {
            traffic.push(Flow {
                from: model.vms[from].name.clone(),
                to: model.vms[to].name.clone(),
                bytes_per_s: rate(r),
            });
        }
        1.5 * r
    };
    // Sources in a random order: VMs for hot spots, applications else.
    let sources: Vec<Vec<usize>> = match kind {
        ShiftKind::HotSpots => rng
            .permutation(model.vms.len())
            .into_iter()
            .map(|v| vec![v as usize])
            .collect(),
        ShiftKind::Applications => rng
            .permutation(apps)
            .into_iter()
            .map(|a| members[a as usize].clone())
            .collect(),
    };
    for source in sources {
        let a = scenario.app_of[source[0]];
        let home = region_of(source[0]);
        let partners: Vec<usize> = (0..apps)
            .filter(|&b| b != a && main_region[b] != home)
            .collect();
        if partners.is_empty() {
            continue;
        }
        let b = partners[rng.below(partners.len())];
        let there: Vec<usize> = members[b]
            .iter()
            .copied()
            .filter(|&u| region_of(u) == main_region[b])
            .collect();
        let (peers, factor) = match kind {
            ShiftKind::HotSpots => (HOT_PEERS, HOT_RATE),
            ShiftKind::Applications => (REWIRED_PEERS, 1.0),
        };
        for &v in &source {
            for _ in 0..peers {
                if cross >= SHIFT_CROSS_SHARE * total {
                    return traffic;
                }
                let u = there[rng.below(there.len())];
                let r = factor * scenario.app_rate[a] * uniform(&mut rng, (0.5, 1.5)) / 1.5;
                let added = add(&mut traffic, v, u, r);
                cross += added;
                total += added;
            }
        }
    }
    traffic
}
