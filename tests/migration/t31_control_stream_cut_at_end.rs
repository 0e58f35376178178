//! Stream 0 carries the control frames: `Final` out, the verdict back, then
//! the source's `Commit` out. The cut hook fires once the stream has written
//! past a byte count, and a write completes whole frames, so a count a few
//! bytes short of `Final`'s end cuts the stream right after `Final` went out
//! (the source shuts its socket for reading too). The source must
//! re-establish stream 0, get the verdict (the destination sends it again on
//! a re-established stream 0 until it has `Commit`), and commit. Whether the
//! source read the verdict before the cut or not, `Commit` has to travel on
//! a re-established stream 0, so the test sees a reconnect either way (before
//! `Commit` existed the source could read the verdict, finish and never
//! reap `Final`'s write: no cut, about one run in thirty).
//!
//! An unchanging guest and full frames make the bytes on the wire the same
//! in every run, so a first clean run measures where the end is.

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, init_logging, unchanging_guest, LoopbackMigration,
    TempDir,
};

/// The frames after `Final` on stream 0: `Commit` (24-byte header, 16-byte
/// body, 16-byte tag) and `Goodbye` (24-byte header, empty body, 16-byte tag).
const FRAMES_AFTER_FINAL_LEN: u64 = (24 + 16 + 16) + (24 + 16);

/// How far before the end of `Final` the cut count falls: inside it (an
/// 80-byte frame with one stream: 24-byte header, 40-byte body, 16-byte
/// tag), so the cut fires when `Final`'s write completes.
const BYTES_BEFORE_FINAL_END: u64 = 20;

#[test]
fn t31_control_stream_cut_after_final_still_verifies() {
    init_logging();
    let dir = TempDir::new("t31-cut-end");
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = unchanging_guest(&dir, "32M");

    let end = {
        tracing::info!("a clean run measures the bytes stream 0 writes");
        LoopbackMigration::new(&guest, &key)
            .deterministic()
            .run_clean(&dir, &dir.join("clean.ram"))
            .u64("bytes_on_wire")
    };

    let cut = {
        let cut_at = end - FRAMES_AFTER_FINAL_LEN - BYTES_BEFORE_FINAL_END;
        tracing::info!(
            end,
            cut_at,
            "the same migration, stream 0 cut as Final goes out"
        );
        let cut_at = cut_at.to_string();
        let (source, destination) = LoopbackMigration::new(&guest, &key)
            .deterministic()
            .source_args(&[
                "--fault-cut-stream",
                "0",
                "--fault-cut-after-bytes",
                &cut_at,
            ])
            .run(&dir, &dir.join("dest.ram"));
        assert_verified_pair(&source, &destination).0
    };

    {
        tracing::info!("re-established once, verified, byte for byte");
        assert!(
            cut.u64("reconnects") >= 1,
            "stream 0 was cut and re-established: {cut}"
        );
        assert_same_bytes(
            &guest.memory,
            &dir.join("dest.ram"),
            "destination vs unchanged source",
        );
        guest.finish();
    }
}
