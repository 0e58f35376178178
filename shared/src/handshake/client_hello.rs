//! `ClientHello` body: the first message on every connection.
//!
//! ```text
//! offset  size  field
//!      0     2  version_min   u16 LE, >= 1
//!      2     2  version_max   u16 LE, >= version_min
//!      4     4  capabilities  u32 LE bit set (unknown bits are ignored by the server)
//!      8     4  flags         u32 LE, HANDSHAKE_FLAG_INSECURE_PLAINTEXT only
//!     12    16  session_id    random per migration; same on every stream
//!     28     2  stream_id     u16 LE, < stream_count
//!     30     2  stream_count  u16 LE, 1..=STREAMS_MAX
//!     32     8  memory_bytes  u64 LE, guest memory size
//!     40     4  page_size     u32 LE (server rejects anything but PAGE_SIZE)
//!     44     4  reserved      must be 0
//!     48    32  client_nonce  random per connection
//! ```
//!
//! `decode` checks structure only; the server turns semantic mismatches
//! (version, size, page size, mode) into a `Reject`.

use crate::error::WireError;
use crate::handshake::HANDSHAKE_FLAGS_KNOWN;
use crate::limits::STREAMS_MAX;
use crate::wire_reader::Reader;

/// Length of a `ClientHello` body.
pub const CLIENT_HELLO_LEN: usize = 80;
const _: () = assert!(CLIENT_HELLO_LEN == 2 + 2 + 4 + 4 + 16 + 2 + 2 + 8 + 4 + 4 + 32);

/// Client → server: what the client wants and speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello {
    /// Lowest protocol version the client speaks (>= 1).
    pub version_min: u16,
    /// Highest protocol version the client speaks.
    pub version_max: u16,
    /// Capability bits the client supports.
    pub capabilities: u32,
    /// Mode flags (`HANDSHAKE_FLAG_INSECURE_PLAINTEXT`).
    pub flags: u32,
    /// Migration session id, the same on every stream.
    pub session_id: [u8; 16],
    /// This connection's stream id; 0 creates the session, others join it.
    pub stream_id: u16,
    /// Streams in the session, 1..=`STREAMS_MAX`.
    pub stream_count: u16,
    /// Guest memory size in bytes.
    pub memory_bytes: u64,
    /// Guest page size in bytes.
    pub page_size: u32,
    /// Fresh random nonce for this connection.
    pub client_nonce: [u8; 32],
}

impl ClientHello {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version_min.to_le_bytes());
        out.extend_from_slice(&self.version_max.to_le_bytes());
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.session_id);
        out.extend_from_slice(&self.stream_id.to_le_bytes());
        out.extend_from_slice(&self.stream_count.to_le_bytes());
        out.extend_from_slice(&self.memory_bytes.to_le_bytes());
        out.extend_from_slice(&self.page_size.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.client_nonce);
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "client hello");
        let version_min = r.u16()?;
        let version_max = r.u16()?;
        let capabilities = r.u32()?;
        let flags = r.u32()?;
        let session_id = r.array::<16>()?;
        let stream_id = r.u16()?;
        let stream_count = r.u16()?;
        let memory_bytes = r.u64()?;
        let page_size = r.u32()?;
        r.reserved::<4>("client hello reserved")?;
        let client_nonce = r.array::<32>()?;
        r.finish()?;
        if version_min == 0 || version_min > version_max {
            return Err(WireError::InvalidVersionRange {
                version_min,
                version_max,
            });
        }
        if flags & !HANDSHAKE_FLAGS_KNOWN != 0 {
            return Err(WireError::UnknownHandshakeFlags {
                what: "client hello",
                flags,
                allowed: HANDSHAKE_FLAGS_KNOWN,
            });
        }
        if stream_count == 0 || stream_count > STREAMS_MAX {
            return Err(WireError::StreamCountOutOfRange {
                stream_count,
                max: STREAMS_MAX,
            });
        }
        if stream_id >= stream_count {
            return Err(WireError::StreamIdOutOfRange {
                stream_id,
                limit: stream_count,
            });
        }
        Ok(Self {
            version_min,
            version_max,
            capabilities,
            flags,
            session_id,
            stream_id,
            stream_count,
            memory_bytes,
            page_size,
            client_nonce,
        })
    }
}
