//! End to end: `dwcp-wan-bench run` on one fast link with small guests
//! (needs root for the namespaces; prints SKIPPED otherwise), and the plain
//! TCP peer on loopback (no root needed).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BENCH: &str = env!("CARGO_BIN_EXE_dwcp-wan-bench");
/// The binaries `run` drives besides itself.
const DRIVEN: [&str; 3] = ["dwcp-dataplane", "dwcp-guest-sim", "dwcp-linkem"];
/// Contenders per stand-in guest: DWCP twice (two stream policies), three peers.
const ROWS_PER_GUEST: usize = 5;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `DWCP_BIN_DIR`, else `<target>/release`, building what is missing.
fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("DWCP_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t).join("release"),
            Some(t) => workspace_root().join(t).join("release"),
            None => workspace_root().join("target/release"),
        },
    };
    if DRIVEN.iter().any(|b| !dir.join(b).is_file()) {
        eprintln!("building {DRIVEN:?} (release) into {}", dir.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--release",
                "-p",
                "dwcp-dataplane",
                "-p",
                "dwcp-guest-sim",
                "-p",
                "dwcp-linkem",
            ])
            .status()
            .expect("run cargo");
        assert!(status.success(), "cargo build failed");
    }
    dir
}

/// A folder under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("dwcp-wanbench-test-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn have(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn run_on_a_fast_link_verifies_every_contender_and_cleans_up() {
    if !is_root() {
        println!("SKIPPED: run_on_a_fast_link: needs root (network namespaces)");
        return;
    }
    if let Some(missing) = ["zstd", "rsync", "ip"].into_iter().find(|c| !have(c)) {
        println!("SKIPPED: run_on_a_fast_link: {missing} is not installed (perf/wan-bench.sh installs it)");
        return;
    }
    let bins = bin_dir();
    let out = TempDir::new("out");
    let started = Instant::now();
    let child = Command::new(BENCH)
        .args([
            "run",
            "--profile",
            "regional",
            "--linkem-arg=--rtt-ms=4",
            "--size",
            "32M",
        ])
        .args(["--guest", "incompressible", "--guest", "realistic"])
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--out")
        .arg(&out.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dwcp-wan-bench");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait for dwcp-wan-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!(
        "status {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    println!(
        "dwcp-wan-bench run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(output.status.code(), Some(0), "{context}");

    // The last stdout line: the profile's JSON line.
    let last = stdout.lines().last().unwrap_or_default();
    let line: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {context}"));
    assert_eq!(line["profile"], "regional", "{line}");
    assert!(
        (line["rtt_ms"].as_f64().unwrap_or(0.0) - 4.0).abs() < 0.01,
        "{line}"
    );
    let rate = line["link_rate_bps"].as_u64().unwrap_or(0);
    assert!(rate > 0, "{line}");
    let contenders = line["contenders"].as_array().expect("contenders");
    assert_eq!(contenders.len(), 2 * ROWS_PER_GUEST, "{line}");
    for c in contenders {
        assert_eq!(c["verified"], true, "{c}");
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c["time_s"].as_f64().is_some_and(|t| t > 0.0), "{c}");
        assert!(c["wire_bytes"].as_u64().is_some_and(|b| b > 0), "{c}");
        assert!(
            c["goodput_fraction"].as_f64().is_some_and(|g| g > 0.0),
            "{c}"
        );
        if c["contender"] == "dwcp" {
            assert!(c["downtime_ms"].as_u64().is_some(), "{c}");
            assert!(c["streams"].as_u64().is_some_and(|s| s >= 1), "{c}");
        }
    }
    // A plain TCP copy of 32 MiB puts at least 32 MiB (plus headers) on the wire.
    let tcp = contenders
        .iter()
        .find(|c| c["guest"] == "incompressible" && c["contender"] == "tcp")
        .expect("the incompressible tcp row");
    assert!(tcp["wire_bytes"].as_u64().unwrap_or(0) > 32 << 20, "{tcp}");
    let targets = line["targets"].as_array().expect("targets");
    assert!(targets.iter().all(|t| t["verdict"] == "n/a"), "{line}");

    // The files.
    let md = std::fs::read_to_string(out.0.join("wan-bench.md")).expect("wan-bench.md");
    assert!(md.contains("### regional:"), "{md}");
    assert_eq!(md.matches("| yes |").count(), 2 * ROWS_PER_GUEST, "{md}");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.0.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(
        results["profiles"][0]["rows"].as_array().map(Vec::len),
        Some(2 * ROWS_PER_GUEST)
    );
    assert_eq!(results["lines"][0], line);

    // Nothing left behind: namespaces, /dev/shm files.
    for ns in [format!("wb{pid}a"), format!("wb{pid}b")] {
        assert!(
            !Path::new("/run/netns").join(&ns).exists(),
            "namespace {ns} left behind"
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.starts_with(&format!("dwcp-wanbench-{pid}-")))
        .collect();
    assert!(leftovers.is_empty(), "left in /dev/shm: {leftovers:?}");
}

#[test]
fn tcp_peer_copies_a_file_byte_for_byte_on_loopback() {
    let dir = TempDir::new("tcp");
    let input = dir.0.join("in");
    let output = dir.0.join("out");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(7) + i / 4096).to_le_bytes()[0])
        .collect();
    std::fs::write(&input, &data).expect("write input");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut receiver = Command::new(BENCH)
        .args([
            "tcp-recv",
            "--listen",
            &address,
            "--accept-timeout-s",
            "20",
            "--output",
        ])
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcp-recv");
    // Connect once it listens (the sender gives up on a refused connect).
    let deadline = Instant::now() + Duration::from_secs(10);
    let sender = loop {
        let out = Command::new(BENCH)
            .args(["tcp-send", "--connect", &address, "--input"])
            .arg(&input)
            .output()
            .expect("run tcp-send");
        if out.status.success() || Instant::now() >= deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        sender.status.success(),
        "tcp-send: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let received = receiver.wait().expect("wait for tcp-recv");
    assert!(received.success(), "tcp-recv failed");
    assert_eq!(std::fs::read(&output).expect("read output"), data);
    let report: serde_json::Value = String::from_utf8_lossy(&sender.stderr)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("tcp-send's JSON line");
    assert_eq!(report["role"], "tcp-send");
    assert_eq!(report["bytes"], data.len());
}
