//! Ports, and waiting for a listener without connecting to it.
//!
//! The receiver treats its first accepted connection as the migration's
//! primary stream, so a probe connection would spoil it. Readiness is read
//! from `/proc/PID/net/tcp{,6}` instead (the socket table of the process's
//! own network namespace): a socket on the port in state `0A` (LISTEN).

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

/// True if a socket in `pid`'s network namespace listens on `port`.
pub fn is_listening(pid: u32, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}"))
            .map(|text| table_has_listener(&text, port))
            .unwrap_or(false)
    })
}

/// Parses a /proc/net/tcp table: any row with local port `port` in state 0A.
pub fn table_has_listener(text: &str, port: u16) -> bool {
    let wanted = format!("{port:04X}");
    text.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let state = fields.nth(1);
        matches!(
            (local.and_then(|l| l.rsplit_once(':')), state),
            (Some((_, p)), Some("0A")) if p.eq_ignore_ascii_case(&wanted)
        )
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_rows() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F91 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(table_has_listener(table, 8080));
        assert!(
            !table_has_listener(table, 8081),
            "established, not listening"
        );
        assert!(!table_has_listener(table, 80));
    }

    #[test]
    fn sees_a_real_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(is_listening(std::process::id(), port));
        drop(listener);
        assert!(!is_listening(std::process::id(), port));
    }
}
