//! The client side of the peer link: one request, one response.
//!
//! # Design
//!
//! [`PeerClient::request`] opens a fresh TLS connection per request, verifies
//! the server's certificate against the CA *for the peer's id* (not for the
//! address it dialled, which may be an IP), sends one line and reads one
//! line. Connecting (TCP and TLS handshake) has [`CONNECT_TIMEOUT`]; sending
//! the request and receiving the response together have
//! [`RESPONSE_TIMEOUT`], which covers the server's handler.
//!
//! The request is validated and its length checked before anything is
//! sent, so an invalid or oversized request fails here with
//! [`PeerError::Protocol`] and never reaches the peer.
//!
//! With TLS 1.3 the client finishes its handshake before the server has
//! checked the client certificate, so a refusal of *our* certificate shows
//! up while reading the response, as the server's TLS alert. Both places
//! map rustls errors to [`PeerError::Tls`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::cert_names;
use super::error::PeerError;
use super::protocol::{
    decode_line, encode_line, read_line, validate_id, LineError, PeerRequest, PeerResponse,
};

/// Time to establish TCP and complete the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to send the request and receive the whole response.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

const _: () = assert!(
    RESPONSE_TIMEOUT.as_secs() > super::server::READ_TIMEOUT.as_secs(),
    "the server gives up on a slow request before the client gives up on the response"
);

/// Sends requests to other hosts' control planes. Cheap to clone; holds no
/// connection between requests.
#[derive(Clone)]
pub struct PeerClient {
    connector: TlsConnector,
}

impl PeerClient {
    /// A client presenting the identity in `config`
    /// ([`TlsIdentity::client_config`](super::TlsIdentity::client_config)).
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self {
            connector: TlsConnector::from(config),
        }
    }

    /// Connects to `address` (`host:port`; timeout [`CONNECT_TIMEOUT`]),
    /// checks that the server's certificate is valid for `peer_id`, sends
    /// `request` and reads the response (timeout [`RESPONSE_TIMEOUT`]).
    ///
    /// A [`PeerResponse::Error`] from the peer is a successful exchange and
    /// returned as `Ok`.
    pub async fn request(
        &self,
        address: &str,
        peer_id: &str,
        request: &PeerRequest,
    ) -> Result<PeerResponse, PeerError> {
        let server_name = peer_server_name(peer_id)?;
        let protocol_error = |reason: String| PeerError::Protocol {
            address: address.to_owned(),
            reason,
        };
        request.validate().map_err(|reason| {
            protocol_error(format!("invalid {} request: {reason}", request.kind()))
        })?;
        let line = encode_line(request).map_err(protocol_error)?;
        let mut tls = timeout(CONNECT_TIMEOUT, self.connect(address, peer_id, server_name))
            .await
            .map_err(|_elapsed| PeerError::Timeout {
                what: "connecting to",
                address: address.to_owned(),
            })??;
        timeout(
            RESPONSE_TIMEOUT,
            exchange(&mut tls, &line, address, peer_id),
        )
        .await
        .map_err(|_elapsed| PeerError::Timeout {
            what: "waiting for the response of",
            address: address.to_owned(),
        })?
    }

    async fn connect(
        &self,
        address: &str,
        peer_id: &str,
        server_name: ServerName<'static>,
    ) -> Result<TlsStream<TcpStream>, PeerError> {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|source| PeerError::Io {
                op: "connect to",
                address: address.to_owned(),
                source,
            })?;
        // Requests are single small lines; do not hold them back.
        let _ = tcp.set_nodelay(true);
        self.connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| stream_error(e, "complete the tls handshake with", address, peer_id))
    }
}

impl fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerClient").finish_non_exhaustive()
    }
}

/// `peer_id` as the name the server's certificate must be valid for.
fn peer_server_name(peer_id: &str) -> Result<ServerName<'static>, PeerError> {
    let invalid = |reason: String| PeerError::InvalidPeerId {
        peer_id: peer_id.to_owned(),
        reason,
    };
    validate_id(peer_id).map_err(invalid)?;
    cert_names::dns_server_name(peer_id).map_err(invalid)
}

/// Writes `line`, reads and decodes one response line, sends close_notify.
async fn exchange(
    tls: &mut TlsStream<TcpStream>,
    line: &[u8],
    address: &str,
    peer_id: &str,
) -> Result<PeerResponse, PeerError> {
    tls.write_all(line)
        .await
        .map_err(|e| stream_error(e, "write to", address, peer_id))?;
    tls.flush()
        .await
        .map_err(|e| stream_error(e, "write to", address, peer_id))?;
    let mut reader = BufReader::new(tls);
    let response_line = read_line(&mut reader).await.map_err(|e| match e {
        LineError::Io(source) => stream_error(source, "read from", address, peer_id),
        other => PeerError::Protocol {
            address: address.to_owned(),
            reason: format!("response: {}", other.reason()),
        },
    })?;
    let response = decode_line(&response_line).map_err(|reason| PeerError::Protocol {
        address: address.to_owned(),
        reason: format!("response: {reason}"),
    })?;
    // The exchange is complete; a failed close_notify changes nothing.
    let _ = reader.get_mut().shutdown().await;
    Ok(response)
}

/// An I/O error from the TLS stream: rustls's own errors (bad certificate,
/// alerts) become [`PeerError::Tls`], the rest [`PeerError::Io`].
fn stream_error(
    error: std::io::Error,
    op: &'static str,
    address: &str,
    peer_id: &str,
) -> PeerError {
    let tls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match tls_error {
        Some(source) => PeerError::Tls {
            address: address.to_owned(),
            peer_id: peer_id.to_owned(),
            source,
        },
        None => PeerError::Io {
            op,
            address: address.to_owned(),
            source: error,
        },
    }
}
