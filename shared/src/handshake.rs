//! Handshake messages: plaintext, exchanged on each connection before any frame.
//!
//! Every message is an 8-byte header followed by `body_len` bytes of body:
//!
//! ```text
//! offset  size  field
//!      0     4  magic     u32 LE = 0x4843_5744 (bytes 'D' 'W' 'C' 'H')
//!      4     1  kind      HandshakeKind: 1 ClientHello, 2 ServerHello,
//!                         3 ClientProof, 4 Reject (0 = Invalid)
//!      5     1  reserved  must be 0
//!      6     2  body_len  u16 LE, <= HANDSHAKE_MSG_LEN_MAX; fixed per kind
//!                         except Reject
//! ```
//!
//! Body layouts are in `handshake/*.rs`, one message per file. The order on
//! a connection is ClientHello → ServerHello → ClientProof. Either side may
//! send a Reject instead of its next message (the server in place of
//! ServerHello or after a bad ClientProof, the client in place of
//! ClientProof when the server proof fails) and then close. `read_from` checks the header, including the body length
//! bound, before it reads (and allocates) the body. These two helpers are
//! the only I/O in this crate.

mod client_hello;
mod client_proof;
mod read_error;
mod reject;
mod server_hello;

pub use client_hello::{ClientHello, CLIENT_HELLO_LEN};
pub use client_proof::{ClientProof, CLIENT_PROOF_LEN};
pub use read_error::HandshakeReadError;
pub use reject::{Reject, RejectCode, REJECT_HEADER_LEN, REJECT_LEN_MAX};
pub use server_hello::{ServerHello, SERVER_HELLO_LEN};

use crate::error::WireError;
use crate::limits::{
    HANDSHAKE_HEADER_LEN, HANDSHAKE_MSG_LEN_MAX, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use crate::wire_reader::Reader;

/// Handshake magic: the bytes `D W C H` read as a little-endian u32.
pub const HANDSHAKE_MAGIC: u32 = 0x4843_5744;
const _: () = assert!(u32::from_le_bytes(*b"DWCH") == HANDSHAKE_MAGIC);

/// ClientHello/ServerHello flag: run without encryption (plaintext frames
/// with an xxh3-128 checksum). Both sides must agree or the server rejects
/// with `RejectCode::ModeMismatch`.
pub const HANDSHAKE_FLAG_INSECURE_PLAINTEXT: u32 = 0x1;
/// Every handshake flag bit v1 defines; any other bit is rejected.
pub const HANDSHAKE_FLAGS_KNOWN: u32 = HANDSHAKE_FLAG_INSECURE_PLAINTEXT;

/// Handshake message kind byte.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeKind {
    /// Never valid on the wire.
    Invalid = 0,
    /// `ClientHello`.
    ClientHello = 1,
    /// `ServerHello`.
    ServerHello = 2,
    /// `ClientProof`.
    ClientProof = 3,
    /// `Reject`.
    Reject = 4,
}

impl HandshakeKind {
    /// Maps a wire byte to a valid kind; 0 (`Invalid`) and unknown bytes give `None`.
    pub const fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::ClientHello),
            2 => Some(Self::ServerHello),
            3 => Some(Self::ClientProof),
            4 => Some(Self::Reject),
            _ => None,
        }
    }

    /// The fixed body length of this kind, `None` for variable-length `Reject`.
    pub const fn fixed_body_len(self) -> Option<usize> {
        match self {
            Self::ClientHello => Some(CLIENT_HELLO_LEN),
            Self::ServerHello => Some(SERVER_HELLO_LEN),
            Self::ClientProof => Some(CLIENT_PROOF_LEN),
            Self::Reject | Self::Invalid => None,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Invalid => "invalid handshake message",
            Self::ClientHello => "client hello",
            Self::ServerHello => "server hello",
            Self::ClientProof => "client proof",
            Self::Reject => "reject",
        }
    }
}

/// One handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeMessage {
    /// Client → server, first message on every connection.
    ClientHello(ClientHello),
    /// Server → client, answer to `ClientHello`.
    ServerHello(ServerHello),
    /// Client → server, proves the client knows the pre-shared key.
    ClientProof(ClientProof),
    /// Either direction: refuses the connection; the sender then closes.
    Reject(Reject),
}

impl HandshakeMessage {
    /// The kind byte of this message.
    pub fn kind(&self) -> HandshakeKind {
        match self {
            Self::ClientHello(_) => HandshakeKind::ClientHello,
            Self::ServerHello(_) => HandshakeKind::ServerHello,
            Self::ClientProof(_) => HandshakeKind::ClientProof,
            Self::Reject(_) => HandshakeKind::Reject,
        }
    }

