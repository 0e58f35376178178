//! The destination dies (SIGKILL) during pre-copy: the source gives up after
//! its reconnect timeout, says the destination is gone, and leaves the guest
//! running on the source.

use dwcp_tests::{
    free_port, init_logging, nonzero_pages, Guest, GuestOptions, Migrate, Receive, TempDir,
};
use std::time::{Duration, Instant};

const RECONNECT_TIMEOUT_MS: u64 = 2000;
/// Margin over the reconnect timeout for the source to notice the break,
/// tear down and print its summary on a loaded 2-core machine.
const EXIT_MARGIN: Duration = Duration::from_secs(15);
/// Pages with content the destination must have stored before it is killed
/// (16 MiB). Its file is allocated up front, so its size says nothing.
const PAGES_BEFORE_KILL: u64 = 4096;

#[test]
fn t50_destination_killed_source_gives_up_guest_keeps_running() {
    init_logging();
    let dir = TempDir::new("t50-kill");
    let key = dwcp_tests::keygen(&dir, "psk");
    let dest_memory = dir.join("dest.ram");
    let mut guest = {
        tracing::info!("a 256 MiB guest dirtying 32 MiB/s");
        Guest::start(&dir, "guest", &GuestOptions::new("256M", "32M"))
    };

    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
        .key(&key)
        .start(&dir, "receiver");
    let mut migrator = {
        // The downtime estimate always includes a full scan plus a fixed
        // verify allowance, so a 1 ms budget never fits; with 1000 rounds
        // and 1000 stall rounds allowed the source stays in pre-copy for
        // as long as this test needs, whatever the machine's speed.
        tracing::info!(
            "a migration that cannot switch over: 1 ms budget, 1000 rounds, no stall exit"
        );
        Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .pause(&guest)
            .args(&[
                "--downtime-ms",
                "1",
                "--max-rounds",
                "1000",
                "--stall-rounds",
                "1000",
                "--reconnect-timeout-ms",
                &RECONNECT_TIMEOUT_MS.to_string(),
            ])
            .spawn(&dir, "migrator")
    };

    {
        tracing::info!(
            "wait until the destination has written 16 MiB of pages: the migration is under way"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stored = nonzero_pages(&dest_memory);
            if stored >= PAGES_BEFORE_KILL {
                break;
            }
            for proc in [&mut migrator, &mut receiver] {
                assert!(
                    proc.is_running(),
                    "{} exited before the destination was killed\n{}",
                    proc.name(),
                    proc.describe()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the destination wrote only {stored} non-zero pages in 60 s\n{}\n{}",
                migrator.describe(),
                receiver.describe()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let killed_at = {
        tracing::info!("kill -9 the destination: no goodbye, no abort frame");
        receiver.signal(libc::SIGKILL);
        let _ = receiver.wait(Duration::from_secs(10));
        Instant::now()
    };

    let source = {
        tracing::info!("the source must give up within the reconnect timeout plus a margin");
        let budget = Duration::from_millis(RECONNECT_TIMEOUT_MS) + EXIT_MARGIN;
        let source = migrator.wait(budget);
        tracing::info!(after = ?killed_at.elapsed(), "source exited");
        source
    };

    {
        tracing::info!(
            "exit 1, not verified, the error says the destination cannot be reached again"
        );
        assert_eq!(source.code(), Some(1), "{}", source.describe());
        let s = source.summary();
        tracing::info!(source = %s, "source summary");
        assert!(!s.verified(), "{s}");
        let error = s.error_lower();
        let named = [
            "re-establish",
            "reestablish",
            "reconnect",
            "destination is gone",
            "destination went away",
            "connection refused",
            "cannot connect",
        ];
        assert!(
            named.iter().any(|n| error.contains(n)),
            "the error does not say the destination is gone or unreachable: {:?}\n{}",
            s.error(),
            source.describe()
        );
    }

    {
        tracing::info!("the guest was never paused: still running, and still writing");
        guest.assert_running("after the source gave up");
        let before = std::fs::read(&guest.memory).expect("read guest memory");
        let changed = {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let now = std::fs::read(&guest.memory).expect("read guest memory");
                if now != before {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
            }
        };
        assert!(
            changed,
            "the guest's memory did not change in 10 s: is it stuck?"
        );
        let state = std::fs::read_to_string(&guest.state_file).unwrap_or_default();
        assert_eq!(state.trim(), "running", "guest state file");
        guest.finish();
    }
}
