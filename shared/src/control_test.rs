//! Tests for the control bodies: round trips, exact length, one test per rejection.

use super::*;
use crate::error::WireError;
use crate::limits::{ABORT_REASON_LEN_MAX, STREAMS_MAX};

fn enc<F: Fn(&mut [u8]) -> Result<usize, WireError>>(f: F) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let n = f(&mut buf).expect("encodes");
    buf.truncate(n);
    buf
}

fn final_msg(streams: usize) -> Final {
    Final {
        round: 4,
        page_count: 1 << 20,
        digest: [9; 16],
        last_seqs: (1..=streams as u64).collect(),
    }
}

#[test]
fn ack_round_trip() {
    let a = Ack {
        written_through_seq: 0x0102_0304_0506_0708,
    };
    let b = enc(|o| a.encode(o));
    assert_eq!(b, 0x0102_0304_0506_0708u64.to_le_bytes());
    assert_eq!(Ack::decode(&b), Ok(a));
}

#[test]
fn round_end_round_trip() {
    let m = RoundEnd {
        round: 3,
        pages_sent: 1000,
        bytes_sent: 4_096_000,
    };
    let b = enc(|o| m.encode(o));
    assert_eq!(b.len(), ROUND_END_LEN);
    assert_eq!(&b[4..8], &[0; 4]);
    assert_eq!(RoundEnd::decode(&b), Ok(m));
}

#[test]
fn final_round_trip_one_and_max_streams() {
    for n in [1, usize::from(STREAMS_MAX)] {
        let m = final_msg(n);
        let b = enc(|o| m.encode(o));
        assert_eq!(b.len(), FINAL_HEADER_LEN + 8 * n);
        assert_eq!(b.len(), m.encoded_len());
        assert_eq!(Final::decode(&b), Ok(m));
    }
    assert_eq!(final_msg(64).encoded_len(), FINAL_LEN_MAX);
}

#[test]
fn verify_result_round_trip() {
    for ok in [false, true] {
        let m = VerifyResult {
            ok,
            digest: [0xEE; 16],
            pages_written: 77,
        };
        let b = enc(|o| m.encode(o));
        assert_eq!(b.len(), VERIFY_RESULT_LEN);
        assert_eq!(VerifyResult::decode(&b), Ok(m));
    }
}

#[test]
fn commit_round_trip_and_exact_length() {
    let m = Commit { digest: [0x5A; 16] };
    let b = enc(|o| m.encode(o));
    assert_eq!(b.len(), COMMIT_LEN);
    assert_eq!(Commit::decode(&b), Ok(m));
    assert!(Commit::decode(&b[..COMMIT_LEN - 1]).is_err(), "short");
    let mut long = b.clone();
    long.push(0);
    assert!(Commit::decode(&long).is_err(), "trailing byte");
}

#[test]
fn goodbye_is_empty_and_exact() {
    let b = enc(|o| Goodbye.encode(o));
    assert_eq!(b.len(), GOODBYE_LEN);
    assert_eq!(Goodbye::decode(&b), Ok(Goodbye));
    assert!(Goodbye::decode(&[0]).is_err(), "trailing byte");
}

#[test]
fn abort_round_trip_every_code() {
    let codes = [
        AbortCode::Protocol,
        AbortCode::SizeMismatch,
        AbortCode::Io,
        AbortCode::VerifyFailed,
        AbortCode::Shutdown,
    ];
    for code in codes {
        let m = Abort {
            code,
            reason: "disk full: ünïcode ok".to_owned(),
        };
        let b = enc(|o| m.encode(o));
        assert_eq!(b.len(), m.encoded_len());
        assert_eq!(Abort::decode(&b), Ok(m));
        assert_eq!(AbortCode::from_wire(code.to_wire()), Some(code));
    }
    let max = Abort {
        code: AbortCode::Io,
        reason: "x".repeat(ABORT_REASON_LEN_MAX),
    };
    let b = enc(|o| max.encode(o));
    assert_eq!(b.len(), ABORT_LEN_MAX);
    assert_eq!(Abort::decode(&b), Ok(max));
    let empty = Abort {
        code: AbortCode::Shutdown,
        reason: String::new(),
    };
    assert_eq!(Abort::decode(&enc(|o| empty.encode(o))), Ok(empty));
}

#[test]
fn abort_new_truncates_on_char_boundary() {
    let long = "é".repeat(ABORT_REASON_LEN_MAX); // 2 bytes each
    let a = Abort::new(AbortCode::Protocol, &long);
    assert_eq!(a.reason.len(), ABORT_REASON_LEN_MAX);
    let odd = format!("a{long}");
    assert_eq!(
        Abort::new(AbortCode::Protocol, &odd).reason.len(),
        ABORT_REASON_LEN_MAX - 1
    );
}

#[test]
fn zeroed_bodies_never_decode_where_a_zero_is_invalid() {
    assert!(Final::decode(&[0u8; FINAL_HEADER_LEN + 8]).is_err());
    assert!(Abort::decode(&[0u8; ABORT_HEADER_LEN]).is_err());
}

#[test]
fn rejects_truncated_ack() {
    assert!(matches!(
        Ack::decode(&[0; 7]),
        Err(WireError::Truncated {
            needed: 8,
            got: 7,
            ..
        })
    ));
}

#[test]
fn rejects_trailing_bytes_ack() {
    assert!(matches!(
        Ack::decode(&[0; 9]),
        Err(WireError::TrailingBytes {
            expected: 8,
            got: 9,
            ..
        })
    ));
}

