//! The page codec on the migration path: pages go as encoded batches, the
//! summaries account for every page and byte by encoding kind, and the
//! image still arrives byte for byte (checked by `migrate_dirtied_guest`).

use crate::t10_basic::{migrate_dirtied_guest, migrate_dirtied_guest_into};
use dwcp_tests::Summary;

const KINDS: [&str; 5] = ["zero", "duplicate", "delta", "zstd", "raw"];

/// The codec object of a source summary, with its per-kind maps summed.
fn kind_sums(s: &Summary) -> (u64, u64) {
    let codec = &s.0["codec"];
    let sum = |map: &str| -> u64 {
        KINDS
            .iter()
            .map(|k| {
                codec[map][k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("codec.{map}.{k} missing: {s}"))
            })
            .sum()
    };
    (sum("pages_by_kind"), sum("bytes_by_kind"))
}

fn codec_u64(s: &Summary, key: &str) -> u64 {
    s.0["codec"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("codec.{key} missing: {s}"))
}

#[test]
fn t90_codec_accounts_for_every_page_and_byte() {
    // A fixed level runs the whole pipeline (duplicates, deltas, zstd)
    // whatever the machine's speed; two streams pin two page ranges.
    let (s, d) = migrate_dirtied_guest(
        "t90-codec",
        &["--streams", "2", "--compression-level", "1"],
        &[],
    );
    let (pages, bytes) = kind_sums(&s);
    assert_eq!(pages, s.u64("pages_sent"), "every page has a kind: {s}");
    let encoded = codec_u64(&s, "encoded_bytes");
    assert_eq!(
        bytes + codec_u64(&s, "control_bytes"),
        encoded,
        "kinds and control add up to the encoded bytes: {s}"
    );
    assert!(
        encoded < s.u64("bytes_on_wire"),
        "frames add headers and tags: {s}"
    );
    let codec = &s.0["codec"];
    for kind in ["zero", "duplicate", "zstd"] {
        assert!(
            codec["pages_by_kind"][kind].as_u64() > Some(0),
            "the guest stand-in has {kind} pages: {s}"
        );
    }
    assert!(
        codec["pages_by_kind"]["delta"].as_u64() > Some(0),
        "pages dirtied between rounds go as deltas: {s}"
    );
    assert_eq!(codec["level_final"].as_i64(), Some(1), "fixed level: {s}");
    assert!(
        s.u64("bytes_on_wire") < s.u64("memory_bytes"),
        "the encoded migration moves fewer bytes than the image: {s}"
    );
    assert!(
        d.0["decode_cpu_ms"].as_u64().is_some(),
        "the destination reports its decode time: {d}"
    );
}

#[test]
fn t90_codec_internet_tier_three_streams() {
    // Three streams split the pages unevenly; the internet tier starts at
    // its strongest level and adapts.
    let (s, _) = migrate_dirtied_guest(
        "t90-internet",
        &["--streams", "3", "--link-tier", "internet"],
        &["--verify", "full"],
    );
    let (pages, _) = kind_sums(&s);
    assert_eq!(pages, s.u64("pages_sent"), "{s}");
    assert!(codec_u64(&s, "batches") > 0, "{s}");
}

#[test]
fn t90_codec_finisher_threads_finish_batches_beside_the_engine() {
    // Two finisher threads compress three streams' batches while the
    // engine packs pages; each stream's frames must still reach the
    // destination in order (a batch out of order breaks its zstd stream
    // and its duplicate references) across rounds of dirtied pages.
    let (s, _) = migrate_dirtied_guest(
        "t90-finishers",
        &[
            "--streams",
            "3",
            "--compression-level",
            "3",
            "--finisher-threads",
            "2",
        ],
        &["--verify", "full"],
    );
    assert_eq!(codec_u64(&s, "finisher_threads"), 2, "{s}");
    let (pages, bytes) = kind_sums(&s);
    assert_eq!(pages, s.u64("pages_sent"), "every page has a kind: {s}");
    assert_eq!(
        bytes + codec_u64(&s, "control_bytes"),
        codec_u64(&s, "encoded_bytes"),
        "kinds and control add up to the encoded bytes: {s}"
    );
    let codec = &s.0["codec"];
    for kind in ["zero", "duplicate", "zstd", "delta"] {
        assert!(
            codec["pages_by_kind"][kind].as_u64() > Some(0),
            "the dirtied guest stand-in has {kind} pages: {s}"
        );
    }
    assert!(
        s.u64("rounds") >= 2,
        "dirtied pages need a later round: {s}"
    );
}

