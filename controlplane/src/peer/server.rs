//! The server side of the peer link: accept, authenticate, one exchange.
//!
//! # Design
//!
//! [`serve`] accepts TCP connections while fewer than [`CONNECTIONS_MAX`]
//! are open (further clients wait in the listen backlog) and gives each its
//! own task:
//!
//! 1. TLS handshake within [`HANDSHAKE_TIMEOUT`]; rustls requires a client
//!    certificate signed by the CA. A failure is logged as
//!    `refused control-plane peer: ...` at `warn` and the connection closed.
//! 2. The client's id is read from its certificate
//!    (`cert_names::host_id`); a certificate without exactly one host id
//!    is refused the same way.
//! 3. One request line within [`READ_TIMEOUT`]; it is decoded and
//!    validated, and only a valid request reaches the [`PeerHandler`]. A bad
//!    line gets a [`PeerResponse::Error`] and never reaches the handler.
//! 4. One response line within [`WRITE_TIMEOUT`], then close_notify.
//!
//! Every close goes through `drain`: we stop writing, then read and
//! discard what the client still sends (at most [`LINGER_BYTES_MAX`] within
//! [`LINGER_TIMEOUT`]). Closing a socket with unread input makes the kernel
//! send a reset, which can overtake our alert or response; lingering lets
//! the client read why it was refused.
//!
//! The handler is not timed out here: it decides how long preparing a
//! migration may take, and the client gives up after its own
//! [`RESPONSE_TIMEOUT`](super::client::RESPONSE_TIMEOUT).
//!
//! When `shutdown` resolves, `serve` stops accepting, gives open connections
//! up to [`SHUTDOWN_GRACE`] to finish, aborts the rest and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::cert_names;
use super::error::PeerError;
use super::protocol::{decode_line, encode_line, read_line, PeerRequest, PeerResponse};

/// Time a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has, after the handshake, to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the client has to take our response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections served at once.
pub const CONNECTIONS_MAX: usize = 64;
/// Most bytes read and discarded from a client while closing its connection.
pub const LINGER_BYTES_MAX: u64 = 256 * 1024;
/// Longest time spent draining a client while closing its connection.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// Time open connections get to finish once `shutdown` resolved.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (out of file descriptors, ...), so that a
/// persistent failure does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

const _: () = assert!(CONNECTIONS_MAX >= 1);
const _: () = assert!(LINGER_BYTES_MAX >= super::protocol::LINE_BYTES_MAX as u64);

/// Handles the requests of authenticated peers.
pub trait PeerHandler: Send + Sync + 'static {
    /// Answers `request`; `peer_id` is the authenticated client's id (the
    /// subjectAltName of its certificate). The request has passed
    /// [`PeerRequest::validate`].
    fn handle(
        &self,
        peer_id: String,
        request: PeerRequest,
    ) -> Pin<Box<dyn Future<Output = PeerResponse> + Send + '_>>;
}

