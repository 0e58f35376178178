//! `HandshakeReadError`: failure of `HandshakeMessage::read_from`.
//!
//! Separates transport failure (`Io`, including EOF mid-message) from a
//! peer that sent bytes v1 rejects (`Wire`).

use crate::error::WireError;

/// Why `HandshakeMessage::read_from` failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeReadError {
    /// Reading from the transport failed (including EOF mid-message).
    #[error("handshake read failed")]
    Io(#[source] std::io::Error),
    /// The peer sent an invalid message.
    #[error("invalid handshake message")]
    Wire(#[from] WireError),
}
