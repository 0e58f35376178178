//! Establishing a migration session: connecting and handshaking streams
//! (source), accepting them (destination), and deriving the frame keys.
//!
//! Handshakes use blocking sockets with timeouts on cold paths only: the
//! source's start-up and its reconnect helper, the destination's start-up
//! and its acceptor thread. The protocol logic is the pure state machines
//! of [`dwcp_dataplane_core::handshake`].
//!
//! Each handshake costs round trips (connect, then hello and answer), so the
//! source dials the streams after stream 0 all at once while stream 0
//! handshakes ([`SourceSession::dial_all`]: a connect needs only the
//! destination's kernel), then, once stream 0 is established, starts the
//! transfer on stream 0 and handshakes the others in the background, one
//! short-lived thread each (`source::join_in_background`); the
//! destination's acceptor, running from the moment it answered stream 0's
//! hello ([`serve_hello`], [`finish_handshake`]), answers them at once too:
//! M streams take the round trips of one, not of M, and the transfer waits
//! for none of them.

use crate::error::MigrationError;
use dwcp_dataplane_core::handshake::{
    server_handle_client_hello, ClientEstablished, ClientHandshake, ClientParams, HandshakeError,
    ServerAwaitingProof, ServerEstablished, SessionCheck,
};
use dwcp_dataplane_core::keys::{Direction, PreSharedKey, SessionSecret};
use dwcp_dataplane_core::seal::{FrameOpener, FrameSealer};
use dwcp_shared::handshake::{ClientHello, HandshakeMessage, HandshakeReadError, RejectCode};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Read/write timeout of a handshake step.
pub const HANDSHAKE_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The key given in memory, else the key file's, or `None` in explicit
/// plaintext mode.
pub fn load_key(
    key: Option<&Arc<PreSharedKey>>,
    key_file: Option<&std::path::Path>,
) -> Result<Option<Arc<PreSharedKey>>, MigrationError> {
    match (key, key_file) {
        (Some(key), _) => Ok(Some(Arc::clone(key))),
        (None, None) => Ok(None),
        (None, Some(path)) => Ok(Some(Arc::new(PreSharedKey::load(path)?))),
    }
}

/// One sealer per stream for `direction` (plaintext sealers without a secret).
pub fn sealers(
    secret: Option<&SessionSecret>,
    streams: u16,
    direction: Direction,
) -> Vec<FrameSealer> {
    (0..streams)
        .map(|id| match secret {
            Some(secret) => FrameSealer::encrypted(id, secret.frame_key(id, direction)),
            None => FrameSealer::plaintext(id),
        })
        .collect()
}

/// One opener per stream for `direction`.
pub fn openers(
    secret: Option<&SessionSecret>,
    streams: u16,
    direction: Direction,
) -> Vec<FrameOpener> {
    (0..streams)
        .map(|id| match secret {
            Some(secret) => FrameOpener::encrypted(id, secret.frame_key(id, direction)),
            None => FrameOpener::plaintext(id),
        })
        .collect()
}

fn handshake_io(stream_id: u16) -> impl Fn(HandshakeReadError) -> MigrationError {
    move |err| {
        let message = match err {
            HandshakeReadError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                "the peer closed the connection during the handshake".to_owned()
            }
            HandshakeReadError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                format!("no answer within {HANDSHAKE_IO_TIMEOUT:?}")
            }
            HandshakeReadError::Io(io) => format!("handshake read failed: {io}"),
            HandshakeReadError::Wire(wire) => format!("malformed handshake message: {wire}"),
        };
        MigrationError::HandshakeIo { stream_id, message }
    }
}

fn write_message(
    socket: &mut TcpStream,
    stream_id: u16,
    message: &HandshakeMessage,
) -> Result<(), MigrationError> {
    message
        .write_to(socket)
        .map_err(|err| MigrationError::HandshakeIo {
            stream_id,
            message: format!("cannot send: {err}"),
        })
}

/// What the source needs to open (and reopen) streams of one session.
#[derive(Debug, Clone)]
pub struct SourceSession {
    /// The destination.
    pub addr: SocketAddr,
    /// Printable destination.
    pub addr_text: String,
    /// Session id.
    pub session_id: [u8; 16],
    /// Streams in the session.
    pub stream_count: u16,
    /// Guest memory size.
    pub memory_bytes: u64,
    /// Key, or `None` in plaintext mode.
    pub psk: Option<Arc<PreSharedKey>>,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl SourceSession {
    /// Resolves `destination` (HOST:PORT).
    pub fn resolve(destination: &str) -> Result<SocketAddr, MigrationError> {
        let unresolved = |cause| MigrationError::Connect {
            addr: destination.to_owned(),
            cause,
        };
        destination
            .to_socket_addrs()
            .map_err(unresolved)?
            .next()
            .ok_or_else(|| {
                unresolved(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no address",
                ))
            })
    }

