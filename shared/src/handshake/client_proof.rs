//! `ClientProof` body: the client's HMAC over the handshake transcript.
//!
//! ```text
//! offset  size  field
//!      0    32  client_proof  HMAC-SHA256 (see docs/protocol.md)
//! ```

use crate::error::WireError;
use crate::wire_reader::Reader;

/// Length of a `ClientProof` body.
pub const CLIENT_PROOF_LEN: usize = 32;

/// Client → server: proves the client holds the pre-shared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientProof {
    /// HMAC-SHA256 over the transcript, keyed by the pre-shared key.
    pub client_proof: [u8; 32],
}

impl ClientProof {
    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "client proof");
        let client_proof = r.array::<32>()?;
        r.finish()?;
        Ok(Self { client_proof })
    }
}