    /// Encodes header + body. A `Reject` reason longer than
    /// `ABORT_REASON_LEN_MAX` is cut on a char boundary; other fields are
    /// written as they are (an invalid field encodes and `decode` rejects it).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(HANDSHAKE_MSG_LEN_MAX);
        match self {
            Self::ClientHello(m) => m.encode_body(&mut body),
            Self::ServerHello(m) => m.encode_body(&mut body),
            Self::ClientProof(m) => body.extend_from_slice(&m.client_proof),
            Self::Reject(m) => m.encode_body(&mut body),
        }
        let body_len = u16::try_from(body.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HANDSHAKE_HEADER_LEN + body.len());
        out.extend_from_slice(&HANDSHAKE_MAGIC.to_le_bytes());
        out.push(self.kind() as u8);
        out.push(0);
        out.extend_from_slice(&body_len.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes exactly one message: `bytes` must be header + body, no more.
    pub fn decode(bytes: &[u8]) -> Result<HandshakeMessage, WireError> {
        let head = bytes
            .get(..HANDSHAKE_HEADER_LEN)
            .ok_or(WireError::Truncated {
                what: "handshake header",
                needed: HANDSHAKE_HEADER_LEN,
                got: bytes.len(),
            })?;
        let (kind, body_len) = parse_header(head)?;
        let end = HANDSHAKE_HEADER_LEN + body_len;
        let body = bytes
            .get(HANDSHAKE_HEADER_LEN..end)
            .ok_or(WireError::Truncated {
                what: kind.name(),
                needed: end,
                got: bytes.len(),
            })?;
        if bytes.len() > end {
            return Err(WireError::TrailingBytes {
                what: kind.name(),
                expected: end,
                got: bytes.len(),
            });
        }
        decode_body(kind, body)
    }

    /// Writes the encoded message to `w`.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(&self.encode())
    }

    /// Reads one message: the 8-byte header first, checked (magic, kind,
    /// reserved, `body_len` bound and per-kind length) before the body is read.
    pub fn read_from(r: &mut impl std::io::Read) -> Result<HandshakeMessage, HandshakeReadError> {
        let mut head = [0u8; HANDSHAKE_HEADER_LEN];
        r.read_exact(&mut head).map_err(HandshakeReadError::Io)?;
        let (kind, body_len) = parse_header(&head)?;
        let mut body = vec![0u8; body_len];
        r.read_exact(&mut body).map_err(HandshakeReadError::Io)?;
        Ok(decode_body(kind, &body)?)
    }
}

/// Picks the protocol version for a client offering `version_min..=version_max`:
/// the highest version both sides speak, or `None` (reply `VersionUnsupported`).
pub fn negotiate_version(version_min: u16, version_max: u16) -> Option<u16> {
    let high = version_max.min(PROTOCOL_VERSION_MAX);
    let low = version_min.max(PROTOCOL_VERSION_MIN);
    (low <= high).then_some(high)
}

/// Validates a handshake header; returns the kind and the body length.
fn parse_header(head: &[u8]) -> Result<(HandshakeKind, usize), WireError> {
    let mut r = Reader::new(head, "handshake header");
    let magic = r.u32()?;
    if magic != HANDSHAKE_MAGIC {
        return Err(WireError::BadHandshakeMagic { found: magic });
    }
    let kind_byte = r.u8()?;
    let kind =
        HandshakeKind::from_wire(kind_byte).ok_or(WireError::UnknownHandshakeKind(kind_byte))?;
    r.reserved::<1>("handshake header reserved")?;
    let body_len = usize::from(r.u16()?);
    r.finish()?;
    if body_len > HANDSHAKE_MSG_LEN_MAX {
        return Err(WireError::HandshakeBodyTooLong {
            body_len,
            max: HANDSHAKE_MSG_LEN_MAX,
        });
    }
    if let Some(expected) = kind.fixed_body_len() {
        if body_len != expected {
            return Err(WireError::BodyLenMismatch {
                what: kind.name(),
                body_len,
                expected,
            });
        }
    }
    Ok((kind, body_len))
}

fn decode_body(kind: HandshakeKind, body: &[u8]) -> Result<HandshakeMessage, WireError> {
    match kind {
        HandshakeKind::ClientHello => {
            ClientHello::decode_body(body).map(HandshakeMessage::ClientHello)
        }
        HandshakeKind::ServerHello => {
            ServerHello::decode_body(body).map(HandshakeMessage::ServerHello)
        }
        HandshakeKind::ClientProof => {
            ClientProof::decode_body(body).map(HandshakeMessage::ClientProof)
        }
        HandshakeKind::Reject => Reject::decode_body(body).map(HandshakeMessage::Reject),
        HandshakeKind::Invalid => Err(WireError::UnknownHandshakeKind(0)),
    }
}

#[cfg(test)]
#[path = "handshake_test.rs"]
mod tests;
