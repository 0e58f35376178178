//! The destination owns the guest only once the source commits the hand-over.
//! A source that stops between the verdict and its `Commit` (here a test
//! hook; in life a crash, or a stream that broke after the destination wrote
//! the verdict and before the source read it) resumes the guest, so the
//! destination, although its image verified, must fail and not report the
//! image as migrated: otherwise both hosts would run the guest.

use dwcp_tests::{assert_failed_with, init_logging, unchanging_guest, LoopbackMigration, TempDir};

#[test]
fn t43_a_verdict_without_a_commit_does_not_hand_the_guest_over() {
    init_logging();
    let dir = TempDir::new("t43-no-commit");
    let key = dwcp_tests::keygen(&dir, "psk");
    let mut guest = unchanging_guest(&dir, "32M");
    let dest = dir.join("dest.ram");

    let (source, destination) = {
        tracing::info!("the source stops after an ok verdict, without committing");
        LoopbackMigration::new(&guest, &key)
            .pause()
            .source_args(&["--streams", "2", "--fault-skip-commit"])
            .receiver_args(&["--peer-timeout-ms", "1000"])
            .run(&dir, &dest)
    };

    {
        tracing::info!("both fail; the guest runs on the source; the destination kept nothing");
        let s = assert_failed_with(&source, &["between the verdict and the commit"]);
        assert!(
            !s.0["downtime_ms"].is_null(),
            "the guest was paused, so there was downtime: {s}"
        );
        let d = assert_failed_with(&destination, &["image verified", "never committed"]);
        assert!(
            !d.0["digest"].is_null(),
            "the destination computed its digest (its verdict was ok): {d}"
        );
        assert!(
            !dest.exists(),
            "the destination removed the image it was never given: {}",
            dest.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        guest.assert_running("after a migration that was never committed");
        guest.finish();
    }
}

/// A `Commit` that the destination cannot take (its tag is broken) leaves
/// the hand-over in doubt for the source: the destination may or may not
/// have taken it, as far as the source can tell, so the guest stays paused
/// and the source says so; the destination refuses the frame and fails.
#[test]
fn t43_a_commit_the_destination_refuses_leaves_the_guest_paused() {
    init_logging();
    let dir = TempDir::new("t43-bad-commit");
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = unchanging_guest(&dir, "32M");
    let migration = LoopbackMigration::new(&guest, &key)
        .pause()
        .deterministic()
        .receiver_args(&["--peer-timeout-ms", "1000"]);

    let frames = {
        tracing::info!("a clean run counts the acknowledged frames: the last one is Commit (Goodbye is never acknowledged)");
        let s = migration.run_clean(&dir, &dir.join("clean.ram"));
        assert!(
            s.0["handover_ms"].as_u64().is_some(),
            "a verified source reports its hand-over time: {s}"
        );
        s.0["latency_us"]["frames"]
            .as_u64()
            .expect("latency_us.frames")
    };

    let (source, destination) = {
        tracing::info!(frames, "the same migration, Commit's tag broken");
        migration
            .clone()
            .source_args(&["--fault-tamper-frame", &frames.to_string()])
            .run(&dir, &dir.join("dest.ram"))
    };

    {
        tracing::info!("the source is in doubt and keeps the guest paused; the destination fails");
        let s = assert_failed_with(&source, &["in doubt", "paused"]);
        assert_eq!(s.0["error_kind"], "in_doubt", "{s}");
        let d = assert_failed_with(&destination, &["never committed", "authentication"]);
        assert!(!d.verified(), "{d}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        guest.assert_stopped("after a hand-over in doubt");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
}
