//! Smoke test of `dwcp-perf stages`: runs the real tool briefly (16 MiB, one
//! run per scenario, no WAN, a handful of API calls) against real
//! `dwcp-dataplane` / `dwcp-controlplane` binaries and checks every file it
//! writes. Nothing here depends on how fast the machine is: the target may
//! PASS or MISS, only its arithmetic and the files are checked.
//!
//! Binaries: `DWCP_BIN_DIR`, else `<target>/release`, built there with
//! `cargo build --release` when missing (under a `flock`, once per process),
//! as tests/support/bins.rs does.

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BINARIES: [&str; 2] = ["dwcp-dataplane", "dwcp-controlplane"];
const STAGES: [&str; 6] = [
    "scan",
    "encode",
    "ring_wait",
    "send",
    "acknowledged",
    "total",
];
/// Stages every frame passes through (scan and encode count windows and
/// built frames, which a short run may still have; these must not be empty).
const FRAME_STAGES: [&str; 4] = ["ring_wait", "send", "acknowledged", "total"];
const CALLS: [&str; 6] = [
    "get_health",
    "get_node",
    "get_migrations",
    "get_metrics",
    "post_migration",
    "get_migration",
];
const API_CALLS: u64 = 5;
/// The whole tool run is killed after this long (it takes a few seconds).
const RUN_DEADLINE: Duration = Duration::from_secs(240);
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// A 1000x620 plot with axes, grid and lines is tens of KiB; a blank or
/// truncated image is far smaller.
const PNG_BYTES_MIN: u64 = 10_000;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("perf/ sits inside the workspace")
        .to_path_buf()
}

fn missing(dir: &Path) -> Vec<&'static str> {
    BINARIES
        .iter()
        .copied()
        .filter(|b| !dir.join(b).is_file())
        .collect()
}

/// The folder holding the binaries, built if needed.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("DWCP_BIN_DIR") {
            let dir = PathBuf::from(dir);
            assert!(
                missing(&dir).is_empty(),
                "DWCP_BIN_DIR={} lacks {:?}",
                dir.display(),
                missing(&dir)
            );
            return dir;
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|d| {
                if d.is_absolute() {
                    d
                } else {
                    workspace_root().join(d)
                }
            })
            .unwrap_or_else(|| workspace_root().join("target"));
        let dir = target.join("release");
        if missing(&dir).is_empty() {
            return dir;
        }
        std::fs::create_dir_all(&target).expect("create the target folder");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target.join("dwcp-tests-build.lock"))
            .expect("open the build lock");
        // SAFETY: flock on a descriptor owned by `lock`, released when it closes.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        if !missing(&dir).is_empty() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(workspace_root())
                .args([
                    "build",
                    "--release",
                    "-p",
                    "dwcp-dataplane",
                    "-p",
                    "dwcp-controlplane",
                ])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build --release failed");
        }
        dir
    })
}

/// Some(true): `perf record` works; Some(false): no `perf` binary;
/// None: it exists but perf_event is not permitted (the check is skipped).
fn perf_usable(scratch: &Path) -> Option<bool> {
    let data = scratch.join("probe.data");
    let result = Command::new("perf")
        .args(["record", "-q", "-o"])
        .arg(&data)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_file(&data);
    match result {
        Ok(status) if status.success() => Some(true),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// A folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("dwcp-perf-smoke-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch");
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs dwcp-perf with `args` to completion: (exit code, stdout, stderr, pid).
fn dwcp_perf(args: &[&str], log_dir: &Path) -> (i32, String, String, u32) {
    let (out, err) = (log_dir.join("stdout"), log_dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dwcp-perf"))
        .current_dir(workspace_root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start dwcp-perf");
    let pid = child.id();
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "dwcp-perf ran past {RUN_DEADLINE:?}: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default(),
        pid,
    )
}

/// Tag → (histogram, intervals with that tag), in file order.
fn read_hlog(path: &Path) -> Vec<(String, Histogram<u64>, usize)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut seen: Vec<(String, Histogram<u64>, usize)> = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let LogEntry::Interval(interval) = entry.expect("a valid interval log") else {
            continue;
        };
        let tag = interval
            .tag()
            .expect("every interval is tagged")
            .as_str()
            .to_owned();
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .expect("base64");
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut encoded.as_slice())
            .expect("a valid histogram");
        match seen.iter_mut().find(|(t, _, _)| *t == tag) {
            Some(entry) => entry.2 += 1,
            None => seen.push((tag, histogram, 1)),
        }
    }
    seen
}

fn check_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        PNG_SIGNATURE,
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(
        &bytes[12..16],
        b"IHDR",
        "{}: no IHDR chunk first",
        path.display()
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (1000, 620), "{}", path.display());
    assert!(
        bytes.len() as u64 >= PNG_BYTES_MIN,
        "{}: only {} bytes",
        path.display(),
        bytes.len()
    );
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Percentiles in summary.json: all there, ordered, and matching the hlog.
fn check_percentiles(name: &str, p: &Value, histogram: &Histogram<u64>) {
    let values: Vec<u64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| u(p, k))
        .collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{name}: {p}");
    assert_eq!(
        u(p, "count"),
        histogram.len(),
        "{name}: count differs from the hlog"
    );
    if !histogram.is_empty() {
        assert_eq!(
            u(p, "p99"),
            histogram.value_at_quantile(0.99),
            "{name}: p99"
        );
        assert_eq!(u(p, "max"), histogram.max(), "{name}: max");
    }
}

