//! Tests of `dwcpctl`'s library half: the pure formatting in `cli::render`,
//! the address and id checks and error mapping of `cli::client`, and the
//! exit statuses; then shell-level checks of `scripts/start.sh` (with fake
//! binaries) and `scripts/setup-hugepages.sh` (read-only paths).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dwcp_controlplane::api_types::{
    CompressionTier, DataPlaneStatus, Health, LinkModeName, Migration, MigrationRole,
    MigrationState, NodeStatus, PeerStatus, WorkerStatus,
};
use dwcp_controlplane::cli::client::{self, ApiClient};
use dwcp_controlplane::cli::error::ClientError;
use dwcp_controlplane::cli::render::{self, Column};
use dwcp_controlplane::cli::{exit_code, exit_code_for_state};

const ALL_STATES: [MigrationState; 8] = [
    MigrationState::Pending,
    MigrationState::Listening,
    MigrationState::Running,
    MigrationState::Paused,
    MigrationState::Verifying,
    MigrationState::Completed,
    MigrationState::Failed,
    MigrationState::Cancelled,
];

fn sample_migration() -> Migration {
    Migration {
        id: "00000000000000a1".to_string(),
        vm_id: "vm1".to_string(),
        role: MigrationRole::Source,
        memory_file: "/dev/shm/vm1".to_string(),
        peer: "host-b".to_string(),
        state: MigrationState::Running,
        round: 3,
        percent: 45.24,
        memory_bytes: 4 << 30,
        pages: 123_456,
        bytes_on_wire: 3 << 29,
        throughput_mbps: 9412.34,
        dirty_rate_mbps: 120.0,
        eta_s: Some(12.4),
        mode: LinkModeName::Datacenter,
        pacing_mbps: 0,
        compression_tier: CompressionTier::Datacenter,
        streams: 4,
        streams_connected: 8,
        held: false,
        error: None,
        summary: None,
        prediction: None,
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("controlplane/ has a parent")
        .to_path_buf()
}

// ---------------------------------------------------------------- numbers

#[test]
fn eta_uses_the_api_value_or_a_dash() {
    assert_eq!(render::format_eta(None), "-");
    assert_eq!(render::format_eta(Some(f64::NAN)), "-");
    assert_eq!(render::format_eta(Some(f64::INFINITY)), "-");
    assert_eq!(render::format_eta(Some(-1.0)), "-");
    assert_eq!(render::format_eta(Some(0.0)), "0.0s");
    assert_eq!(render::format_eta(Some(4.24)), "4.2s");
    assert_eq!(render::format_eta(Some(9.96)), "10s");
    assert_eq!(render::format_eta(Some(42.4)), "42s");
    assert_eq!(render::format_eta(Some(59.6)), "1m00s");
    assert_eq!(render::format_eta(Some(245.0)), "4m05s");
    assert_eq!(render::format_eta(Some(7380.0)), "2h03m");
    assert_eq!(
        render::format_eta(Some(render::ETA_DISPLAY_MAX_S - 1.0)),
        "4d02h"
    );
    assert_eq!(render::format_eta(Some(render::ETA_DISPLAY_MAX_S)), ">99h");
    assert_eq!(render::format_eta(Some(1e300)), ">99h");
}

#[test]
fn durations_pick_two_units() {
    assert_eq!(render::format_duration_s(0), "0s");
    assert_eq!(render::format_duration_s(59), "59s");
    assert_eq!(render::format_duration_s(60), "1m00s");
    assert_eq!(render::format_duration_s(3599), "59m59s");
    assert_eq!(render::format_duration_s(3600), "1h00m");
    assert_eq!(render::format_duration_s(86_399), "23h59m");
    assert_eq!(render::format_duration_s(86_400 + 4 * 3600 + 59), "1d04h");
}

#[test]
fn rates_and_percentages() {
    assert_eq!(render::format_mbps(9412.34), "9412.3 Mbit/s");
    assert_eq!(render::format_mbps(0.0), "0.0 Mbit/s");
    assert_eq!(render::format_mbps(-0.5), "-");
    assert_eq!(render::format_mbps(f64::NAN), "-");
    assert_eq!(render::format_optional_mbps(None), "-");
    assert_eq!(render::format_optional_mbps(Some(1.25)), "1.2 Mbit/s");
    assert_eq!(render::format_percent(45.24), "45.2%");
    assert_eq!(render::format_percent(150.0), "100.0%");
    assert_eq!(render::format_percent(-3.0), "0.0%");
    assert_eq!(render::format_percent(f64::NAN), "-");
    assert_eq!(render::format_pacing(0), "unpaced");
    assert_eq!(render::format_pacing(500), "500 Mbit/s");
}

#[test]
fn bytes_use_binary_units() {
    assert_eq!(render::format_bytes(0), "0 B");
    assert_eq!(render::format_bytes(1023), "1023 B");
    assert_eq!(render::format_bytes(1024), "1.0 KiB");
    assert_eq!(render::format_bytes(1536), "1.5 KiB");
    assert_eq!(render::format_bytes(4 << 30), "4.0 GiB");
    assert_eq!(render::format_bytes(3 << 40), "3.0 TiB");
    assert_eq!(render::format_bytes(u64::MAX), "16777216.0 TiB");
}

#[test]
fn enum_names_match_the_api_json() {
    fn json_name<T: serde::Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .expect("serializes")
            .as_str()
            .expect("a unit variant serializes as a string")
            .to_string()
    }
    for state in ALL_STATES {
        assert_eq!(render::state_name(state), json_name(state));
    }
    for role in [MigrationRole::Source, MigrationRole::Destination] {
        assert_eq!(render::role_name(role), json_name(role));
    }
    for mode in [
        LinkModeName::Datacenter,
        LinkModeName::Internet,
        LinkModeName::Hybrid,
        LinkModeName::Unknown,
    ] {
        assert_eq!(render::mode_name(mode), json_name(mode));
    }
    for tier in [
        CompressionTier::Datacenter,
        CompressionTier::Internet,
        CompressionTier::Off,
    ] {
        assert_eq!(render::tier_name(tier), json_name(tier));
    }
}

