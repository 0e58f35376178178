//! Link samples for the control plane: round-trip time and retransmissions
//! read from the kernel (`TCP_INFO`) on a migration's own sockets, once a
//! second, off the page path.

use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// What one socket's `TCP_INFO` says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketSample {
    /// Smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// Its mean deviation, µs.
    pub rtt_var_us: u32,
    /// Segments sent since the connection opened.
    pub segments_out: u64,
    /// Segments retransmitted since the connection opened.
    pub retransmits: u64,
}

/// Reads `TCP_INFO` of `socket`; `None` when the kernel refuses (closed socket).
pub fn sample_socket(socket: &TcpStream) -> Option<SocketSample> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
    // SAFETY: the fd is owned by `socket` and open for the call; `info` and
    // `len` are valid for writes of `len` bytes, and the kernel writes at
    // most `len` bytes and stores the length it wrote.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| SocketSample {
        rtt_us: info.tcpi_rtt,
        rtt_var_us: info.tcpi_rttvar,
        segments_out: u64::from(info.tcpi_segs_out),
        retransmits: u64::from(info.tcpi_total_retrans),
    })
}

/// The samples of a migration's streams as one link: mean RTT and RTT
/// variation, summed segment counters. `None` when there is no sample.
pub fn combine(samples: &[SocketSample]) -> Option<SocketSample> {
    let count = u64::try_from(samples.len()).ok().filter(|&n| n > 0)?;
    let mean = |f: fn(&SocketSample) -> u32| {
        let sum: u64 = samples.iter().map(|s| u64::from(f(s))).sum();
        u32::try_from(sum / count).unwrap_or(u32::MAX)
    };
    Some(SocketSample {
        rtt_us: mean(|s| s.rtt_us),
        rtt_var_us: mean(|s| s.rtt_var_us),
        segments_out: samples.iter().map(|s| s.segments_out).sum(),
        retransmits: samples.iter().map(|s| s.retransmits).sum(),
    })
}

/// Retransmitted segments per million sent (0 before anything was sent).
pub fn loss_ppm(sample: &SocketSample) -> u32 {
    if sample.segments_out == 0 {
        return 0;
    }
    let ppm = sample.retransmits.saturating_mul(1_000_000) / sample.segments_out;
    u32::try_from(ppm.min(1_000_000)).expect("at most a million")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_connected_socket_has_a_sample_and_counts_segments() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        std::io::Write::write_all(&mut server, &[7u8; 100_000]).expect("write");
        let sample = sample_socket(&server).expect("TCP_INFO");
        assert!(sample.segments_out > 0, "{sample:?}");
        drop(client);
    }

    #[test]
    fn combine_averages_rtt_and_sums_counters() {
        let a = SocketSample {
            rtt_us: 100,
            rtt_var_us: 10,
            segments_out: 1000,
            retransmits: 1,
        };
        let b = SocketSample {
            rtt_us: 300,
            rtt_var_us: 30,
            segments_out: 3000,
            retransmits: 3,
        };
        let both = combine(&[a, b]).expect("two samples");
        assert_eq!((both.rtt_us, both.rtt_var_us), (200, 20));
        assert_eq!((both.segments_out, both.retransmits), (4000, 4));
        assert_eq!(loss_ppm(&both), 1000);
        assert_eq!(combine(&[]), None);
        assert_eq!(loss_ppm(&SocketSample::default()), 0);
    }
}
