//! The round-trip time of a path, measured in the same run as the
//! migrations: a TCP ping-pong of small messages between two threads of this
//! process (`TCP_NODELAY`), each thread optionally inside a network
//! namespace (`setns` changes only the calling thread's namespace), so the
//! same code measures loopback and the emulated WAN link.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes of each ping and pong.
pub const MESSAGE_BYTES: usize = 64;
/// Round trips before the measured ones (connection warm-up).
pub const WARMUP_ROUNDS: u32 = 10;
/// Most measured round trips.
pub const ROUNDS_MAX: u32 = 100_000;
/// Accept, connect and each read wait at most this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct RttStats {
    /// How.
    pub method: String,
    /// `connect()` to established (the SYN / SYN-ACK round trip), µs.
    pub connect_us: f64,
    /// Measured round trips.
    pub samples: u32,
    pub min_us: f64,
    /// The RTT used for the target.
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Where the two ends run.
#[derive(Debug, Clone, Copy)]
pub struct Ends<'a> {
    /// The echo's address (it binds port 0 there).
    pub server: IpAddr,
    /// The echo's network namespace (`ip netns` name), or this one.
    pub server_netns: Option<&'a str>,
    /// The pinger's network namespace.
    pub client_netns: Option<&'a str>,
}

/// Measures `rounds` round trips between the two ends.
pub fn measure(ends: Ends<'_>, rounds: u32) -> Result<RttStats> {
    if rounds == 0 || rounds > ROUNDS_MAX {
        bail!("rounds {rounds} outside 1..={ROUNDS_MAX}");
    }
    let (port_tx, port_rx) = mpsc::channel::<Result<SocketAddr>>();
    std::thread::scope(|scope| -> Result<RttStats> {
        let echo = scope.spawn(move || -> Result<()> {
            let listener = (|| -> Result<TcpListener> {
                if let Some(ns) = ends.server_netns {
                    enter_netns(ns)?;
                }
                let listener = TcpListener::bind(SocketAddr::new(ends.server, 0))
                    .with_context(|| format!("binding the echo on {}", ends.server))?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })();
            let listener = match listener {
                Ok(l) => {
                    let _ = port_tx.send(Ok(l.local_addr()?));
                    l
                }
                Err(e) => {
                    let _ = port_tx.send(Err(anyhow::anyhow!("{e:#}")));
                    return Err(e);
                }
            };
            let mut stream = accept(&listener)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            let mut buf = [0u8; MESSAGE_BYTES];
            for _ in 0..WARMUP_ROUNDS + rounds {
                stream.read_exact(&mut buf).context("echo read")?;
                stream.write_all(&buf).context("echo write")?;
            }
            Ok(())
        });
        let address = port_rx
            .recv()
            .context("the echo thread ended before binding")??;
        let pinger = scope.spawn(move || -> Result<(Duration, Vec<Duration>)> {
            if let Some(ns) = ends.client_netns {
                enter_netns(ns)?;
            }
            let start = Instant::now();
            let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
                .with_context(|| format!("connecting to the echo at {address}"))?;
            let connect = start.elapsed();
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            let mut buf = [0x5au8; MESSAGE_BYTES];
            let mut samples = Vec::with_capacity(rounds as usize);
            for round in 0..WARMUP_ROUNDS + rounds {
                crate::interrupt::check()?;
                let sent = Instant::now();
                stream.write_all(&buf).context("ping write")?;
                stream.read_exact(&mut buf).context("pong read")?;
                if round >= WARMUP_ROUNDS {
                    samples.push(sent.elapsed());
                }
            }
            Ok((connect, samples))
        });
        let pinged = pinger
            .join()
            .map_err(|_| anyhow::anyhow!("the pinger panicked"))?;
        let echoed = echo
            .join()
            .map_err(|_| anyhow::anyhow!("the echo panicked"))?;
        let (connect, samples) = pinged?;
        echoed?;
        Ok(stats(
            format!(
                "TCP ping-pong of {MESSAGE_BYTES}-byte messages (TCP_NODELAY, {WARMUP_ROUNDS} warm-up rounds) to {address}"
            ),
            connect,
            samples,
        ))
    })
}

fn accept(listener: &TcpListener) -> Result<TcpStream> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                crate::interrupt::check()?;
                if Instant::now() >= deadline {
                    bail!("nobody connected to the echo within {IO_TIMEOUT:?}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e).context("echo accept"),
        }
    }
}

/// Moves the calling thread into the named network namespace.
fn enter_netns(name: &str) -> Result<()> {
    let path = Path::new(NETNS_DIR).join(name);
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: setns on a file descriptor `file` owns for the whole call; with
    // CLONE_NEWNET it changes only this thread's network namespace, which
    // no other thread relies on (the thread is private to `measure`).
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!(
            "setns into {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Sorts `samples` and reads min, p50, p99 and max off them.
fn stats(method: String, connect: Duration, mut samples: Vec<Duration>) -> RttStats {
    samples.sort_unstable();
    // Nearest rank: the smallest sample with at least `permille`/1000 of
    // them at or below it.
    let at = |permille: usize| -> f64 {
        let rank = (permille * samples.len()).div_ceil(1000).max(1);
        samples
            .get(rank.min(samples.len()).saturating_sub(1))
            .map_or(0.0, |d| micros(*d))
    };
    RttStats {
        method,
        connect_us: micros(connect),
        samples: u32::try_from(samples.len()).unwrap_or(u32::MAX),
        min_us: at(0),
        p50_us: at(500),
        p99_us: at(990),
        max_us: at(1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = stats("t".into(), Duration::from_micros(7), samples);
        assert_eq!(s.samples, 100);
        assert_eq!(s.min_us, 1.0);
        assert_eq!(s.p50_us, 50.0);
        assert_eq!(s.p99_us, 99.0);
        assert_eq!(s.max_us, 100.0);
        assert_eq!(s.connect_us, 7.0);
    }

    #[test]
    fn loopback_round_trips() {
        let s = measure(
            Ends {
                server: IpAddr::V4(Ipv4Addr::LOCALHOST),
                server_netns: None,
                client_netns: None,
            },
            50,
        )
        .expect("loopback ping-pong");
        assert_eq!(s.samples, 50);
        assert!(s.min_us > 0.0 && s.min_us <= s.p50_us && s.p50_us <= s.max_us);
        assert!(measure(
            Ends {
                server: IpAddr::V4(Ipv4Addr::LOCALHOST),
                server_netns: None,
                client_netns: None
            },
            0
        )
        .is_err());
    }
}
