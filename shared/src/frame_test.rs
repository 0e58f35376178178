//! Tests for `FrameHeader`: round trips, boundaries, one test per rejection.

use super::*;
use crate::limits::FRAME_LEN_MAX;

fn valid() -> FrameHeader {
    FrameHeader {
        kind: FrameKind::PageBatch,
        flags: 0,
        stream_id: 3,
        seq: 7,
        body_len: 100,
    }
}

fn encoded_with(offset: usize, bytes: &[u8]) -> [u8; FRAME_HEADER_LEN] {
    let mut b = valid().encode();
    b[offset..offset + bytes.len()].copy_from_slice(bytes);
    b
}

#[test]
fn round_trip_every_kind_and_flag() {
    let kinds = [
        FrameKind::PageBatch,
        FrameKind::Ack,
        FrameKind::RoundEnd,
        FrameKind::Final,
        FrameKind::VerifyResult,
        FrameKind::Abort,
        FrameKind::EncodedBatch,
        FrameKind::Commit,
        FrameKind::Goodbye,
    ];
    for kind in kinds {
        for flags in [0, FRAME_FLAG_PLAINTEXT] {
            let h = FrameHeader {
                kind,
                flags,
                stream_id: STREAMS_MAX - 1,
                seq: u64::MAX,
                body_len: FRAME_BODY_LEN_MAX,
            };
            assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
            assert_eq!(FrameKind::from_wire(kind.to_wire()), Some(kind));
        }
    }
}

#[test]
fn layout_is_little_endian_at_documented_offsets() {
    let h = FrameHeader {
        kind: FrameKind::Ack,
        flags: 1,
        stream_id: 0x0102,
        seq: 0x0304,
        body_len: 0x0506,
    };
    let b = h.encode();
    assert_eq!(&b[0..4], b"DWCF");
    assert_eq!(b[4], 2);
    assert_eq!(b[5], 1);
    assert_eq!(&b[6..8], &[0x02, 0x01]);
    assert_eq!(&b[8..16], &0x0304u64.to_le_bytes());
    assert_eq!(&b[16..20], &0x0506u32.to_le_bytes());
    assert_eq!(&b[20..24], &[0; 4]);
    assert!(h.is_plaintext());
    assert_eq!(h.payload_len(), 0x0506 - FRAME_TAG_LEN);
    assert_eq!(h.frame_len(), 0x0506 + FRAME_HEADER_LEN);
}

#[test]
fn boundaries_accepted() {
    let mut h = valid();
    h.body_len = u32::try_from(FRAME_TAG_LEN).expect("16 fits");
    h.seq = 1;
    h.stream_id = 0;
    assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
    h.body_len = FRAME_BODY_LEN_MAX;
    assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
    assert_eq!(h.frame_len(), FRAME_LEN_MAX);
}

#[test]
fn bytes_after_header_are_ignored() {
    let mut b = valid().encode().to_vec();
    b.extend_from_slice(&[0xAA; 40]);
    assert_eq!(FrameHeader::decode(&b), Ok(valid()));
}

#[test]
fn zeroed_header_never_decodes() {
    assert!(FrameHeader::decode(&[0u8; FRAME_HEADER_LEN]).is_err());
}

#[test]
fn rejects_truncated() {
    let b = valid().encode();
    assert!(matches!(
        FrameHeader::decode(&b[..23]),
        Err(WireError::Truncated {
            needed: 24,
            got: 23,
            ..
        })
    ));
}

#[test]
fn rejects_bad_magic() {
    let b = encoded_with(0, b"DWCX");
    assert!(
        matches!(FrameHeader::decode(&b), Err(WireError::BadMagic { found }) if found == u32::from_le_bytes(*b"DWCX"))
    );
}

#[test]
fn rejects_kind_invalid_zero() {
    assert!(matches!(
        FrameHeader::decode(&encoded_with(4, &[0])),
        Err(WireError::UnknownFrameKind(0))
    ));
}

#[test]
fn rejects_kind_unknown() {
    assert!(matches!(
        FrameHeader::decode(&encoded_with(4, &[10])),
        Err(WireError::UnknownFrameKind(10))
    ));
}

#[test]
fn rejects_unknown_flags() {
    assert!(matches!(
        FrameHeader::decode(&encoded_with(5, &[0x02])),
        Err(WireError::UnknownFrameFlags {
            flags: 0x02,
            allowed: FRAME_FLAGS_KNOWN
        })
    ));
}

#[test]
fn rejects_reserved_nonzero() {
    assert!(matches!(
        FrameHeader::decode(&encoded_with(23, &[0x80])),
        Err(WireError::ReservedNonZero {
            value: 0x8000_0000,
            ..
        })
    ));
}

#[test]
fn rejects_stream_id_out_of_range() {
    let b = encoded_with(6, &STREAMS_MAX.to_le_bytes());
    assert!(matches!(
        FrameHeader::decode(&b),
        Err(WireError::StreamIdOutOfRange {
            stream_id: STREAMS_MAX,
            limit: STREAMS_MAX
        })
    ));
}

#[test]
fn rejects_zero_seq() {
    let b = encoded_with(8, &0u64.to_le_bytes());
    assert!(matches!(
        FrameHeader::decode(&b),
        Err(WireError::ZeroSeq { stream_id: 3 })
    ));
}

#[test]
fn rejects_body_shorter_than_tag() {
    let b = encoded_with(16, &15u32.to_le_bytes());
    assert!(matches!(
        FrameHeader::decode(&b),
        Err(WireError::BodyTooShort {
            body_len: 15,
            min: 16
        })
    ));
}

#[test]
fn rejects_body_too_long() {
    let b = encoded_with(16, &(FRAME_BODY_LEN_MAX + 1).to_le_bytes());
    assert!(matches!(
        FrameHeader::decode(&b),
        Err(WireError::BodyTooLong { body_len, max: FRAME_BODY_LEN_MAX }) if body_len == FRAME_BODY_LEN_MAX + 1
    ));
}
