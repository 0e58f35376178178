//! The destination's acceptor thread: admits streams that join (or rejoin)
//! the session after stream 0 created it.
//!
//! A joining connection is handshaken on a blocking socket, so the
//! transport thread never blocks, and on a thread of its own (at most
//! [`HANDSHAKES_IN_FLIGHT_MAX`] at once), so the source's streams, which it
//! opens all at once, are answered all at once: a handshake waits a round
//! trip for the source's proof, and M of them one after another cost M
//! round trips. Its resume point comes from the transport
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
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the acceptor blocks in poll(2) before looking at the end flags;
/// a connection wakes it at once.
pub const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a join waits for the transport to answer.
pub const JOIN_REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most joins handshaken at once; one more waits its turn on the acceptor's thread.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = dwcp_shared::limits::STREAMS_MAX as usize;

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
    /// Accepts joins until the migration finishes or fails; returns once
    /// every handshake it started has ended.
    pub fn run(self) {
        if let Err(err) = self.listener.set_nonblocking(true) {
            self.link
                .fatal
                .raise(format!("cannot poll the listening socket: {err}"));
            return;
        }
        let in_flight = AtomicUsize::new(0);
        let this = &self;
        std::thread::scope(|scope| {
            while !self.link.finished.load(Ordering::Acquire) && !self.link.fatal.is_raised() {
                let (socket, peer) = match self.listener.accept() {
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
                if in_flight.load(Ordering::Acquire) >= HANDSHAKES_IN_FLIGHT_MAX {
                    self.join(socket, peer);
                    continue;
                }
                in_flight.fetch_add(1, Ordering::AcqRel);
                let in_flight = &in_flight;
                // The socket moves into the thread only if it starts.
                let (hand_over, handed) = std::sync::mpsc::sync_channel::<TcpStream>(1);
                let spawned = std::thread::Builder::new()
                    .name("dwcp-join".into())
                    .spawn_scoped(scope, move || {
                        if let Ok(socket) = handed.recv() {
                            this.join(socket, peer);
                        }
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                    });
                match spawned {
                    Ok(_) => {
                        let _ = hand_over.send(socket);
                    }
                    Err(err) => {
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                        tracing::warn!(%peer, %err, "no thread for the handshake; serving it here");
                        self.join(socket, peer);
                    }
                }
            }
        });
    }

    /// Handshakes one joining connection and hands it to the transport.
    fn join(&self, mut socket: TcpStream, peer: SocketAddr) {
        if let Err(err) = socket.set_nonblocking(false) {
            tracing::warn!(%peer, %err, "cannot use accepted socket");
            return;
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
                let stream_id = established.hello.stream_id;
                tracing::info!(%peer, stream_id, "stream joined");
                if self
                    .control
                    .send(Control::Attach(stream_id, socket))
                    .is_err()
                {
                    tracing::debug!(stream_id, "the transport is gone; dropping the join");
                }
            }
            Err(err) => {
                tracing::warn!(%peer, error = %crate::source::error_chain(&err), "join refused")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::Gate;
    use crate::session::SourceSession;
    use dwcp_hugepages::{BufferPool, HugepagePolicy};
    use dwcp_shared::limits::PAGE_SIZE;

    const JOINS: u16 = 4;
    const SESSION_ID: [u8; 16] = [9; 16];
    const MEMORY_BYTES: u64 = 16 * PAGE_SIZE as u64;

    fn session_hello() -> ClientHello {
        ClientHello {
            version_min: 1,
            version_max: 1,
            capabilities: 0,
            flags: 0,
            session_id: SESSION_ID,
            stream_id: 0,
            stream_count: JOINS + 1,
            memory_bytes: MEMORY_BYTES,
            page_size: PAGE_SIZE,
            client_nonce: [0; 32],
        }
    }

    #[test]
    fn joins_are_handshaken_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("bound");
        let pool = Arc::new(
            BufferPool::new(crate::FRAME_BUFFER_LEN, 1, HugepagePolicy::Never).expect("pool"),
        );
        let link = Arc::new(DestinationLink::new(pool, JOINS + 1, 1).expect("link"));
        let (control, requests) = crossbeam::channel::unbounded();
        let acceptor = Acceptor {
            listener,
            session: session_hello(),
            insecure_plaintext: true,
            psk: None,
            control,
            link: Arc::clone(&link),
        };
        let acceptor_thread = std::thread::spawn(move || acceptor.run());
        // The stand-in transport answers no join before it holds all four
        // (each arrives from inside a handshake): an acceptor that serves
        // one handshake at a time never gets an answer.
        let gate = Arc::new(Gate::new(usize::from(JOINS)));
        let transport = {
            let link = Arc::clone(&link);
            std::thread::spawn(move || {
                let mut attached = Vec::new();
                let mut answering = Vec::new();
                while attached.len() < usize::from(JOINS) {
                    match requests.recv_timeout(Duration::from_secs(30)) {
                        Ok(Control::Join(_, reply)) => {
                            let gate = Arc::clone(&gate);
                            answering.push(std::thread::spawn(move || {
                                if gate.arrive_and_wait() {
                                    let _ = reply.send(0);
                                }
                            }));
                        }
                        Ok(Control::Attach(stream_id, _socket)) => attached.push(stream_id),
                        Err(_) => break,
                    }
                }
                link.finished.store(true, Ordering::Release);
                for thread in answering {
                    thread.join().expect("no panic");
                }
                attached
            })
        };
        let session = SourceSession {
            addr,
            addr_text: addr.to_string(),
            session_id: SESSION_ID,
            stream_count: JOINS + 1,
            memory_bytes: MEMORY_BYTES,
            psk: None,
            connect_timeout: Duration::from_secs(5),
        };
        let opened = session.open_all(1..JOINS + 1);
        let mut attached = transport.join().expect("transport thread");
        acceptor_thread.join().expect("acceptor thread");
        assert_eq!(opened.expect("every join handshaken").len(), 4);
        attached.sort_unstable();
        assert_eq!(attached, vec![1, 2, 3, 4]);
    }
}
