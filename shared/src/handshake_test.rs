//! Tests for handshake messages: round trips, I/O helpers, one test per rejection.

use std::io::{Cursor, Read};

use super::*;
use crate::limits::{ABORT_REASON_LEN_MAX, PAGE_SIZE, STREAMS_MAX};

fn client_hello() -> ClientHello {
    ClientHello {
        version_min: 1,
        version_max: 1,
        capabilities: 0,
        flags: HANDSHAKE_FLAG_INSECURE_PLAINTEXT,
        session_id: [0x11; 16],
        stream_id: 2,
        stream_count: 4,
        memory_bytes: 1 << 30,
        page_size: PAGE_SIZE,
        client_nonce: [0x22; 32],
    }
}

fn server_hello() -> ServerHello {
    ServerHello {
        version: 1,
        capabilities: 0,
        flags: 0,
        server_nonce: [0x33; 32],
        resume_after_seq: 41,
        server_proof: [0x44; 32],
    }
}

fn all() -> Vec<HandshakeMessage> {
    vec![
        HandshakeMessage::ClientHello(client_hello()),
        HandshakeMessage::ServerHello(server_hello()),
        HandshakeMessage::ClientProof(ClientProof {
            client_proof: [0x55; 32],
        }),
        HandshakeMessage::Reject(Reject {
            code: RejectCode::ModeMismatch,
            reason: "plaintext vs aead".to_owned(),
        }),
    ]
}

fn hello_bytes() -> Vec<u8> {
    HandshakeMessage::ClientHello(client_hello()).encode()
}

/// Offset of a ClientHello body field in the full message.
const B: usize = HANDSHAKE_HEADER_LEN;

fn decode(b: &[u8]) -> Result<HandshakeMessage, WireError> {
    HandshakeMessage::decode(b)
}

#[test]
fn round_trip_every_message() {
    for m in all() {
        let b = m.encode();
        assert_eq!(&b[..4], b"DWCH");
        assert_eq!(b[4], m.kind() as u8);
        assert_eq!(
            usize::from(u16::from_le_bytes([b[6], b[7]])),
            b.len() - HANDSHAKE_HEADER_LEN
        );
        assert_eq!(decode(&b), Ok(m));
    }
}

#[test]
fn body_lengths_match_constants() {
    assert_eq!(hello_bytes().len(), B + CLIENT_HELLO_LEN);
    assert_eq!(
        HandshakeMessage::ServerHello(server_hello()).encode().len(),
        B + SERVER_HELLO_LEN
    );
    assert_eq!(all()[2].encode().len(), B + CLIENT_PROOF_LEN);
}

#[test]
fn client_hello_layout() {
    let b = hello_bytes();
    assert_eq!(&b[B + 28..B + 30], &2u16.to_le_bytes());
    assert_eq!(&b[B + 40..B + 44], &PAGE_SIZE.to_le_bytes());
    assert_eq!(&b[B + 48..B + 80], &[0x22; 32]);
}

#[test]
fn reject_round_trip_every_code() {
    for v in 1..=8u16 {
        let code = RejectCode::from_wire(v).expect("defined");
        assert_eq!(code.to_wire(), v);
        let m = HandshakeMessage::Reject(Reject::new(code, ""));
        assert_eq!(decode(&m.encode()), Ok(m));
    }
}

#[test]
fn reject_encode_truncates_long_reason() {
    let m = HandshakeMessage::Reject(Reject {
        code: RejectCode::Busy,
        reason: "é".repeat(200),
    });
    match decode(&m.encode()) {
        Ok(HandshakeMessage::Reject(r)) => assert_eq!(r.reason.len(), ABORT_REASON_LEN_MAX),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn encode_without_proof_zeroes_only_the_proof() {
    let sh = server_hello();
    let full = HandshakeMessage::ServerHello(sh).encode();
    let bare = sh.encode_without_proof();
    assert_eq!(bare.len(), full.len());
    assert_eq!(&bare[..B + 56], &full[..B + 56]);
    assert_eq!(&bare[B + 56..], &[0; 32]);
}

#[test]
fn write_then_read_stream_of_messages() {
    let mut wire = Vec::new();
    for m in all() {
        m.write_to(&mut wire).expect("vec write");
    }
    let mut r = Cursor::new(wire);
    for m in all() {
        assert_eq!(HandshakeMessage::read_from(&mut r).expect("valid"), m);
    }
    assert!(matches!(
        HandshakeMessage::read_from(&mut r),
        Err(HandshakeReadError::Io(_))
    ));
}

/// A reader that fails the test if more than `limit` bytes are requested.
struct Guard<'a> {
    data: &'a [u8],
    limit: usize,
}

impl Read for Guard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        assert!(
            buf.len() <= self.limit,
            "read_from asked for the body before validating the header"
        );
        self.limit -= buf.len().min(self.data.len());
        self.data.read(buf)
    }
}