// ---------------------------------------------------------------- lines

#[test]
fn progress_line_shows_round_percent_rates_eta_and_state() {
    let migration = sample_migration();
    assert_eq!(
        render::progress_line(&migration),
        "round  3   45.2%    9412.3 Mbit/s  dirty    120.0 Mbit/s  ETA   12s  running"
    );
    let mut no_eta = migration.clone();
    no_eta.eta_s = None;
    no_eta.state = MigrationState::Paused;
    assert!(
        render::progress_line(&no_eta).ends_with("  ETA     -  paused"),
        "{}",
        render::progress_line(&no_eta)
    );
    // Fixed width: a change of numbers does not move the columns, and the
    // widest line fits an 80-column terminal after the spinner.
    let mut widest = migration.clone();
    widest.round = 99;
    widest.percent = 100.0;
    widest.throughput_mbps = 999_999.9;
    widest.dirty_rate_mbps = 999_999.9;
    widest.eta_s = Some(3600.0 * 98.0);
    widest.state = MigrationState::Completed;
    let mut narrow = widest.clone();
    narrow.round = 1;
    narrow.percent = 0.0;
    narrow.throughput_mbps = 0.0;
    narrow.dirty_rate_mbps = 0.0;
    narrow.eta_s = Some(1.0);
    assert_eq!(
        render::progress_line(&narrow).len(),
        render::progress_line(&widest).len()
    );
    assert!(
        render::progress_line(&widest).len() <= 78,
        "{}",
        render::progress_line(&widest)
    );
    assert_eq!(
        render::plain_progress_line(12.34, &migration),
        format!("[   12.3s] {}", render::progress_line(&migration))
    );
}

#[test]
fn final_line_is_the_summary_or_the_migration_as_one_json_line() {
    let mut migration = sample_migration();
    migration.state = MigrationState::Completed;
    let line = render::final_json_line(&migration);
    assert!(!line.contains('\n'));
    let parsed: Migration = serde_json::from_str(&line).expect("the migration as JSON");
    assert_eq!(parsed, migration);
    assert!(line.contains("\"mode\":\"datacenter\""), "{line}");

    migration.summary = Some(serde_json::json!({
        "role": "source", "verified": true, "total_ms": 1234, "mode": "datacenter"
    }));
    let line = render::final_json_line(&migration);
    assert_eq!(
        line,
        r#"{"mode":"datacenter","role":"source","total_ms":1234,"verified":true}"#
    );
}

