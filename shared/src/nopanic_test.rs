//! Seeded robustness test: 200_000 random, bit-flipped, truncated, extended
//! and spliced inputs go to every decoder. No decoder may panic, and any
//! input a decoder accepts must re-encode to exactly the same bytes
//! (encodings are canonical, so there is one wire form per value).

use crate::batch::{BatchView, BatchWriter, PageEncoding};
use crate::control::{Abort, AbortCode, Ack, Commit, Final, Goodbye, RoundEnd, VerifyResult};
use crate::frame::{FrameHeader, FrameKind, FRAME_FLAG_PLAINTEXT};
use crate::handshake::{
    ClientHello, ClientProof, HandshakeMessage, Reject, RejectCode, ServerHello,
};
use crate::limits::{FRAME_HEADER_LEN, PAGE_SIZE};

const ITERATIONS: usize = 200_000;

/// xorshift64*: tiny deterministic PRNG, fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).expect("below a usize")
    }
}

fn encode_with(f: impl Fn(&mut [u8]) -> Result<usize, crate::WireError>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let n = f(&mut buf).expect("seed encodes");
    buf.truncate(n);
    buf
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let header = FrameHeader {
        kind: FrameKind::Final,
        flags: FRAME_FLAG_PLAINTEXT,
        stream_id: 1,
        seq: 2,
        body_len: 64,
    };
    out.push(header.encode().to_vec());

    let mut buf = vec![0u8; 2 * (PAGE_SIZE as usize + 64)];
    let mut w = BatchWriter::new(&mut buf, 3).expect("room");
    w.push_zero(1).expect("room");
    w.push_raw(7, &[0xA5; PAGE_SIZE as usize]).expect("room");
    w.push_zero(2).expect("room");
    let n = w.finish();
    buf.truncate(n);
    out.push(buf);

    let mut buf = vec![0u8; 512];
    let mut w = BatchWriter::new(&mut buf, 0).expect("room");
    for i in 0..12 {
        w.push_zero(i).expect("room");
    }
    let n = w.finish();
    buf.truncate(n);
    out.push(buf);

    out.push(encode_with(|o| {
        Ack {
            written_through_seq: 9,
        }
        .encode(o)
    }));
    out.push(encode_with(|o| {
        RoundEnd {
            round: 1,
            pages_sent: 2,
            bytes_sent: 3,
        }
        .encode(o)
    }));
    let fin = Final {
        round: 5,
        page_count: 16,
        digest: [3; 16],
        last_seqs: vec![4, 5, 6],
    };
    out.push(encode_with(|o| fin.encode(o)));
    out.push(encode_with(|o| {
        VerifyResult {
            ok: true,
            digest: [1; 16],
            pages_written: 16,
        }
        .encode(o)
    }));
    out.push(encode_with(|o| Commit { digest: [2; 16] }.encode(o)));
    out.push(encode_with(|o| {
        Abort::new(AbortCode::Io, "read failed").encode(o)
    }));

    let hello = ClientHello {
        version_min: 1,
        version_max: 1,
        capabilities: 0,
        flags: 1,
        session_id: [7; 16],
        stream_id: 0,
        stream_count: 2,
        memory_bytes: 1 << 20,
        page_size: PAGE_SIZE,
        client_nonce: [8; 32],
    };
    out.push(HandshakeMessage::ClientHello(hello).encode());
    let sh = ServerHello {
        version: 1,
        capabilities: 0,
        flags: 0,
        server_nonce: [9; 32],
        resume_after_seq: 0,
        server_proof: [10; 32],
    };
    out.push(HandshakeMessage::ServerHello(sh).encode());
    out.push(
        HandshakeMessage::ClientProof(ClientProof {
            client_proof: [11; 32],
        })
        .encode(),
    );
    out.push(
        HandshakeMessage::Reject(Reject::new(RejectCode::SizeMismatch, "1 GiB vs 2 GiB")).encode(),
    );
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let seed = &seeds[rng.below(seeds.len())];
    let mut b = seed.clone();
    match rng.below(6) {
        0 => {
            let len = rng.below(300);
            return (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
        }
        1 => {
            for _ in 0..=rng.below(8) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => b.truncate(rng.below(seed.len() + 1)),
        3 => {
            const INTERESTING: [u8; 7] = [0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF];
            for _ in 0..=rng.below(3) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
        }
        4 => {
            for _ in 0..=rng.below(40) {
                b.push(rng.next().to_le_bytes()[0]);
            }
        }
        _ => {
            let other = &seeds[rng.below(seeds.len())];
            b.truncate(rng.below(b.len() + 1));
            let from = rng.below(other.len() + 1);
            b.extend_from_slice(&other[from..]);
        }
    }
    b
}

/// Re-encodes an accepted batch with `BatchWriter`; must reproduce `input`.
fn reencode_batch(view: &BatchView<'_>, input: &[u8]) {
    let mut buf = vec![0u8; input.len()];
    let mut w = BatchWriter::new(&mut buf, view.round()).expect("room");
    for p in view.pages() {
        match p.encoding {
            PageEncoding::Raw => w.push_raw(p.page_index, p.payload).expect("fits"),
            PageEncoding::Zero => w.push_zero(p.page_index).expect("fits"),
            PageEncoding::Invalid => panic!("parse accepted an invalid encoding"),
        }
    }
    assert_eq!(w.page_count(), view.page_count());
    let n = w.finish();
    assert_eq!(&buf[..n], input);
}

#[test]
fn no_decoder_panics_and_accepted_inputs_are_canonical() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0usize;
    let mut out = vec![0u8; 2048];
    for _ in 0..ITERATIONS {
        let input = mutate(&mut rng, &seeds);
        let pages_total = [0, 1, 8, 16, u64::MAX][rng.below(5)];

        if let Ok(h) = FrameHeader::decode(&input) {
            assert_eq!(&h.encode()[..], &input[..FRAME_HEADER_LEN]);
            accepted += 1;
        }
        if let Ok(v) = BatchView::parse(&input, pages_total) {
            assert!(v.pages().all(|p| p.page_index < pages_total));
            reencode_batch(&v, &input);
            accepted += 1;
        }
        // A control body that decodes re-encodes to the same bytes.
        macro_rules! canonical {
            ($($ty:ty),*) => {$(
                if let Ok(m) = <$ty>::decode(&input) {
                    let n = m.encode(&mut out).expect("fits");
                    assert_eq!(&out[..n], &input[..]);
                    accepted += 1;
                }
            )*};
        }
        canonical!(Ack, RoundEnd, Final, VerifyResult, Commit, Goodbye, Abort);
        if let Ok(m) = HandshakeMessage::decode(&input) {
            assert_eq!(m.encode(), input);
            let mut cursor = std::io::Cursor::new(&input);
            assert_eq!(HandshakeMessage::read_from(&mut cursor).ok(), Some(m));
            accepted += 1;
        } else {
            // read_from must agree with decode on rejection (it may fail with
            // Io instead of Wire when the input is short).
            let mut cursor = std::io::Cursor::new(&input);
            let _ = HandshakeMessage::read_from(&mut cursor);
        }
    }
    // The mutations must reach the accept paths too, not only the rejections.
    assert!(
        accepted > ITERATIONS / 20,
        "only {accepted} inputs accepted"
    );
}
