//! `BatchWriter`: builds a `PageBatch` body in a caller-provided buffer.
//!
//! The writer never allocates. It writes the batch header on `new`, appends
//! one entry (16-byte entry header + payload) per push, and patches
//! `page_count` at offset 4 on `finish`. It refuses a page index already in
//! the batch, so everything it produces passes `BatchView::parse` as long as
//! at least one page was pushed and every index is below `pages_total`.

use core::fmt;

use crate::batch::PageEncoding;
use crate::error::WireError;
use crate::limits::{BATCH_HEADER_LEN, PAGES_PER_BATCH_MAX, PAGE_ENTRY_LEN, PAGE_SIZE};

/// Bytes one raw page occupies in a batch.
const RAW_ENTRY_LEN: usize = PAGE_ENTRY_LEN + PAGE_SIZE as usize;
/// Offset of `page_count` in the batch header.
const PAGE_COUNT_OFFSET: usize = 4;

/// Writes a `PageBatch` body into a caller buffer without allocating.
pub struct BatchWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    last_payload_start: usize,
    count: u16,
    indices: [u64; PAGES_PER_BATCH_MAX as usize],
}

impl fmt::Debug for BatchWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchWriter")
            .field("buf_len", &self.buf.len())
            .field("pos", &self.pos)
            .field("count", &self.count)
            .finish()
    }
}

impl<'a> BatchWriter<'a> {
    /// Starts a batch for `round`; `buf` must hold at least `BATCH_HEADER_LEN` bytes.
    pub fn new(buf: &'a mut [u8], round: u32) -> Result<Self, WireError> {
        let got = buf.len();
        let header = buf
            .get_mut(..BATCH_HEADER_LEN)
            .ok_or(WireError::BufferTooSmall {
                what: "batch header",
                needed: BATCH_HEADER_LEN,
                got,
            })?;
        let mut bytes = [0u8; BATCH_HEADER_LEN];
        let (round_bytes, _) = bytes.split_at_mut(4);
        round_bytes.copy_from_slice(&round.to_le_bytes());
        header.copy_from_slice(&bytes);
        Ok(Self {
            buf,
            pos: BATCH_HEADER_LEN,
            last_payload_start: BATCH_HEADER_LEN,
            count: 0,
            indices: [0; PAGES_PER_BATCH_MAX as usize],
        })
    }

    /// Appends a raw page. `page.len()` must be `PAGE_SIZE`; `BatchFull` when
    /// the batch holds `PAGES_PER_BATCH_MAX` pages or the buffer has no room.
    pub fn push_raw(&mut self, page_index: u64, page: &[u8]) -> Result<(), WireError> {
        if page.len() != PAGE_SIZE as usize {
            return Err(WireError::PageLenMismatch {
                len: page.len(),
                expected: PAGE_SIZE as usize,
            });
        }
        self.push(page_index, PageEncoding::Raw, page)
    }

    /// Appends an all-zero page (entry header only, no payload).
    pub fn push_zero(&mut self, page_index: u64) -> Result<(), WireError> {
        self.push(page_index, PageEncoding::Zero, &[])
    }

    /// Pages pushed so far.
    pub fn page_count(&self) -> u16 {
        self.count
    }

    /// How many more raw pages fit, by page count and by buffer bytes.
    pub fn remaining_raw_capacity(&self) -> usize {
        let by_count = usize::from(PAGES_PER_BATCH_MAX.saturating_sub(self.count));
        let by_bytes = self.free_bytes() / RAW_ENTRY_LEN;
        by_count.min(by_bytes)
    }

    /// Writes `page_count` into the header and returns the body length
    /// written (plaintext, no tag). A batch with zero pages is invalid on the
    /// wire: do not send it.
    pub fn finish(self) -> usize {
        if let Some(dst) = self.buf.get_mut(PAGE_COUNT_OFFSET..PAGE_COUNT_OFFSET + 2) {
            dst.copy_from_slice(&self.count.to_le_bytes());
        }
        self.pos
    }

    /// The payload of the page pushed last, as it sits in the batch (empty
    /// for a zero page or before any push). The source hashes this copy, not
    /// live guest memory, so "sent" means exactly these bytes.
    pub fn last_payload(&self) -> &[u8] {
        self.buf
            .get(self.last_payload_start..self.pos)
            .unwrap_or(&[])
    }

    fn free_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn push(
        &mut self,
        page_index: u64,
        encoding: PageEncoding,
        payload: &[u8],
    ) -> Result<(), WireError> {
        let needed = PAGE_ENTRY_LEN.saturating_add(payload.len());
        let free_bytes = self.free_bytes();
        if self.count >= PAGES_PER_BATCH_MAX || needed > free_bytes {
            return Err(WireError::BatchFull {
                page_count: self.count,
                free_bytes,
                needed,
            });
        }
        let used = self.indices.get(..usize::from(self.count)).unwrap_or(&[]);
        if used.contains(&page_index) {
            return Err(WireError::DuplicatePageIndex { page_index });
        }
        let payload_len = encoding.payload_len();
        let mut entry = [0u8; PAGE_ENTRY_LEN];
        let (index_bytes, rest) = entry.split_at_mut(8);
        index_bytes.copy_from_slice(&page_index.to_le_bytes());
        let (encoding_bytes, rest) = rest.split_at_mut(4);
        if let Some(b) = encoding_bytes.first_mut() {
            *b = encoding.to_wire();
        }
        rest.copy_from_slice(&payload_len.to_le_bytes());

        let end = self.pos + needed;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BatchFull {
                page_count: self.count,
                free_bytes,
                needed,
            })?;
        let (entry_dst, payload_dst) = dst.split_at_mut(PAGE_ENTRY_LEN);
        entry_dst.copy_from_slice(&entry);
        payload_dst.copy_from_slice(payload);
        if let Some(slot) = self.indices.get_mut(usize::from(self.count)) {
            *slot = page_index;
        }
        self.last_payload_start = self.pos + PAGE_ENTRY_LEN;
        self.pos = end;
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
#[path = "writer_test.rs"]
mod tests;