#[test]
fn final_message_names_the_migration_and_the_error() {
    let mut migration = sample_migration();
    migration.state = MigrationState::Failed;
    migration.error = Some("no verdict from the destination within 60000 ms".to_string());
    assert_eq!(
        render::final_message(&migration),
        "migration 00000000000000a1 (vm1 to host-b) failed: no verdict from the destination within 60000 ms"
    );
    migration.role = MigrationRole::Destination;
    migration.state = MigrationState::Completed;
    migration.error = None;
    assert_eq!(
        render::final_message(&migration),
        "migration 00000000000000a1 (vm1 from host-b) completed"
    );
}

// ---------------------------------------------------------------- tables and texts

#[test]
fn tables_align_text_left_and_numbers_right_without_trailing_blanks() {
    let table = render::render_table(
        &[
            Column::left("NAME"),
            Column::right("N"),
            Column::left("NOTE"),
        ],
        &[
            vec!["a".to_string(), "1".to_string(), String::new()],
            vec!["longer".to_string(), "1234".to_string(), "x".to_string()],
        ],
    );
    assert_eq!(table, "NAME       N  NOTE\na          1\nlonger  1234  x\n");
}

#[test]
fn list_table_has_one_aligned_line_per_migration() {
    assert_eq!(render::migrations_table(&[]), "no migrations\n");
    let first = sample_migration();
    let mut second = sample_migration();
    second.id = "00000000000000b2".to_string();
    second.vm_id = "a-much-longer-vm-name".to_string();
    second.state = MigrationState::Completed;
    second.eta_s = None;
    let table = render::migrations_table(&[first, second]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID "), "{table}");
    for line in &lines {
        assert_eq!(line.trim_end(), *line, "trailing blanks in {line:?}");
    }
    // Every row's STATE cell starts where the header's STATE does, and the
    // right-aligned ETA column ends at the end of each line.
    let state_column = lines[0].find("STATE").expect("a STATE header");
    assert_eq!(&lines[1][state_column..state_column + 7], "running");
    assert_eq!(&lines[2][state_column..state_column + 9], "completed");
    assert!(lines[1].ends_with("12s"), "{table}");
    assert!(lines[2].ends_with(" -"), "{table}");
    assert_eq!(lines[1].len(), lines[0].len(), "{table}");
}

#[test]
fn show_text_lists_every_field_and_the_error_only_when_there_is_one() {
    let mut migration = sample_migration();
    let text = render::migration_text(&migration);
    assert!(text.contains("migration    00000000000000a1\n"), "{text}");
    assert!(
        text.contains("memory       /dev/shm/vm1 (4.0 GiB)\n"),
        "{text}"
    );
    assert!(
        text.contains("round        3 (45.2% of this round)\n"),
        "{text}"
    );
    assert!(text.contains("on the wire  1.5 GiB\n"), "{text}");
    assert!(text.contains("pacing       unpaced\n"), "{text}");
    assert!(text.contains("eta          12s\n"), "{text}");
    assert!(!text.contains("error"), "{text}");
    assert!(!text.contains("summary"), "{text}");

    migration.error = Some("cancelled by an operator".to_string());
    migration.summary = Some(serde_json::json!({"mode": "internet"}));
    let text = render::migration_text(&migration);
    assert!(
        text.contains("error        cancelled by an operator\n"),
        "{text}"
    );
    assert!(
        text.contains("summary      {\"mode\":\"internet\"}\n"),
        "{text}"
    );
}

fn sample_node(peers: Vec<PeerStatus>) -> NodeStatus {
    NodeStatus {
        node_id: "host-a".to_string(),
        version: "0.1.0".to_string(),
        uptime_s: 3 * 3600 + 4 * 60,
        dataplane: DataPlaneStatus {
            healthy: true,
            pid: 4242,
            generation: 1,
            heartbeat_age_ms: Some(12),
            problem: None,
        },
        peers,
        migrations_active: 1,
        workers: Vec::new(),
    }
}

#[test]
fn status_text_shows_node_health_components_data_plane_and_peers() {
    let node = sample_node(vec![PeerStatus {
        id: "host-b".to_string(),
        control_address: "192.0.2.2:7701".to_string(),
        mode: LinkModeName::Internet,
        rtt_ms: Some(48.123),
        throughput_mbps: None,
        loss_percent: Some(0.5),
        prediction: None,
    }]);
    let health = Health {
        status: "ok".to_string(),
        components: BTreeMap::from([
            ("api".to_string(), "ok".to_string()),
            ("dataplane".to_string(), "ok".to_string()),
        ]),
    };
    let text = render::status_text(&node, &health);
    let expected_head = "\
node        host-a
version     0.1.0
uptime      3h04m
health      ok
components  api: ok
            dataplane: ok
data plane  healthy, pid 4242, generation 1, heartbeat 12 ms ago
migrations  1 active

PEER    ADDRESS         MODE           RTT  THROUGHPUT   LOSS
host-b  192.0.2.2:7701  internet  48.12 ms           -  0.50%
";
    assert_eq!(text, expected_head);

    let mut node = sample_node(Vec::new());
    node.dataplane = DataPlaneStatus {
        healthy: false,
        pid: 0,
        generation: 0,
        heartbeat_age_ms: None,
        problem: Some("no heartbeat for 2000 ms".to_string()),
    };
    let unhealthy = Health {
        status: "unhealthy".to_string(),
        components: BTreeMap::new(),
    };
    let text = render::status_text(&node, &unhealthy);
    assert!(text.contains("health      unhealthy\n"), "{text}");
    assert!(text.contains("components  -\n"), "{text}");
    assert!(
        text.contains(
            "data plane  UNHEALTHY, tables not attached, generation 0, no heartbeat: no heartbeat for 2000 ms\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("\nno peers configured\n"), "{text}");

    let mut node = sample_node(Vec::new());
    node.workers = vec![
        WorkerStatus {
            role: "serve".to_string(),
            core: None,
            migration: None,
            busy_s: 0.01,
            idle_s: 9.99,
            busy_fraction: 0.001,
            frames: 0,
            bytes: 0,
        },
        WorkerStatus {
            role: "engine".to_string(),
            core: Some(3),
            migration: Some("00000000000000a1".to_string()),
            busy_s: 3.0,
            idle_s: 1.0,
            busy_fraction: 0.75,
            frames: 4096,
            bytes: 3 << 29,
        },
    ];
    let text = render::status_text(&node, &health);
    assert!(
        text.ends_with(
            "\n\
WORKER     CORE MIGRATION          BUSY     FRAMES        MIB
serve         - -                  0.1%          0        0.0
engine        3 00000000000000a1  75.0%       4096     1536.0
"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------- client and exit codes

#[test]
fn api_url_comes_from_the_flag_then_the_environment_then_the_default() {
    assert_eq!(
        client::resolve_api_url(Some("http://a:1"), Some("http://b:2")),
        "http://a:1"
    );
    assert_eq!(
        client::resolve_api_url(None, Some("http://b:2")),
        "http://b:2"
    );
    assert_eq!(
        client::resolve_api_url(None, Some("  ")),
        client::DEFAULT_API_URL
    );
    assert_eq!(client::resolve_api_url(None, None), "http://127.0.0.1:7700");
}

#[test]
fn api_urls_are_normalised_and_tls_or_paths_are_refused() {
    let ok = |url: &str| client::normalize_api_url(url).expect("a good address");
    assert_eq!(ok("http://127.0.0.1:7700/"), "http://127.0.0.1:7700");
    assert_eq!(ok("10.0.0.1:7700"), "http://10.0.0.1:7700");
    assert_eq!(ok("http://[::1]:7700"), "http://[::1]:7700");
    for bad in [
        "https://host:7700",
        "ftp://host",
        "http://",
        "http://host/v1",
        "http://a b",
        "http://user@host:1",
    ] {
        let error = client::normalize_api_url(bad).expect_err(bad);
        assert!(
            matches!(error, ClientError::BadUrl { .. }),
            "{bad}: {error}"
        );
        assert_eq!(error.exit_code(), exit_code::BAD_INPUT);
    }
}

#[test]
fn migration_ids_must_be_one_safe_path_segment() {
    assert!(client::validate_migration_id("0123456789abcdef").is_ok());
    assert!(client::validate_migration_id("a_b-C").is_ok());
    for bad in ["", "a/b", "..", "a?b", "a b", &"a".repeat(65)] {
        let error = client::validate_migration_id(bad).expect_err(bad);
        assert!(matches!(error, ClientError::BadId { .. }), "{bad}");
    }
}

#[test]
fn api_error_bodies_give_their_message() {
    assert_eq!(
        client::api_error_message(r#"{"error":"unknown migration id 00ff"}"#),
        "unknown migration id 00ff"
    );
    assert_eq!(client::api_error_message("  "), "(empty body)");
    assert_eq!(client::api_error_message("Bad Gateway"), "Bad Gateway");
    let long = "x".repeat(500);
    let quoted = client::api_error_message(&long);
    assert_eq!(quoted.len(), 203);
    assert!(quoted.ends_with("..."));
}

#[test]
fn exit_codes_follow_the_documented_contract() {
    for state in ALL_STATES {
        let expected = match state {
            MigrationState::Completed => Some(0),
            MigrationState::Failed | MigrationState::Cancelled => Some(1),
            _ => None,
        };
        assert_eq!(exit_code_for_state(state), expected, "{state:?}");
        assert_eq!(expected.is_some(), state.is_final(), "{state:?}");
    }
    let api = |status| ClientError::Api {
        method: "GET",
        path: "/v1/node".to_string(),
        status,
        message: "m".to_string(),
    };
    assert_eq!(api(404).exit_code(), 2);
    assert_eq!(api(409).exit_code(), 2);
    assert_eq!(api(500).exit_code(), 1);
    assert_eq!(api(409).status(), Some(409));
    assert_eq!(api(409).to_string(), "GET /v1/node: 409 m");
    let unreachable = ClientError::Unreachable {
        api: "http://127.0.0.1:7700".to_string(),
        reason: "connection refused".to_string(),
    };
    assert!(unreachable.is_transient());
    assert!(!api(503).is_transient());
    assert_eq!(unreachable.exit_code(), 2);
    assert_eq!(
        unreachable.to_string(),
        "cannot reach the control plane at http://127.0.0.1:7700: connection refused"
    );
}

/// Serves `answers` (raw HTTP responses) to one connection each, in order,
/// on a loopback port; returns the API URL.
fn canned_server(answers: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    std::thread::spawn(move || {
        for answer in answers {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut content_length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read a request line");
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = value.trim().parse().expect("a content length");
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; content_length];
            std::io::Read::read_exact(&mut reader, &mut body).expect("read the body");
            let mut stream = stream;
            stream.write_all(answer.as_bytes()).expect("answer");
        }
    });
    url
}

fn http_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn client_decodes_answers_and_api_errors() {
    let migration = sample_migration();
    let health = r#"{"status":"unhealthy","components":{"dataplane":"no heartbeat"}}"#;
    let url = canned_server(vec![
        http_answer("200 OK", &serde_json::to_string(&migration).expect("json")),
        http_answer(
            "404 Not Found",
            r#"{"error":"unknown migration id 00000000000000ff"}"#,
        ),
        http_answer("503 Service Unavailable", health),
        http_answer("200 OK", "not json"),
    ]);
    let api = ApiClient::new(&url).expect("a client");
    assert_eq!(api.migration("00000000000000a1").expect("200"), migration);

    let error = api.migration("00000000000000ff").expect_err("404");
    assert_eq!(error.status(), Some(404));
    assert_eq!(
        error.to_string(),
        "GET /v1/migrations/00000000000000ff: 404 unknown migration id 00000000000000ff"
    );
    assert_eq!(error.exit_code(), exit_code::BAD_INPUT);

    let health = api.health().expect("503 carries a Health body");
    assert_eq!(health.status, "unhealthy");

    let error = api.node().expect_err("not json");
    assert!(matches!(error, ClientError::Decode { .. }), "{error}");
    assert_eq!(error.exit_code(), exit_code::CONTROL_PLANE_FAILED);
}

#[test]
fn client_names_the_address_when_nothing_listens() {
    // A port that was just free: nothing listens on it once the listener is
    // dropped (a reuse within this test would give another error, not a pass).
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let api = ApiClient::new(&format!("127.0.0.1:{port}")).expect("a client");
    let error = api.list_migrations().expect_err("nothing listens");
    assert_eq!(
        error.to_string(),
        format!("cannot reach the control plane at http://127.0.0.1:{port}: connection refused")
    );
    assert_eq!(error.exit_code(), exit_code::BAD_INPUT);
}

// ---------------------------------------------------------------- scripts

fn run(command: &mut Command) -> Output {
    command.output().expect("run a command")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn scripts_parse_and_start_sh_help_exits_0() {
    let root = repo_root();
    for script in ["scripts/start.sh", "scripts/setup-hugepages.sh"] {
        let out = run(Command::new("bash").arg("-n").arg(root.join(script)));
        assert!(
            out.status.success(),
            "bash -n {script}: {}",
            text(&out.stderr)
        );
    }
    let out = run(Command::new("bash")
        .arg(root.join("scripts/start.sh"))
        .arg("--help"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for flag in [
        "--config",
        "--tables",
        "--node-id",
        "--bin-dir",
        "--log-dir",
        "--foreground",
        "--stop",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let out = run(Command::new("bash")
        .arg(root.join("scripts/start.sh"))
        .arg("--no-such-flag"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(Command::new("bash").arg(root.join("scripts/start.sh")));
    assert_eq!(
        out.status.code(),
        Some(2),
        "no --config: {}",
        text(&out.stderr)
    );
}

#[test]
fn setup_hugepages_checks_its_arguments_and_privileges_before_changing_anything() {
    let script = repo_root().join("scripts/setup-hugepages.sh");
    let out = run(Command::new("bash").arg(&script).arg("--help"));
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("--size S"),
        "{}",
        text(&out.stdout)
    );

    let out = run(Command::new("bash")
        .arg(&script)
        .args(["--size", "3M", "--status"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("(2M or 1G)"),
        "{}",
        text(&out.stderr)
    );

    if Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").is_dir() {
        let out = run(Command::new("bash")
            .arg(&script)
            .args(["--status", "--size", "2M"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("2 MiB hugepages: "),
            "{}",
            text(&out.stdout)
        );
    } else {
        eprintln!("SKIPPED the --status check: no 2 MiB hugetlb pool on this kernel");
    }

    // As a user other than root, a change is refused with a clear message
    // before anything is touched.
    let mut unprivileged = if runs_as_root() {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"]);
        setpriv
    } else {
        Command::new("bash")
    };
    match unprivileged
        .arg(&script)
        .args(["--size", "1G", "--pages", "1"])
        .output()
    {
        Err(error) => eprintln!("SKIPPED the non-root check: cannot run setpriv: {error}"),
        // bash's own "cannot read the script" statuses.
        Ok(out) if matches!(out.status.code(), Some(126 | 127)) => eprintln!(
            "SKIPPED the non-root check: uid 65534 cannot read the script: {}",
            text(&out.stderr)
        ),
        Ok(out) => {
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains("must run as root"),
                "{}",
                text(&out.stderr)
            );
        }
    }
}

/// Whether this process runs as root, read from /proc (no FFI).
fn runs_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .map(|line| line.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A temporary directory removed on drop, with the processes that
/// `start.sh` recorded there stopped first.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let path =
            std::env::temp_dir().join(format!("dwcpctl-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self { path }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        for pid_file in ["log/controlplane.pid", "log/dataplane.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.path.join(pid_file)) {
                let _ = Command::new("kill").arg("-KILL").arg(pid.trim()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes fake `dwcp-dataplane` and `dwcp-controlplane` scripts into
/// `dir/bin`: the data plane creates its tables file, the control plane
/// marks itself alive with `dir/cp-alive` (or exits at once with status 3
/// when `control_plane_fails`). Both run until SIGTERM (at most 2 min).
fn write_fake_binaries(dir: &Path, control_plane_fails: bool) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin/");
    let dataplane = r#"#!/bin/bash
tables=""
while (($#)); do case $1 in --tables) tables=$2; shift 2 ;; *) shift ;; esac; done
touch "$tables"
sleep 120 & child=$!
trap 'kill $child; exit 0' TERM INT
wait $child
"#;
    let controlplane = if control_plane_fails {
        "#!/bin/bash\necho 'fake control plane: bad configuration' >&2\nexit 3\n".to_string()
    } else {
        format!(
            r#"#!/bin/bash
touch '{alive}'
sleep 120 & child=$!
trap 'rm -f "{alive}"; kill $child; exit 0' TERM INT
wait $child
"#,
            alive = dir.join("cp-alive").display()
        )
    };
    for (name, body) in [
        ("dwcp-dataplane", dataplane.to_string()),
        ("dwcp-controlplane", controlplane),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, body).expect("write a fake binary");
        let status = Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .expect("chmod");
        assert!(status.success());
    }
    bin
}

/// A stand-in for the control plane's `/health`: 200 while `alive` exists;
/// before that it closes each connection without an answer, as a port with
/// nothing behind it would look to `start.sh`.
fn fake_health_endpoint(alive: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
                line.clear();
            }
            if alive.exists() {
                let body = r#"{"status":"ok","components":{}}"#;
                let _ = (&stream).write_all(http_answer("200 OK", body).as_bytes());
            }
        }
    });
    port
}

fn start_sh(dir: &Path, bin: &Path, extra: &[&str]) -> Output {
    run(Command::new("bash")
        .arg(repo_root().join("scripts/start.sh"))
        .arg("--config")
        .arg(dir.join("cp.toml"))
        .arg("--bin-dir")
        .arg(bin)
        .arg("--log-dir")
        .arg(dir.join("log"))
        .args(extra))
}

/// Whether the process exists and is not a zombie (`/proc/PID/stat` has the
/// state after the parenthesised command name).
fn is_running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    state.is_some_and(|state| state != 'Z')
}

#[test]
fn start_sh_starts_both_once_waits_for_health_and_stops_both() {
    let dir = ScratchDir::new("start");
    let bin = write_fake_binaries(&dir.path, false);
    let port = fake_health_endpoint(dir.path.join("cp-alive"));
    let tables = dir.path.join("tables");
    std::fs::write(
        dir.path.join("cp.toml"),
        format!(
            "[node]\nid = \"host-a\"\ntables = \"{}\"\n\n[api]\nlisten = \"0.0.0.0:{port}\" # any address\n",
            tables.display()
        ),
    )
    .expect("write the configuration");

    let out = start_sh(&dir.path, &bin, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("started dwcp-dataplane (pid "), "{stdout}");
    assert!(
        stdout.contains(&format!("serve --tables {}", tables.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("started dwcp-controlplane (pid "),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "control plane API healthy at http://127.0.0.1:{port}"
        )),
        "{stdout}"
    );
    assert!(tables.exists());
    let log = dir.path.join("log");
    let dp_pid = std::fs::read_to_string(log.join("dataplane.pid")).expect("dataplane.pid");
    let cp_pid = std::fs::read_to_string(log.join("controlplane.pid")).expect("controlplane.pid");
    assert!(is_running(&dp_pid) && is_running(&cp_pid));

    // A second start starts nothing.
    let out = start_sh(&dir.path, &bin, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("dwcp-dataplane: already running"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dwcp-controlplane: already running"),
        "{stdout}"
    );
    assert!(!stdout.contains("started"), "{stdout}");

    let out = run(Command::new("bash")
        .arg(repo_root().join("scripts/start.sh"))
        .arg("--stop")
        .arg("--log-dir")
        .arg(&log));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let cp_line = stdout
        .find("dwcp-controlplane: stopped")
        .expect("control plane stopped");
    let dp_line = stdout
        .find("dwcp-dataplane: stopped")
        .expect("data plane stopped");
    assert!(cp_line < dp_line, "control plane first: {stdout}");
    assert!(!is_running(&dp_pid) && !is_running(&cp_pid));
    assert!(!log.join("dataplane.pid").exists() && !log.join("controlplane.pid").exists());
}

#[test]
fn start_sh_stops_the_data_plane_when_the_control_plane_fails_to_start() {
    let dir = ScratchDir::new("start-fails");
    let bin = write_fake_binaries(&dir.path, true);
    let tables = dir.path.join("tables");
    let free_port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    std::fs::write(
        dir.path.join("cp.toml"),
        format!("[api]\nlisten = \"127.0.0.1:{free_port}\"\n"),
    )
    .expect("write the configuration");
    let tables_arg = tables.to_str().expect("a UTF-8 temp path");

    let out = start_sh(&dir.path, &bin, &["--tables", tables_arg]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("dwcp-controlplane exited during start-up"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fake control plane: bad configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("dwcp-dataplane: stopped"), "{stderr}");
    let log = dir.path.join("log");
    assert!(!log.join("dataplane.pid").exists() && !log.join("controlplane.pid").exists());
}
