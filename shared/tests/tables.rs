//! Integration tests of `dwcp_shared::tables` through its public API: two
//! `Tables` mapping the same file in one process stand for the data plane
//! and the control plane (the same code path as two processes).
//!
//! Byte offsets used to corrupt files are the ones `docs/tables.md`
//! documents (and `raw.rs` / `layout.rs` pin with `const` asserts).

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dwcp_shared::tables::layout::{
    JOB_SPECS_OFFSET, JOB_STATUSES_OFFSET, NODE_OFFSET, PEERS_OFFSET,
};
use dwcp_shared::tables::*;

/// A unique path under the temp dir; the file (or directory or link) and
/// any temporary file next to it are removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("dwcp-tables-it-{}-{tag}-{n}", std::process::id())))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Names in the temp dir that look like our temporary files.
    fn leftovers(&self) -> Vec<String> {
        let prefix = format!(
            ".{}.",
            self.0
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
        );
        std::fs::read_dir(std::env::temp_dir())
            .expect("list temp dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(&prefix))
            .collect()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Creates a fresh tables file and returns (data plane, control plane).
fn pair(path: &Path) -> (Tables, Tables) {
    let dp = Tables::create_or_attach(path, 4242, false).expect("create");
    let cp = Tables::attach(path).expect("attach");
    (dp, cp)
}

/// Overwrites bytes of the file at `offset` (behind the API).
fn poke(path: &Path, offset: usize, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for poke");
    file.write_all_at(bytes, offset as u64).expect("poke");
}

fn spec(job_id: u64) -> JobSpec {
    JobSpec {
        job_id,
        spec_version: 3,
        role: JobRole::Send,
        requested: RequestedState::Pause,
        vm_id: "vm-ü".into(),
        memory_path: "/dev/shm/guest".into(),
        address: "[2001:db8::1]:7443".into(),
        memory_bytes: 0,
        streams: 8,
        streams_active: 0,
        pacing_bytes_per_s: 125_000_000,
        compression: CompressionTier::Internet,
        codec: true,
        downtime_ms: 250,
        max_rounds: 12,
        key_id: 77,
        key: core::array::from_fn(|i| u8::try_from(i).expect("32 < 256")),
        pause_pid: 4242,
        link_mode: Some(LinkMode::Hybrid),
        peer_id: "host-b".into(),
        pacing_follows_prediction: true,
        streams_follow_prediction: false,
        predicted_floor_bytes_per_s: 9_876_543,
    }
}

/// A status whose every counter is `n`, and whose texts say `n`.
fn status(job_id: u64, n: u64) -> JobStatus {
    JobStatus {
        job_id,
        applied_spec_version: 3,
        state: JobState::Running,
        round: 2,
        memory_bytes: n,
        pages_done: n,
        pages_remaining: n,
        bytes_on_wire: n,
        pages_by_kind: [n; ENCODING_KINDS],
        bytes_by_kind: [n; ENCODING_KINDS],
        dirty_bytes_per_s: n,
        throughput_bytes_per_s: n,
        streams_active: 8,
        streams_connected: 8,
        pacing_bytes_per_s: n,
        compression: CompressionTier::Datacenter,
        started_unix_ms: n,
        updated_unix_ms: n,
        finished_unix_ms: n,
        downtime_ms: n,
        error: Some(n.to_string()),
        summary_json: Some(format!("{{\"n\":{n}}}")),
    }
}

fn worker(n: u64) -> WorkerCounters {
    WorkerCounters {
        role: WorkerRole::Transport,
        core: Some(3),
        job_id: 9,
        busy_ns: n,
        idle_ns: 2,
        frames: 3,
        bytes: 4,
    }
}

fn link(n: u64) -> LinkSample {
    LinkSample {
        peer_address: "node-b.example:7000".into(),
        sample_unix_ms: n,
        rtt_us: 250,
        rtt_var_us: 20,
        throughput_bytes_per_s: 1 << 30,
        segments_out: 1000,
        retransmits: 2,
        loss_ppm: 150,
    }
}

fn peer(i: usize) -> PeerEntry {
    PeerEntry {
        peer_id: format!("node-{i}"),
        data_address: format!("10.0.0.{i}:7000"),
        mode: Some(LinkMode::Hybrid),
    }
}

#[test]
fn fresh_file_reads_empty_everywhere() {
    let path = TempPath::new("fresh");
    let (dp, cp) = pair(path.path());
    assert_eq!(cp.generation(), 1);
    assert_eq!(cp.dataplane_pid(), 4242);
    assert_eq!(cp.dataplane_heartbeat_unix_ms(), 0);
    assert_eq!(dp.controlplane_heartbeat_unix_ms(), 0);
    assert_eq!(cp.read_node().expect("node"), None);
    for slot in 0..PEERS_MAX {
        assert_eq!(cp.read_peer(slot).expect("peer"), None);
    }
    for slot in 0..JOBS_MAX {
        assert_eq!(dp.read_job_spec(slot).expect("spec"), None);
        assert_eq!(cp.read_job_status(slot).expect("status"), None);
    }
    for slot in 0..WORKERS_MAX {
        assert_eq!(cp.read_worker(slot).expect("worker"), None);
    }
    for slot in 0..LINKS_MAX {
        assert_eq!(cp.read_link_sample(slot).expect("link"), None);
    }
    assert_eq!(
        std::fs::metadata(path.path()).expect("stat").len(),
        TABLES_FILE_LEN as u64
    );
    assert_eq!(dp.path(), path.path());
}

#[test]
fn every_record_kind_round_trips_between_the_two_sides() {
    let path = TempPath::new("roundtrip");
    let (dp, cp) = pair(path.path());

    let node = NodeInfo {
        node_id: "n".repeat(NODE_ID_LEN_MAX),
    };
    cp.write_node(&node).expect("node");
    assert_eq!(dp.read_node().expect("node"), Some(node));

    for slot in [0, 7, PEERS_MAX - 1] {
        cp.write_peer(slot, Some(&peer(slot))).expect("peer");
    }
    let no_mode = PeerEntry {
        mode: None,
        data_address: format!("h:{}", "9".repeat(5)).replace("99999", "65535"),
        ..peer(1)
    };
    cp.write_peer(1, Some(&no_mode)).expect("peer without mode");
    for slot in [0, 7, PEERS_MAX - 1] {
        assert_eq!(dp.read_peer(slot).expect("peer"), Some(peer(slot)));
    }
    assert_eq!(dp.read_peer(1).expect("peer"), Some(no_mode));
    assert_eq!(dp.read_peer(2).expect("untouched"), None);

    let mut receive = spec(2);
    receive.role = JobRole::Receive;
    receive.requested = RequestedState::Cancel;
    receive.memory_bytes = 8 << 30;
    receive.compression = CompressionTier::Off;
    receive.codec = false;
    receive.vm_id = "v".repeat(VM_ID_LEN_MAX);
    receive.memory_path = "/".repeat(PATH_LEN_MAX);
    receive.address = format!("{}:1", "a".repeat(ADDRESS_LEN_MAX - 2));
    cp.write_job_spec(0, Some(&spec(1))).expect("spec");
    cp.write_job_spec(JOBS_MAX - 1, Some(&receive))
        .expect("spec");
    assert_eq!(dp.read_job_spec(0).expect("spec"), Some(spec(1)));
    assert_eq!(dp.read_job_spec(JOBS_MAX - 1).expect("spec"), Some(receive));

    let mut done = status(2, 5);
    done.state = JobState::Completed;
    done.error = None;
    done.summary_json = Some("x".repeat(SUMMARY_LEN_MAX));
    let mut failed = status(1, 6);
    failed.state = JobState::Failed;
    failed.error = Some("é".repeat(ERROR_LEN_MAX / 2));
    failed.summary_json = None;
    dp.write_job_status(JOBS_MAX - 1, Some(&done))
        .expect("status");
    dp.write_job_status(0, Some(&failed)).expect("status");
    assert_eq!(
        cp.read_job_status(JOBS_MAX - 1).expect("status"),
        Some(done)
    );
    assert_eq!(cp.read_job_status(0).expect("status"), Some(failed));
    let empty_texts = JobStatus {
        error: Some(String::new()),
        summary_json: Some(String::new()),
        ..status(3, 1)
    };
    dp.write_job_status(1, Some(&empty_texts)).expect("status");
    assert_eq!(
        cp.read_job_status(1).expect("status"),
        Some(empty_texts),
        "Some(\"\") is not None"
    );

    let no_core = WorkerCounters {
        role: WorkerRole::Serve,
        core: None,
        ..worker(1)
    };
    dp.write_worker(0, Some(&worker(5))).expect("worker");
    dp.write_worker(WORKERS_MAX - 1, Some(&no_core))
        .expect("worker");
    assert_eq!(cp.read_worker(0).expect("worker"), Some(worker(5)));
    assert_eq!(
        cp.read_worker(WORKERS_MAX - 1).expect("worker"),
        Some(no_core)
    );

    dp.write_link_sample(3, Some(&link(123))).expect("link");
    assert_eq!(cp.read_link_sample(3).expect("link"), Some(link(123)));

    dp.beat_dataplane(1_700_000_000_123);
    cp.beat_controlplane(1_700_000_000_456);
    assert_eq!(cp.dataplane_heartbeat_unix_ms(), 1_700_000_000_123);
    assert_eq!(dp.controlplane_heartbeat_unix_ms(), 1_700_000_000_456);
}

#[test]
fn writing_none_clears_a_slot() {
    let path = TempPath::new("clear");
    let (dp, cp) = pair(path.path());
    cp.write_peer(4, Some(&peer(4))).expect("peer");
    cp.write_job_spec(4, Some(&spec(4))).expect("spec");
    dp.write_job_status(4, Some(&status(4, 4))).expect("status");
    dp.write_worker(4, Some(&worker(4))).expect("worker");
    dp.write_link_sample(4, Some(&link(4))).expect("link");
    cp.write_peer(4, None).expect("clear");
    cp.write_job_spec(4, None).expect("clear");
    dp.write_job_status(4, None).expect("clear");
    dp.write_worker(4, None).expect("clear");
    dp.write_link_sample(4, None).expect("clear");
    assert_eq!(dp.read_peer(4).expect("peer"), None);
    assert_eq!(dp.read_job_spec(4).expect("spec"), None);
    assert_eq!(cp.read_job_status(4).expect("status"), None);
    assert_eq!(cp.read_worker(4).expect("worker"), None);
    assert_eq!(cp.read_link_sample(4).expect("link"), None);
}

#[test]
fn zeroed_file_sections_read_as_empty() {
    let path = TempPath::new("zeroed");
    let (dp, cp) = pair(path.path());
    cp.write_job_spec(0, Some(&spec(1))).expect("spec");
    dp.write_job_status(0, Some(&status(1, 1))).expect("status");
    // Zero both records wholesale (seq included), as a fresh file has them.
    poke(path.path(), JOB_SPECS_OFFSET, &[0; 576]);
    poke(path.path(), JOB_STATUSES_OFFSET, &[0; 17152]);
    assert_eq!(dp.read_job_spec(0).expect("zeroed spec"), None);
    assert_eq!(cp.read_job_status(0).expect("zeroed status"), None);
}

fn assert_slot<T: std::fmt::Debug>(
    r: Result<T, TablesError>,
    table: &str,
    slot: usize,
    max: usize,
) {
    match r {
        Err(TablesError::Slot {
            table: t,
            slot: s,
            max: m,
        }) if t == table && s == slot && m == max => {}
        other => panic!("expected Slot {{ {table}, {slot}, {max} }}, got {other:?}"),
    }
}

#[test]
fn slots_past_the_end_are_refused() {
    let path = TempPath::new("slots");
    let (dp, cp) = pair(path.path());
    assert_slot(
        cp.write_peer(PEERS_MAX, Some(&peer(1))),
        "peers",
        PEERS_MAX,
        PEERS_MAX,
    );
    assert_slot(cp.read_peer(PEERS_MAX), "peers", PEERS_MAX, PEERS_MAX);
    assert_slot(
        cp.write_job_spec(JOBS_MAX, None),
        "job_specs",
        JOBS_MAX,
        JOBS_MAX,
    );
    assert_slot(
        cp.read_job_spec(usize::MAX),
        "job_specs",
        usize::MAX,
        JOBS_MAX,
    );
    assert_slot(
        dp.write_job_status(JOBS_MAX, None),
        "job_statuses",
        JOBS_MAX,
        JOBS_MAX,
    );
    assert_slot(
        dp.read_job_status(JOBS_MAX + 1),
        "job_statuses",
        JOBS_MAX + 1,
        JOBS_MAX,
    );
    assert_slot(
        dp.write_worker(WORKERS_MAX, None),
        "workers",
        WORKERS_MAX,
        WORKERS_MAX,
    );
    assert_slot(
        dp.read_worker(WORKERS_MAX),
        "workers",
        WORKERS_MAX,
        WORKERS_MAX,
    );
    assert_slot(
        dp.write_link_sample(LINKS_MAX, None),
        "links",
        LINKS_MAX,
        LINKS_MAX,
    );
    assert_slot(
        dp.read_link_sample(LINKS_MAX),
        "links",
        LINKS_MAX,
        LINKS_MAX,
    );
}

fn assert_too_long(r: Result<(), TablesError>, field: &str, len: usize, max: usize) {
    match r {
        Err(TablesError::TooLong {
            field: f,
            len: l,
            max: m,
        }) if f == field && l == len && m == max => {}
        other => panic!("expected TooLong {{ {field}, {len}, {max} }}, got {other:?}"),
    }
}

fn assert_field(r: Result<(), TablesError>, field: &str) {
    match r {
        Err(TablesError::Field { field: f, .. }) if f == field => {}
        other => panic!("expected Field {{ {field} }}, got {other:?}"),
    }
}

#[test]
fn writers_refuse_invalid_values_and_leave_the_record_alone() {
    let path = TempPath::new("invalid");
    let (dp, cp) = pair(path.path());
    cp.write_job_spec(0, Some(&spec(1))).expect("valid spec");

    assert_too_long(
        cp.write_node(&NodeInfo {
            node_id: "n".repeat(65),
        }),
        "node_id",
        65,
        NODE_ID_LEN_MAX,
    );
    assert_too_long(
        cp.write_peer(
            0,
            Some(&PeerEntry {
                data_address: format!("{}:1", "a".repeat(127)),
                ..peer(0)
            }),
        ),
        "data_address",
        129,
        ADDRESS_LEN_MAX,
    );
    assert_too_long(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                vm_id: "v".repeat(65),
                ..spec(1)
            }),
        ),
        "vm_id",
        65,
        VM_ID_LEN_MAX,
    );
    assert_too_long(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                memory_path: "p".repeat(257),
                ..spec(1)
            }),
        ),
        "memory_path",
        257,
        PATH_LEN_MAX,
    );
    assert_too_long(
        dp.write_job_status(
            0,
            Some(&JobStatus {
                error: Some("e".repeat(513)),
                ..status(1, 1)
            }),
        ),
        "error",
        513,
        ERROR_LEN_MAX,
    );
    assert_too_long(
        dp.write_job_status(
            0,
            Some(&JobStatus {
                summary_json: Some("s".repeat(16385)),
                ..status(1, 1)
            }),
        ),
        "summary_json",
        16385,
        SUMMARY_LEN_MAX,
    );

    assert_field(
        cp.write_node(&NodeInfo {
            node_id: String::new(),
        }),
        "node_id",
    );
    assert_field(
        cp.write_node(&NodeInfo {
            node_id: "a\0b".into(),
        }),
        "node_id",
    );
    assert_field(
        cp.write_peer(
            0,
            Some(&PeerEntry {
                peer_id: String::new(),
                ..peer(0)
            }),
        ),
        "peer_id",
    );
    assert_field(
        cp.write_peer(
            0,
            Some(&PeerEntry {
                data_address: "10.0.0.1".into(),
                ..peer(0)
            }),
        ),
        "data_address",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                job_id: 0,
                ..spec(1)
            }),
        ),
        "job_id",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                spec_version: 0,
                ..spec(1)
            }),
        ),
        "spec_version",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                downtime_ms: 0,
                ..spec(1)
            }),
        ),
        "downtime_ms",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                max_rounds: 0,
                ..spec(1)
            }),
        ),
        "max_rounds",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                key_id: 0,
                ..spec(1)
            }),
        ),
        "key_id",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                vm_id: String::new(),
                ..spec(1)
            }),
        ),
        "vm_id",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                memory_bytes: 1,
                ..spec(1)
            }),
        ),
        "memory_bytes",
    );
    assert_field(
        cp.write_job_spec(
            0,
            Some(&JobSpec {
                address: "fe80::1:80".into(),
                ..spec(1)
            }),
        ),
        "address",
    );
    assert_field(
        dp.write_job_status(
            0,
            Some(&JobStatus {
                job_id: 0,
                ..status(1, 1)
            }),
        ),
        "job_id",
    );
    assert_field(
        dp.write_link_sample(
            0,
            Some(&LinkSample {
                sample_unix_ms: 0,
                ..link(1)
            }),
        ),
        "sample_unix_ms",
    );
    assert_field(
        dp.write_link_sample(
            0,
            Some(&LinkSample {
                loss_ppm: LOSS_PPM_MAX + 1,
                ..link(1)
            }),
        ),
        "loss_ppm",
    );

    assert_eq!(
        dp.read_job_spec(0).expect("spec"),
        Some(spec(1)),
        "refused writes change nothing"
    );
    assert_eq!(dp.read_node().expect("node"), None);
    assert_eq!(cp.read_job_status(0).expect("status"), None);
}

