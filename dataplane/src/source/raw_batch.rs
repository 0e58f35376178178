//! An open `PageBatch` frame: raw pages and zero markers written straight
//! from guest memory into a pool buffer, one copy per page. The engine
//! keeps one per lane: a single lane without the page codec (its frames go
//! to any stream), and one per stream on the codec's bottom rung (its
//! frames stay on the page's stream, in order with the encoded batches).

use dwcp_codec::{BatchReport, EncodingKind, PAGE_SIZE};
use dwcp_hugepages::BufferId;
use dwcp_shared::batch::BatchWriter;
use std::time::Instant;

/// A `PageBatch` being filled in its pool buffer.
#[derive(Debug)]
pub struct OpenRawBatch<'a> {
    /// The pool buffer the frame is written into.
    pub buffer: BufferId,
    /// Writes the batch body inside `buffer`.
    pub writer: BatchWriter<'a>,
    /// When the first page went in (the batch's encode stage).
    pub opened_at: Instant,
    /// The page count the batch is sent at (`dwcp_dataplane_core::frame_size`).
    pub pages_max: usize,
    /// Zero markers in the batch.
    pub zero_pages: u64,
    /// Raw pages in the batch.
    pub raw_pages: u64,
}

impl OpenRawBatch<'_> {
    /// The codec's accounting of the batch once finished with `body_len`
    /// bytes.
    pub fn report(&self, body_len: usize) -> BatchReport {
        raw_batch_report(self.zero_pages, self.raw_pages, body_len)
    }
}

/// A `PageBatch` of `zero_pages` markers and `raw_pages` raw pages in
/// `body_len` bytes, as the encoder reports a batch stored raw: the pages'
/// bytes are raw payload, the entry headers and the batch header control.
pub fn raw_batch_report(zero_pages: u64, raw_pages: u64, body_len: usize) -> BatchReport {
    let mut report = BatchReport {
        len: body_len,
        ..BatchReport::default()
    };
    let raw = EncodingKind::Raw.slot();
    report.pages_by_kind[EncodingKind::Zero.slot()] = zero_pages;
    report.pages_by_kind[raw] = raw_pages;
    report.bytes_by_kind[raw] = raw_pages * PAGE_SIZE as u64;
    report.control_bytes = (body_len as u64).saturating_sub(report.bytes_by_kind[raw]);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_splits_payload_from_entry_headers() {
        let body_len = 16 + 2 * 12 + PAGE_SIZE;
        let report = raw_batch_report(1, 1, body_len);
        assert_eq!(report.len, body_len);
        assert_eq!(report.pages_by_kind[EncodingKind::Zero.slot()], 1);
        assert_eq!(report.pages_by_kind[EncodingKind::Raw.slot()], 1);
        assert_eq!(
            report.bytes_by_kind[EncodingKind::Raw.slot()],
            PAGE_SIZE as u64
        );
        assert_eq!(report.control_bytes, 40);
    }
}
