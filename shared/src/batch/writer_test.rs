//! Tests for `BatchWriter`: output layout, full/capacity behaviour, rejections.

use super::*;
use crate::batch::BatchView;
use crate::limits::FRAME_BODY_LEN_MAX;
use crate::limits::FRAME_TAG_LEN;

const MAX_BODY: usize = FRAME_BODY_LEN_MAX as usize - FRAME_TAG_LEN;

fn page(fill: u8) -> Vec<u8> {
    vec![fill; PAGE_SIZE as usize]
}

#[test]
fn writes_what_view_reads() {
    let mut buf = vec![0u8; MAX_BODY];
    let mut w = BatchWriter::new(&mut buf, 9).expect("buffer holds header");
    w.push_raw(5, &page(0xAB)).expect("room");
    w.push_zero(6).expect("room");
    w.push_raw(0, &page(0x01)).expect("room");
    assert_eq!(w.page_count(), 3);
    let len = w.finish();
    assert_eq!(
        len,
        BATCH_HEADER_LEN + 3 * PAGE_ENTRY_LEN + 2 * PAGE_SIZE as usize
    );
    let view = BatchView::parse(&buf[..len], 10).expect("valid batch");
    assert_eq!(view.round(), 9);
    let pages: Vec<_> = view
        .pages()
        .map(|p| (p.page_index, p.encoding, p.payload.to_vec()))
        .collect();
    assert_eq!(
        pages,
        vec![
            (5, PageEncoding::Raw, page(0xAB)),
            (6, PageEncoding::Zero, vec![]),
            (0, PageEncoding::Raw, page(1))
        ]
    );
}

#[test]
fn header_layout() {
    let mut buf = [0xFFu8; 64];
    let mut w = BatchWriter::new(&mut buf, 0x0102_0304).expect("room");
    w.push_zero(0x11).expect("room");
    let len = w.finish();
    assert_eq!(len, BATCH_HEADER_LEN + PAGE_ENTRY_LEN);
    assert_eq!(&buf[..8], &[4, 3, 2, 1, 1, 0, 0, 0]);
    assert_eq!(
        &buf[8..24],
        &[0x11, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn max_batch_fills_max_body_exactly() {
    let mut buf = vec![0u8; MAX_BODY];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    assert_eq!(w.remaining_raw_capacity(), usize::from(PAGES_PER_BATCH_MAX));
    let p = page(3);
    for i in 0..u64::from(PAGES_PER_BATCH_MAX) {
        w.push_raw(i, &p).expect("room");
    }
    assert_eq!(w.remaining_raw_capacity(), 0);
    assert_eq!(w.finish(), MAX_BODY);
    let view = BatchView::parse(&buf, 1 << 20).expect("valid");
    assert_eq!(view.page_count(), PAGES_PER_BATCH_MAX);
    assert_eq!(view.pages().count(), usize::from(PAGES_PER_BATCH_MAX));
}

#[test]
fn full_by_count_even_for_zero_pages() {
    let mut buf = vec![0u8; MAX_BODY * 2];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    for i in 0..u64::from(PAGES_PER_BATCH_MAX) {
        w.push_zero(i).expect("room");
    }
    assert_eq!(w.remaining_raw_capacity(), 0);
    assert!(matches!(
        w.push_zero(999),
        Err(WireError::BatchFull {
            page_count: PAGES_PER_BATCH_MAX,
            ..
        })
    ));
    assert!(matches!(
        w.push_raw(999, &page(0)),
        Err(WireError::BatchFull { .. })
    ));
    assert_eq!(w.page_count(), PAGES_PER_BATCH_MAX);
}

#[test]
fn full_by_bytes() {
    // Room for the header, two raw pages and one zero entry, not a third raw page.
    let cap = BATCH_HEADER_LEN + 2 * RAW_ENTRY_LEN + PAGE_ENTRY_LEN + 100;
    let mut buf = vec![0u8; cap];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    assert_eq!(w.remaining_raw_capacity(), 2);
    w.push_raw(1, &page(1)).expect("room");
    w.push_raw(2, &page(2)).expect("room");
    assert_eq!(w.remaining_raw_capacity(), 0);
    assert!(matches!(
        w.push_raw(3, &page(3)),
        Err(WireError::BatchFull { page_count: 2, free_bytes, needed }) if free_bytes == PAGE_ENTRY_LEN + 100 && needed == RAW_ENTRY_LEN
    ));
    w.push_zero(3).expect("a zero entry still fits");
    assert_eq!(w.page_count(), 3);
    let len = w.finish();
    assert!(BatchView::parse(&buf[..len], 4).is_ok());
}

#[test]
fn failed_push_leaves_batch_valid() {
    let mut buf = vec![0u8; BATCH_HEADER_LEN + RAW_ENTRY_LEN];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    w.push_raw(0, &page(1)).expect("room");
    assert!(w.push_zero(1).is_err());
    let len = w.finish();
    assert_eq!(
        BatchView::parse(&buf[..len], 2).map(|v| v.page_count()),
        Ok(1)
    );
}

#[test]
fn rejects_buffer_smaller_than_header() {
    let mut buf = [0u8; BATCH_HEADER_LEN - 1];
    assert!(matches!(
        BatchWriter::new(&mut buf, 0),
        Err(WireError::BufferTooSmall {
            needed: BATCH_HEADER_LEN,
            got: 7,
            ..
        })
    ));
}

#[test]
fn rejects_wrong_page_length() {
    let mut buf = vec![0u8; MAX_BODY];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    assert!(matches!(
        w.push_raw(0, &[0u8; 4095]),
        Err(WireError::PageLenMismatch {
            len: 4095,
            expected: 4096
        })
    ));
    assert_eq!(w.page_count(), 0);
}

#[test]
fn rejects_duplicate_index() {
    let mut buf = vec![0u8; MAX_BODY];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    w.push_zero(42).expect("room");
    assert!(matches!(
        w.push_raw(42, &page(0)),
        Err(WireError::DuplicatePageIndex { page_index: 42 })
    ));
    assert_eq!(w.page_count(), 1);
}

#[test]
fn empty_batch_is_header_only_and_invalid_on_the_wire() {
    let mut buf = [0u8; BATCH_HEADER_LEN];
    let w = BatchWriter::new(&mut buf, 1).expect("room");
    assert_eq!(w.remaining_raw_capacity(), 0);
    assert_eq!(w.finish(), BATCH_HEADER_LEN);
    assert!(matches!(
        BatchView::parse(&buf, 1),
        Err(WireError::PageCountOutOfRange { page_count: 0, .. })
    ));
}
