//! A 256 MiB guest that keeps dirtying memory migrates live over loopback and
//! arrives byte for byte.

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, wait_pair, Guest,
    GuestOptions, Migrate, Receive, Summary, TempDir, MIGRATION_DEADLINE,
};

const MIB_256_PAGES: u64 = 256 * 1024 * 1024 / 4096;

/// Migrates a 256 MiB guest dirtying 32 MiB/s with extra migrate and
/// receive arguments, and checks the result fully.
pub(crate) fn migrate_dirtied_guest(
    label: &str,
    migrate_args: &[&str],
    receive_args: &[&str],
) -> (Summary, Summary) {
    migrate_dirtied_guest_into(label, migrate_args, receive_args, |_| {})
}

/// As [`migrate_dirtied_guest`], after `prepare_destination` was given the
/// destination image's path (which does not exist yet) to create it.
pub(crate) fn migrate_dirtied_guest_into(
    label: &str,
    migrate_args: &[&str],
    receive_args: &[&str],
    prepare_destination: impl FnOnce(&std::path::Path),
) -> (Summary, Summary) {
    init_logging();
    let dir = TempDir::new(label);
    let key = dwcp_tests::keygen(&dir, "psk");
    let dest_memory = dir.join("dest.ram");
    prepare_destination(&dest_memory);

    let guest = {
        tracing::info!("start a 256 MiB guest dirtying 32 MiB/s: a live, changing source");
        Guest::start(&dir, "guest", &GuestOptions::new("256M", "32M"))
    };

    let (source, destination) = {
        tracing::info!(?migrate_args, ?receive_args, "migrate it while it runs");
        let port = free_port();
        let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
            .key(&key)
            .args(receive_args)
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .pause(&guest)
            .args(migrate_args)
            .spawn(&dir, "migrator");
        let (source, destination) = wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE);
        (source, destination)
    };

    let (s, d) = {
        tracing::info!("both sides verified the same digest; the summaries are plausible");
        let (s, d) = assert_verified_pair(&source, &destination);
        tracing::info!(source = %s, destination = %d, "summaries");
        assert!(
            s.u64("rounds") >= 2,
            "a dirtied guest needs pre-copy plus a final round: {s}"
        );
        let downtime = s.u64("downtime_ms");
        assert!(downtime < 5000, "downtime {downtime} ms is not < 5000: {s}");
        assert!(
            s.u64("pages_sent") >= MIB_256_PAGES,
            "round 0 alone sends every page ({MIB_256_PAGES}): {s}"
        );
        assert_eq!(s.u64("memory_bytes"), 256 << 20, "{s}");
        assert!(
            s.0["encrypted"].as_bool() == Some(true),
            "encrypted with a key: {s}"
        );
        (s, d)
    };

    {
        tracing::info!(
            "the source does not resume the guest after a success: compare while it is stopped"
        );
        guest.assert_stopped("after a verified migration");
        assert_same_bytes(&guest.memory, &dest_memory, "destination vs paused source");
    }

    {
        tracing::info!("the guest still resumes and exits cleanly");
        guest.assert_stopped("still, after the comparison");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
    (s, d)
}

#[test]
fn t10_basic_dirtied_guest_migrates_byte_for_byte() {
    let (s, _) = migrate_dirtied_guest("t10-basic", &[], &[]);
    // The stream count is derived from a measured RTT, so it is not pinned here.
    assert!(s.u64("streams") >= 1, "{s}");
}

#[test]
fn t10_basic_four_streams_full_verify() {
    let (s, d) = migrate_dirtied_guest("t10-streams4", &["--streams", "4"], &["--verify", "full"]);
    assert_eq!(s.u64("streams"), 4, "{s}");
    assert_eq!(d.u64("streams"), 4, "{d}");
}

/// A destination whose transport and decoder are pinned to one core runs
/// both on one thread; a live guest over three streams still arrives byte
/// for byte, and the destination ends on the source's `Goodbye`.
#[test]
fn t10_basic_one_core_destination() {
    let core = dwcp_tests::first_allowed_core().to_string();
    let (s, d) = migrate_dirtied_guest(
        "t10-one-core",
        &["--streams", "3"],
        &["--decoder-core", &core, "--transport-core", &core],
    );
    assert_eq!(s.u64("streams"), 3, "{s}");
    assert_eq!(d.str("end"), Some("goodbye"), "{d}");
    assert_eq!(s.str("transport_thread"), Some("own"), "{s}");
    assert_eq!(d.str("transport_thread"), Some("shared"), "{d}");
}

/// Both ends on one core each: the source's engine runs its transport
/// too (`dwcp_dataplane::source::inline`), paced, so that its waits for
/// the pacer run the transport; a live guest over three streams still
/// arrives byte for byte.
#[test]
fn t10_basic_one_core_each_end() {
    let core = dwcp_tests::first_allowed_core().to_string();
    let (s, d) = migrate_dirtied_guest(
        "t10-one-core-each",
        &[
            "--streams",
            "3",
            "--engine-core",
            &core,
            "--transport-core",
            &core,
            "--rate-limit-mbps",
            "2000",
        ],
        &["--decoder-core", &core, "--transport-core", &core],
    );
    assert_eq!(s.u64("streams"), 3, "{s}");
    assert_eq!(d.str("end"), Some("goodbye"), "{d}");
    assert_eq!(s.str("transport_thread"), Some("shared"), "{s}");
    assert_eq!(d.str("transport_thread"), Some("shared"), "{d}");
    let total = &s.0["stages_us"]["total"];
    assert!(
        total["frames"].as_u64() > Some(0),
        "the inline transport's frame latencies reach the summary: {s}"
    );
}
