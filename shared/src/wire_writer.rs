//! `Writer`: a bounds-checked little-endian cursor over an output slice.
//!
//! Encoders check the total length up front and report `BufferTooSmall`;
//! the writer re-checks every put so a length bug is an error, not a panic.

use crate::error::WireError;

/// Little-endian cursor over a caller-provided output buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Writer<'a> {
    /// Checks `buf` holds `needed` bytes and starts writing at offset 0.
    pub(crate) fn with_len(
        buf: &'a mut [u8],
        needed: usize,
        what: &'static str,
    ) -> Result<Self, WireError> {
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                what,
                needed,
                got: buf.len(),
            });
        }
        Ok(Self { buf, pos: 0, what })
    }

    /// Writes `bytes` at the cursor.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let needed = self.pos.saturating_add(bytes.len());
        let got = self.buf.len();
        let what = self.what;
        let dst = self
            .buf
            .get_mut(self.pos..needed)
            .ok_or(WireError::BufferTooSmall { what, needed, got })?;
        dst.copy_from_slice(bytes);
        self.pos = needed;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    /// Writes `n` zero bytes (a reserved field).
    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), WireError> {
        const ZEROS: [u8; 8] = [0; 8];
        let mut left = n;
        while left > 0 {
            let chunk = left.min(ZEROS.len());
            self.put(ZEROS.get(..chunk).unwrap_or(&[]))?;
            left -= chunk;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
}