/// Entries of `dir` named like the scratch files of process `pid`.
fn leftovers(dir: &str, pid: u32) -> Vec<String> {
    let prefix = format!("dwcp-perf-{pid}-");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn stages_writes_histograms_summary_plots_and_flamegraph() {
    let bins = bin_dir();
    let scratch = Scratch::new("run");
    let out = scratch.0.join("out");
    let calls = API_CALLS.to_string();
    let (code, stdout, stderr, pid) = dwcp_perf(
        &[
            "stages",
            "--size",
            "16M",
            "--runs",
            "1",
            "--wan-profile",
            "none",
            "--api-calls",
            &calls,
            "--api-migrations",
            "1",
            "--rtt-rounds",
            "200",
            "--bin-dir",
            bins.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        &scratch.0,
    );
    assert!(
        code == 0 || code == 3,
        "exit {code} (0 or 3 expected)\n{stderr}"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json is JSON");
    // Exit 3 only because of the target, never a failed part.
    assert_eq!(summary["ok"].as_bool(), Some(code == 0), "{stderr}");
    assert_eq!(summary["api"]["status"], "ok", "{}", summary["api"]);

    // Scenarios: two loopback ones measured, the WAN one skipped.
    let scenarios = summary["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["loopback-50", "loopback-100", "wan"]);
    for scenario in &scenarios[..2] {
        let name = scenario["name"].as_str().expect("name");
        assert_eq!(scenario["status"], "ok", "{name}: {}", scenario["reason"]);
        let hlog = read_hlog(&out.join(format!("{name}.hlog")));
        let tags: Vec<&str> = hlog.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(tags, STAGES, "{name}.hlog tags");
        for (tag, histogram, intervals) in &hlog {
            assert_eq!(*intervals, 1, "{name}.hlog: one interval per stage ({tag})");
            if FRAME_STAGES.contains(&tag.as_str()) {
                assert!(!histogram.is_empty(), "{name}.hlog: {tag} is empty");
            }
            check_percentiles(
                &format!("{name}/{tag}"),
                &scenario["stages"][tag],
                histogram,
            );
        }
        check_png(&out.join(format!("{name}.png")));
        assert!(
            stdout.contains(&format!("## {name}")),
            "{name} table missing:\n{stdout}"
        );
    }
    assert_eq!(scenarios[2]["status"], "skipped");
    assert!(stdout.contains("SKIPPED"), "{stdout}");

    // API calls: every kind, as many as asked.
    let api = read_hlog(&out.join("api.hlog"));
    let tags: Vec<&str> = api.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(tags, CALLS, "api.hlog tags");
    for (tag, histogram, intervals) in &api {
        assert_eq!(*intervals, 1, "api.hlog: {tag}");
        let expected = match tag.as_str() {
            "post_migration" => Some(1),
            "get_migration" => None,
            _ => Some(API_CALLS),
        };
        match expected {
            Some(n) => assert_eq!(histogram.len(), n, "api.hlog: {tag}"),
            None => assert!(!histogram.is_empty(), "api.hlog: {tag} never polled"),
        }
        check_percentiles(
            &format!("api/{tag}"),
            &summary["api"]["calls"][tag],
            histogram,
        );
        assert!(stdout.contains(&format!("| {tag} |")), "{tag} row missing");
    }
    check_png(&out.join("api.png"));
    assert_eq!(
        summary["api"]["migrations"][0]["states"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(Value::as_str),
        Some("completed")
    );

    // The target is computed from the numbers above.
    let target = &summary["target"];
    let p99 = u(&scenarios[0]["stages"]["total"], "p99");
    let rtt = summary["rtt"]["loopback"]["p50_us"]
        .as_f64()
        .expect("loopback RTT");
    assert!(rtt > 0.0);
    assert_eq!(u(target, "p99_us"), p99);
    let limit = target["limit_us"].as_f64().expect("limit");
    assert!((limit - (200.0 + rtt)).abs() < 1e-6, "{target}");
    let verdict = if p99 as f64 <= limit { "PASS" } else { "MISS" };
    assert_eq!(target["verdict"], verdict, "{target}");
    assert!(stdout.contains(&format!("**{verdict}**")), "{stdout}");
    assert!(summary["machine"]["cores"].as_u64().unwrap_or(0) >= 1);
    assert!(!summary["machine"]["kernel"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    let commands = &scenarios[0]["runs"][0]["commands"];
    assert!(
        commands[1].as_str().unwrap_or("").contains("--stage-log"),
        "{commands}"
    );

    // The flamegraph exists exactly when perf works here.
    let flamegraph = out.join("flamegraph.svg");
    match perf_usable(&scratch.0) {
        Some(true) => {
            let svg = std::fs::read_to_string(&flamegraph).expect("flamegraph.svg");
            assert!(svg.contains("<svg"), "not an SVG");
            assert!(svg.contains("source") && svg.contains("destination"));
            assert_eq!(summary["flamegraph"]["status"], "written");
        }
        Some(false) => {
            assert!(!flamegraph.exists());
            assert_eq!(summary["flamegraph"]["status"], "skipped");
        }
        None => eprintln!("perf_event not permitted here: flamegraph check skipped"),
    }

    // Its scratch files are gone.
    for dir in ["/dev/shm", std::env::temp_dir().to_str().expect("utf-8")] {
        assert_eq!(leftovers(dir, pid), Vec::<String>::new(), "left in {dir}");
    }
}

#[test]
fn a_missing_data_plane_is_a_tool_failure_with_no_output() {
    let scratch = Scratch::new("missing");
    let out = scratch.0.join("out");
    let empty = scratch.0.join("empty-bin");
    std::fs::create_dir_all(&empty).expect("create");
    let (code, _, stderr, _) = dwcp_perf(
        &[
            "stages",
            "--size",
            "16M",
            "--bin-dir",
            empty.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        &scratch.0,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("dwcp-dataplane"), "{stderr}");
    assert!(!out.exists(), "no output folder after a tool failure");
}