#[test]
fn rejects_trailing_bytes_round_end() {
    assert!(matches!(
        RoundEnd::decode(&[0; 25]),
        Err(WireError::TrailingBytes { expected: 24, .. })
    ));
}

#[test]
fn rejects_round_end_reserved() {
    let mut b = enc(|o| {
        RoundEnd {
            round: 1,
            pages_sent: 2,
            bytes_sent: 3,
        }
        .encode(o)
    });
    b[5] = 1;
    assert!(matches!(
        RoundEnd::decode(&b),
        Err(WireError::ReservedNonZero {
            what: "round end reserved",
            ..
        })
    ));
}

#[test]
fn rejects_final_reserved() {
    let mut b = enc(|o| final_msg(2).encode(o));
    b[6] = 1;
    assert!(matches!(
        Final::decode(&b),
        Err(WireError::ReservedNonZero {
            what: "final reserved",
            value: 1
        })
    ));
}

#[test]
fn rejects_final_zero_streams() {
    let mut b = enc(|o| final_msg(1).encode(o));
    b[4..6].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        Final::decode(&b),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 0,
            max: STREAMS_MAX
        })
    ));
}

#[test]
fn rejects_final_too_many_streams() {
    let mut b = enc(|o| final_msg(1).encode(o));
    b[4..6].copy_from_slice(&(STREAMS_MAX + 1).to_le_bytes());
    assert!(matches!(
        Final::decode(&b),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 65,
            ..
        })
    ));
}

#[test]
fn rejects_final_missing_seqs() {
    let b = enc(|o| final_msg(3).encode(o));
    assert!(matches!(
        Final::decode(&b[..b.len() - 8]),
        Err(WireError::Truncated { what: "final", .. })
    ));
}

#[test]
fn rejects_final_trailing_bytes() {
    let mut b = enc(|o| final_msg(3).encode(o));
    b.extend_from_slice(&[0; 8]);
    assert!(matches!(
        Final::decode(&b),
        Err(WireError::TrailingBytes { .. })
    ));
}

#[test]
fn rejects_final_encode_bad_stream_count() {
    let mut buf = [0u8; 2048];
    assert!(matches!(
        final_msg(0).encode(&mut buf),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 0,
            ..
        })
    ));
    assert!(matches!(
        final_msg(65).encode(&mut buf),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 65,
            ..
        })
    ));
}

#[test]
fn rejects_verify_result_bad_bool() {
    let mut b = enc(|o| {
        VerifyResult {
            ok: true,
            digest: [0; 16],
            pages_written: 0,
        }
        .encode(o)
    });
    b[0] = 2;
    assert!(matches!(
        VerifyResult::decode(&b),
        Err(WireError::InvalidBool { value: 2, .. })
    ));
}

#[test]
fn rejects_verify_result_reserved() {
    let mut b = enc(|o| {
        VerifyResult {
            ok: true,
            digest: [0; 16],
            pages_written: 0,
        }
        .encode(o)
    });
    b[7] = 0xFF;
    assert!(matches!(
        VerifyResult::decode(&b),
        Err(WireError::ReservedNonZero {
            what: "verify result reserved",
            ..
        })
    ));
}

#[test]
fn rejects_abort_invalid_code() {
    let b = [0, 0, 0, 0];
    assert!(matches!(
        Abort::decode(&b),
        Err(WireError::UnknownAbortCode(0))
    ));
}

#[test]
fn rejects_abort_unknown_code() {
    let b = [6, 0, 0, 0];
    assert!(matches!(
        Abort::decode(&b),
        Err(WireError::UnknownAbortCode(6))
    ));
}

#[test]
fn rejects_abort_reason_too_long() {
    let mut b = vec![1, 0];
    b.extend_from_slice(&257u16.to_le_bytes());
    b.extend_from_slice(&[b'a'; 257]);
    assert!(matches!(
        Abort::decode(&b),
        Err(WireError::ReasonTooLong {
            len: 257,
            max: ABORT_REASON_LEN_MAX,
            ..
        })
    ));
}

#[test]
fn rejects_abort_reason_not_utf8() {
    let b = [1, 0, 3, 0, b'o', b'k', 0xFF];
    assert!(matches!(
        Abort::decode(&b),
        Err(WireError::ReasonNotUtf8 { valid_up_to: 2, .. })
    ));
}

#[test]
fn rejects_abort_reason_truncated() {
    let b = [1, 0, 5, 0, b'a'];
    assert!(matches!(
        Abort::decode(&b),
        Err(WireError::Truncated {
            needed: 9,
            got: 5,
            ..
        })
    ));
}

#[test]
fn rejects_abort_encode_reason_too_long() {
    let m = Abort {
        code: AbortCode::Io,
        reason: "x".repeat(ABORT_REASON_LEN_MAX + 1),
    };
    let mut buf = [0u8; 1024];
    assert!(matches!(
        m.encode(&mut buf),
        Err(WireError::ReasonTooLong { len: 257, .. })
    ));
}

#[test]
fn rejects_encode_into_small_buffer() {
    let mut buf = [0u8; 7];
    assert!(matches!(
        Ack {
            written_through_seq: 1
        }
        .encode(&mut buf),
        Err(WireError::BufferTooSmall {
            needed: 8,
            got: 7,
            ..
        })
    ));
    let mut buf = [0u8; 40];
    assert!(matches!(
        final_msg(2).encode(&mut buf),
        Err(WireError::BufferTooSmall {
            needed: 48,
            got: 40,
            ..
        })
    ));
}
