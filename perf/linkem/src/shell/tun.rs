//! A TUN device owned through its file descriptor.
//!
//! # Design
//! `/dev/net/tun` opened non-blocking, `TUNSETIFF` with `IFF_TUN |
//! IFF_NO_PI`: each `read` returns one IP packet, each `write` injects one.
//! The device is not persistent, so closing the descriptor deletes it,
//! whichever network namespace it has been moved to meanwhile. All of this
//! module's `unsafe` is the three syscalls below.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Longest interface name Linux accepts (IFNAMSIZ minus the NUL).
pub const IFNAME_LEN_MAX: usize = 15;

/// An open TUN device; dropping it deletes the device.
#[derive(Debug)]
pub struct TunDevice {
    fd: OwnedFd,
}

impl TunDevice {
    /// Creates the TUN device `name` in the caller's network namespace.
    pub fn create(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.len() > IFNAME_LEN_MAX || name.contains(['/', ' ', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?} (1..={IFNAME_LEN_MAX} bytes)"),
            ));
        }
        let path = CString::new("/dev/net/tun").expect("no NUL in a literal");
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let raw = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and own exclusively.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
            // JUSTIFICATION: c_char is i8 here; interface names are ASCII.
            #[allow(clippy::cast_possible_wrap)]
            {
                *slot = byte as libc::c_char;
            }
        }
        // JUSTIFICATION: the flag values fit in a c_short (0x1001).
        #[allow(clippy::cast_possible_truncation)]
        {
            request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        }
        // SAFETY: TUNSETIFF reads and writes one `ifreq`, which `request` is
        // and which outlives the call; `fd` is an open /dev/net/tun.
        let result = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TunDevice { fd })
    }

    /// Reads one packet; `Ok(None)` when none is waiting.
    pub fn read_packet(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let read = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(read) {
            Ok(len) => Ok(Some(len)),
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::WouldBlock {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Writes one packet into the device's network stack.
    pub fn write_packet(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: `packet` is valid for reads of `packet.len()` bytes.
        let written =
            unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        match usize::try_from(written) {
            Ok(len) if len == packet.len() => Ok(()),
            Ok(len) => Err(io::Error::other(format!(
                "short tun write: {len} of {}",
                packet.len()
            ))),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }
}

impl AsRawFd for TunDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