    /// Opens a TCP connection and tunes it ([`dwcp_uring::socket::tune_stream`]);
    /// returns it with its round-trip time: the kernel's measurement where
    /// it has one, else the time connect took.
    pub fn dial(&self) -> Result<(TcpStream, Duration), MigrationError> {
        let start = Instant::now();
        let socket =
            TcpStream::connect_timeout(&self.addr, self.connect_timeout).map_err(|cause| {
                MigrationError::Connect {
                    addr: self.addr_text.clone(),
                    cause,
                }
            })?;
        let elapsed = start.elapsed();
        let rtt =
            dwcp_uring::socket::kernel_rtt(&socket).map_or(elapsed, |kernel| kernel.min(elapsed));
        // Before anything is sent, so the buffers are there from the first byte.
        dwcp_uring::socket::tune_stream(&socket).map_err(|cause| MigrationError::Connect {
            addr: self.addr_text.clone(),
            cause,
        })?;
        Ok((socket, rtt))
    }

    /// Handshakes `stream_id` on a fresh connection from [`Self::dial`].
    pub fn handshake(
        &self,
        mut socket: TcpStream,
        stream_id: u16,
    ) -> Result<(TcpStream, ClientEstablished), MigrationError> {
        let mut nonce = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut nonce[..]);
        let params = ClientParams {
            session_id: self.session_id,
            stream_id,
            stream_count: self.stream_count,
            memory_bytes: self.memory_bytes,
            client_nonce: nonce,
            insecure_plaintext: self.psk.is_none(),
        };
        let timeout = Some(HANDSHAKE_IO_TIMEOUT);
        socket
            .set_read_timeout(timeout)
            .and_then(|()| socket.set_write_timeout(timeout))
            .map_err(|err| MigrationError::HandshakeIo {
                stream_id,
                message: err.to_string(),
            })?;
        let (client, hello) = ClientHandshake::new(params);
        write_message(&mut socket, stream_id, &hello)?;
        let reply = HandshakeMessage::read_from(&mut socket).map_err(handshake_io(stream_id))?;
        match client.handle_server_hello(reply, self.psk.as_deref()) {
            Ok((established, proof)) => {
                write_message(&mut socket, stream_id, &proof)?;
                socket
                    .set_read_timeout(None)
                    .and_then(|()| socket.set_write_timeout(None))
                    .map_err(|err| MigrationError::HandshakeIo {
                        stream_id,
                        message: err.to_string(),
                    })?;
                Ok((socket, established))
            }
            Err((cause, reject)) => {
                if let Some(reject) = reject {
                    let _ = reject.write_to(&mut socket);
                }
                Err(MigrationError::Handshake { stream_id, cause })
            }
        }
    }

    /// Dials and handshakes `stream_id`.
    pub fn open(&self, stream_id: u16) -> Result<(TcpStream, ClientEstablished), MigrationError> {
        let (socket, _) = self.dial()?;
        self.handshake(socket, stream_id)
    }

    /// Dials and handshakes the streams `stream_ids` concurrently, one
    /// thread each (at most `STREAMS_MAX`), so their round trips overlap;
    /// returns the connections in stream order. Stream 0 must be
    /// established first: the destination admits joins only to a session
    /// that exists. If any stream fails, the error of the lowest failing
    /// stream is returned (the others' connections are closed).
    pub fn open_all(
        &self,
        stream_ids: std::ops::Range<u16>,
    ) -> Result<Vec<TcpStream>, MigrationError> {
        let items = stream_ids.map(|id| (id, ())).collect();
        in_parallel("handshake", items, |id, ()| {
            self.open(id).map(|(socket, _)| socket)
        })
    }

    /// Dials `count` connections concurrently (one thread each, at most
    /// `STREAMS_MAX`), for [`Self::handshake`] to handshake later. A
    /// connect involves only the destination's kernel, so this may run
    /// while stream 0 still handshakes: its round trip then overlaps stream
    /// 0's instead of following it.
    pub fn dial_all(&self, count: u16) -> Result<Vec<TcpStream>, MigrationError> {
        let items = (1..=count).map(|n| (n, ())).collect();
        in_parallel("dial", items, |_, ()| self.dial().map(|(socket, _)| socket))
    }
}

