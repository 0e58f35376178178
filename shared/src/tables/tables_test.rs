//! Unit tests that need the private layout: records with invalid fields
//! stored behind the validation, torn records, and concurrent writers of
//! one record inside a process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use zerocopy::little_endian::U16;
use zerocopy::{FromZeros, IntoBytes};

use super::codec::{self, Ctx};
use super::layout::Table;
use super::raw::{RawJobSpec, RawJobStatus, RawLink, RawNode, RawPeer, RawWorker};
use super::seqlock::{self, SeqlockPayload};
use super::text::RawText;
use super::*;

/// A unique path under the temp dir, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(
            std::env::temp_dir().join(format!("dwcp-tables-unit-{}-{tag}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spec(job_id: u64) -> JobSpec {
    JobSpec {
        job_id,
        spec_version: 1,
        role: JobRole::Receive,
        requested: RequestedState::Run,
        vm_id: "vm-1".into(),
        memory_path: "/dev/hugepages/vm-1".into(),
        address: "0.0.0.0:7000".into(),
        memory_bytes: 1 << 30,
        streams: 4,
        streams_active: 2,
        pacing_bytes_per_s: 0,
        compression: CompressionTier::Datacenter,
        codec: true,
        downtime_ms: 300,
        max_rounds: 30,
        key_id: 9,
        key: [7; 32],
        pause_pid: 4242,
        link_mode: Some(LinkMode::Hybrid),
        peer_id: "host-b".into(),
        pacing_follows_prediction: false,
        streams_follow_prediction: true,
        predicted_floor_bytes_per_s: 0,
    }
}

fn status(job_id: u64, n: u64) -> JobStatus {
    JobStatus {
        job_id,
        applied_spec_version: 1,
        state: JobState::Running,
        round: 1,
        memory_bytes: n,
        pages_done: n,
        pages_remaining: n,
        bytes_on_wire: n,
        pages_by_kind: [n; ENCODING_KINDS],
        bytes_by_kind: [n; ENCODING_KINDS],
        dirty_bytes_per_s: n,
        throughput_bytes_per_s: n,
        streams_active: 1,
        streams_connected: 4,
        pacing_bytes_per_s: n,
        compression: CompressionTier::Off,
        started_unix_ms: n,
        updated_unix_ms: n,
        finished_unix_ms: 0,
        downtime_ms: n,
        error: None,
        summary_json: None,
    }
}

/// Stores `raw` in `table`/`slot` without any validation.
fn store_raw<R: SeqlockPayload>(tables: &Tables, table: Table, slot: usize, raw: &R) {
    let offset = table.record_offset(slot).expect("slot in range");
    seqlock::write(&tables.region, offset, raw, true, table.name(), slot).expect("record free");
}

fn ctx(table: Table, slot: usize) -> Ctx {
    Ctx {
        table: table.name(),
        slot,
    }
}

/// Asserts `err` is `Field` for `table`/`slot`/`field` and returns its reason.
fn field_reason(err: TablesError, table: Table, slot: usize, field: &str) -> String {
    match err {
        TablesError::Field {
            table: t,
            slot: s,
            field: f,
            reason,
        } if t == table.name() && s == slot && f == field => reason,
        other => panic!(
            "expected Field {{ {}, {slot}, {field} }}, got {other:?}",
            table.name()
        ),
    }
}

#[test]
fn invalid_fields_in_the_file_are_typed_errors() {
    let path = TempPath::new("fields");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");

    // Unknown enum code.
    let mut raw = codec::encode_job_spec(ctx(Table::JobSpecs, 3), &spec(5)).expect("valid spec");
    raw.role = 9;
    store_raw(&dp, Table::JobSpecs, 3, &raw);
    let reason = field_reason(
        dp.read_job_spec(3).expect_err("role 9"),
        Table::JobSpecs,
        3,
        "role",
    );
    assert!(reason.contains("unknown code 9"), "{reason}");

    // Zero where nonzero is required.
    raw.role = JobRole::Receive.code();
    raw.key_id = 0;
    store_raw(&dp, Table::JobSpecs, 3, &raw);
    field_reason(
        dp.read_job_spec(3).expect_err("key_id 0"),
        Table::JobSpecs,
        3,
        "key_id",
    );

    // A Send job with memory_bytes set.
    raw.key_id = 1;
    raw.role = JobRole::Send.code();
    store_raw(&dp, Table::JobSpecs, 3, &raw);
    field_reason(
        dp.read_job_spec(3).expect_err("send with size"),
        Table::JobSpecs,
        3,
        "memory_bytes",
    );

    // Text length over its bound, bad UTF-8, NUL.
    let mut node = RawNode::new_zeroed();
    let len_at = core::mem::offset_of!(RawNode, node_id);
    node.as_mut_bytes()[len_at..len_at + 2].copy_from_slice(U16::new(65).as_bytes());
    store_raw(&dp, Table::Node, 0, &node);
    let reason = field_reason(
        dp.read_node().expect_err("len 65"),
        Table::Node,
        0,
        "node_id",
    );
    assert!(reason.contains("65") && reason.contains("64"), "{reason}");
    node.as_mut_bytes()[len_at..len_at + 4].copy_from_slice(&[2, 0, 0xC3, 0x28]);
    store_raw(&dp, Table::Node, 0, &node);
    field_reason(
        dp.read_node().expect_err("bad utf8"),
        Table::Node,
        0,
        "node_id",
    );
    node.as_mut_bytes()[len_at..len_at + 4].copy_from_slice(&[2, 0, b'a', 0]);
    store_raw(&dp, Table::Node, 0, &node);
    field_reason(dp.read_node().expect_err("NUL"), Table::Node, 0, "node_id");

    // Presence flags.
    let mut st =
        codec::encode_job_status(ctx(Table::JobStatuses, 0), &status(4, 1)).expect("valid");
    st.error_present = 2;
    store_raw(&dp, Table::JobStatuses, 0, &st);
    field_reason(
        dp.read_job_status(0).expect_err("flag 2"),
        Table::JobStatuses,
        0,
        "error",
    );
    st.error_present = 0;
    st.summary_json = RawText::encode("{}").expect("fits");
    store_raw(&dp, Table::JobStatuses, 0, &st);
    field_reason(
        dp.read_job_status(0).expect_err("text without flag"),
        Table::JobStatuses,
        0,
        "summary_json",
    );
    st.summary_json = RawText::new_zeroed();
    st.state = 0;
    store_raw(&dp, Table::JobStatuses, 0, &st);
    field_reason(
        dp.read_job_status(0).expect_err("state 0"),
        Table::JobStatuses,
        0,
        "state",
    );

    // Peer mode code, address syntax.
    let peer = PeerEntry {
        peer_id: "b".into(),
        data_address: "b:1".into(),
        mode: None,
    };
    let mut rp = codec::encode_peer(ctx(Table::Peers, 1), &peer).expect("valid");
    rp.mode = 4;
    store_raw(&dp, Table::Peers, 1, &rp);
    field_reason(
        dp.read_peer(1).expect_err("mode 4"),
        Table::Peers,
        1,
        "mode",
    );
    rp.mode = 0;
    rp.data_address = RawText::encode("no-port").expect("fits");
    store_raw(&dp, Table::Peers, 1, &rp);
    field_reason(
        dp.read_peer(1).expect_err("address"),
        Table::Peers,
        1,
        "data_address",
    );

    // Worker role and core flag; link loss bound.
    let mut w = RawWorker::new_zeroed();
    w.role = 5;
    store_raw(&dp, Table::Workers, 2, &w);
    field_reason(
        dp.read_worker(2).expect_err("role 5"),
        Table::Workers,
        2,
        "role",
    );
    w.role = 1;
    w.core = 3;
    store_raw(&dp, Table::Workers, 2, &w);
    field_reason(
        dp.read_worker(2).expect_err("core without flag"),
        Table::Workers,
        2,
        "core",
    );
    let mut l = RawLink::new_zeroed();
    l.sample_unix_ms = 1;
    l.peer_address = RawText::encode("[::1]:9").expect("fits");
    l.loss_ppm = LOSS_PPM_MAX + 1;
    store_raw(&dp, Table::Links, 0, &l);
    field_reason(
        dp.read_link_sample(0).expect_err("loss"),
        Table::Links,
        0,
        "loss_ppm",
    );
    l.loss_ppm = LOSS_PPM_MAX;
    store_raw(&dp, Table::Links, 0, &l);
    assert!(dp.read_link_sample(0).expect("valid").is_some());
}

#[test]
fn live_stream_count_is_bounded_by_the_streams_opened() {
    let path = TempPath::new("streams");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");
    let mut raw = codec::encode_job_spec(ctx(Table::JobSpecs, 2), &spec(7)).expect("valid spec");
    raw.streams = 4;
    raw.streams_active = 5;
    store_raw(&dp, Table::JobSpecs, 2, &raw);
    let reason = field_reason(
        dp.read_job_spec(2).expect_err("5 of 4 streams"),
        Table::JobSpecs,
        2,
        "streams_active",
    );
    assert!(
        reason.contains("5 is more than the 4 streams opened"),
        "{reason}"
    );
    raw.streams_active = 4;
    store_raw(&dp, Table::JobSpecs, 2, &raw);
    let read = dp.read_job_spec(2).expect("4 of 4").expect("a job");
    assert_eq!((read.streams, read.streams_active), (4, 4));
    // Automatic stream count: any live count up to the protocol's bound.
    raw.streams = 0;
    raw.streams_active = crate::limits::STREAMS_MAX + 1;
    store_raw(&dp, Table::JobSpecs, 2, &raw);
    assert!(dp.read_job_spec(2).is_err());
    raw.streams_active = crate::limits::STREAMS_MAX;
    store_raw(&dp, Table::JobSpecs, 2, &raw);
    assert!(dp.read_job_spec(2).expect("in range").is_some());
}

#[test]
fn empty_marker_hides_the_rest_of_the_record() {
    let path = TempPath::new("marker");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");
    let mut raw = RawJobSpec::new_zeroed();
    raw.role = 0xFF;
    raw.key_id = 0;
    store_raw(&dp, Table::JobSpecs, 0, &raw);
    assert!(dp
        .read_job_spec(0)
        .expect("job_id 0 is an empty slot")
        .is_none());
    let mut peer = RawPeer::new_zeroed();
    peer.mode = 0xFF;
    store_raw(&dp, Table::Peers, 0, &peer);
    assert!(dp.read_peer(0).expect("empty peer_id").is_none());
}

#[test]
fn torn_records_are_reported_and_reset_by_their_owner_only() {
    let path = TempPath::new("torn");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");
    let cp = Tables::attach(&path.0).expect("attach");
    cp.write_job_spec(0, Some(&spec(1))).expect("write spec");
    dp.write_job_status(0, Some(&status(1, 5)))
        .expect("write status");
    fn seq_of(t: &Tables, table: Table) -> &AtomicU64 {
        t.region.word(table.record_offset(0).expect("slot 0"))
    }
    // Leave both records odd, as a writer that died mid-write would.
    seq_of(&dp, Table::JobSpecs).fetch_add(1, Ordering::Relaxed);
    seq_of(&dp, Table::JobStatuses).fetch_add(1, Ordering::Relaxed);
    assert!(matches!(
        cp.read_job_spec(0),
        Err(TablesError::Torn {
            table: "job_specs",
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
    // A writer waiting for the record gives up too.
    assert!(matches!(
        cp.write_job_spec(0, Some(&spec(2))),
        Err(TablesError::Torn {
            table: "job_specs",
            slot: 0
        })
    ));

    // The control plane attaching resets only its own record.
    let cp2 = Tables::attach(&path.0).expect("attach again");
    assert_eq!(cp2.read_job_spec(0).expect("reset"), None);
    assert!(matches!(
        cp2.read_job_status(0),
        Err(TablesError::Torn { .. })
    ));
    // The data plane re-attaching resets its own.
    let dp2 = Tables::create_or_attach(&path.0, 2, false).expect("re-attach");
    assert_eq!(dp2.read_job_status(0).expect("reset"), None);
    assert_eq!(
        seq_of(&dp2, Table::JobStatuses).load(Ordering::Relaxed) % 2,
        0
    );
    dp2.write_job_status(0, Some(&status(1, 6)))
        .expect("writable again");
    assert_eq!(
        cp2.read_job_status(0).expect("read").map(|s| s.pages_done),
        Some(6)
    );
}

#[test]
fn writers_of_one_record_in_one_process_are_serialised() {
    const WRITES_PER_THREAD: u64 = 20_000;
    const READS: u32 = 20_000;
    let path = TempPath::new("writers");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");
    let cp = Tables::attach(&path.0).expect("attach");
    std::thread::scope(|scope| {
        for base in [1u64, 1 << 40] {
            let dp = &dp;
            scope.spawn(move || {
                for i in 0..WRITES_PER_THREAD {
                    dp.write_worker(
                        0,
                        Some(&WorkerCounters {
                            role: WorkerRole::Engine,
                            core: None,
                            job_id: base + i,
                            busy_ns: base + i,
                            idle_ns: base + i,
                            frames: base + i,
                            bytes: base + i,
                        }),
                    )
                    .expect("the other writer finishes within the retry budget");
                }
            });
        }
        // Empty and torn reads are fine here; a mixed record is not.
        for _ in 0..READS {
            if let Ok(Some(w)) = cp.read_worker(0) {
                let n = w.job_id;
                assert!(
                    [w.busy_ns, w.idle_ns, w.frames, w.bytes]
                        .iter()
                        .all(|&v| v == n),
                    "mixed: {w:?}"
                );
            }
        }
    });
    let last = cp.read_worker(0).expect("stable").expect("written");
    assert!(last.job_id == WRITES_PER_THREAD || last.job_id == (1 << 40) + WRITES_PER_THREAD - 1);
    assert!([last.busy_ns, last.idle_ns, last.frames, last.bytes]
        .iter()
        .all(|&v| v == last.job_id));
}

#[test]
fn status_with_long_texts_then_short_texts_reads_the_short_ones() {
    let path = TempPath::new("shrink");
    let dp = Tables::create_or_attach(&path.0, 1, false).expect("create");
    let mut long = status(3, 1);
    long.error = Some("e".repeat(ERROR_LEN_MAX));
    long.summary_json = Some("s".repeat(SUMMARY_LEN_MAX));
    dp.write_job_status(0, Some(&long)).expect("write long");
    assert_eq!(dp.read_job_status(0).expect("read"), Some(long));
    let mut short = status(3, 2);
    short.error = Some("x".into());
    short.summary_json = Some(String::new());
    dp.write_job_status(0, Some(&short)).expect("write short");
    assert_eq!(dp.read_job_status(0).expect("read"), Some(short));
    // Clearing zeroes the whole record, text tails included.
    dp.write_job_status(0, None).expect("clear");
    let raw: RawJobStatus = seqlock::read(
        &dp.region,
        Table::JobStatuses.record_offset(0).expect("0"),
        "t",
        0,
    )
    .expect("stable");
    assert!(
        raw.as_bytes().iter().all(|&b| b == 0),
        "cleared record is all zero"
    );
}
