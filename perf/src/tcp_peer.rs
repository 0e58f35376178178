//! The plain-TCP reference: one std::net stream over loopback between two
//! threads of this process, copying the same bytes the migration sends.
//! Sender: 1 MiB writes from the (populated) mapping, TCP_NODELAY.
//! Receiver: reads into one reused 1 MiB buffer and discards, as iperf3 does.
//! Time: connect to last byte received.

use crate::{interrupt, stats};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const CHUNK: usize = 1 << 20;
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One copy.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// Bytes received.
    pub bytes: u64,
    /// Connect to last byte received, ms.
    pub elapsed_ms: f64,
    /// `bytes / elapsed`, GB/s (10^9 B/s).
    pub tcp_gbps: f64,
}

/// Copies `data` over one loopback TCP stream and times it.
pub fn copy(data: &[u8]) -> Result<PeerRun> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the peer listener")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let total = data.len() as u64;

    std::thread::scope(|scope| -> Result<PeerRun> {
        let sender = scope.spawn(move || -> Result<Instant> {
            let start = Instant::now();
            let mut stream =
                TcpStream::connect_timeout(&addr, ACCEPT_TIMEOUT).context("peer connect")?;
            stream.set_nodelay(true)?;
            stream.set_write_timeout(Some(IO_TIMEOUT))?;
            for chunk in data.chunks(CHUNK) {
                interrupt::check()?;
                stream.write_all(chunk).context("peer write")?;
            }
            stream.shutdown(Shutdown::Write)?;
            Ok(start)
        });

        let received = receive(&listener, total);
        let start = sender
            .join()
            .map_err(|_| anyhow!("peer sender panicked"))??;
        let (bytes, end) = received?;
        if bytes != total {
            bail!("peer received {bytes} of {total} bytes");
        }
        let elapsed_ms = end.duration_since(start).as_secs_f64() * 1e3;
        Ok(PeerRun {
            bytes,
            elapsed_ms,
            tcp_gbps: stats::gbps(bytes, elapsed_ms).unwrap_or(0.0),
        })
    })
}

/// Accepts one connection and reads until `total` bytes or EOF; returns the
/// byte count and the instant of the last byte.
fn receive(listener: &TcpListener, total: u64) -> Result<(u64, Instant)> {
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                interrupt::check()?;
                if Instant::now() >= deadline {
                    bail!("peer: no connection within {ACCEPT_TIMEOUT:?}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e).context("peer accept"),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    let mut last = Instant::now();
    while bytes < total {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                last = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => interrupt::check()?,
            Err(e) => return Err(e).context("peer read"),
        }
    }
    Ok((bytes, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_all_bytes() {
        let data = vec![7u8; 3 * CHUNK + 123];
        let run = copy(&data).expect("loopback copy");
        assert_eq!(run.bytes, data.len() as u64);
        assert!(run.elapsed_ms > 0.0);
        assert!(run.tcp_gbps > 0.0);
    }
}
