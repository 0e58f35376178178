//! `BatchView`: a `PageBatch` body validated in full before use.
//!
//! `parse` walks every entry once, checking the header, each entry's
//! encoding, payload length and page index, the absence of trailing bytes
//! and of repeated page indices. Only then does it return a view; `pages()`
//! re-walks the already-validated bytes and cannot fail.

use crate::batch::{PageEncoding, PageRef};
use crate::error::WireError;
use crate::limits::{PAGES_PER_BATCH_MAX, PAGE_ENTRY_LEN};
use crate::wire_reader::Reader;

/// A fully validated `PageBatch` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchView<'a> {
    round: u32,
    page_count: u16,
    entries: &'a [u8],
}

impl<'a> BatchView<'a> {
    /// Validates everything before returning: header present, reserved zero,
    /// `page_count` in `1..=PAGES_PER_BATCH_MAX`, each entry complete,
    /// encoding known, `payload_len` consistent with encoding,
    /// `page_index < pages_total`, no trailing bytes, and no page index
    /// repeated within the batch.
    pub fn parse(body: &'a [u8], pages_total: u64) -> Result<BatchView<'a>, WireError> {
        let mut r = Reader::new(body, "page batch");
        let round = r.u32()?;
        let page_count = r.u16()?;
        r.reserved::<2>("batch header reserved")?;
        if page_count == 0 || page_count > PAGES_PER_BATCH_MAX {
            return Err(WireError::PageCountOutOfRange {
                page_count,
                max: PAGES_PER_BATCH_MAX,
            });
        }
        let entries_start = r.position();
        let mut seen = [0u64; PAGES_PER_BATCH_MAX as usize];
        for slot in seen.iter_mut().take(usize::from(page_count)) {
            let page_index = r.u64()?;
            let encoding_byte = r.u8()?;
            r.reserved::<3>("page entry reserved")?;
            let payload_len = r.u32()?;
            let encoding =
                PageEncoding::from_wire(encoding_byte).ok_or(WireError::UnknownPageEncoding {
                    page_index,
                    encoding: encoding_byte,
                })?;
            let expected = encoding.payload_len();
            if payload_len != expected {
                return Err(WireError::PayloadLenMismatch {
                    page_index,
                    encoding,
                    payload_len,
                    expected,
                });
            }
            if page_index >= pages_total {
                return Err(WireError::PageIndexOutOfRange {
                    page_index,
                    pages_total,
                });
            }
            r.take(usize::try_from(payload_len).unwrap_or(usize::MAX))?;
            *slot = page_index;
        }
        r.finish()?;

        let seen = seen.get_mut(..usize::from(page_count)).unwrap_or(&mut []);
        seen.sort_unstable();
        if let Some(pair) = seen.windows(2).find(|w| w.first() == w.get(1)) {
            let page_index = pair.first().copied().unwrap_or_default();
            return Err(WireError::DuplicatePageIndex { page_index });
        }

        let entries = body.get(entries_start..).unwrap_or(&[]);
        Ok(BatchView {
            round,
            page_count,
            entries,
        })
    }

    /// Precopy round the batch belongs to.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Number of pages in the batch (1..=`PAGES_PER_BATCH_MAX`).
    pub fn page_count(&self) -> u16 {
        self.page_count
    }

    /// The pages in wire order. Infallible: `parse` validated every entry.
    pub fn pages(&self) -> impl Iterator<Item = PageRef<'a>> + '_ {
        PageIter {
            rest: self.entries,
            left: self.page_count,
        }
    }
}

/// Iterator over the pages of a `BatchView`.
#[derive(Debug, Clone)]
pub struct PageIter<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for PageIter<'a> {
    type Item = PageRef<'a>;

    fn next(&mut self) -> Option<PageRef<'a>> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader::new(self.rest, "page entry");
        let page_index = r.u64().ok()?;
        let encoding = PageEncoding::from_wire(r.u8().ok()?)?;
        r.take(3).ok()?;
        let payload_len = usize::try_from(r.u32().ok()?).ok()?;
        let payload = r.take(payload_len).ok()?;
        self.rest = self
            .rest
            .get(PAGE_ENTRY_LEN.saturating_add(payload_len)..)?;
        self.left -= 1;
        Some(PageRef {
            page_index,
            encoding,
            payload,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

#[cfg(test)]
#[path = "view_test.rs"]
mod tests;
