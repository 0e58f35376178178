//! TCP socket tuning for migration streams.
//!
//! Every stream gets `TCP_NODELAY` (frames are already large; small control
//! frames must not wait for Nagle), large socket buffers, and the BBR
//! congestion control where the kernel has it (checked by reading the
//! option back; otherwise the default stays and that is logged once).

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Socket send and receive buffer size asked for.
pub const SOCKET_BUFFER_BYTES: i32 = 16 << 20;

fn set_option(socket: &TcpStream, level: i32, name: i32, value: &[u8]) -> std::io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).expect("option values are a few bytes");
    // SAFETY: the fd is open for the life of `socket`; `value` is valid for
    // `len` bytes; setsockopt only reads it.
    let rc =
        unsafe { libc::setsockopt(socket.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn congestion_control(socket: &TcpStream) -> Option<String> {
    let mut name = [0u8; 16];
    let mut len = libc::socklen_t::try_from(name.len()).expect("16 fits");
    // SAFETY: `name` is writable for `len` bytes and `len` is a valid pointer;
    // the kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    let used = name.get(..len as usize)?;
    let end = used.iter().position(|&b| b == 0).unwrap_or(used.len());
    Some(String::from_utf8_lossy(&used[..end]).into_owned())
}

/// The send buffer the kernel gave a socket (`SO_SNDBUF` read back: the
/// kernel doubles what was asked, capped by `net.core.wmem_max`, to leave
/// room for its own bookkeeping), or `None` if it cannot be read.
pub fn send_buffer_bytes(socket: &TcpStream) -> Option<u64> {
    let mut value: libc::c_int = 0;
    get_option(socket, libc::SOL_SOCKET, libc::SO_SNDBUF, &mut value)
        .then(|| u64::try_from(value).ok())
        .flatten()
}

/// Reads a fixed-size socket option into `value` (a C integer or struct,
/// for which any bytes the kernel writes are a valid value); true on success.
fn get_option<T: Copy>(socket: &TcpStream, level: i32, name: i32, value: &mut T) -> bool {
    let mut len =
        libc::socklen_t::try_from(std::mem::size_of::<T>()).expect("option values are small");
    // SAFETY: `value` is writable for `len` bytes, its size; the kernel
    // writes at most that many, and callers only pass plain C types.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(value).cast(),
            &mut len,
        )
    };
    rc == 0
}

/// The kernel's smoothed round-trip time of a connected TCP socket
/// (`TCP_INFO.tcpi_rtt`), measured from the handshake's packets, so unlike a
/// wall-clock time around `connect` it excludes scheduling delays of this
/// process. `None` if the kernel has no sample.
pub fn kernel_rtt(socket: &TcpStream) -> Option<std::time::Duration> {
    // SAFETY: an all-zero tcp_info is a valid value to be overwritten.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    (get_option(socket, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info) && info.tcpi_rtt > 0)
        .then(|| std::time::Duration::from_micros(u64::from(info.tcpi_rtt)))
}

/// Applies the stream settings; failures other than the socket itself are logged, not fatal.
pub fn tune_stream(socket: &TcpStream) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    for option in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        if let Err(err) = set_option(
            socket,
            libc::SOL_SOCKET,
            option,
            &SOCKET_BUFFER_BYTES.to_ne_bytes(),
        ) {
            tracing::debug!(%err, "socket buffer size not applied");
        }
    }
    static BBR_WARNED: AtomicBool = AtomicBool::new(false);
    let bbr = set_option(socket, libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"bbr");
    let active = congestion_control(socket);
    if (bbr.is_err() || active.as_deref() != Some("bbr"))
        && !BBR_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::info!(active = ?active, "BBR congestion control unavailable; keeping the kernel default");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_applies_nodelay_and_reports_congestion_control() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let client = TcpStream::connect(listener.local_addr().expect("bound")).expect("connect");
        tune_stream(&client).expect("tune");
        assert!(client.nodelay().expect("read nodelay"));
        assert!(congestion_control(&client).is_some_and(|cc| !cc.is_empty()));
        let sndbuf = send_buffer_bytes(&client).expect("SO_SNDBUF reads back");
        assert!(
            sndbuf >= 2 * 4096,
            "the asked size, capped by wmem_max and doubled: {sndbuf}"
        );
        let rtt = kernel_rtt(&client).expect("a connected socket has an RTT sample");
        assert!(
            rtt < std::time::Duration::from_secs(1),
            "loopback RTT {rtt:?}"
        );
    }
}
