//! `Reader`: a bounds-checked little-endian cursor over an input slice.
//!
//! Every read goes through `slice::get` with checked arithmetic, so a short
//! or hostile input yields `WireError::Truncated` and never a panic. The
//! `what` label names the structure in errors.

use crate::error::WireError;

/// Little-endian cursor over untrusted bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf` from offset 0; `what` names the structure in errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let truncated = WireError::Truncated {
            what: self.what,
            needed: self.pos.saturating_add(n),
            got: self.buf.len(),
        };
        let end = self.pos.checked_add(n).ok_or_else(|| truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Takes the next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a reserved field of `N` bytes and checks it is all zero.
    pub(crate) fn reserved<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<(), WireError> {
        let bytes: [u8; N] = self.array()?;
        let value = bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b));
        if bytes.iter().any(|&b| b != 0) {
            return Err(WireError::ReservedNonZero { what: field, value });
        }
        Ok(())
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes {
                what: self.what,
                expected: self.pos,
                got: self.buf.len(),
            })
        }
    }
}
