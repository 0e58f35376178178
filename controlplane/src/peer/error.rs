//! The peer link's error type.
//!
//! Every variant names what it was doing and with whom (the peer's address
//! and, on the client side, the id it was verified against) or which file it
//! was reading. Messages are lowercase without a trailing period and do not
//! repeat their `#[source]`, so they chain under `{:#}`.

use std::path::PathBuf;

/// Why a peer-link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// A socket operation failed below TLS (connection refused, reset, ...).
    #[error("cannot {op} control-plane peer {address}")]
    Io {
        /// What was being done: "connect to", "write to", "read from", ...
        op: &'static str,
        /// The peer's control address (or the local listener's).
        address: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// TLS refused the peer or was refused by it: unknown CA, a certificate
    /// not valid for the expected id, no client certificate, a TLS alert.
    #[error("tls with control-plane peer {peer_id:?} at {address} failed")]
    Tls {
        /// The peer's control address.
        address: String,
        /// The id the peer's certificate had to be valid for.
        peer_id: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// A PEM file could not be read or holds no usable item.
    #[error("cannot load {path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Our own certificate cannot serve as this host's identity: it is not
    /// signed by the CA, or it does not name exactly one host id.
    #[error("certificate {path} is not a usable host identity: {reason}")]
    Identity {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused to build a configuration (for example, the key does not
    /// match the certificate).
    #[error("cannot build the tls configuration for {what}")]
    Config {
        /// "the server", "the client".
        what: &'static str,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built from the CA roots.
    #[error("cannot build the client-certificate verifier")]
    ClientVerifier {
        /// rustls's reason.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// The peer broke the line protocol: bad JSON, a line over
    /// [`LINE_BYTES_MAX`](super::protocol::LINE_BYTES_MAX), a closed
    /// connection before a complete line, an invalid request.
    #[error("protocol error with control-plane peer {address}: {reason}")]
    Protocol {
        /// The peer's control address.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// A step did not finish within its time-out.
    #[error("timed out {what} control-plane peer {address}")]
    Timeout {
        /// The step: "connecting to", "waiting for the response of".
        what: &'static str,
        /// The peer's control address.
        address: String,
    },
    /// The id to verify a peer against is not a valid host id.
    #[error("invalid control-plane peer id {peer_id:?}: {reason}")]
    InvalidPeerId {
        /// The id as given.
        peer_id: String,
        /// Why it is not valid.
        reason: String,
    },
}
