//! Stream 0 cut right after the source's `Commit` went out: the moment of
//! doubt. The destination has (or will read) `Commit`; whether the source
//! hears back depends on a race it cannot win every time: the destination may
//! ack `Commit` and end before the source's reconnect reaches it. Whatever
//! the interleaving, the guest must never run twice and never be lost:
//!
//! - the destination took the guest (`verified`), since `Commit` reached it
//!   whole before the cut's FIN;
//! - the source either heard the ack (after re-establishing stream 0:
//!   `verified`, one reconnect at least) or reports the hand-over `in_doubt`;
//! - either way the guest stays paused on the source: it is never resumed.

use dwcp_tests::{init_logging, unchanging_guest, LoopbackMigration, TempDir};

/// The `Commit` frame that ends stream 0 is 56 bytes; a cut count this far
/// before the end falls inside it, so the cut fires when its write completes.
const BYTES_BEFORE_END: u64 = 20;

#[test]
fn t32_stream_0_cut_as_commit_goes_out_never_runs_the_guest_twice() {
    init_logging();
    let dir = TempDir::new("t32-cut-commit");
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = unchanging_guest(&dir, "32M");
    let migration = LoopbackMigration::new(&guest, &key)
        .pause()
        .deterministic()
        .source_args(&["--reconnect-timeout-ms", "2000"]);

    let end = {
        tracing::info!("a clean run measures the bytes stream 0 writes");
        migration
            .run_clean(&dir, &dir.join("clean.ram"))
            .u64("bytes_on_wire")
    };

    let (source, destination) = {
        let cut_at = (end - BYTES_BEFORE_END).to_string();
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
        tracing::info!("the destination has the guest; the source knows it or is in doubt; the guest stays paused");
        let d = destination.summary();
        assert!(
            d.verified(),
            "Commit reached the destination whole: {d}\n{}",
            destination.describe()
        );
        let s = source.summary();
        tracing::info!(
            verified = s.verified(),
            error_kind = ?s.str("error_kind"),
            reconnects = s.u64("reconnects"),
            "the source's outcome"
        );
        if s.verified() {
            assert!(
                s.u64("reconnects") >= 1,
                "the ack came on a re-established stream 0: {s}"
            );
        } else {
            assert_eq!(
                s.str("error_kind"),
                Some("in_doubt"),
                "{s}\n{}",
                source.describe()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        guest.assert_stopped("after the hand-over: the guest is the destination's");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
}