/// Accepts peer connections on `listener` until `shutdown` resolves, each
/// in its own task (see the module docs for the steps and time-outs).
///
/// Connection failures are logged, never returned; the only error is a
/// listener without a local address.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<dyn PeerHandler>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), PeerError> {
    let local = listener.local_addr().map_err(|source| PeerError::Io {
        op: "get the local address of the listener for",
        address: "connections".to_owned(),
        source,
    })?;
    tracing::info!(address = %local, "control-plane peer link listening");
    let acceptor = TlsAcceptor::from(config);
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                log_task_end(ended);
            }
            (accepted, permit) = accept_with_permit(&listener, &permits) => match accepted {
                Ok((stream, peer)) => {
                    let handler = Arc::clone(&handler);
                    let connection = handle_connection(stream, peer, acceptor.clone(), handler);
                    connections.spawn(async move {
                        connection.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(
                        address = %local,
                        error = %e,
                        "accept failed on the control-plane peer listener"
                    );
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
        }
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(address = %local, open, "control-plane peer link stopping");
    let drained = timeout(SHUTDOWN_GRACE, async {
        while let Some(ended) = connections.join_next().await {
            log_task_end(ended);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            address = %local,
            aborted = connections.len(),
            "control-plane peer connections did not finish in time; aborting them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Waits for a free connection slot, then for a connection. Both steps are
/// cancel-safe, so `serve`'s `select!` may drop this future.
async fn accept_with_permit(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (
    std::io::Result<(TcpStream, SocketAddr)>,
    OwnedSemaphorePermit,
) {
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    (listener.accept().await, permit)
}

fn log_task_end(ended: Result<(), JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!(error = %e, "a control-plane peer connection task panicked");
        }
    }
}

/// One connection, from handshake to close.
async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    handler: Arc<dyn PeerHandler>,
) {
    let tls = match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream).into_fallible()).await {
        Err(_elapsed) => {
            tracing::warn!(
                peer = %peer,
                error = "no complete handshake in time",
                "refused control-plane peer: tls handshake timed out"
            );
            return;
        }
        Ok(Err((e, mut tcp))) => {
            tracing::warn!(
                peer = %peer,
                error = %e,
                "refused control-plane peer: tls handshake failed"
            );
            // rustls has queued and sent its alert; stop writing and drain.
            let _ = tcp.shutdown().await;
            drain(&mut tcp).await;
            return;
        }
        Ok(Ok(tls)) => tls,
    };
    let peer_id = match client_id(&tls) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(
                peer = %peer,
                error = %e,
                "refused control-plane peer: no usable id in its certificate"
            );
            let response = PeerResponse::Error {
                message: format!("client certificate refused: {e}"),
            };
            respond_and_close(BufReader::new(tls), &response, peer).await;
            return;
        }
    };
    let mut reader = BufReader::new(tls);
    let response = match timeout(READ_TIMEOUT, read_line(&mut reader)).await {
        Err(_elapsed) => {
            tracing::warn!(peer = %peer, peer_id, "control-plane peer sent no request in time");
            PeerResponse::Error {
                message: format!("no request within {} s", READ_TIMEOUT.as_secs()),
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(
                peer = %peer,
                peer_id,
                error = %e.reason(),
                "bad request from control-plane peer"
            );
            PeerResponse::Error {
                message: e.reason(),
            }
        }
        Ok(Ok(line)) => {
            match decode_line::<PeerRequest>(&line).and_then(|r| r.validate().map(|()| r)) {
                Err(reason) => {
                    tracing::warn!(
                        peer = %peer,
                        peer_id,
                        error = %reason,
                        "bad request from control-plane peer"
                    );
                    PeerResponse::Error { message: reason }
                }
                Ok(request) => {
                    tracing::debug!(
                        peer = %peer,
                        peer_id,
                        kind = request.kind(),
                        "control-plane peer request"
                    );
                    handler.handle(peer_id, request).await
                }
            }
        }
    };
    respond_and_close(reader, &response, peer).await;
}

/// The id of the authenticated client: the only subjectAltName DNS name of
/// the certificate rustls verified.
fn client_id(tls: &TlsStream<TcpStream>) -> Result<String, String> {
    let (_, connection) = tls.get_ref();
    let end_entity = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("no client certificate after a completed handshake")?;
    cert_names::host_id(end_entity)
}

/// Writes `response`, sends close_notify and lingers.
async fn respond_and_close(
    mut reader: BufReader<TlsStream<TcpStream>>,
    response: &PeerResponse,
    peer: SocketAddr,
) {
    let line = encode_line(response).unwrap_or_else(|reason| {
        tracing::warn!(peer = %peer, error = %reason, "control-plane peer response not sendable");
        encode_line(&PeerResponse::Error {
            message: "the response was too long to send".to_owned(),
        })
        .expect("a short error encodes")
    });
    let tls = reader.get_mut();
    let written = timeout(WRITE_TIMEOUT, async {
        tls.write_all(&line).await?;
        tls.shutdown().await
    })
    .await;
    match written {
        Err(_elapsed) => {
            tracing::warn!(peer = %peer, "control-plane peer did not take the response in time")
        }
        Ok(Err(e)) => {
            tracing::warn!(
                peer = %peer,
                error = %e,
                "cannot send the response to a control-plane peer"
            );
        }
        Ok(Ok(())) => drain(&mut reader).await,
    }
}

/// Reads and discards what the client still sends, until it closes or
/// [`LINGER_BYTES_MAX`] or [`LINGER_TIMEOUT`] is reached. Errors end it.
async fn drain<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = tokio::io::sink();
    let _ = timeout(
        LINGER_TIMEOUT,
        tokio::io::copy(&mut stream.take(LINGER_BYTES_MAX), &mut sink),
    )
    .await;
}
