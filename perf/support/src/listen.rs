//! Waiting for a receiver to LISTEN without connecting to it (a probe
//! connection would become a migration's primary stream): read
//! `/proc/PID/net/tcp{,6}`, which shows the table of PID's network
//! namespace, for the port in state `0A`.

use std::net::TcpListener;

/// A port that was free a moment ago (bind 127.0.0.1:0, then close).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 02004D0A:1D2E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 02004D0A:14B5 01004D0A:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";

    #[test]
    fn finds_listener_only_in_state_0a() {
        assert!(table_has_listener(TABLE, 7470));
        assert!(
            !table_has_listener(TABLE, 5301),
            "established, not listening"
        );
        assert!(!table_has_listener(TABLE, 9999));
        assert!(!table_has_listener("", 7470));
    }

    #[test]
    fn sees_a_listener_of_this_process_and_not_a_free_port() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("bound").port();
        assert!(is_listening(std::process::id(), port));
        drop(listener);
        assert!(
            !is_listening(std::process::id(), port),
            "closed at once, no TIME_WAIT for a listener"
        );
        assert_ne!(free_port().expect("a free port"), 0);
    }
}
