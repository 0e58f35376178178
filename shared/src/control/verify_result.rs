//! `VerifyResult` frame body, destination → source on stream 0.
//!
//! ```text
//! offset  size  field
//!      0     1  ok             u8: 0 = mismatch, 1 = match; anything else rejected
//!      1     7  reserved       must be 0
//!      8    16  digest         destination memory digest
//!     24     8  pages_written  u64 LE
//! ```

use crate::error::WireError;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of a `VerifyResult` body.
pub const VERIFY_RESULT_LEN: usize = 32;
const _: () = assert!(VERIFY_RESULT_LEN == 1 + 7 + 16 + 8);

/// The destination's verdict after `Final`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyResult {
    /// True when the destination digest equals the source digest.
    pub ok: bool,
    /// Destination memory digest.
    pub digest: [u8; 16],
    /// Pages the destination wrote, all rounds and streams together.
    pub pages_written: u64,
}

impl VerifyResult {
    /// Encodes into `out`, returning `VERIFY_RESULT_LEN`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::with_len(out, VERIFY_RESULT_LEN, "verify result")?;
        w.u8(u8::from(self.ok))?;
        w.zeros(7)?;
        w.put(&self.digest)?;
        w.u64(self.pages_written)?;
        Ok(w.position())
    }

    /// Decodes an exact `VERIFY_RESULT_LEN`-byte body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "verify result");
        let ok = match r.u8()? {
            0 => false,
            1 => true,
            value => {
                return Err(WireError::InvalidBool {
                    what: "verify result ok",
                    value,
                })
            }
        };
        r.reserved::<7>("verify result reserved")?;
        let digest = r.array::<16>()?;
        let pages_written = r.u64()?;
        r.finish()?;
        Ok(Self {
            ok,
            digest,
            pages_written,
        })
    }
}
