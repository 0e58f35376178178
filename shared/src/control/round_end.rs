//! `RoundEnd` frame body, source → destination on stream 0.
//!
//! ```text
//! offset  size  field
//!      0     4  round       u32 LE
//!      4     4  reserved    must be 0
//!      8     8  pages_sent  u64 LE, pages sent in this round on all streams
//!     16     8  bytes_sent  u64 LE, frame bytes sent in this round on all streams
//! ```

use crate::error::WireError;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of a `RoundEnd` body.
pub const ROUND_END_LEN: usize = 24;
const _: () = assert!(ROUND_END_LEN == 4 + 4 + 8 + 8);

/// The source finished sending precopy round `round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundEnd {
    /// Round that ended.
    pub round: u32,
    /// Pages sent in the round, all streams together.
    pub pages_sent: u64,
    /// Bytes sent in the round, all streams together.
    pub bytes_sent: u64,
}

impl RoundEnd {
    /// Encodes into `out`, returning `ROUND_END_LEN`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::with_len(out, ROUND_END_LEN, "round end")?;
        w.u32(self.round)?;
        w.zeros(4)?;
        w.u64(self.pages_sent)?;
        w.u64(self.bytes_sent)?;
        Ok(w.position())
    }

    /// Decodes an exact `ROUND_END_LEN`-byte body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "round end");
        let round = r.u32()?;
        r.reserved::<4>("round end reserved")?;
        let pages_sent = r.u64()?;
        let bytes_sent = r.u64()?;
        r.finish()?;
        Ok(Self {
            round,
            pages_sent,
            bytes_sent,
        })
    }
}