#[test]
fn read_from_checks_header_before_body() {
    let mut head = hello_bytes()[..8].to_vec();
    head[6..8].copy_from_slice(&600u16.to_le_bytes());
    let mut g = Guard {
        data: &head,
        limit: HANDSHAKE_HEADER_LEN,
    };
    assert!(matches!(
        HandshakeMessage::read_from(&mut g),
        Err(HandshakeReadError::Wire(WireError::HandshakeBodyTooLong {
            body_len: 600,
            ..
        }))
    ));
    let mut bad_magic = head.clone();
    bad_magic[0] = b'X';
    let mut g = Guard {
        data: &bad_magic,
        limit: HANDSHAKE_HEADER_LEN,
    };
    assert!(matches!(
        HandshakeMessage::read_from(&mut g),
        Err(HandshakeReadError::Wire(
            WireError::BadHandshakeMagic { .. }
        ))
    ));
}

#[test]
fn read_from_reports_eof_mid_body_as_io() {
    let b = hello_bytes();
    let mut r = Cursor::new(&b[..b.len() - 1]);
    assert!(matches!(
        HandshakeMessage::read_from(&mut r),
        Err(HandshakeReadError::Io(_))
    ));
}

#[test]
fn negotiate_picks_highest_common() {
    assert_eq!(negotiate_version(1, 1), Some(1));
    assert_eq!(negotiate_version(1, 9), Some(PROTOCOL_VERSION_MAX));
    assert_eq!(negotiate_version(2, 9), None);
    assert_eq!(negotiate_version(0, 0), None);
}

#[test]
fn zeroed_message_never_decodes() {
    assert!(decode(&[0u8; HANDSHAKE_HEADER_LEN + CLIENT_HELLO_LEN]).is_err());
}

#[test]
fn rejects_truncated_header() {
    assert!(matches!(
        decode(&hello_bytes()[..7]),
        Err(WireError::Truncated {
            needed: 8,
            got: 7,
            ..
        })
    ));
}

#[test]
fn rejects_truncated_body() {
    let b = hello_bytes();
    assert!(matches!(
        decode(&b[..b.len() - 1]),
        Err(WireError::Truncated {
            needed: 88,
            got: 87,
            ..
        })
    ));
}

#[test]
fn rejects_trailing_bytes() {
    let mut b = hello_bytes();
    b.push(0);
    assert!(matches!(
        decode(&b),
        Err(WireError::TrailingBytes {
            expected: 88,
            got: 89,
            ..
        })
    ));
}

#[test]
fn rejects_bad_magic() {
    let mut b = hello_bytes();
    b[3] = b'F';
    assert!(
        matches!(decode(&b), Err(WireError::BadHandshakeMagic { found }) if found == FRAME_MAGIC_FOR_TEST)
    );
}
const FRAME_MAGIC_FOR_TEST: u32 = crate::frame::FRAME_MAGIC;

#[test]
fn rejects_kind_invalid_zero() {
    let mut b = hello_bytes();
    b[4] = 0;
    assert!(matches!(
        decode(&b),
        Err(WireError::UnknownHandshakeKind(0))
    ));
}

#[test]
fn rejects_kind_unknown() {
    let mut b = hello_bytes();
    b[4] = 5;
    assert!(matches!(
        decode(&b),
        Err(WireError::UnknownHandshakeKind(5))
    ));
}

#[test]
fn rejects_header_reserved() {
    let mut b = hello_bytes();
    b[5] = 1;
    assert!(matches!(
        decode(&b),
        Err(WireError::ReservedNonZero {
            what: "handshake header reserved",
            value: 1
        })
    ));
}

#[test]
fn rejects_body_too_long() {
    let mut b = HandshakeMessage::Reject(Reject::new(RejectCode::Busy, "")).encode();
    b[6..8].copy_from_slice(&513u16.to_le_bytes());
    b.resize(B + 513, 0);
    assert!(matches!(
        decode(&b),
        Err(WireError::HandshakeBodyTooLong {
            body_len: 513,
            max: HANDSHAKE_MSG_LEN_MAX
        })
    ));
}

#[test]
fn rejects_fixed_kind_with_wrong_body_len() {
    let mut b = hello_bytes();
    b[6..8].copy_from_slice(&79u16.to_le_bytes());
    b.pop();
    assert!(matches!(
        decode(&b),
        Err(WireError::BodyLenMismatch {
            what: "client hello",
            body_len: 79,
            expected: CLIENT_HELLO_LEN
        })
    ));
}

