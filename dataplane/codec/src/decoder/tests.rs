//! One test per decoder rejection; each also checks memory is unchanged.

use super::*;

const PAGES: usize = 4;

fn memory() -> Vec<u8> {
    (0..PAGES * PAGE_SIZE)
        .map(|i| u8::try_from(i % 251).expect("< 251"))
        .collect()
}

fn rejects(page_index: u64, kind: EncodingKind, payload: &[u8]) -> CodecError {
    let mut mem = memory();
    let err = Decoder::new()
        .decode(page_index, kind, payload, &mut mem)
        .expect_err("malformed input must be rejected");
    assert_eq!(mem, memory(), "memory changed on error");
    err
}

fn zstd_frame(content: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; zstd_safe::compress_bound(content.len())];
    let n = zstd_safe::compress(&mut buf[..], content, 1).expect("compress");
    buf.truncate(n);
    buf
}

#[test]
fn rejects_invalid_kind() {
    assert!(matches!(
        rejects(0, EncodingKind::Invalid, &[]),
        CodecError::InvalidKind { .. }
    ));
    assert!(EncodingKind::from_u8(0).is_err());
    assert!(EncodingKind::from_u8(6).is_err());
}

#[test]
fn rejects_memory_not_page_multiple() {
    let mut mem = vec![0u8; PAGE_SIZE + 1];
    let err = Decoder::new().decode(0, EncodingKind::Zero, &[], &mut mem);
    assert_eq!(err, Err(CodecError::MemoryLength { len: PAGE_SIZE + 1 }));
}

#[test]
fn rejects_page_index_out_of_range() {
    let err = rejects(PAGES as u64, EncodingKind::Zero, &[]);
    assert!(matches!(err, CodecError::IndexOutOfRange { .. }));
    let err = rejects(u64::MAX, EncodingKind::Raw, &[0; PAGE_SIZE]);
    assert!(matches!(err, CodecError::IndexOutOfRange { .. }));
}

#[test]
fn rejects_zero_with_payload() {
    assert!(matches!(
        rejects(0, EncodingKind::Zero, &[0]),
        CodecError::PayloadLength { .. }
    ));
}

#[test]
fn rejects_duplicate_bad_length_and_source() {
    let err = rejects(0, EncodingKind::Duplicate, &[1, 0, 0]);
    assert!(matches!(err, CodecError::PayloadLength { .. }));
    let err = rejects(0, EncodingKind::Duplicate, &(PAGES as u64).to_le_bytes());
    assert!(matches!(err, CodecError::IndexOutOfRange { .. }));
}

#[test]
fn rejects_raw_bad_length() {
    let err = rejects(0, EncodingKind::Raw, &[0; PAGE_SIZE - 1]);
    assert!(matches!(err, CodecError::PayloadLength { .. }));
    let err = rejects(0, EncodingKind::Raw, &[0; PAGE_SIZE + 1]);
    assert!(matches!(err, CodecError::PayloadLength { .. }));
}

#[test]
fn rejects_zstd_garbage_short_and_long() {
    assert!(matches!(
        rejects(0, EncodingKind::Zstd, &[1, 2, 3]),
        CodecError::Zstd { .. }
    ));
    let err = rejects(0, EncodingKind::Zstd, &[]);
    assert_eq!(
        err,
        CodecError::ZstdOutputLength {
            len: 0,
            expected: PAGE_SIZE
        }
    );
    let err = rejects(0, EncodingKind::Zstd, &zstd_frame(&[7; 100]));
    assert_eq!(
        err,
        CodecError::ZstdOutputLength {
            len: 100,
            expected: PAGE_SIZE
        }
    );
    // More than a page: the fixed buffer is too small, zstd refuses.
    let err = rejects(0, EncodingKind::Zstd, &zstd_frame(&[7; PAGE_SIZE + 1]));
    assert!(matches!(err, CodecError::Zstd { .. }));
}

#[test]
fn rejects_delta_empty_and_bad_header() {
    assert!(matches!(
        rejects(0, EncodingKind::Delta, &[]),
        CodecError::PayloadLength { .. }
    ));
    assert_eq!(
        rejects(0, EncodingKind::Delta, &[9, 0]),
        CodecError::DeltaHeader { header: 9 }
    );
}

#[test]
fn rejects_delta_bad_tokens() {
    // Covers only 10 bytes of the page.
    let err = rejects(0, EncodingKind::Delta, &[DELTA_TOKENS_RAW, 10, 0]);
    assert!(matches!(err, CodecError::DeltaTokens { .. }));
    // Raw token stream longer than a page.
    let mut long = vec![DELTA_TOKENS_RAW];
    long.resize(DELTA_TOKENS_MAX + 2, 0);
    assert!(matches!(
        rejects(0, EncodingKind::Delta, &long),
        CodecError::PayloadLength { .. }
    ));
    // zstd-wrapped tokens: garbage, and a valid frame of a bad token stream.
    let err = rejects(0, EncodingKind::Delta, &[DELTA_TOKENS_ZSTD, 1, 2]);
    assert!(matches!(err, CodecError::Zstd { .. }));
    let mut wrapped = vec![DELTA_TOKENS_ZSTD];
    wrapped.extend(zstd_frame(&[0, 0]));
    assert!(matches!(
        rejects(0, EncodingKind::Delta, &wrapped),
        CodecError::DeltaTokens { .. }
    ));
    // Dictionary delta: garbage, and a frame that is not a whole page.
    let err = rejects(0, EncodingKind::Delta, &[DELTA_ZSTD_PREFIX, 1, 2]);
    assert!(matches!(err, CodecError::Zstd { .. }));
    let mut short = vec![DELTA_ZSTD_PREFIX];
    short.extend(zstd_frame(&[1; 10]));
    let err = rejects(0, EncodingKind::Delta, &short);
    assert_eq!(
        err,
        CodecError::ZstdOutputLength {
            len: 10,
            expected: PAGE_SIZE
        }
    );
    // zstd-wrapped tokens longer than DELTA_TOKENS_MAX.
    let mut wrapped = vec![DELTA_TOKENS_ZSTD];
    wrapped.extend(zstd_frame(&[0; DELTA_TOKENS_MAX + 1]));
    assert!(matches!(
        rejects(0, EncodingKind::Delta, &wrapped),
        CodecError::Zstd { .. }
    ));
}

#[test]
fn accepts_each_valid_kind() {
    let mut mem = memory();
    let mut d = Decoder::new();
    d.decode(1, EncodingKind::Duplicate, &0u64.to_le_bytes(), &mut mem)
        .expect("dup");
    assert_eq!(mem[..PAGE_SIZE], mem[PAGE_SIZE..2 * PAGE_SIZE]);
    d.decode(
        2,
        EncodingKind::Zstd,
        &zstd_frame(&[5; PAGE_SIZE]),
        &mut mem,
    )
    .expect("zstd");
    assert!(mem[2 * PAGE_SIZE..3 * PAGE_SIZE].iter().all(|&b| b == 5));
    // XOR 0x01 onto byte 0 of page 2, leaving the rest.
    d.decode(
        2,
        EncodingKind::Delta,
        &[DELTA_TOKENS_RAW, 0, 1, 1, 0xff, 0x1f, 0],
        &mut mem,
    )
    .expect("delta");
    assert_eq!(mem[2 * PAGE_SIZE], 4);
    d.decode(3, EncodingKind::Zero, &[], &mut mem)
        .expect("zero");
    assert!(mem[3 * PAGE_SIZE..].iter().all(|&b| b == 0));
}
