//! One of two streams is cut mid-migration (the source shuts its socket down
//! once); the source reconnects it, resumes, and the image still arrives
//! byte for byte.

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, wait_pair, Guest,
    GuestOptions, Migrate, Receive, TempDir, MIGRATION_DEADLINE,
};

#[test]
fn t30_stream_cut_reconnects_and_resumes() {
    init_logging();
    let dir = TempDir::new("t30-cut");
    let key = dwcp_tests::keygen(&dir, "psk");
    let dest_memory = dir.join("dest.ram");
    let guest = {
        tracing::info!("a 256 MiB guest dirtying 32 MiB/s");
        Guest::start(&dir, "guest", &GuestOptions::new("256M", "32M"))
    };

    let (source, destination) = {
        tracing::info!("two streams; stream 1 is shut down after 8,000,000 bytes");
        let port = free_port();
        let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
            .key(&key)
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .pause(&guest)
            .args(&[
                "--streams",
                "2",
                "--fault-cut-stream",
                "1",
                "--fault-cut-after-bytes",
                "8000000",
            ])
            .spawn(&dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
    };

    {
        tracing::info!("verified, with at least one reconnect on the source");
        let (s, d) = assert_verified_pair(&source, &destination);
        assert_eq!(s.u64("streams"), 2, "{s}");
        assert!(
            s.u64("reconnects") >= 1,
            "the cut stream must have been re-established: {s}\n{}",
            source.describe()
        );
        tracing::info!(source = %s, destination = %d, "summaries");
    }

    {
        tracing::info!("byte for byte against the paused source");
        guest.assert_stopped("after a verified migration");
        assert_same_bytes(&guest.memory, &dest_memory, "destination vs paused source");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
}
