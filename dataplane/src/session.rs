//! Establishing a migration session: connecting and handshaking streams
//! (source), accepting them (destination), and deriving the frame keys.
//!
//! Handshakes use blocking sockets with timeouts on cold paths only: the
//! source's start-up and its reconnect helper, the destination's start-up
//! and its acceptor thread. The protocol logic is the pure state machines
//! of [`dwcp_dataplane_core::handshake`].

use crate::error::MigrationError;
use dwcp_dataplane_core::handshake::{
    server_handle_client_hello, ClientEstablished, ClientHandshake, ClientParams, HandshakeError,
    ServerEstablished, SessionCheck,
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

    /// Opens a TCP connection; returns it with its round-trip time: the
    /// kernel's measurement where it has one, else the time connect took.
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
        Ok((socket, rtt))
    }

    /// Handshakes `stream_id` on a fresh connection.
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
                dwcp_uring::socket::tune_stream(&socket).map_err(|err| {
                    MigrationError::HandshakeIo {
                        stream_id,
                        message: err.to_string(),
                    }
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
}

/// Runs the server side of one handshake on a blocking socket.
pub fn serve_handshake(
    socket: &mut TcpStream,
    insecure_plaintext: bool,
    psk: Option<&PreSharedKey>,
    session: &mut impl SessionCheck,
) -> Result<ServerEstablished, MigrationError> {
    let timeout = Some(HANDSHAKE_IO_TIMEOUT);
    let no_hello = |message: String| MigrationError::NoHello { message };
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
    dwcp_uring::socket::tune_stream(socket).map_err(|err| MigrationError::HandshakeIo {
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
