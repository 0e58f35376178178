//! Ports, and waiting for a listener without connecting to it.
//!
//! The receiver treats its first accepted connection as the migration's
//! primary stream, so a probe connection would spoil it. Readiness is read
//! from `/proc/PID/net/tcp{,6}` instead (the socket table of the process's
//! own network namespace): a socket on the port in state `0A` (LISTEN).
//! The table reading is `dwcp-perf-support`'s (tested there).

use crate::proc::Proc;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A port that was free a moment ago (bind 127.0.0.1:0, then close).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot bind an ephemeral port: {e}"))
}

pub use dwcp_perf_support::listen::{is_listening, table_has_listener};

/// Waits until `proc` listens on `port`; panics with its stderr if it exits
/// first or `timeout` passes.
pub fn wait_listening(proc: &mut Proc, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if is_listening(proc.pid(), port) {
            return;
        }
        if let Some(status) = proc.try_status() {
            panic!(
                "{} exited ({status}) before listening on port {port}\n{}",
                proc.name(),
                proc.describe()
            );
        }
        if Instant::now() >= deadline {
            panic!(
                "{} did not listen on port {port} within {timeout:?}\n{}",
                proc.name(),
                proc.describe()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
