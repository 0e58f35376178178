//! `Final` frame body, source → destination on stream 0, after the last round.
//!
//! ```text
//! offset  size  field
//!      0     4  round         u32 LE, the final round
//!      4     2  stream_count  u16 LE, 1..=STREAMS_MAX
//!      6     2  reserved      must be 0
//!      8     8  page_count    u64 LE, pages in guest memory
//!     16    16  digest        source memory digest (see `digest`)
//!     32  8×n   last_seqs     u64 LE per stream, stream 0 first
//! ```

use crate::error::WireError;
use crate::limits::STREAMS_MAX;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of the fixed part of a `Final` body.
pub const FINAL_HEADER_LEN: usize = 32;
/// Length of the largest `Final` body (`STREAMS_MAX` streams).
pub const FINAL_LEN_MAX: usize = FINAL_HEADER_LEN + 8 * STREAMS_MAX as usize;
const _: () = assert!(FINAL_HEADER_LEN == 4 + 2 + 2 + 8 + 16);

/// The source has sent everything: the destination waits until each stream
/// is written through `last_seqs[stream_id]`, then verifies `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    /// The final round.
    pub round: u32,
    /// Pages in guest memory.
    pub page_count: u64,
    /// Source memory digest.
    pub digest: [u8; 16],
    /// Last seq sent on each stream, indexed by stream id; 1..=`STREAMS_MAX` entries.
    pub last_seqs: Vec<u64>,
}

impl Final {
    /// Length of this body on the wire.
    pub fn encoded_len(&self) -> usize {
        FINAL_HEADER_LEN.saturating_add(self.last_seqs.len().saturating_mul(8))
    }

    /// Encodes into `out`, returning the length written. Rejects an empty
    /// `last_seqs` or more than `STREAMS_MAX` entries.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let stream_count = check_stream_count(self.last_seqs.len())?;
        let mut w = Writer::with_len(out, self.encoded_len(), "final")?;
        w.u32(self.round)?;
        w.u16(stream_count)?;
        w.zeros(2)?;
        w.u64(self.page_count)?;
        w.put(&self.digest)?;
        for &seq in &self.last_seqs {
            w.u64(seq)?;
        }
        Ok(w.position())
    }

    /// Decodes an exact-length body. The stream count is bounded and the
    /// length checked before `last_seqs` is allocated.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "final");
        let round = r.u32()?;
        let stream_count = r.u16()?;
        r.reserved::<2>("final reserved")?;
        let page_count = r.u64()?;
        let digest = r.array::<16>()?;
        let n = usize::from(check_stream_count(usize::from(stream_count))?);
        let expected = FINAL_HEADER_LEN + 8 * n;
        if body.len() < expected {
            return Err(WireError::Truncated {
                what: "final",
                needed: expected,
                got: body.len(),
            });
        }
        let mut last_seqs = Vec::with_capacity(n);
        for _ in 0..n {
            last_seqs.push(r.u64()?);
        }
        r.finish()?;
        Ok(Self {
            round,
            page_count,
            digest,
            last_seqs,
        })
    }
}

fn check_stream_count(n: usize) -> Result<u16, WireError> {
    let stream_count = u16::try_from(n).unwrap_or(u16::MAX);
    if stream_count == 0 || stream_count > STREAMS_MAX {
        return Err(WireError::StreamCountOutOfRange {
            stream_count,
            max: STREAMS_MAX,
        });
    }
    Ok(stream_count)
}
