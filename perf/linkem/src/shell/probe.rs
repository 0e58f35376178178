//! Helpers to measure a link: a TCP sink and source, a UDP echo and probe.
//! Meant to run inside the namespaces (`ip netns exec NS dwcp-linkem ...`).
//! Each prints JSON lines on stdout: `{"listening":..}` once bound (for
//! the servers), then one result line.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::cli::{TcpSinkArgs, TcpSourceArgs, UdpEchoArgs, UdpProbeArgs};
use super::report::print_line;

/// Read and write buffer of the TCP helpers.
const TCP_BUFFER_BYTES: usize = 256 * 1024;
/// How long `tcp-source` retries connecting.
const CONNECT_RETRY_FOR: Duration = Duration::from_secs(5);
/// Probe header: sequence number and send time, both u64 little-endian.
const PROBE_HEADER_BYTES: usize = 16;
/// Largest probe payload.
const PROBE_PAYLOAD_MAX: usize = 1400;
/// Most probes per run.
const PROBE_COUNT_MAX: u32 = 10_000_000;
/// Receive buffer asked for by the UDP helpers, so that a helper starved of
/// CPU for a while (a shared 2-core machine) loses no datagram locally.
const UDP_RECEIVE_BUFFER_BYTES: libc::c_int = 8 << 20;

/// Enlarges the socket's receive buffer: `SO_RCVBUFFORCE` (root, beyond
/// `rmem_max`), else `SO_RCVBUF`. Best effort.
fn enlarge_receive_buffer(socket: &UdpSocket) {
    let bytes = UDP_RECEIVE_BUFFER_BYTES;
    let size = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).expect("4 bytes");
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: the descriptor is an open socket; `bytes` is a c_int that
        // outlives the call and its size is passed.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&raw const bytes).cast(),
                size,
            )
        };
        if result == 0 {
            return;
        }
    }
    tracing::debug!(
        "cannot enlarge the UDP receive buffer: {}",
        std::io::Error::last_os_error()
    );
}

fn listening(addr: SocketAddr) -> Result<()> {
    print_line(&json!({ "listening": addr.to_string() })).context("printing the listening line")
}

/// `tcp-sink`: accepts one connection, reads to EOF, prints the rates.
pub fn tcp_sink(args: &TcpSinkArgs) -> Result<()> {
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("bind {}", args.listen))?;
    listening(listener.local_addr()?)?;
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.accept_timeout_secs);
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    bail!("no connection within {} s", args.accept_timeout_secs);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(error).context("accept"),
        }
    };
    stream.set_nonblocking(false)?;
    let warmup = Duration::from_secs_f64(args.warmup_secs);
    let mut buffer = vec![0u8; TCP_BUFFER_BYTES];
    let mut total = 0u64;
    let mut steady = 0u64;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read as u64,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("read"),
        };
        last = Instant::now();
        let first = *first.get_or_insert(last);
        total += read;
        if last >= first + warmup {
            steady += read;
        }
    }
    let first = first.unwrap_or(last);
    let secs = (last - first).as_secs_f64();
    let steady_secs = last.saturating_duration_since(first + warmup).as_secs_f64();
    // JUSTIFICATION: byte counts far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let rate = |bytes: u64, secs: f64| {
        if secs > 0.0 {
            bytes as f64 * 8.0 / secs
        } else {
            0.0
        }
    };
    print_line(&json!({
        "bytes": total,
        "secs": secs,
        "bits_per_s": rate(total, secs),
        "steady_bytes": steady,
        "steady_secs": steady_secs,
        "steady_bits_per_s": rate(steady, steady_secs),
    }))?;
    Ok(())
}

/// `tcp-source`: connects, sends for `secs`, waits for the sink to close.
pub fn tcp_source(args: &TcpSourceArgs) -> Result<()> {
    let deadline = Instant::now() + CONNECT_RETRY_FOR;
    let mut stream = loop {
        match TcpStream::connect(args.connect) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!("connect to {}: {error}; retrying", args.connect);
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => return Err(error).with_context(|| format!("connect {}", args.connect)),
        }
    };
    let buffer = vec![0xa5u8; TCP_BUFFER_BYTES];
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.secs);
    let mut sent = 0u64;
    while Instant::now() < until {
        stream.write_all(&buffer).context("write")?;
        sent += buffer.len() as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 64];
    while stream
        .read(&mut rest)
        .context("waiting for the sink to close")?
        > 0
    {}
    print_line(&json!({ "bytes_sent": sent, "secs": started.elapsed().as_secs_f64() }))?;
    Ok(())
}

