//! The same live migration across two network namespaces joined by a veth
//! pair: a real interface, not loopback. Needs root; skips otherwise.

use dwcp_tests::netns::{ADDR_A, ADDR_B};
use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, skip, wait_pair, Guest,
    GuestOptions, Migrate, NetnsPair, Receive, TempDir, MIGRATION_DEADLINE,
};

#[test]
fn t20_netns_migration_over_veth() {
    init_logging();
    let dir = TempDir::new("t20-netns");
    let netns = {
        tracing::info!("create namespaces {ADDR_A} <-veth-> {ADDR_B}; skip if this host cannot");
        match NetnsPair::create() {
            Ok(pair) => pair,
            Err(reason) => {
                skip(
                    "t20_netns",
                    &format!("needs root and network namespaces: {reason}"),
                );
                return;
            }
        }
    };
    let key = dwcp_tests::keygen(&dir, "psk");
    let dest_memory = dir.join("dest.ram");

    let guest = {
        tracing::info!(
            "a 64 MiB guest dirtying 16 MiB/s (small: the point here is the real interface)"
        );
        Guest::start(&dir, "guest", &GuestOptions::new("64M", "16M"))
    };

    let (source, destination) = {
        tracing::info!(a = %netns.a, b = %netns.b, "receiver in b on {ADDR_B}, migrator in a");
        let port = free_port();
        let mut receiver = Receive::new(ADDR_B, port, &dest_memory)
            .key(&key)
            .netns(&netns.b)
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&guest.memory, &format!("{ADDR_B}:{port}"))
            .key(&key)
            .pause(&guest)
            .netns(&netns.a)
            .spawn(&dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
    };

    {
        tracing::info!("verified on both sides with one digest, and byte for byte");
        let (s, _) = assert_verified_pair(&source, &destination);
        assert!(s.u64("rounds") >= 2, "{s}");
        assert!(s.u64("pages_sent") >= 64 * 256, "{s}");
        guest.assert_stopped("after a verified migration");
        assert_same_bytes(&guest.memory, &dest_memory, "destination vs paused source");
    }

    {
        tracing::info!("resume and stop the guest; the namespaces go on drop");
        guest.proc.signal(libc::SIGCONT);
        guest.finish();
    }
}
