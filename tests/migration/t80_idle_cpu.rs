//! A receiver waiting for its source must not burn CPU (2-core hosts run
//! the guest too).

use dwcp_tests::{free_port, init_logging, Receive, TempDir};
use std::time::{Duration, Instant};

/// Longest share of one core a waiting receiver may use.
const MAX_CORE_SHARE: f64 = 0.05;
const WINDOW: Duration = Duration::from_secs(2);

#[test]
fn t80_idle_cpu_waiting_receiver_sleeps() {
    init_logging();
    let dir = TempDir::new("t80-idle");
    let key = dwcp_tests::keygen(&dir, "psk");
    let port = free_port();
    let receiver = {
        tracing::info!("start a receiver that nobody connects to");
        Receive::new("127.0.0.1", port, &dir.join("dest.ram"))
            .key(&key)
            .start(&dir, "receiver")
    };

    let share = {
        tracing::info!("measure its utime+stime over {WINDOW:?} of waiting");
        // SAFETY: sysconf has no preconditions.
        let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let t0 = Instant::now();
        let before = receiver.cpu_ticks();
        std::thread::sleep(WINDOW);
        let after = receiver.cpu_ticks();
        let cpu_s = (after - before) as f64 / ticks_per_s;
        cpu_s / t0.elapsed().as_secs_f64()
    };

    {
        tracing::info!(share, "at most {:.0}% of a core", MAX_CORE_SHARE * 100.0);
        assert!(
            share < MAX_CORE_SHARE,
            "a waiting receiver used {:.1}% of a core\n{}",
            share * 100.0,
            receiver.describe()
        );
    }
}
