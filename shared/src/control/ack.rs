//! `Ack` frame body, destination → source on each stream.
//!
//! ```text
//! offset  size  field
//!      0     8  written_through_seq  u64 LE
//! ```

use crate::error::WireError;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of an `Ack` body.
pub const ACK_LEN: usize = 8;

/// Every frame on this stream with `seq <= written_through_seq` is written
/// to guest memory at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Highest seq written on the stream the ack travels on.
    pub written_through_seq: u64,
}

impl Ack {
    /// Encodes into `out`, returning `ACK_LEN`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::with_len(out, ACK_LEN, "ack")?;
        w.u64(self.written_through_seq)?;
        Ok(w.position())
    }

    /// Decodes an exact `ACK_LEN`-byte body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "ack");
        let written_through_seq = r.u64()?;
        r.finish()?;
        Ok(Self {
            written_through_seq,
        })
    }
}
