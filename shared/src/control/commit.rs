//! `Commit` frame body, source → destination on stream 0.
//!
//! The source sends it once it has a `VerifyResult` that is ok and names its
//! own digest: from then on the source keeps the guest paused and the
//! destination owns it. The destination acknowledges it like any frame, and
//! reports its image as migrated only once it has it (a verdict alone is
//! not enough: a source that never read the verdict resumes the guest).
//!
//! ```text
//! offset  size  field
//!      0    16  digest   the digest both sides agreed on (the verdict's)
//! ```

use crate::error::WireError;
use crate::wire_reader::Reader;
use crate::wire_writer::Writer;

/// Length of a `Commit` body.
pub const COMMIT_LEN: usize = 16;

/// The source hands the guest over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// The digest of the verified image (source's and destination's, equal).
    pub digest: [u8; 16],
}

impl Commit {
    /// Encodes into `out`, returning `COMMIT_LEN`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::with_len(out, COMMIT_LEN, "commit")?;
        w.put(&self.digest)?;
        Ok(w.position())
    }

    /// Decodes an exact `COMMIT_LEN`-byte body.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "commit");
        let digest = r.array::<16>()?;
        r.finish()?;
        Ok(Self { digest })
    }
}