/// Runs `work(stream_id, item)` for every item at once, one scoped thread
/// each (at most `STREAMS_MAX`; `role` names them in errors), and returns
/// the results in order, or the error of the first item (in order) that
/// failed; the other results are dropped (their connections closed).
fn in_parallel<I: Send, T: Send>(
    role: &'static str,
    items: Vec<(u16, I)>,
    work: impl Fn(u16, I) -> Result<T, MigrationError> + Sync,
) -> Result<Vec<T>, MigrationError> {
    assert!(
        items.len() <= usize::from(dwcp_shared::limits::STREAMS_MAX),
        "at most STREAMS_MAX streams"
    );
    let work = &work;
    std::thread::scope(|scope| {
        let mut running = Vec::with_capacity(items.len());
        for (stream_id, item) in items {
            let spawned = std::thread::Builder::new()
                .name(format!("dwcp-{role}-{stream_id}"))
                .spawn_scoped(scope, move || work(stream_id, item));
            match spawned {
                Ok(handle) => running.push((stream_id, handle)),
                // The scope joins the threads already started.
                Err(cause) => return Err(MigrationError::Spawn { role, cause }),
            }
        }
        let mut results = Vec::with_capacity(running.len());
        let mut first_error = None;
        for (stream_id, handle) in running {
            match handle.join() {
                Ok(Ok(result)) => results.push(result),
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(_) => {
                    first_error.get_or_insert(MigrationError::Failed(format!(
                        "the {role} thread of stream {stream_id} panicked"
                    )));
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(results),
        }
    })
}

/// Runs the server side of one handshake on a blocking socket.
pub fn serve_handshake(
    socket: &mut TcpStream,
    insecure_plaintext: bool,
    psk: Option<&PreSharedKey>,
    session: &mut impl SessionCheck,
) -> Result<ServerEstablished, MigrationError> {
    let waiting = serve_hello(socket, insecure_plaintext, psk, session)?;
    finish_handshake(socket, waiting, psk)
}

/// The server's first half of a handshake: reads the ClientHello, admits it
/// through `session`, answers with the ServerHello. The second half
/// ([`finish_handshake`]) waits a round trip for the client's proof; the
/// destination uses that round trip to start serving the other streams.
pub fn serve_hello(
    socket: &mut TcpStream,
    insecure_plaintext: bool,
    psk: Option<&PreSharedKey>,
    session: &mut impl SessionCheck,
) -> Result<ServerAwaitingProof, MigrationError> {
    let timeout = Some(HANDSHAKE_IO_TIMEOUT);
    let no_hello = |message: String| MigrationError::NoHello { message };
    // Before the first frame can arrive, so the receive buffer is there for it.
    dwcp_uring::socket::tune_stream(socket).map_err(|err| no_hello(err.to_string()))?;
    socket
        .set_read_timeout(timeout)
        .and_then(|()| socket.set_write_timeout(timeout))
        .map_err(|err| no_hello(err.to_string()))?;
    let hello = HandshakeMessage::read_from(socket).map_err(|err| match handshake_io(0)(err) {
        MigrationError::HandshakeIo { message, .. } => no_hello(message),
        other => other,
    })?;
    let stream_id = match &hello {
        HandshakeMessage::ClientHello(h) => h.stream_id,
        other => {
            let got = dwcp_dataplane_core::handshake::message_name(other);
            return Err(no_hello(format!(
                "the first message was {got}, not a ClientHello"
            )));
        }
    };
    let mut nonce = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut nonce[..]);
    let (waiting, server_hello) =
        match server_handle_client_hello(hello, insecure_plaintext, psk, nonce, session) {
            Ok(ok) => ok,
            Err((cause, reject)) => {
                if let Some(reject) = reject {
                    let _ = reject.write_to(socket);
                }
                return Err(MigrationError::Handshake { stream_id, cause });
            }
        };
    write_message(socket, stream_id, &server_hello)?;
    Ok(waiting)
}

/// The server's second half of a handshake ([`serve_hello`]): reads and
/// checks the client's proof, then clears the handshake's timeouts.
pub fn finish_handshake(
    socket: &mut TcpStream,
    waiting: ServerAwaitingProof,
    psk: Option<&PreSharedKey>,
) -> Result<ServerEstablished, MigrationError> {
    let stream_id = waiting.hello().stream_id;
    let proof = HandshakeMessage::read_from(socket).map_err(|err| match err {
        HandshakeReadError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => MigrationError::HandshakeIo {
            stream_id,
            message: "the source closed the connection before proving its key (it may have refused ours)".into(),
        },
        other => handshake_io(stream_id)(other),
    })?;
    let established = waiting
        .handle_client_proof(proof, psk)
        .map_err(|(cause, reject)| {
            if let Some(reject) = reject {
                let _ = reject.write_to(socket);
            }
            MigrationError::Handshake { stream_id, cause }
        })?;
    socket
        .set_read_timeout(None)
        .and_then(|()| socket.set_write_timeout(None))
        .map_err(|err| MigrationError::HandshakeIo {
            stream_id,
            message: err.to_string(),
        })?;
    Ok(established)
}

/// Checks a joining stream against the established session.
pub fn check_join(session: &ClientHello, hello: &ClientHello) -> Result<(), (RejectCode, String)> {
    if hello.session_id != session.session_id {
        return Err((
            RejectCode::UnknownSession,
            "unknown session id: this destination serves another migration".into(),
        ));
    }
    if hello.stream_count != session.stream_count || hello.memory_bytes != session.memory_bytes {
        return Err((
            RejectCode::BadRequest,
            format!(
                "stream {} says {} streams and {} bytes; the session has {} and {}",
                hello.stream_id,
                hello.stream_count,
                hello.memory_bytes,
                session.stream_count,
                session.memory_bytes
            ),
        ));
    }
    Ok(())
}

/// Formats a handshake error chain for summaries.
pub fn describe(err: &HandshakeError) -> String {
    err.to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dwcp_dataplane_core::handshake::SessionCheck;
    use std::net::TcpListener;
    use std::sync::{Condvar, Mutex};

    /// How long a gate waits for every party; a serial implementation
    /// fails on its 5 s handshake timeout first.
    pub(crate) const GATE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Lets parties through only once `expected` of them are waiting, so a
    /// handshake gated on it completes only if they all run at once.
    #[derive(Debug)]
    pub(crate) struct Gate {
        expected: usize,
        arrived: Mutex<usize>,
        all_here: Condvar,
    }

    impl Gate {
        pub(crate) fn new(expected: usize) -> Self {
            Self {
                expected,
                arrived: Mutex::new(0),
                all_here: Condvar::new(),
            }
        }

        /// Arrives and waits for the others; false if they did not all
        /// come within [`GATE_TIMEOUT`].
        pub(crate) fn arrive_and_wait(&self) -> bool {
            let mut arrived = self.arrived.lock().expect("gate lock");
            *arrived += 1;
            self.all_here.notify_all();
            let (arrived, _) = self
                .all_here
                .wait_timeout_while(arrived, GATE_TIMEOUT, |n| *n < self.expected)
                .expect("gate lock");
            *arrived >= self.expected
        }
    }

    struct GatedCheck(Arc<Gate>);

    impl SessionCheck for GatedCheck {
        fn admit(&mut self, _hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
            if self.0.arrive_and_wait() {
                Ok(0)
            } else {
                Err((RejectCode::Busy, "the joins came one after another".into()))
            }
        }
    }

    #[test]
    fn open_all_handshakes_the_streams_at_once() {
        const JOINS: u16 = 4;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("bound");
        // The server answers no ClientHello before it holds all four: a
        // source that waits for one answer before dialling the next stream
        // never gets one.
        let gate = Arc::new(Gate::new(usize::from(JOINS)));
        let server = std::thread::spawn(move || {
            let serving: Vec<_> = (0..JOINS)
                .map(|_| {
                    let (mut socket, _) = listener.accept().expect("accept");
                    let mut check = GatedCheck(Arc::clone(&gate));
                    std::thread::spawn(move || {
                        serve_handshake(&mut socket, true, None, &mut check)
                            .map(|established| established.hello.stream_id)
                    })
                })
                .collect();
            serving
                .into_iter()
                .map(|thread| thread.join().expect("no panic").expect("handshake"))
                .collect::<Vec<u16>>()
        });
        let session = SourceSession {
            addr,
            addr_text: addr.to_string(),
            session_id: [7; 16],
            stream_count: JOINS + 1,
            memory_bytes: 1 << 20,
            psk: None,
            connect_timeout: Duration::from_secs(5),
        };
        let sockets = session
            .open_all(1..JOINS + 1)
            .expect("every stream handshaken");
        assert_eq!(sockets.len(), usize::from(JOINS));
        let mut served = server.join().expect("server thread");
        served.sort_unstable();
        assert_eq!(served, vec![1, 2, 3, 4]);
    }

    struct RejectFrom(u16);

    impl SessionCheck for RejectFrom {
        fn admit(&mut self, hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
            if hello.stream_id >= self.0 {
                return Err((RejectCode::Busy, format!("stream {}", hello.stream_id)));
            }
            Ok(0)
        }
    }

    #[test]
    fn open_all_reports_the_lowest_failing_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("bound");
        let server = std::thread::spawn(move || {
            for _ in 0..3 {
                let (mut socket, _) = listener.accept().expect("accept");
                let _ = serve_handshake(&mut socket, true, None, &mut RejectFrom(2));
            }
        });
        let session = SourceSession {
            addr,
            addr_text: addr.to_string(),
            session_id: [7; 16],
            stream_count: 4,
            memory_bytes: 1 << 20,
            psk: None,
            connect_timeout: Duration::from_secs(5),
        };
        let result = session.open_all(1..4);
        server.join().expect("server thread");
        assert!(
            matches!(result, Err(MigrationError::Handshake { stream_id: 2, .. })),
            "streams 2 and 3 were refused: {result:?}"
        );
        assert!(session.open_all(1..1).expect("nothing to open").is_empty());
    }
}
