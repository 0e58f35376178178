//! Stream 0 carries the control frames: `Final` out, the verdict back. The
//! cut hook fires once the stream has written past a byte count, and a write
//! completes whole frames, so a count a few bytes short of the end cuts the
//! stream right after `Final` went out and before the verdict can come back
//! (the source shuts its socket for reading too). The source must
//! re-establish stream 0 and still get the verdict, which the destination
//! sends again on a re-established stream 0.
//!
//! An unchanging guest and full frames (`--frame-pages-min 64`: frames
//! otherwise follow the bytes in flight, which timing decides) make the
//! bytes on the wire the same in every run, so a first clean run measures
//! where the end is.

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, wait_pair, Guest,
    GuestOptions, Migrate, Receive, Summary, TempDir, MIGRATION_DEADLINE,
};
use std::path::Path;

/// How far before the end of the stream the cut count falls: inside `Final`
/// (an 80-byte frame with one stream: 24-byte header, 40-byte body, 16-byte
/// tag), so the cut fires
/// when `Final`'s write completes.
const BYTES_BEFORE_END: u64 = 20;

fn migrate(dir: &TempDir, guest: &Guest, key: &Path, dest: &Path, extra: &[&str]) -> Summary {
    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, dest)
        .key(key)
        .start(dir, "receiver");
    let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
        .key(key)
        .args(&["--streams", "1", "--frame-pages-min", "64"])
        .args(extra)
        .spawn(dir, "migrator");
    let (source, destination) = wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE);
    assert_verified_pair(&source, &destination).0
}

#[test]
fn t31_control_stream_cut_after_final_still_verifies() {
    init_logging();
    let dir = TempDir::new("t31-cut-end");
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = {
        tracing::info!("an unchanging 32 MiB guest of random bytes: deterministic traffic");
        Guest::start(
            &dir,
            "guest",
            &GuestOptions::new("32M", "0").args(&["--fill", "random"]),
        )
    };

    let end = {
        tracing::info!("a clean run measures the bytes stream 0 writes");
        let clean = migrate(&dir, &guest, &key, &dir.join("clean.ram"), &[]);
        assert_eq!(clean.u64("reconnects"), 0, "{clean}");
        clean.u64("bytes_on_wire")
    };

    let cut = {
        let cut_at = end - BYTES_BEFORE_END;
        tracing::info!(
            end,
            cut_at,
            "the same migration, stream 0 cut as Final goes out"
        );
        let cut_at = cut_at.to_string();
        migrate(
            &dir,
            &guest,
            &key,
            &dir.join("dest.ram"),
            &[
                "--fault-cut-stream",
                "0",
                "--fault-cut-after-bytes",
                &cut_at,
            ],
        )
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
