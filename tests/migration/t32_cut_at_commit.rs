//! Stream 0 cut right after the source's `Commit` went out, before the
//! destination's ack of it can come back (the source shuts its socket for
//! reading too). The destination takes `Commit` (it reached it whole before
//! the cut's FIN), but a close after `Commit` is not the source's end: only
//! the source's `Goodbye`, sent once it has the ack, is. So the destination
//! keeps listening, the source re-establishes stream 0, the destination acks
//! `Commit` again on it, and the source says goodbye: both verified, and the
//! guest is never resumed on the source. (Before `Goodbye`, the destination
//! ended on its ack's write and in about one run of five the source, whose
//! reconnect found nobody, was in doubt.) On loopback the ack can also be
//! read before the cut takes effect; the source then re-establishes stream
//! 0 to carry its `Goodbye` (never acknowledged, so resent after the resume
//! point), which the destination waits for.

use dwcp_tests::{
    assert_verified_pair, init_logging, unchanging_guest, LoopbackMigration, TempDir,
};

/// The `Goodbye` frame that ends stream 0: 24-byte header, empty body,
/// 16-byte tag.
const GOODBYE_FRAME_LEN: u64 = 24 + 16;

/// `Commit` (56 bytes) comes before `Goodbye`; a cut count this far before
/// its end falls inside it, so the cut fires when its write completes.
const BYTES_BEFORE_COMMIT_END: u64 = 20;

#[test]
fn t32_stream_0_cut_as_commit_goes_out_never_runs_the_guest_twice() {
    cut_as_commit_goes_out("t32-cut-commit", false, false);
}

/// The same with the destination's transport and decoder on one thread
/// (both pinned to one core): the worker keeps the transport's rules.
#[test]
fn t32_the_same_cut_with_a_one_core_destination() {
    cut_as_commit_goes_out("t32-cut-commit-one-core", true, false);
}

/// The same with one thread at each end: the source's engine runs its
/// transport, so the re-established stream 0 is attached, and the ack
/// of `Commit` read, in the engine's waits.
#[test]
fn t32_the_same_cut_with_one_core_each_end() {
    cut_as_commit_goes_out("t32-cut-commit-one-core-each", true, true);
}

fn cut_as_commit_goes_out(label: &str, one_core_destination: bool, one_core_source: bool) {
    init_logging();
    let dir = TempDir::new(label);
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = unchanging_guest(&dir, "32M");
    let mut migration = LoopbackMigration::new(&guest, &key)
        .pause()
        .deterministic()
        .source_args(&["--reconnect-timeout-ms", "2000"]);
    if one_core_destination {
        migration = migration.one_core_destination();
    }
    if one_core_source {
        migration = migration.one_core_source();
    }

    let end = {
        tracing::info!("a clean run measures the bytes stream 0 writes");
        migration
            .run_clean(&dir, &dir.join("clean.ram"))
            .u64("bytes_on_wire")
    };

    let (source, destination) = {
        let cut_at = (end - GOODBYE_FRAME_LEN - BYTES_BEFORE_COMMIT_END).to_string();
        tracing::info!(
            end,
            cut_at,
            "the same migration, stream 0 cut as Commit goes out"
        );
        migration
            .clone()
            .source_args(&[
                "--fault-cut-stream",
                "0",
                "--fault-cut-after-bytes",
                &cut_at,
            ])
            .run(&dir, &dir.join("dest.ram"))
    };

    {
        tracing::info!("both verified after a reconnect; the guest stays paused on the source");
        let (s, d) = assert_verified_pair(&source, &destination);
        tracing::info!(reconnects = s.u64("reconnects"), end = ?d.str("end"), "how it ended");
        assert!(
            s.u64("reconnects") >= 1,
            "stream 0 was re-established (for the ack of Commit, or for Goodbye): {s}"
        );
        assert_eq!(d.str("end"), Some("goodbye"), "{d}");
        assert_eq!(
            destination.stderr.contains(ONE_THREAD_LOG),
            one_core_destination,
            "one worker thread exactly when both are pinned to one core: {}",
            destination.stderr
        );
        assert_eq!(
            source.stderr.contains(ONE_THREAD_LOG),
            one_core_source,
            "one thread for the engine and transport exactly when both are pinned to one core: {}",
            source.stderr
        );
        let shared = |yes| Some(if yes { "shared" } else { "own" });
        assert_eq!(s.str("transport_thread"), shared(one_core_source), "{s}");
        assert_eq!(
            d.str("transport_thread"),
            shared(one_core_destination),
            "{d}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        guest.assert_stopped("after the hand-over: the guest is the destination's");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
}

/// What the destination logs when one thread runs its transport and decoder.
const ONE_THREAD_LOG: &str = "one thread runs both";
