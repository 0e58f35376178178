//! `Abort` frame body, either direction, any stream; the sender then closes.
//!
//! ```text
//! offset  size  field
//!      0     2  code        AbortCode u16 LE (0 = Invalid)
//!      2     2  reason_len  u16 LE, <= ABORT_REASON_LEN_MAX
//!      4     n  reason      UTF-8, reason_len bytes
//! ```

use crate::error::WireError;
use crate::limits::ABORT_REASON_LEN_MAX;
use crate::reason;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of the fixed part of an `Abort` body.
pub const ABORT_HEADER_LEN: usize = 4;
/// Length of the largest `Abort` body.
pub const ABORT_LEN_MAX: usize = ABORT_HEADER_LEN + ABORT_REASON_LEN_MAX;

/// Why a migration was aborted.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbortCode {
    /// Never valid on the wire.
    Invalid = 0,
    /// The peer broke the protocol (bad frame, seq, authentication).
    Protocol = 1,
    /// Guest memory sizes disagree.
    SizeMismatch = 2,
    /// Local I/O failed.
    Io = 3,
    /// The digests did not match.
    VerifyFailed = 4,
    /// The sender is shutting down (operator cancel, signal).
    Shutdown = 5,
}

impl AbortCode {
    /// Maps a wire value to a valid code; 0 (`Invalid`) and unknown values give `None`.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::Protocol),
            2 => Some(Self::SizeMismatch),
            3 => Some(Self::Io),
            4 => Some(Self::VerifyFailed),
            5 => Some(Self::Shutdown),
            _ => None,
        }
    }

    /// The wire value of this code.
    pub const fn to_wire(self) -> u16 {
        self as u16
    }
}

/// The sender gives up on the migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    /// Machine-readable cause.
    pub code: AbortCode,
    /// Human-readable detail, at most `ABORT_REASON_LEN_MAX` bytes of UTF-8.
    pub reason: String,
}

impl Abort {
    /// Builds an abort, cutting `reason` to `ABORT_REASON_LEN_MAX` bytes on a
    /// char boundary so that it always encodes.
    pub fn new(code: AbortCode, reason: &str) -> Self {
        Self {
            code,
            reason: reason::truncated(reason).to_owned(),
        }
    }

    /// Length of this body on the wire.
    pub fn encoded_len(&self) -> usize {
        ABORT_HEADER_LEN.saturating_add(self.reason.len())
    }

    /// Encodes into `out`, returning the length written. Rejects a reason
    /// longer than `ABORT_REASON_LEN_MAX`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        reason::check_len(&self.reason, "abort reason")?;
        let mut w = Writer::with_len(out, self.encoded_len(), "abort")?;
        w.u16(self.code.to_wire())?;
        reason::write(&mut w, &self.reason, "abort reason")?;
        Ok(w.position())
    }

    /// Decodes an exact-length body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "abort");
        let raw = r.u16()?;
        let code = AbortCode::from_wire(raw).ok_or(WireError::UnknownAbortCode(raw))?;
        let reason = reason::read(&mut r, "abort reason")?;
        r.finish()?;
        Ok(Self { code, reason })
    }
}