/// Creates a valid file, closes it, and returns the path guard.
fn valid_file(tag: &str) -> TempPath {
    let path = TempPath::new(tag);
    drop(Tables::create_or_attach(path.path(), 1, false).expect("create"));
    path
}

#[test]
fn corrupt_headers_are_typed_errors() {
    let path = valid_file("magic");
    poke(path.path(), 0, b"NOTDWCP!");
    match Tables::attach(path.path()) {
        Err(TablesError::BadMagic { found, .. }) => {
            assert_eq!(found, u64::from_le_bytes(*b"NOTDWCP!"))
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }

    let path = valid_file("version");
    poke(path.path(), 8, &1u32.to_le_bytes());
    match Tables::attach(path.path()) {
        Err(TablesError::Version {
            found: 1,
            supported: TABLES_LAYOUT_VERSION,
            ..
        }) => {}
        other => panic!("expected Version, got {other:?}"),
    }

    let path = valid_file("truncated");
    File::options()
        .write(true)
        .open(path.path())
        .expect("open")
        .set_len(100_000)
        .expect("shrink");
    match Tables::attach(path.path()) {
        Err(TablesError::Truncated {
            len: 100_000,
            expected,
            ..
        }) => assert_eq!(expected, TABLES_FILE_LEN as u64),
        other => panic!("expected Truncated, got {other:?}"),
    }
    File::options()
        .write(true)
        .open(path.path())
        .expect("open")
        .set_len(0)
        .expect("empty");
    assert!(matches!(
        Tables::attach(path.path()),
        Err(TablesError::Truncated { len: 0, .. })
    ));

    let path = valid_file("longer");
    File::options()
        .write(true)
        .open(path.path())
        .expect("open")
        .set_len(TABLES_FILE_LEN as u64 + 1)
        .expect("grow");
    assert!(matches!(
        Tables::attach(path.path()),
        Err(TablesError::Layout {
            field: "file_len",
            ..
        })
    ));

    let path = valid_file("layout");
    poke(path.path(), 56, &33u32.to_le_bytes()); // the peer table's count
    match Tables::attach(path.path()) {
        Err(TablesError::Layout {
            field: "peers.count",
            found: 33,
            expected,
            ..
        }) => {
            assert_eq!(expected, PEERS_MAX as u64)
        }
        other => panic!("expected Layout peers.count, got {other:?}"),
    }
}

#[test]
fn corrupt_records_are_typed_errors() {
    let path = TempPath::new("records");
    let (dp, cp) = pair(path.path());
    cp.write_job_spec(0, Some(&spec(1))).expect("spec");
    poke(path.path(), JOB_SPECS_OFFSET + 8 + 78, &[9]); // role
    match dp.read_job_spec(0) {
        Err(TablesError::Field {
            table: "job_specs",
            slot: 0,
            field: "role",
            reason,
        }) => {
            assert!(reason.contains('9'), "{reason}")
        }
        other => panic!("expected Field role, got {other:?}"),
    }
    cp.write_job_spec(0, Some(&spec(1))).expect("spec");
    poke(path.path(), JOB_SPECS_OFFSET + 8 + 541, &[4]); // auto_flags
    match dp.read_job_spec(0) {
        Err(TablesError::Field {
            field: "auto_flags",
            reason,
            ..
        }) => assert!(reason.contains("0x04"), "{reason}"),
        other => panic!("expected Field auto_flags, got {other:?}"),
    }
    poke(path.path(), JOB_SPECS_OFFSET + 8 + 541, &[3]);
    let both = dp.read_job_spec(0).expect("flags 3").expect("a spec");
    assert!(both.pacing_follows_prediction && both.streams_follow_prediction);
    assert_eq!(both.predicted_floor_bytes_per_s, 9_876_543);
    poke(path.path(), JOB_SPECS_OFFSET + 8 + 616, &7u64.to_le_bytes()); // floor
    let floor = dp.read_job_spec(0).expect("floor").expect("a spec");
    assert_eq!(floor.predicted_floor_bytes_per_s, 7);
    cp.write_node(&NodeInfo {
        node_id: "a".into(),
    })
    .expect("node");
    poke(path.path(), NODE_OFFSET + 8, &65u16.to_le_bytes()); // node_id len
    assert!(matches!(
        dp.read_node(),
        Err(TablesError::Field {
            table: "node",
            slot: 0,
            field: "node_id",
            ..
        })
    ));
}

#[test]
fn reattach_bumps_generation_and_keeps_records() {
    let path = TempPath::new("reattach");
    let (dp, cp) = pair(path.path());
    cp.write_job_spec(5, Some(&spec(11))).expect("spec");
    dp.write_job_status(5, Some(&status(11, 3)))
        .expect("status");
    drop(dp);
    let dp2 = Tables::create_or_attach(path.path(), 999, false).expect("re-attach");
    assert_eq!(dp2.generation(), 2);
    assert_eq!(cp.generation(), 2, "the control plane sees the restart");
    assert_eq!(cp.dataplane_pid(), 999);
    assert_eq!(dp2.read_job_spec(5).expect("spec"), Some(spec(11)));
    assert_eq!(cp.read_job_status(5).expect("status"), Some(status(11, 3)));
    drop(Tables::create_or_attach(path.path(), 1000, true).expect("re-attach"));
    assert_eq!(
        cp.generation(),
        3,
        "replace_invalid does not replace a valid file"
    );
    assert_eq!(cp.read_job_spec(5).expect("spec"), Some(spec(11)));
}

#[test]
fn invalid_files_are_refused_unless_replace_invalid() {
    let path = TempPath::new("replace");
    std::fs::write(path.path(), b"some other program's data").expect("write");
    assert!(matches!(
        Tables::create_or_attach(path.path(), 1, false),
        Err(TablesError::BadMagic { .. })
    ));
    assert_eq!(
        std::fs::read(path.path()).expect("read"),
        b"some other program's data",
        "left alone"
    );
    let dp = Tables::create_or_attach(path.path(), 1, true).expect("replace");
    assert_eq!(dp.generation(), 1);
    let cp = Tables::attach(path.path()).expect("valid now");
    cp.write_node(&NodeInfo {
        node_id: "n1".into(),
    })
    .expect("node");
    assert_eq!(
        dp.read_node().expect("node").map(|n| n.node_id),
        Some("n1".into()),
        "same file"
    );
    assert!(
        path.leftovers().is_empty(),
        "temporary files removed: {:?}",
        path.leftovers()
    );

    let path = valid_file("oldversion");
    poke(path.path(), 8, &7u32.to_le_bytes());
    assert!(matches!(
        Tables::create_or_attach(path.path(), 1, false),
        Err(TablesError::Version { found: 7, .. })
    ));
    let dp = Tables::create_or_attach(path.path(), 1, true).expect("replace");
    assert_eq!(dp.generation(), 1);
}

#[test]
fn only_regular_files_are_opened() {
    let dir = TempPath::new("dir");
    std::fs::create_dir(dir.path()).expect("mkdir");
    assert!(matches!(
        Tables::attach(dir.path()),
        Err(TablesError::NotRegularFile { .. })
    ));
    assert!(matches!(
        Tables::create_or_attach(dir.path(), 1, true),
        Err(TablesError::NotRegularFile { .. })
    ));

    let target = valid_file("target");
    let link = TempPath::new("symlink");
    std::os::unix::fs::symlink(target.path(), link.path()).expect("symlink");
    assert!(matches!(
        Tables::attach(link.path()),
        Err(TablesError::NotRegularFile { .. })
    ));
    assert!(matches!(
        Tables::create_or_attach(link.path(), 1, true),
        Err(TablesError::NotRegularFile { .. })
    ));

    let missing = TempPath::new("missing");
    match Tables::attach(missing.path()) {
        Err(TablesError::Io {
            op: "open", source, ..
        }) => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected Io open, got {other:?}"),
    }
}

#[test]
fn the_file_is_mode_0600() {
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    let path = TempPath::new("mode");
    drop(Tables::create_or_attach(path.path(), 1, false).expect("create"));
    assert_eq!(mode(path.path()), 0o600);
    assert_eq!(TABLES_FILE_MODE, 0o600);
    std::fs::set_permissions(path.path(), Permissions::from_mode(0o644)).expect("chmod");
    drop(Tables::create_or_attach(path.path(), 1, false).expect("re-attach"));
    assert_eq!(
        mode(path.path()),
        0o600,
        "re-attach restricts a widened mode"
    );
    assert!(
        path.leftovers().is_empty(),
        "temporary files removed: {:?}",
        path.leftovers()
    );
}

#[test]
fn torn_records_are_reported_and_reset_by_the_owner() {
    let path = TempPath::new("torn");
    let (dp, cp) = pair(path.path());
    cp.write_peer(0, Some(&peer(0))).expect("peer");
    dp.write_job_status(0, Some(&status(1, 1))).expect("status");
    // Odd seq: a writer died mid-write (seq of slot 0 of each table).
    poke(path.path(), PEERS_OFFSET, &3u64.to_le_bytes());
    poke(path.path(), JOB_STATUSES_OFFSET, &5u64.to_le_bytes());
    assert!(matches!(
        dp.read_peer(0),
        Err(TablesError::Torn {
            table: "peers",
            slot: 0
        })
    ));
    assert!(matches!(
        cp.read_job_status(0),
        Err(TablesError::Torn {
            table: "job_statuses",
            slot: 0
        })
    ));

    let dp2 = Tables::create_or_attach(path.path(), 2, false).expect("data plane restarts");
    assert_eq!(dp2.read_job_status(0).expect("reset"), None);
    assert!(
        matches!(dp2.read_peer(0), Err(TablesError::Torn { .. })),
        "not the data plane's record"
    );
    let cp2 = Tables::attach(path.path()).expect("control plane restarts");
    assert_eq!(cp2.read_peer(0).expect("reset"), None);
    cp2.write_peer(0, Some(&peer(0))).expect("writable");
    assert_eq!(dp2.read_peer(0).expect("peer"), Some(peer(0)));
}

/// Checks that every counter of `s` equals `s.pages_done` and the texts
/// say the same number.
fn assert_self_consistent(s: &JobStatus) {
    let n = s.pages_done;
    let counters = [
        s.memory_bytes,
        s.pages_remaining,
        s.bytes_on_wire,
        s.dirty_bytes_per_s,
        s.throughput_bytes_per_s,
        s.pacing_bytes_per_s,
        s.started_unix_ms,
        s.updated_unix_ms,
        s.finished_unix_ms,
        s.downtime_ms,
    ];
    assert!(
        counters
            .iter()
            .chain(&s.pages_by_kind)
            .chain(&s.bytes_by_kind)
            .all(|&c| c == n),
        "mixed record: {s:?}"
    );
    assert_eq!(
        s.error.as_deref(),
        Some(n.to_string().as_str()),
        "mixed record: {s:?}"
    );
    assert_eq!(
        s.summary_json,
        Some(format!("{{\"n\":{n}}}")),
        "mixed record: {s:?}"
    );
}

#[test]
fn a_reader_never_sees_a_mixed_job_status() {
    const READS: u32 = 100_000;
    /// Bound on the writer; it normally stops when the reader is done.
    const WRITES_MAX: u64 = 2_000_000;
    let path = TempPath::new("concurrent");
    let (dp, cp) = pair(path.path());
    dp.write_job_status(0, Some(&status(1, 999_990)))
        .expect("first status");
    let reader_done = AtomicBool::new(false);
    let (last_written, torn, consistent) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            // Start just below a power of ten so the texts change length.
            let mut n = 999_990;
            while !reader_done.load(Ordering::Relaxed) && n < WRITES_MAX {
                n += 1;
                dp.write_job_status(0, Some(&status(1, n)))
                    .expect("single writer never waits");
            }
            n
        });
        /// Stops the writer when the reader ends, also by a failed assert.
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let done = Done(&reader_done);
        let (mut torn, mut consistent, mut last) = (0u32, 0u32, 0u64);
        for _ in 0..READS {
            match cp.read_job_status(0) {
                Ok(Some(s)) => {
                    assert_self_consistent(&s);
                    assert!(
                        s.pages_done >= last,
                        "went back from {last} to {}",
                        s.pages_done
                    );
                    last = s.pages_done;
                    consistent += 1;
                }
                Err(TablesError::Torn { .. }) => torn += 1,
                other => panic!("unexpected read: {other:?}"),
            }
        }
        drop(done);
        (writer.join().expect("writer thread"), torn, consistent)
    });
    assert_eq!(torn + consistent, READS);
    eprintln!(
        "{consistent} consistent reads, {torn} torn, {} writes",
        last_written - 999_990
    );
    let last = cp.read_job_status(0).expect("stable").expect("written");
    assert_self_consistent(&last);
    assert_eq!(
        last.pages_done, last_written,
        "the last write is what stays"
    );
}