/// The finishers beside an engine that runs its transport too (both
/// pinned to one core): the engine's waits for a finisher run the
/// transport's passes, and the batches still arrive in order.
#[test]
fn t90_codec_finishers_beside_a_one_core_engine() {
    let core = dwcp_tests::first_allowed_core().to_string();
    let (s, _) = migrate_dirtied_guest(
        "t90-finishers-one-core",
        &[
            "--streams",
            "2",
            "--compression-level",
            "3",
            "--finisher-threads",
            "2",
            "--engine-core",
            &core,
            "--transport-core",
            &core,
        ],
        &[],
    );
    assert_eq!(codec_u64(&s, "finisher_threads"), 2, "{s}");
    assert_eq!(s.str("transport_thread"), Some("shared"), "{s}");
    let (pages, _) = kind_sums(&s);
    assert_eq!(pages, s.u64("pages_sent"), "every page has a kind: {s}");
}

#[test]
fn t90_codec_off_sends_raw_pages() {
    let (s, d) = migrate_dirtied_guest("t90-off", &["--codec", "off"], &[]);
    assert!(s.0["codec"].is_null(), "no codec figures without it: {s}");
    assert!(d.0["decode_cpu_ms"].is_null(), "{d}");
}

#[test]
fn t90_codec_bottom_rung_sends_raw_frames_on_each_stream() {
    // Level 0 (no zstd) sends every page raw in PageBatch frames on the
    // page's own stream, one copy as without the codec; the destination
    // must still end byte for byte equal across rounds of dirtied pages.
    let (s, _) = migrate_dirtied_guest(
        "t90-bottom",
        &["--streams", "3", "--compression-level", "0"],
        &["--verify", "full"],
    );
    let (pages, bytes) = kind_sums(&s);
    assert_eq!(pages, s.u64("pages_sent"), "every page has a kind: {s}");
    assert_eq!(
        bytes + codec_u64(&s, "control_bytes"),
        codec_u64(&s, "encoded_bytes"),
        "kinds and control add up to the batch bytes: {s}"
    );
    let codec = &s.0["codec"];
    for kind in ["zero", "raw"] {
        assert!(
            codec["pages_by_kind"][kind].as_u64() > Some(0),
            "the guest stand-in has {kind} pages: {s}"
        );
    }
    for kind in ["duplicate", "delta", "zstd"] {
        assert_eq!(
            codec["pages_by_kind"][kind].as_u64(),
            Some(0),
            "no {kind} pages on the bottom rung: {s}"
        );
    }
    assert!(
        s.u64("rounds") >= 2,
        "dirtied pages need a later round: {s}"
    );
}

/// Fills `path` with 256 MiB of 0xa5: an old image at the guest's size.
fn old_image(path: &std::path::Path) {
    std::fs::write(path, vec![0xa5u8; 256 << 20]).expect("write the old image");
}

#[test]
fn t90_codec_writes_zero_pages_over_an_old_image() {
    // A fresh image reads zero, so the destination skips its zero pages;
    // an old image of the same size (reused, as `receive` allows) does
    // not: every zero page must be written over it, by the codec's
    // decoder and on the raw path alike (`migrate_dirtied_guest_into`
    // compares the images byte for byte).
    for (label, args) in [
        ("t90-old-image-codec", ["--compression-level", "1"]),
        ("t90-old-image-raw", ["--codec", "off"]),
    ] {
        let (s, _) = migrate_dirtied_guest_into(label, &args, &[], old_image);
        assert!(s.u64("pages_sent") > 0, "{s}");
    }
}
