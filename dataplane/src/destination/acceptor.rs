//! The destination's acceptor thread: admits streams that join (or rejoin)
//! the session after stream 0 created it.
//!
//! A joining connection is handshaken here, on a blocking socket, so the
//! transport thread never blocks. Its resume point comes from the transport
//! ([`Control::Join`]), which retires the stream's old connection first so
//! the point is exact; the established socket is then handed over with
//! [`Control::Attach`]. A join that fails its handshake is logged and
//! dropped; the migration goes on.

use crate::session::{check_join, serve_handshake};
use crossbeam::channel::Sender;
use dwcp_dataplane_core::handshake::SessionCheck;
use dwcp_dataplane_core::keys::PreSharedKey;
use dwcp_dataplane_core::link::DestinationLink;
use dwcp_shared::handshake::{ClientHello, RejectCode};
use dwcp_uring::dest_io::Control;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long the acceptor blocks in poll(2) before looking at the end flags;
/// a connection wakes it at once.
pub const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a join waits for the transport to answer.
pub const JOIN_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

struct JoinCheck<'a> {
    session: &'a ClientHello,
    control: &'a Sender<Control>,
}

impl SessionCheck for JoinCheck<'_> {
    fn admit(&mut self, hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
        check_join(self.session, hello)?;
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.control
            .send(Control::Join(hello.stream_id, reply))
            .map_err(|_| (RejectCode::Busy, "the migration is over".to_owned()))?;
        answer.recv_timeout(JOIN_REPLY_TIMEOUT).map_err(|_| {
            (
                RejectCode::Busy,
                "the destination transport did not answer".to_owned(),
            )
        })
    }
}

/// The acceptor's inputs.
#[derive(Debug)]
pub struct Acceptor {
    /// The listening socket.
    pub listener: TcpListener,
    /// Stream 0's hello: the session joins must match.
    pub session: ClientHello,
    /// Explicit plaintext mode.
    pub insecure_plaintext: bool,
    /// The key.
    pub psk: Option<Arc<PreSharedKey>>,
    /// To the transport.
    pub control: Sender<Control>,
    /// To know when to stop.
    pub link: Arc<DestinationLink>,
}

impl Acceptor {
    /// Accepts joins until the migration finishes or fails.
    pub fn run(self) {
        if let Err(err) = self.listener.set_nonblocking(true) {
            self.link
                .fatal
                .raise(format!("cannot poll the listening socket: {err}"));
            return;
        }
        while !self.link.finished.load(Ordering::Acquire) && !self.link.fatal.is_raised() {
            let (mut socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_readable(&self.listener, ACCEPT_POLL_INTERVAL);
                    continue;
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    std::thread::sleep(ACCEPT_POLL_INTERVAL);
                    continue;
                }
            };
            if let Err(err) = socket.set_nonblocking(false) {
                tracing::warn!(%peer, %err, "cannot use accepted socket");
                continue;
            }
            let mut check = JoinCheck {
                session: &self.session,
                control: &self.control,
            };
            match serve_handshake(
                &mut socket,
                self.insecure_plaintext,
                self.psk.as_deref(),
                &mut check,
            ) {
                Ok(established) => {
                    tracing::info!(%peer, stream_id = established.hello.stream_id, "stream joined");
                    if self
                        .control
                        .send(Control::Attach(established.hello.stream_id, socket))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(%peer, error = %crate::source::error_chain(&err), "join refused")
                }
            }
        }
    }
}

/// Blocks until `listener` has a connection to accept or `timeout` passes.
fn wait_readable(listener: &TcpListener, timeout: Duration) {
    let mut fds = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(listener),
        events: libc::POLLIN,
        revents: 0,
    }];
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a live one-element array for the duration of the call.
    let _ = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout_ms) };
}
