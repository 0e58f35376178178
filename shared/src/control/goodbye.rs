//! `Goodbye` frame body, source → destination on stream 0: empty.
//!
//! The source's last frame, sent once the destination's `Ack` of `Commit`
//! arrived: the source has everything it needs and closes. Without it the
//! destination cannot tell the source's close from a stream 0 that broke
//! before its ack of `Commit` arrived; with it, the destination ends on
//! `Goodbye` and, until then, answers a re-established stream 0 with the
//! ack again.

use crate::error::WireError;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of a `Goodbye` body.
pub const GOODBYE_LEN: usize = 0;

/// The source is done and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye;

impl Goodbye {
    /// Encodes into `out`, returning `GOODBYE_LEN`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let w = Writer::with_len(out, GOODBYE_LEN, "goodbye")?;
        Ok(w.position())
    }

    /// Decodes an exact (empty) body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let r = Reader::new(body, "goodbye");
        r.finish()?;
        Ok(Self)
    }
}
