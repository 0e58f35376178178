//! `Reject` body: one side refuses the connection, then closes it.
//!
//! Usually sent by the server; the client sends `AuthFailed` when the
//! server proof does not verify.
//!
//! ```text
//! offset  size  field
//!      0     2  code        RejectCode u16 LE (0 = Invalid)
//!      2     2  reason_len  u16 LE, <= ABORT_REASON_LEN_MAX
//!      4     n  reason      UTF-8, reason_len bytes
//! ```

use crate::error::WireError;
use crate::limits::ABORT_REASON_LEN_MAX;
use crate::reason;
use crate::wire_reader::Reader;

/// Length of the fixed part of a `Reject` body.
pub const REJECT_HEADER_LEN: usize = 4;
/// Length of the largest `Reject` body.
pub const REJECT_LEN_MAX: usize = REJECT_HEADER_LEN + ABORT_REASON_LEN_MAX;

/// Why a side refused a connection.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// Never valid on the wire.
    Invalid = 0,
    /// No common protocol version.
    VersionUnsupported = 1,
    /// `memory_bytes` differs from the destination's guest memory.
    SizeMismatch = 2,
    /// `page_size` is not `PAGE_SIZE`.
    PageSizeUnsupported = 3,
    /// Proof verification failed.
    AuthFailed = 4,
    /// Encrypted vs `--insecure-plaintext` disagree.
    ModeMismatch = 5,
    /// A joining stream names a session the server does not have.
    UnknownSession = 6,
    /// The server already runs a session, or the stream is already connected.
    Busy = 7,
    /// The ClientHello was malformed or inconsistent with the session.
    BadRequest = 8,
}

impl RejectCode {
    /// Maps a wire value to a valid code; 0 (`Invalid`) and unknown values give `None`.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::VersionUnsupported),
            2 => Some(Self::SizeMismatch),
            3 => Some(Self::PageSizeUnsupported),
            4 => Some(Self::AuthFailed),
            5 => Some(Self::ModeMismatch),
            6 => Some(Self::UnknownSession),
            7 => Some(Self::Busy),
            8 => Some(Self::BadRequest),
            _ => None,
        }
    }

    /// The wire value of this code.
    pub const fn to_wire(self) -> u16 {
        self as u16
    }
}

/// The connection is refused (server → client, or client → server on `AuthFailed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Machine-readable cause.
    pub code: RejectCode,
    /// Human-readable detail, at most `ABORT_REASON_LEN_MAX` bytes of UTF-8.
    pub reason: String,
}

impl Reject {
    /// Builds a reject, cutting `reason` to `ABORT_REASON_LEN_MAX` bytes on a char boundary.
    pub fn new(code: RejectCode, reason: &str) -> Self {
        Self {
            code,
            reason: reason::truncated(reason).to_owned(),
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        let text = reason::truncated(&self.reason);
        let len = u16::try_from(text.len()).unwrap_or(0);
        out.extend_from_slice(&self.code.to_wire().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "reject");
        let raw = r.u16()?;
        let code = RejectCode::from_wire(raw).ok_or(WireError::UnknownRejectCode(raw))?;
        let reason = reason::read(&mut r, "reject reason")?;
        r.finish()?;
        Ok(Self { code, reason })
    }
}
