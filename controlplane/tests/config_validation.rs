//! The configuration's parsing and validation: a table of edits to
//! `config::EXAMPLE`, each with the field its error must name (or none),
//! covering both sides of every bound; then defaults, messages, `load` and
//! `validate_files`.

mod common;

use common::TempDir;

use dwcp_controlplane::config::{
    pacing_bytes_per_s, ConfigError, ControlPlaneConfig, MigrationDefaults, ModeThresholds,
    ReceiveSection, CONFIG_LEN_MAX, EXAMPLE, HEARTBEAT_TIMEOUT_MS_DEFAULT, PEERS_MAX,
};
use std::path::Path;

/// One change to the example's text.
#[derive(Debug, Clone)]
enum Edit {
    /// Sets `key = value` in the first `section` (a header line such as
    /// `[migration]` or `[[peers]]`), replacing the key's line if present.
    Set(&'static str, &'static str, String),
    /// Deletes `key`'s line from the first `section`.
    DeleteKey(&'static str, &'static str),
    /// Deletes every section with this header, with its lines.
    RemoveSection(&'static str),
    /// Appends text at the end.
    Append(String),
}

fn set(section: &'static str, key: &'static str, value: impl ToString) -> Edit {
    Edit::Set(section, key, value.to_string())
}

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Parses and validates.
    Pass,
    /// A validation error naming this dotted field.
    Field(&'static str),
    /// A parse error whose message contains this text (the key's name).
    Parse(&'static str),
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

fn is_key_line(line: &str, key: &str) -> bool {
    line.split_once('=')
        .is_some_and(|(name, _)| name.trim() == key)
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let block = |lines: &[String], section: &str| -> (usize, usize) {
        let start = lines
            .iter()
            .position(|l| l.trim() == section)
            .expect("section in the example");
        let end = lines[start + 1..]
            .iter()
            .position(|l| is_header(l))
            .map_or(lines.len(), |i| start + 1 + i);
        (start, end)
    };
    match edit {
        Edit::Set(section, key, value) => {
            let (start, end) = block(&lines, section);
            let line = format!("{key} = {value}");
            match (start + 1..end).find(|&i| is_key_line(&lines[i], key)) {
                Some(i) => lines[i] = line,
                None => lines.insert(start + 1, line),
            }
        }
        Edit::DeleteKey(section, key) => {
            let (start, end) = block(&lines, section);
            let i = (start + 1..end)
                .find(|&i| is_key_line(&lines[i], key))
                .expect("key in the section");
            lines.remove(i);
        }
        Edit::RemoveSection(section) => {
            while lines.iter().any(|l| l.trim() == *section) {
                let (start, end) = block(&lines, section);
                lines.drain(start..end);
            }
        }
        Edit::Append(more) => lines.push(more.clone()),
    }
    lines.join("\n") + "\n"
}

fn peers(count: usize) -> Vec<Edit> {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!(
            "[[peers]]\nid = \"peer-{i}\"\ncontrol = \"198.51.100.{}:7701\"\n",
            i + 1
        ));
    }
    vec![Edit::RemoveSection("[[peers]]"), Edit::Append(text)]
}

fn cases() -> Vec<(Vec<Edit>, Expect)> {
    use Expect::{Field, Parse, Pass};
    let one = |edit: Edit, expect: Expect| (vec![edit], expect);
    vec![
        // [node]
        one(set("[node]", "id", "\"a\""), Pass),
        one(set("[node]", "id", "\"\""), Field("node.id")),
        one(set("[node]", "id", format!("\"{}\"", "a".repeat(64))), Pass),
        one(
            set("[node]", "id", format!("\"{}\"", "a".repeat(65))),
            Field("node.id"),
        ),
        one(set("[node]", "id", "\"A.b_c-9\""), Pass),
        one(set("[node]", "id", "\"host/a\""), Field("node.id")),
        one(set("[node]", "id", "\"host a\""), Field("node.id")),
        one(set("[node]", "id", "\"..\""), Field("node.id")),
        one(set("[node]", "id", "7"), Parse("id")),
        one(Edit::DeleteKey("[node]", "id"), Parse("`id`")),
        one(
            set("[node]", "tables", "\"dwcp.tables\""),
            Field("node.tables"),
        ),
        one(set("[node]", "tables", "\"/\""), Field("node.tables")),
        one(
            set("[node]", "dataplane_heartbeat_timeout_ms", 199),
            Field("node.dataplane_heartbeat_timeout_ms"),
        ),
        one(set("[node]", "dataplane_heartbeat_timeout_ms", 200), Pass),
        one(set("[node]", "dataplane_heartbeat_timeout_ms", 60000), Pass),
        one(
            set("[node]", "dataplane_heartbeat_timeout_ms", 60001),
            Field("node.dataplane_heartbeat_timeout_ms"),
        ),
        one(
            set("[node]", "dataplane_heartbeat_timeout_ms", -1),
            Parse("dataplane_heartbeat_timeout_ms"),
        ),
        one(
            Edit::DeleteKey("[node]", "dataplane_heartbeat_timeout_ms"),
            Pass,
        ),
        // [api] and the listeners' ports
        one(set("[api]", "listen", "\"127.0.0.1\""), Parse("listen")),
        one(
            set("[api]", "listen", "\"localhost:7700\""),
            Parse("listen"),
        ),
        one(set("[api]", "listen", "\"[::1]:7700\""), Pass),
        one(
            set("[api]", "listen", "\"127.0.0.1:7701\""),
            Field("peer.listen"),
        ),
        one(set("[api]", "listen", "\"127.0.0.1:7799\""), Pass),
        one(
            set("[api]", "listen", "\"127.0.0.1:7800\""),
            Field("api.listen"),
        ),
        (
            vec![
                set("[api]", "listen", "\"127.0.0.1:0\""),
                set("[peer]", "listen", "\"0.0.0.0:0\""),
            ],
            Pass,
        ),
        one(set("[api]", "port", 1), Parse("port")),
        // [peer]
        one(
            set("[peer]", "listen", "\"127.0.0.1:7700\""),
            Field("peer.listen"),
        ),
        (
            vec![
                set("[api]", "listen", "\"127.0.0.1:7701\""),
                set("[peer]", "listen", "\"127.0.0.2:7701\""),
            ],
            Pass,
        ),
        one(
            set("[peer]", "listen", "\"0.0.0.0:7831\""),
            Field("peer.listen"),
        ),
        one(set("[peer]", "listen", "\"0.0.0.0:7832\""), Pass),
        one(set("[peer]", "ca", "\"ca.pem\""), Field("peer.ca")),
        one(
            set("[peer]", "cert", "\"./host-a.pem\""),
            Field("peer.cert"),
        ),
        one(set("[peer]", "key", "\"\""), Field("peer.key")),
        one(Edit::DeleteKey("[peer]", "key"), Parse("`key`")),
        // [[peers]]
        one(Edit::RemoveSection("[[peers]]"), Pass),
        (peers(PEERS_MAX), Pass),
        (peers(PEERS_MAX + 1), Field("peers")),
        one(set("[[peers]]", "id", "\"host b\""), Field("peers[0].id")),
        one(set("[[peers]]", "id", "\"host-c\""), Field("peers[1].id")),
        one(set("[[peers]]", "id", "\"host-a\""), Field("peers[0].id")),
        one(
            set("[[peers]]", "control", "\"host-b\""),
            Field("peers[0].control"),
        ),
        one(
            set("[[peers]]", "control", "\"host-b:0\""),
            Field("peers[0].control"),
        ),
        one(set("[[peers]]", "control", "\"host-b:1\""), Pass),
        one(set("[[peers]]", "control", "\"host-b:65535\""), Pass),
        one(
            set("[[peers]]", "control", "\"host-b:65536\""),
            Field("peers[0].control"),
        ),
        one(
            set("[[peers]]", "control", "\"bad_host:7701\""),
            Field("peers[0].control"),
        ),
        one(
            set("[[peers]]", "control", "\"-host:7701\""),
            Field("peers[0].control"),
        ),
        one(
            set("[[peers]]", "control", "\"0.0.0.0:7701\""),
            Field("peers[0].control"),
        ),
        one(set("[[peers]]", "control", "\"[2001:db8::2]:7701\""), Pass),
        one(
            set("[[peers]]", "control", "\"2001:db8::2:7701\""),
            Field("peers[0].control"),
        ),
        one(set("[[peers]]", "port", 7701), Parse("port")),
        one(Edit::DeleteKey("[[peers]]", "control"), Parse("`control`")),
        // [receive]
        one(Edit::RemoveSection("[receive]"), Pass),
        one(
            set("[receive]", "data_host", "\"\""),
            Field("receive.data_host"),
        ),
        one(
            set("[receive]", "data_host", "\"0.0.0.0\""),
            Field("receive.data_host"),
        ),
        one(
            set("[receive]", "data_host", "\"::\""),
            Field("receive.data_host"),
        ),
        one(
            set("[receive]", "data_host", "\"192.0.2.1:7800\""),
            Field("receive.data_host"),
        ),
        one(
            set("[receive]", "data_host", "\"host-a.example.net\""),
            Pass,
        ),
        one(set("[receive]", "data_host", "\"2001:db8::1\""), Pass),
        (
            vec![
                set("[receive]", "port_min", 1023),
                set("[receive]", "port_max", 2046),
            ],
            Field("receive.port_min"),
        ),
        (
            vec![
                set("[receive]", "port_min", 1024),
                set("[receive]", "port_max", 2047),
            ],
            Pass,
        ),
        (
            vec![
                set("[receive]", "port_min", 1024),
                set("[receive]", "port_max", 2048),
            ],
            Field("receive.port_max"),
        ),
        (
            vec![
                set("[receive]", "port_min", 64512),
                set("[receive]", "port_max", 65535),
            ],
            Pass,
        ),
        (
            vec![
                set("[receive]", "port_min", 64512),
                set("[receive]", "port_max", 65536),
            ],
            Parse("port_max"),
        ),
        (
            vec![
                set("[receive]", "port_min", 65535),
                set("[receive]", "port_max", 65535),
            ],
            Pass,
        ),
        one(set("[receive]", "port_max", 7800), Pass),
        one(
            set("[receive]", "port_max", 7799),
            Field("receive.port_max"),
        ),
        one(
            set("[receive]", "memory_dir", "\"shm\""),
            Field("receive.memory_dir"),
        ),
        // [migration]
        one(Edit::RemoveSection("[migration]"), Pass),
        one(set("[migration]", "streams", 0), Pass),
        one(set("[migration]", "streams", 1), Pass),
        one(set("[migration]", "streams", 64), Pass),
        one(
            set("[migration]", "streams", 65),
            Field("migration.streams"),
        ),
        one(set("[migration]", "streams", -1), Parse("streams")),
        one(
            set("[migration]", "downtime_ms", 0),
            Field("migration.downtime_ms"),
        ),
        one(set("[migration]", "downtime_ms", 1), Pass),
        one(set("[migration]", "downtime_ms", 60000), Pass),
        one(
            set("[migration]", "downtime_ms", 60001),
            Field("migration.downtime_ms"),
        ),
        one(
            set("[migration]", "downtime_ms", "\"300\""),
            Parse("downtime_ms"),
        ),
        one(
            set("[migration]", "max_rounds", 0),
            Field("migration.max_rounds"),
        ),
        one(set("[migration]", "max_rounds", 1), Pass),
        one(set("[migration]", "max_rounds", 1000), Pass),
        one(
            set("[migration]", "max_rounds", 1001),
            Field("migration.max_rounds"),
        ),
        one(set("[migration]", "pacing_mbps", 0), Pass),
        one(set("[migration]", "pacing_mbps", 1), Pass),
        one(set("[migration]", "pacing_mbps", 100000), Pass),
        one(
            set("[migration]", "pacing_mbps", 100001),
            Field("migration.pacing_mbps"),
        ),
        one(set("[migration]", "pacing_mbps", 1.5), Parse("pacing_mbps")),
        one(set("[migration]", "codec", "\"yes\""), Parse("codec")),
        one(set("[migration]", "bogus", 1), Parse("bogus")),
        // [mode]
        one(Edit::RemoveSection("[mode]"), Pass),
        one(
            set("[mode]", "datacenter_rtt_ms", "0.0"),
            Field("mode.datacenter_rtt_ms"),
        ),
        one(
            set("[mode]", "datacenter_rtt_ms", "-1.0"),
            Field("mode.datacenter_rtt_ms"),
        ),
        one(set("[mode]", "datacenter_rtt_ms", "0.001"), Pass),
        one(set("[mode]", "datacenter_rtt_ms", "10"), Pass),
        one(
            set("[mode]", "datacenter_rtt_ms", "nan"),
            Field("mode.datacenter_rtt_ms"),
        ),
        one(
            set("[mode]", "datacenter_rtt_ms", "inf"),
            Field("mode.datacenter_rtt_ms"),
        ),
        one(
            set("[mode]", "internet_rtt_ms", "10.0"),
            Field("mode.internet_rtt_ms"),
        ),
        one(set("[mode]", "internet_rtt_ms", "10.001"), Pass),
        one(
            set("[mode]", "internet_rtt_ms", "nan"),
            Field("mode.internet_rtt_ms"),
        ),
        one(
            set("[mode]", "internet_rtt_ms", "+inf"),
            Field("mode.internet_rtt_ms"),
        ),
        one(
            set("[mode]", "bandwidth_mbps", "0.0"),
            Field("mode.bandwidth_mbps"),
        ),
        one(set("[mode]", "bandwidth_mbps", "0.001"), Pass),
        one(
            set("[mode]", "bandwidth_mbps", "-inf"),
            Field("mode.bandwidth_mbps"),
        ),
        one(
            set("[mode]", "bandwidth_mbps", "\"fast\""),
            Parse("bandwidth_mbps"),
        ),
        one(
            set("[mode]", "datacenter_loss_percent", "-0.001"),
            Field("mode.datacenter_loss_percent"),
        ),
        one(set("[mode]", "datacenter_loss_percent", "0.0"), Pass),
        one(
            set("[mode]", "datacenter_loss_percent", "nan"),
            Field("mode.datacenter_loss_percent"),
        ),
        (
            vec![
                set("[mode]", "datacenter_loss_percent", "100.0"),
                set("[mode]", "internet_loss_percent", "100.0"),
            ],
            Pass,
        ),
        (
            vec![
                set("[mode]", "datacenter_loss_percent", "100.001"),
                set("[mode]", "internet_loss_percent", "100.0"),
            ],
            Field("mode.datacenter_loss_percent"),
        ),
        one(
            set("[mode]", "internet_loss_percent", "0.099"),
            Field("mode.internet_loss_percent"),
        ),
        one(set("[mode]", "internet_loss_percent", "0.1"), Pass),
        one(set("[mode]", "internet_loss_percent", "100.0"), Pass),
        one(
            set("[mode]", "internet_loss_percent", "100.001"),
            Field("mode.internet_loss_percent"),
        ),
        one(
            set("[mode]", "internet_loss_percent", "nan"),
            Field("mode.internet_loss_percent"),
        ),
        one(set("[mode]", "window", 0), Field("mode.window")),
        one(set("[mode]", "window", 1), Pass),
        one(set("[mode]", "window", 600), Pass),
        one(set("[mode]", "window", 601), Field("mode.window")),
        one(set("[mode]", "window", -1), Parse("window")),
        one(
            set("[mode]", "hysteresis", "-0.001"),
            Field("mode.hysteresis"),
        ),
        one(set("[mode]", "hysteresis", "0.0"), Pass),
        one(set("[mode]", "hysteresis", "0.9"), Pass),
        one(
            set("[mode]", "hysteresis", "0.901"),
            Field("mode.hysteresis"),
        ),
        one(set("[mode]", "hysteresis", "nan"), Field("mode.hysteresis")),
        one(set("[mode]", "dwell_ms", 0), Pass),
        one(set("[mode]", "dwell_ms", 3_600_000), Pass),
        one(set("[mode]", "dwell_ms", 3_600_001), Field("mode.dwell_ms")),
        // Top level
        one(Edit::RemoveSection("[node]"), Parse("`node`")),
        one(Edit::RemoveSection("[api]"), Parse("`api`")),
        one(Edit::RemoveSection("[peer]"), Parse("`peer`")),
        one(Edit::Append("[bogus]\nx = 1".to_owned()), Parse("bogus")),
        one(Edit::Append("[[[".to_owned()), Parse("line")),
    ]
}

fn check(edits: &[Edit], expect: Expect) -> Result<(), String> {
    let text = edits
        .iter()
        .fold(EXAMPLE.to_owned(), |text, edit| apply(&text, edit));
    let result = ControlPlaneConfig::from_toml_str(&text);
    match (expect, &result) {
        (Expect::Pass, Ok(_)) => Ok(()),
        (Expect::Field(field), Err(error)) if error.field() == Some(field) => {
            let message = error.to_string();
            if !message.starts_with(&format!("{field} = ")) {
                return Err(format!("message does not start with the field: {message}"));
            }
            if matches!(error, ConfigError::OutOfRange { .. }) && !message.contains("(allowed ") {
                return Err(format!("message does not say what is allowed: {message}"));
            }
            Ok(())
        }
        (Expect::Parse(needle), Err(ConfigError::Parse { message }))
            if message.contains(needle) =>
        {
            Ok(())
        }
        (_, Ok(_)) => Err(format!("expected {expect:?}, got Ok")),
        (_, Err(error)) => Err(format!("expected {expect:?}, got {error:?}: {error}")),
    }
}

#[test]
fn every_bound_is_checked_on_both_sides() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(edits, expect)| {
            check(edits, *expect)
                .err()
                .map(|why| format!("{edits:?}: {why}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_edit_helper_changes_what_it_says() {
    let text = apply(EXAMPLE, &set("[migration]", "downtime_ms", 777));
    let config = ControlPlaneConfig::from_toml_str(&text).expect("valid");
    assert_eq!(config.migration.downtime_ms, 777);
    let text = apply(EXAMPLE, &set("[[peers]]", "id", "\"host-z\""));
    let config = ControlPlaneConfig::from_toml_str(&text).expect("valid");
    assert_eq!(config.peers[0].id, "host-z");
    assert_eq!(config.peers[1].id, "host-c");
    let config = ControlPlaneConfig::from_toml_str(
        &peers(3)
            .iter()
            .fold(EXAMPLE.to_owned(), |t, e| apply(&t, e)),
    )
    .expect("valid");
    assert_eq!(config.peers.len(), 3);
}

#[test]
fn example_parses_with_the_documented_defaults() {
    let config = ControlPlaneConfig::from_toml_str(EXAMPLE).expect("EXAMPLE is valid");
    assert_eq!(config.node.id, "host-a");
    assert_eq!(
        config.node.dataplane_heartbeat_timeout_ms,
        HEARTBEAT_TIMEOUT_MS_DEFAULT
    );
    assert_eq!(
        config.api.listen,
        "127.0.0.1:7700".parse().expect("address")
    );
    assert_eq!(config.peers.len(), 2);
    assert_eq!(
        config.peer("host-b").map(|p| p.control.as_str()),
        Some("192.0.2.2:7701")
    );
    assert_eq!(
        config.peer("host-c").map(|p| p.control.as_str()),
        Some("host-c.example.net:7701")
    );
    assert!(config.peer("host-a").is_none());
    assert_eq!(config.receive.port_count(), 32);
    assert_eq!(config.migration, MigrationDefaults::DEFAULT);
    assert_eq!(config.mode, ModeThresholds::DEFAULT);
}

#[test]
fn left_out_sections_and_fields_take_their_defaults() {
    let minimal = [
        Edit::RemoveSection("[[peers]]"),
        Edit::RemoveSection("[receive]"),
        Edit::RemoveSection("[migration]"),
        Edit::RemoveSection("[mode]"),
        Edit::DeleteKey("[node]", "dataplane_heartbeat_timeout_ms"),
    ];
    let text = minimal
        .iter()
        .fold(EXAMPLE.to_owned(), |text, edit| apply(&text, edit));
    let config = ControlPlaneConfig::from_toml_str(&text).expect("minimal config is valid");
    assert!(config.peers.is_empty());
    assert_eq!(config.receive, ReceiveSection::default());
    assert_eq!(config.migration, MigrationDefaults::default());
    assert_eq!(config.mode, ModeThresholds::default());
    assert_eq!(
        config.node.dataplane_heartbeat_timeout_ms,
        HEARTBEAT_TIMEOUT_MS_DEFAULT
    );

    let partial = format!("{text}[migration]\ndowntime_ms = 500\n[mode]\ndwell_ms = 0\n");
    let config = ControlPlaneConfig::from_toml_str(&partial).expect("partial sections are valid");
    assert_eq!(
        config.migration,
        MigrationDefaults {
            downtime_ms: 500,
            ..MigrationDefaults::DEFAULT
        }
    );
    assert_eq!(
        config.mode,
        ModeThresholds {
            dwell_ms: 0,
            ..ModeThresholds::DEFAULT
        }
    );
}

#[test]
fn messages_name_field_value_and_bound() {
    let error_for = |edit: Edit| {
        ControlPlaneConfig::from_toml_str(&apply(EXAMPLE, &edit))
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        error_for(set("[migration]", "downtime_ms", 0)),
        "migration.downtime_ms = 0 is out of range (allowed 1..=60000)"
    );
    assert_eq!(
        error_for(set("[mode]", "hysteresis", "nan")),
        "mode.hysteresis = NaN is invalid: must be a finite number"
    );
    assert_eq!(
        error_for(set("[mode]", "internet_rtt_ms", "5.0")),
        "mode.internet_rtt_ms = 5 is out of range (allowed > 10 (mode.datacenter_rtt_ms))"
    );
    assert_eq!(
        error_for(set("[[peers]]", "id", "\"host-c\"")),
        "peers[1].id = \"host-c\" is invalid: duplicate of peers[0].id"
    );
    assert_eq!(
        error_for(set("[[peers]]", "id", "\"host-a\"")),
        "peers[0].id = \"host-a\" is invalid: equals node.id"
    );
    assert_eq!(
        error_for(set("[receive]", "port_max", 9000)),
        "receive.port_max = 9000 is out of range (allowed 7800..=8823)"
    );
    let parse = error_for(set("[migration]", "codec", "\"yes\""));
    let codec_line = EXAMPLE
        .lines()
        .position(|l| l.starts_with("codec ="))
        .expect("codec in the example")
        + 1;
    assert!(
        parse.contains(&format!("line {codec_line}")),
        "parse errors give the line: {parse}"
    );
}

#[test]
fn pacing_converts_megabits_to_bytes() {
    assert_eq!(pacing_bytes_per_s(0), 0);
    assert_eq!(pacing_bytes_per_s(1), 125_000);
    assert_eq!(pacing_bytes_per_s(1000), 125_000_000);
    assert_eq!(pacing_bytes_per_s(100_000), 12_500_000_000);
    assert_eq!(pacing_bytes_per_s(u64::MAX), u64::MAX);
}

#[test]
fn load_reads_a_file_and_names_the_path_on_error() {
    let dir = TempDir::new("load");
    let good = dir.write("good.toml", EXAMPLE.as_bytes());
    assert_eq!(
        ControlPlaneConfig::load(&good).expect("valid file"),
        ControlPlaneConfig::from_toml_str(EXAMPLE).expect("valid text")
    );

    let missing = dir.0.join("missing.toml");
    match ControlPlaneConfig::load(&missing) {
        Err(ConfigError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    let message = ControlPlaneConfig::load(&missing)
        .expect_err("missing")
        .to_string();
    assert!(message.contains("missing.toml"), "{message}");

    let bad = dir.write("bad.toml", format!("{EXAMPLE}oops\n").as_bytes());
    match ControlPlaneConfig::load(&bad) {
        Err(ConfigError::Parse { message }) => {
            assert!(message.starts_with(&bad.display().to_string()), "{message}")
        }
        other => panic!("expected a Parse error, got {other:?}"),
    }

    let padding = " ".repeat(usize::try_from(CONFIG_LEN_MAX).expect("fits") - EXAMPLE.len() + 1);
    let huge = dir.write("huge.toml", format!("{EXAMPLE}{padding}").as_bytes());
    let error = ControlPlaneConfig::load(&huge).expect_err("too large");
    assert_eq!(error.field(), Some("configuration"), "{error}");
    let fits = dir.write(
        "fits.toml",
        format!("{EXAMPLE}{}", &padding[1..]).as_bytes(),
    );
    ControlPlaneConfig::load(&fits).expect("exactly CONFIG_LEN_MAX bytes is accepted");
}

fn config_in(dir: &Path) -> ControlPlaneConfig {
    let path = |name: &str| format!("\"{}\"", dir.join(name).display());
    let edits = [
        set("[peer]", "ca", path("ca.pem")),
        set("[peer]", "cert", path("host-a.pem")),
        set("[peer]", "key", path("host-a.key")),
        set("[receive]", "memory_dir", path("memory")),
        set("[node]", "tables", path("run/dwcp.tables")),
    ];
    let text = edits
        .iter()
        .fold(EXAMPLE.to_owned(), |text, edit| apply(&text, edit));
    ControlPlaneConfig::from_toml_str(&text).expect("valid")
}

#[test]
fn validate_files_checks_certificates_and_directories() {
    let dir = TempDir::new("files");
    let config = config_in(&dir.0);
    let field_of = |config: &ControlPlaneConfig| {
        config
            .validate_files()
            .expect_err("a file is missing")
            .field()
            .map(str::to_owned)
    };

    assert_eq!(field_of(&config).as_deref(), Some("peer.ca"));
    dir.write("ca.pem", b"ca");
    dir.write("host-a.pem", b"cert");
    assert_eq!(field_of(&config).as_deref(), Some("peer.key"));
    dir.write("host-a.key", b"key");
    assert_eq!(field_of(&config).as_deref(), Some("receive.memory_dir"));
    dir.write("memory", b"a file, not a directory");
    assert_eq!(field_of(&config).as_deref(), Some("receive.memory_dir"));
    std::fs::remove_file(dir.0.join("memory")).expect("remove");
    std::fs::create_dir(dir.0.join("memory")).expect("mkdir");
    assert_eq!(field_of(&config).as_deref(), Some("node.tables"));
    std::fs::create_dir(dir.0.join("run")).expect("mkdir");
    config.validate_files().expect("everything is in place");

    let mut ca_is_a_directory = config.clone();
    ca_is_a_directory.peer.ca = dir.0.join("run");
    assert_eq!(field_of(&ca_is_a_directory).as_deref(), Some("peer.ca"));
}

#[test]
fn docs_show_the_example_and_every_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/controlplane-config.md");
    let doc = std::fs::read_to_string(&path).expect("docs/controlplane-config.md");
    assert!(
        doc.contains(EXAMPLE),
        "the doc's example is not config::EXAMPLE"
    );
    let table: toml::Table = toml::from_str(EXAMPLE).expect("TOML");
    let mut missing = Vec::new();
    for (section, value) in &table {
        let (prefix, fields) = match value {
            toml::Value::Table(fields) => (section.clone(), fields.clone()),
            toml::Value::Array(entries) => (
                format!("{section}[]"),
                entries
                    .first()
                    .and_then(toml::Value::as_table)
                    .cloned()
                    .expect("array of tables"),
            ),
            other => panic!("unexpected top-level value {other:?}"),
        };
        for key in fields.keys() {
            let name = format!("`{prefix}.{key}`");
            if !doc.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields missing from the doc: {missing:?}"
    );
}
