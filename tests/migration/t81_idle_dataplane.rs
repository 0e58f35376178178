//! An established but nearly idle migration must not burn CPU: every
//! polling loop (engine, both transports, decoder) backs off to sleeping
//! when it finds no work. Pacing the source to 1 Mbit/s leaves all four
//! loops idle almost all the time while the connections stay up.

use dwcp_tests::{free_port, init_logging, Guest, GuestOptions, Migrate, Proc, Receive, TempDir};
use std::time::{Duration, Instant};

/// Most of one core each process may use while (almost) idle.
const MAX_CORE_SHARE: f64 = 0.05;
const WARM_UP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(3);

fn core_share(procs: &[&Proc]) -> Vec<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let start = Instant::now();
    let before: Vec<u64> = procs.iter().map(|p| p.cpu_ticks()).collect();
    std::thread::sleep(WINDOW);
    let elapsed = start.elapsed().as_secs_f64();
    procs
        .iter()
        .zip(before)
        .map(|(p, b)| (p.cpu_ticks() - b) as f64 / ticks_per_s / elapsed)
        .collect()
}

#[test]
fn t81_idle_dataplane_loops_back_off() {
    init_logging();
    let dir = TempDir::new("t81-idle-dataplane");
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = {
        tracing::info!("a 64 MiB guest of incompressible, unchanging memory");
        Guest::start(
            &dir,
            "guest",
            &GuestOptions::new("64M", "0").args(&["--fill", "random"]),
        )
    };
    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, &dir.join("dest.ram"))
        .key(&key)
        .start(&dir, "receiver");
    let mut migrator = {
        tracing::info!("a migration paced to 1 Mbit/s: connected, with almost nothing to do");
        Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .args(&["--rate-limit-mbps", "1"])
            .spawn(&dir, "migrator")
    };
    std::thread::sleep(WARM_UP);
    assert!(
        migrator.is_running(),
        "the migration is still under way\n{}",
        migrator.describe()
    );

    let shares = {
        tracing::info!("measure both processes' utime+stime over {WINDOW:?}");
        core_share(&[&migrator, &receiver])
    };

    {
        tracing::info!(
            source = shares[0],
            destination = shares[1],
            "each below {:.0}% of a core",
            MAX_CORE_SHARE * 100.0
        );
        for (share, proc) in shares.iter().zip([&migrator, &receiver]) {
            assert!(
                *share < MAX_CORE_SHARE,
                "{} used {:.1}% of a core while idle\n{}",
                proc.name(),
                share * 100.0,
                proc.describe()
            );
        }
        migrator.kill();
        receiver.kill();
        guest.finish();
    }
}
