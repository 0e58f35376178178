//! Tests for `BatchView::parse`: one test per rejection reason.

use super::*;
use crate::batch::BatchWriter;
use crate::limits::{BATCH_HEADER_LEN, PAGE_SIZE};

const PAGES_TOTAL: u64 = 100;

/// Batch of round 2: raw page 10, zero page 11.
fn sample() -> Vec<u8> {
    let mut buf = vec![0u8; 3 * 4200];
    let mut w = BatchWriter::new(&mut buf, 2).expect("room");
    w.push_raw(10, &vec![0x5A; PAGE_SIZE as usize])
        .expect("room");
    w.push_zero(11).expect("room");
    let len = w.finish();
    buf.truncate(len);
    buf
}

/// Offset of the second entry header in `sample()`.
const SECOND: usize = BATCH_HEADER_LEN + PAGE_ENTRY_LEN + PAGE_SIZE as usize;

fn parse(b: &[u8]) -> Result<BatchView<'_>, WireError> {
    BatchView::parse(b, PAGES_TOTAL)
}

#[test]
fn round_trip() {
    let b = sample();
    let v = parse(&b).expect("valid");
    assert_eq!((v.round(), v.page_count()), (2, 2));
    let pages: Vec<PageRef<'_>> = v.pages().collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(
        (
            pages[0].page_index,
            pages[0].encoding,
            pages[0].payload.len()
        ),
        (10, PageEncoding::Raw, 4096)
    );
    assert!(pages[0].payload.iter().all(|&x| x == 0x5A));
    assert_eq!(
        (pages[1].page_index, pages[1].encoding, pages[1].payload),
        (11, PageEncoding::Zero, &[][..])
    );
    assert_eq!(v.pages().size_hint(), (2, Some(2)));
}

#[test]
fn zeroed_buffer_never_parses() {
    assert!(parse(&[0u8; 64]).is_err());
}

#[test]
fn rejects_truncated_header() {
    assert!(matches!(
        parse(&sample()[..7]),
        Err(WireError::Truncated {
            needed: 8,
            got: 7,
            ..
        })
    ));
}

#[test]
fn rejects_header_reserved_nonzero() {
    let mut b = sample();
    b[7] = 1;
    assert!(matches!(
        parse(&b),
        Err(WireError::ReservedNonZero {
            what: "batch header reserved",
            value: 0x100
        })
    ));
}

#[test]
fn rejects_zero_page_count() {
    let mut b = sample();
    b[4..6].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        parse(&b),
        Err(WireError::PageCountOutOfRange {
            page_count: 0,
            max: PAGES_PER_BATCH_MAX
        })
    ));
}

#[test]
fn rejects_page_count_above_max() {
    let mut b = sample();
    b[4..6].copy_from_slice(&(PAGES_PER_BATCH_MAX + 1).to_le_bytes());
    assert!(matches!(
        parse(&b),
        Err(WireError::PageCountOutOfRange { page_count: 65, .. })
    ));
}

#[test]
fn rejects_incomplete_entry_header() {
    let b = sample();
    assert!(matches!(
        parse(&b[..SECOND + 10]),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn rejects_more_entries_than_present() {
    let mut b = sample();
    b[4..6].copy_from_slice(&3u16.to_le_bytes());
    assert!(
        matches!(parse(&b), Err(WireError::Truncated { needed, got, .. }) if got == b.len() && needed == b.len() + 8)
    );
}

#[test]
fn rejects_truncated_payload() {
    let b = sample();
    assert!(
        matches!(parse(&b[..SECOND - 1]), Err(WireError::Truncated { needed, .. }) if needed == SECOND)
    );
}

#[test]
fn rejects_invalid_encoding_zero() {
    let mut b = sample();
    b[SECOND + 8] = 0;
    assert!(matches!(
        parse(&b),
        Err(WireError::UnknownPageEncoding {
            page_index: 11,
            encoding: 0
        })
    ));
}

#[test]
fn rejects_unknown_encoding() {
    let mut b = sample();
    b[SECOND + 8] = 3;
    assert!(matches!(
        parse(&b),
        Err(WireError::UnknownPageEncoding {
            page_index: 11,
            encoding: 3
        })
    ));
}

#[test]
fn rejects_entry_reserved_nonzero() {
    let mut b = sample();
    b[SECOND + 10] = 4;
    assert!(matches!(
        parse(&b),
        Err(WireError::ReservedNonZero {
            what: "page entry reserved",
            value: 0x400
        })
    ));
}

#[test]
fn rejects_raw_payload_len_mismatch() {
    let mut b = sample();
    b[BATCH_HEADER_LEN + 12..BATCH_HEADER_LEN + 16].copy_from_slice(&4095u32.to_le_bytes());
    assert!(matches!(
        parse(&b),
        Err(WireError::PayloadLenMismatch {
            page_index: 10,
            encoding: PageEncoding::Raw,
            payload_len: 4095,
            expected: 4096
        })
    ));
}

#[test]
fn rejects_zero_payload_len_mismatch() {
    let mut b = sample();
    b[SECOND + 12..SECOND + 16].copy_from_slice(&1u32.to_le_bytes());
    b.push(0);
    assert!(matches!(
        parse(&b),
        Err(WireError::PayloadLenMismatch {
            page_index: 11,
            encoding: PageEncoding::Zero,
            payload_len: 1,
            expected: 0
        })
    ));
}

#[test]
fn rejects_page_index_out_of_range() {
    let b = sample();
    assert!(matches!(
        BatchView::parse(&b, 11),
        Err(WireError::PageIndexOutOfRange {
            page_index: 11,
            pages_total: 11
        })
    ));
}

#[test]
fn rejects_trailing_bytes() {
    let mut b = sample();
    b.push(0);
    assert!(
        matches!(parse(&b), Err(WireError::TrailingBytes { expected, got, .. }) if got == expected + 1)
    );
}

#[test]
fn rejects_duplicate_page_index() {
    let mut b = sample();
    b[SECOND..SECOND + 8].copy_from_slice(&10u64.to_le_bytes());
    assert!(matches!(
        parse(&b),
        Err(WireError::DuplicatePageIndex { page_index: 10 })
    ));
}
