//! The placement endpoints end to end: the real `dwcp-controlplane run`
//! (no data plane: placement needs none), certificates from
//! `scripts/gen-certs.sh`, plain HTTP to `POST /v1/placement/place` and
//! `POST /v1/placement/rebalance`, including infeasible requests that must
//! come back as typed 4xx errors naming the constraint.

mod common;

use common::TempDir;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the test waits for the API to answer.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The control plane process, killed on drop.
struct Running {
    child: Child,
    api: String,
    tables: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.tables);
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("an address").port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Starts the control plane in `dir` and waits until its API answers.
fn start(dir: &TempDir) -> Running {
    let certs = dir.path("certs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-certs.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg("--out")
        .arg(&certs)
        .arg("host-a")
        .stdout(Stdio::null())
        .status()
        .expect("run gen-certs.sh");
    assert!(status.success(), "gen-certs.sh failed");
    let (api_port, peer_port) = (free_port(), free_port());
    let tables = std::env::temp_dir().join(format!("dwcp-place-api-{}.tables", std::process::id()));
    let config = dir.write(
        "host-a.toml",
        format!(
            r#"[node]
id = "host-a"
tables = "{tables}"

[api]
listen = "127.0.0.1:{api_port}"

[peer]
listen = "127.0.0.1:{peer_port}"
ca = "{certs}/ca.pem"
cert = "{certs}/host-a.pem"
key = "{certs}/host-a.key"

[receive]
memory_dir = "{dir}"
"#,
            tables = tables.display(),
            certs = certs.display(),
            dir = dir.0.display(),
        ),
    );
    let log = std::fs::File::create(dir.path("controlplane.log")).expect("a log file");
    let child = Command::new(env!("CARGO_BIN_EXE_dwcp-controlplane"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("DWCP_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start dwcp-controlplane");
    let mut running = Running {
        child,
        api: format!("http://127.0.0.1:{api_port}"),
        tables,
    };
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if agent()
            .get(format!("{}/v1/node", running.api))
            .call()
            .is_ok()
        {
            return running;
        }
        let log = std::fs::read_to_string(dir.path("controlplane.log")).unwrap_or_default();
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!("the control plane exited ({status}): {log}");
        }
        assert!(Instant::now() < deadline, "the API did not answer: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `POST path` with `body`: (status, JSON body).
fn post(api: &str, path: &str, body: &str) -> (u16, Value) {
    let mut response = agent()
        .post(format!("{api}{path}"))
        .header("content-type", "application/json")
        .send(body)
        .expect("an HTTP answer");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Two regions (r0, r1) of two 16-core 64 GiB hosts, 1 Gbit/s apart.
fn regions() -> Value {
    json!([
        {"name": "r0", "hosts": [
            {"name": "r0h0", "cpu_millicores": 16000, "memory_mib": 65536},
            {"name": "r0h1", "cpu_millicores": 16000, "memory_mib": 65536}]},
        {"name": "r1", "hosts": [
            {"name": "r1h0", "cpu_millicores": 16000, "memory_mib": 65536},
            {"name": "r1h1", "cpu_millicores": 16000, "memory_mib": 65536}]}
    ])
}

fn links() -> Value {
    json!([{"a": "r0", "b": "r1", "latency_ms": 20.0, "bandwidth_bytes_per_s": 1.25e8}])
}

fn vm(name: &str, gib: u64) -> Value {
    json!({"name": name, "cpu_millicores": 2000, "memory_mib": gib * 1024})
}

#[test]
fn placement_endpoints_answer_and_name_the_constraint_when_infeasible() {
    let dir = TempDir::new("place-api");
    let running = start(&dir);
    let api = running.api.as_str();

    // A new VM goes next to the VM it talks to.
    let body = json!({
        "model": {
            "regions": regions(), "links": links(),
            "vms": [vm("a", 4), vm("b", 4), vm("new", 4)],
            "traffic": [{"from": "new", "to": "b", "bytes_per_s": 5000000}],
        },
        "placement": {"a": "r0h0", "b": "r1h1"},
        "vm": "new",
    });
    let (status, answer) = post(api, "/v1/placement/place", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["region"], "r1", "{answer}");
    assert_eq!(answer["host"], "r1h1", "{answer}");

    // Infeasible: anti-affinity with VMs on both hosts of its pinned region.
    let body = json!({
        "model": {
            "regions": regions(), "links": links(),
            "vms": [vm("a", 4), vm("b", 4), vm("new", 4)],
            "constraints": [
                {"kind": "pin_region", "vm": "new", "region": "r0"},
                {"kind": "anti_affinity", "vms": ["a", "b", "new"]}],
        },
        "placement": {"a": "r0h0", "b": "r0h1"},
        "vm": "new",
    });
    let (status, answer) = post(api, "/v1/placement/place", &body.to_string());
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["constraint"], "anti_affinity", "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("new")),
        "{answer}"
    );

    // Infeasible model: more memory than the cluster has.
    let body = json!({
        "model": {"regions": regions(), "links": links(), "vms": [vm("huge", 300)]},
        "vm": "huge",
    });
    let (status, answer) = post(api, "/v1/placement/place", &body.to_string());
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["constraint"], "capacity", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("307200")),
        "{answer}"
    );

    // Malformed: not JSON (400, request) and an unknown host (400, model).
    let (status, answer) = post(api, "/v1/placement/place", "{not json");
    assert_eq!(
        (status, answer["constraint"].as_str()),
        (400, Some("request")),
        "{answer}"
    );
    let body = json!({
        "model": {"regions": regions(), "links": links(), "vms": [vm("a", 4), vm("b", 4)]},
        "placement": {"a": "mars"},
        "vm": "b",
    });
    let (status, answer) = post(api, "/v1/placement/place", &body.to_string());
    assert_eq!(
        (status, answer["constraint"].as_str()),
        (400, Some("model")),
        "{answer}"
    );

    // Rebalance: `hot` (r0) now talks heavily to b0 and b1 (r1).
    let mut vms = Vec::new();
    let mut traffic = Vec::new();
    for app in ["a", "b"] {
        for i in 0..4 {
            vms.push(vm(&format!("{app}{i}"), 4));
            for j in 0..i {
                traffic.push(json!({"from": format!("{app}{i}"), "to": format!("{app}{j}"), "bytes_per_s": 2000000}));
            }
        }
    }
    vms.push(vm("hot", 4));
    let mut placement = serde_json::Map::new();
    for i in 0..4 {
        placement.insert(format!("a{i}"), json!(format!("r0h{}", i % 2)));
        placement.insert(format!("b{i}"), json!(format!("r1h{}", i % 2)));
    }
    placement.insert("hot".into(), json!("r0h0"));
    let model = json!({"regions": regions(), "links": links(), "vms": vms, "traffic": traffic});
    let (status, answer) = post(
        api,
        "/v1/placement/rebalance",
        &json!({"model": model, "placement": placement}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "within_thresholds", "{answer}");
    let mut shifted = traffic.clone();
    shifted.push(json!({"from": "hot", "to": "b0", "bytes_per_s": 3000000}));
    shifted.push(json!({"from": "b1", "to": "hot", "bytes_per_s": 3000000}));
    let (status, answer) = post(
        api,
        "/v1/placement/rebalance",
        &json!({"model": model, "placement": placement, "traffic": shifted}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "rebalanced", "{answer}");
    let moves = answer["moves"].as_array().expect("moves");
    assert_eq!(moves.len(), 1, "{answer}");
    assert_eq!(moves[0]["vm"], "hot");
    assert_eq!(moves[0]["to_region"], "r1");
    assert!(
        moves[0]["cost_s"]
            .as_f64()
            .is_some_and(|c| c > 30.0 && c < 40.0),
        "{answer}"
    );

    // Rebalance of an infeasible model: the constraint is named.
    placement.insert("hot".into(), json!("r1h0"));
    let bad = json!({
        "model": {"regions": regions(), "links": links(), "vms": model["vms"], "traffic": traffic,
                  "constraints": [{"kind": "pin_region", "vm": "hot", "region": "r0"},
                                  {"kind": "pin_region", "vm": "hot", "region": "r1"}]},
        "placement": placement,
    });
    let (status, answer) = post(api, "/v1/placement/rebalance", &bad.to_string());
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["constraint"], "pin_region", "{answer}");
    drop(running);
}