/// `udp-echo`: returns every datagram to its sender, forever.
pub fn udp_echo(args: &UdpEchoArgs) -> Result<()> {
    let socket = UdpSocket::bind(args.listen).with_context(|| format!("bind {}", args.listen))?;
    enlarge_receive_buffer(&socket);
    listening(socket.local_addr()?)?;
    let mut buffer = [0u8; 2048];
    loop {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("recv"),
        };
        // A reply that cannot be sent is a lost probe, which is what the
        // probe measures; nothing to do here.
        let _ = socket.send_to(&buffer[..len], from);
    }
}

/// `udp-probe`: sends numbered probes at a fixed interval, matches replies,
/// prints loss and RTT percentiles.
pub fn udp_probe(args: &UdpProbeArgs) -> Result<()> {
    if !(PROBE_HEADER_BYTES..=PROBE_PAYLOAD_MAX).contains(&args.payload) {
        bail!("--payload must be in {PROBE_HEADER_BYTES}..={PROBE_PAYLOAD_MAX}");
    }
    if !(1..=PROBE_COUNT_MAX).contains(&args.count) {
        bail!("--count must be in 1..={PROBE_COUNT_MAX}");
    }
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    enlarge_receive_buffer(&socket);
    socket.connect(args.target)?;
    let count = args.count as usize;
    let interval = Duration::from_micros(args.interval_us);
    let mut answered = vec![false; count];
    let mut rtts_ns: Vec<u64> = Vec::with_capacity(count);
    let mut datagram = vec![0u8; args.payload];
    let mut reply = [0u8; 2048];
    let start = Instant::now();
    let mut next_send = start;
    let mut sent = 0usize;
    loop {
        let now = Instant::now();
        if sent < count && now >= next_send {
            let send_ns = u64::try_from((now - start).as_nanos()).unwrap_or(u64::MAX);
            datagram[..8].copy_from_slice(&(sent as u64).to_le_bytes());
            datagram[8..16].copy_from_slice(&send_ns.to_le_bytes());
            // A refused send (no route yet, ICMP error) counts as a loss.
            let _ = socket.send(&datagram);
            sent += 1;
            next_send += interval;
            continue;
        }
        let deadline = if sent < count {
            next_send
        } else {
            next_send + Duration::from_millis(args.linger_ms)
        };
        if now >= deadline {
            break;
        }
        socket.set_read_timeout(Some((deadline - now).max(Duration::from_micros(1))))?;
        match socket.recv(&mut reply) {
            Ok(len) if len >= PROBE_HEADER_BYTES => {
                let received_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let seq = u64::from_le_bytes(reply[..8].try_into().expect("8 bytes"));
                let send_ns = u64::from_le_bytes(reply[8..16].try_into().expect("8 bytes"));
                let Ok(seq) = usize::try_from(seq) else {
                    continue;
                };
                if seq < count && !answered[seq] {
                    answered[seq] = true;
                    rtts_ns.push(received_ns.saturating_sub(send_ns));
                }
            }
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock
                        | ErrorKind::TimedOut
                        | ErrorKind::Interrupted
                        | ErrorKind::ConnectionRefused
                ) => {}
            Err(error) => return Err(error).context("recv"),
        }
    }
    print_line(&probe_summary(sent, &mut rtts_ns))?;
    Ok(())
}

fn probe_summary(sent: usize, rtts_ns: &mut [u64]) -> serde_json::Value {
    rtts_ns.sort_unstable();
    let received = rtts_ns.len();
    // JUSTIFICATION: counts and nanoseconds far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let micros = |nanos: u64| nanos as f64 / 1e3;
    let at = |quantile: f64| {
        // JUSTIFICATION: the index is within 0..received.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((received - 1) as f64 * quantile).round() as usize;
        micros(rtts_ns[index])
    };
    #[allow(clippy::cast_precision_loss)]
    let loss = (sent - received) as f64 / sent as f64;
    let rtt = if received == 0 {
        serde_json::Value::Null
    } else {
        #[allow(clippy::cast_precision_loss)]
        let mean = rtts_ns.iter().map(|&ns| micros(ns)).sum::<f64>() / received as f64;
        json!({ "min": at(0.0), "p50": at(0.5), "mean": mean, "p99": at(0.99), "max": at(1.0) })
    };
    json!({ "sent": sent, "received": received, "lost": sent - received, "loss": loss, "rtt_us": rtt })
}