#[test]
fn rejects_client_hello_reserved() {
    let mut b = hello_bytes();
    b[B + 44] = 1;
    assert!(matches!(
        decode(&b),
        Err(WireError::ReservedNonZero {
            what: "client hello reserved",
            ..
        })
    ));
}

#[test]
fn rejects_client_hello_version_zero() {
    let mut b = hello_bytes();
    b[B..B + 2].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::InvalidVersionRange {
            version_min: 0,
            version_max: 1
        })
    ));
}

#[test]
fn rejects_client_hello_inverted_range() {
    let mut b = hello_bytes();
    b[B..B + 2].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::InvalidVersionRange {
            version_min: 3,
            version_max: 1
        })
    ));
}

#[test]
fn rejects_client_hello_unknown_flags() {
    let mut b = hello_bytes();
    b[B + 8] = 0x3;
    assert!(matches!(
        decode(&b),
        Err(WireError::UnknownHandshakeFlags {
            what: "client hello",
            flags: 3,
            allowed: 1
        })
    ));
}

#[test]
fn rejects_client_hello_stream_count_zero() {
    let mut b = hello_bytes();
    b[B + 30..B + 32].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 0,
            ..
        })
    ));
}

#[test]
fn rejects_client_hello_stream_count_above_max() {
    let mut b = hello_bytes();
    b[B + 30..B + 32].copy_from_slice(&(STREAMS_MAX + 1).to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::StreamCountOutOfRange {
            stream_count: 65,
            max: STREAMS_MAX
        })
    ));
}

#[test]
fn rejects_client_hello_stream_id_not_below_count() {
    let mut b = hello_bytes();
    b[B + 28..B + 30].copy_from_slice(&4u16.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::StreamIdOutOfRange {
            stream_id: 4,
            limit: 4
        })
    ));
}

#[test]
fn rejects_server_hello_version_zero() {
    let mut sh = server_hello();
    sh.version = 0;
    let b = HandshakeMessage::ServerHello(sh).encode();
    assert!(matches!(
        decode(&b),
        Err(WireError::InvalidVersion { version: 0 })
    ));
}

#[test]
fn rejects_server_hello_reserved() {
    for off in [2, 12] {
        let mut b = HandshakeMessage::ServerHello(server_hello()).encode();
        b[B + off] = 1;
        assert!(
            matches!(decode(&b), Err(WireError::ReservedNonZero { .. })),
            "offset {off}"
        );
    }
}

#[test]
fn rejects_server_hello_unknown_flags() {
    let mut sh = server_hello();
    sh.flags = 0x8000_0000;
    let b = HandshakeMessage::ServerHello(sh).encode();
    assert!(matches!(
        decode(&b),
        Err(WireError::UnknownHandshakeFlags {
            what: "server hello",
            ..
        })
    ));
}

#[test]
fn rejects_reject_invalid_code() {
    let mut b = HandshakeMessage::Reject(Reject::new(RejectCode::Busy, "x")).encode();
    b[B..B + 2].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(decode(&b), Err(WireError::UnknownRejectCode(0))));
}

#[test]
fn rejects_reject_unknown_code() {
    let mut b = HandshakeMessage::Reject(Reject::new(RejectCode::Busy, "x")).encode();
    b[B..B + 2].copy_from_slice(&9u16.to_le_bytes());
    assert!(matches!(decode(&b), Err(WireError::UnknownRejectCode(9))));
}

#[test]
fn rejects_reject_reason_too_long() {
    let mut body = vec![7, 0];
    body.extend_from_slice(&300u16.to_le_bytes());
    body.extend_from_slice(&[b'a'; 300]);
    let mut b = HANDSHAKE_MAGIC.to_le_bytes().to_vec();
    b.extend_from_slice(&[4, 0]);
    b.extend_from_slice(&u16::try_from(body.len()).expect("small body").to_le_bytes());
    b.extend_from_slice(&body);
    assert!(matches!(
        decode(&b),
        Err(WireError::ReasonTooLong {
            what: "reject reason",
            len: 300,
            ..
        })
    ));
}

#[test]
fn rejects_reject_reason_not_utf8() {
    let mut b = HandshakeMessage::Reject(Reject::new(RejectCode::Busy, "ab")).encode();
    b[B + 5] = 0xC0;
    assert!(matches!(
        decode(&b),
        Err(WireError::ReasonNotUtf8 {
            what: "reject reason",
            valid_up_to: 1
        })
    ));
}

#[test]
fn rejects_reject_body_with_extra_bytes() {
    let mut b = HandshakeMessage::Reject(Reject::new(RejectCode::Busy, "ab")).encode();
    b.push(b'c');
    let len = u16::from_le_bytes([b[6], b[7]]) + 1;
    b[6..8].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::TrailingBytes { what: "reject", .. })
    ));
}
