//! `ServerHello` body: the server's answer to `ClientHello`.
//!
//! ```text
//! offset  size  field
//!      0     2  version           u16 LE, the negotiated version (>= 1)
//!      2     2  reserved          must be 0
//!      4     4  capabilities      u32 LE, subset of the client's
//!      8     4  flags             u32 LE, echoes the client's mode flags
//!     12     4  reserved          must be 0
//!     16    32  server_nonce      random per connection
//!     48     8  resume_after_seq  u64 LE, frames 1..=this already written (0 = none)
//!     56    32  server_proof      HMAC-SHA256 (see docs/protocol.md)
//! ```

use crate::error::WireError;
use crate::handshake::{HandshakeMessage, HANDSHAKE_FLAGS_KNOWN};
use crate::wire_reader::Reader;

/// Length of a `ServerHello` body.
pub const SERVER_HELLO_LEN: usize = 88;
const _: () = assert!(SERVER_HELLO_LEN == 2 + 2 + 4 + 4 + 4 + 32 + 8 + 32);

/// Server → client: the negotiated parameters and the server's proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// Negotiated protocol version.
    pub version: u16,
    /// Capability bits both sides support.
    pub capabilities: u32,
    /// Mode flags, equal to the client's.
    pub flags: u32,
    /// Fresh random nonce for this connection.
    pub server_nonce: [u8; 32],
    /// Frames `1..=resume_after_seq` on this stream are already written; the
    /// sender resumes at `resume_after_seq + 1`. 0 on a new stream.
    pub resume_after_seq: u64,
    /// HMAC-SHA256 over the transcript, keyed by the pre-shared key.
    pub server_proof: [u8; 32],
}

impl ServerHello {
    /// The full encoded message (header + body) with `server_proof` zeroed:
    /// the bytes the server proof is computed over.
    pub fn encode_without_proof(&self) -> Vec<u8> {
        let unproven = ServerHello {
            server_proof: [0; 32],
            ..*self
        };
        HandshakeMessage::ServerHello(unproven).encode()
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.server_nonce);
        out.extend_from_slice(&self.resume_after_seq.to_le_bytes());
        out.extend_from_slice(&self.server_proof);
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "server hello");
        let version = r.u16()?;
        r.reserved::<2>("server hello reserved 2")?;
        let capabilities = r.u32()?;
        let flags = r.u32()?;
        r.reserved::<4>("server hello reserved 12")?;
        let server_nonce = r.array::<32>()?;
        let resume_after_seq = r.u64()?;
        let server_proof = r.array::<32>()?;
        r.finish()?;
        if version == 0 {
            return Err(WireError::InvalidVersion { version });
        }
        if flags & !HANDSHAKE_FLAGS_KNOWN != 0 {
            return Err(WireError::UnknownHandshakeFlags {
                what: "server hello",
                flags,
                allowed: HANDSHAKE_FLAGS_KNOWN,
            });
        }
        Ok(Self {
            version,
            capabilities,
            flags,
            server_nonce,
            resume_after_seq,
            server_proof,
        })
    }
}
