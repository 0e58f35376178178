//! Lossless round trips: an encoder and a decoder run as a pair over a
//! simulated destination image, which must equal the source after every page.

use dwcp_codec::{CodecError, Decoder, Encoder, EncoderConfig, EncodingKind, PAGE_SIZE};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Source image, destination image, and the codec pair between them.
struct Pair {
    enc: Encoder,
    dec: Decoder,
    src: Vec<u8>,
    dst: Vec<u8>,
    out: Vec<u8>,
    kinds: [usize; 5],
}

impl Pair {
    fn new(config: EncoderConfig, pages: usize, baseline: Option<Vec<u8>>) -> Self {
        let mut enc = Encoder::new(config, pages as u64).expect("valid config");
        let dst = match baseline {
            Some(b) => {
                enc.index_baseline(&b).expect("baseline size");
                b
            }
            None => vec![0u8; pages * PAGE_SIZE],
        };
        Self {
            enc,
            dec: Decoder::new(),
            src: dst.clone(),
            dst,
            out: Vec::new(),
            kinds: [0; 5],
        }
    }

    fn page(&self, i: usize) -> &[u8] {
        &self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
    }

    fn send(&mut self, i: usize, page: &[u8]) {
        self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(page);
        self.out.clear();
        let kind = self
            .enc
            .encode(i as u64, page, &mut self.out)
            .expect("encode");
        self.kinds[kind.slot().expect("valid kind")] += 1;
        // The wire carries the tag byte; go through it as the destination would.
        let kind = EncodingKind::from_u8(kind as u8).expect("own tag decodes");
        self.dec
            .decode(i as u64, kind, &self.out, &mut self.dst)
            .expect("own payload decodes");
        assert!(
            self.dst == self.src,
            "destination differs after page {i} ({kind:?})"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Zero(usize),
    Random(usize, u64),
    Edit(usize, Vec<(u16, u8)>),
    CopyOf(usize, usize),
    Pattern(usize, u8, u8),
    /// Content moved within the page: rotated by some bytes.
    Shift(usize, u16),
}

fn random_page(seed: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE_SIZE];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut p);
    p
}

fn apply(pair: &mut Pair, op: &Op, pages: usize) {
    match op {
        Op::Zero(i) => pair.send(i % pages, &[0u8; PAGE_SIZE]),
        Op::Random(i, seed) => pair.send(i % pages, &random_page(*seed)),
        Op::Edit(i, edits) => {
            let i = i % pages;
            let mut p = pair.page(i).to_vec();
            for (pos, val) in edits {
                p[usize::from(*pos) % PAGE_SIZE] = *val;
            }
            pair.send(i, &p);
        }
        Op::CopyOf(i, from) => {
            let p = pair.page(from % pages).to_vec();
            pair.send(i % pages, &p);
        }
        Op::Shift(i, by) => {
            let i = i % pages;
            let mut p = pair.page(i).to_vec();
            p.rotate_right(usize::from(*by) % PAGE_SIZE);
            pair.send(i, &p);
        }
        Op::Pattern(i, byte, period) => {
            let period = usize::from(*period).max(1);
            let p: Vec<u8> = (0..PAGE_SIZE)
                .map(|k| {
                    if k % period == 0 {
                        *byte
                    } else {
                        k.to_le_bytes()[1]
                    }
                })
                .collect();
            pair.send(i % pages, &p);
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<usize>().prop_map(Op::Zero),
        (any::<usize>(), any::<u64>()).prop_map(|(i, s)| Op::Random(i, s)),
        (
            any::<usize>(),
            prop::collection::vec(any::<(u16, u8)>(), 1..200)
        )
            .prop_map(|(i, e)| Op::Edit(i, e)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, f)| Op::CopyOf(i, f)),
        (any::<usize>(), any::<u8>(), any::<u8>()).prop_map(|(i, b, p)| Op::Pattern(i, b, p)),
        (any::<usize>(), any::<u16>()).prop_map(|(i, by)| Op::Shift(i, by)),
    ]
}

fn config() -> impl Strategy<Value = EncoderConfig> {
    (
        prop::sample::select(vec![0, 1, 3, -1]),
        prop::sample::select(vec![0usize, 1, 4, 64]),
        prop::sample::select(vec![0usize, 2, 1000]),
    )
        .prop_map(
            |(zstd_level, delta_cache_pages, dup_index_entries)| EncoderConfig {
                zstd_level,
                delta_cache_pages,
                dup_index_entries,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Sequences of rounds where pages are re-sent, every kind of content.
    #[test]
    fn pair_stays_equal(cfg in config(), pages in 1usize..24, ops in prop::collection::vec(op(), 1..120)) {
        let mut pair = Pair::new(cfg, pages, None);
        for op in &ops {
            apply(&mut pair, op, pages);
        }
    }

    /// Same, starting from a baseline image the destination already holds.
    #[test]
    fn pair_with_baseline(cfg in config(), pages in 1usize..16, seed in any::<u64>(),
                          ops in prop::collection::vec(op(), 1..80)) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut base = vec![0u8; pages * PAGE_SIZE];
        for p in base.chunks_exact_mut(PAGE_SIZE) {
            match rng.gen_range(0..3) {
                0 => {}
                1 => rng.fill_bytes(p),
                _ => p.fill(rng.gen()),
            }
        }
        let mut pair = Pair::new(cfg, pages, Some(base));
        for op in &ops {
            apply(&mut pair, op, pages);
        }
    }

    /// Any single page round-trips through an encoder with every test enabled.
    #[test]
    fn random_page_round_trips(bytes in prop::collection::vec(any::<u8>(), PAGE_SIZE)) {
        let mut pair = Pair::new(EncoderConfig::DEFAULTS, 2, None);
        pair.send(0, &bytes);
        pair.send(1, &bytes);
        prop_assert_eq!(pair.kinds[EncodingKind::Duplicate.slot().expect("valid")], 1);
    }
}

/// A fixed scenario must use every kind, so the properties above cover each.
#[test]
fn every_kind_is_used() {
    let cfg = EncoderConfig {
        zstd_level: 1,
        delta_cache_pages: 8,
        dup_index_entries: 64,
    };
    let mut pair = Pair::new(cfg, 8, None);
    pair.send(0, &[0u8; PAGE_SIZE]);
    let noise = random_page(1);
    pair.send(1, &noise);
    pair.send(2, &noise);
    let mut edited = noise.clone();
    edited[10] ^= 0xff;
    edited[3000] ^= 1;
    pair.send(1, &edited);
    let text: Vec<u8> = b"guest page text "
        .iter()
        .copied()
        .cycle()
        .take(PAGE_SIZE)
        .collect();
    pair.send(3, &text);
    let got: Vec<&str> = EncodingKind::ALL
        .iter()
        .zip(pair.kinds)
        .filter(|(_, n)| *n > 0)
        .map(|(k, _)| k.name())
        .collect();
    assert_eq!(got, ["zero", "duplicate", "delta", "zstd", "raw"]);
}

/// Content shifted within a page is a delta (zstd with the old page as
/// dictionary), far smaller than the page compressed alone.
#[test]
fn shifted_content_is_a_small_delta() {
    let cfg = EncoderConfig {
        zstd_level: 1,
        delta_cache_pages: 4,
        dup_index_entries: 4,
    };
    let mut pair = Pair::new(cfg, 2, None);
    let noise = random_page(3);
    pair.send(0, &noise);
    let mut shifted = vec![0x5a; 100];
    shifted.extend_from_slice(&noise[..PAGE_SIZE - 100]);
    pair.out.clear();
    pair.send(0, &shifted);
    assert_eq!(pair.kinds[EncodingKind::Delta.slot().expect("valid")], 1);
    assert!(
        pair.out.len() < 200,
        "delta of a shifted page is {} bytes",
        pair.out.len()
    );
}

/// A few changed bytes are sent as the raw token stream (delta header 0)
/// without trying zstd, and a small delta wins even when zstd is on.
#[test]
fn small_edit_is_raw_tokens() {
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 1, None);
    let text: Vec<u8> = b"guest page text "
        .iter()
        .copied()
        .cycle()
        .take(PAGE_SIZE)
        .collect();
    pair.send(0, &text);
    let mut edited = text.clone();
    edited[5] = 0;
    edited[4000] = 1;
    pair.out.clear();
    pair.send(0, &edited);
    assert_eq!(pair.kinds[EncodingKind::Delta.slot().expect("valid")], 1);
    assert_eq!(pair.out[0], dwcp_codec::DELTA_TOKENS_RAW);
    assert!(pair.out.len() <= 16, "{} bytes", pair.out.len());
}

/// Page 2 moves to page 5 after page 2 is overwritten: the index must not
/// point at page 2's old content.
#[test]
fn duplicate_index_follows_overwrites() {
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 8, None);
    let a = random_page(7);
    let b = random_page(8);
    pair.send(2, &a);
    pair.send(2, &b);
    pair.send(5, &a); // must not be a Duplicate of page 2
    pair.send(6, &b); // may be a Duplicate of page 2
    assert_eq!(
        pair.kinds[EncodingKind::Duplicate.slot().expect("valid")],
        1
    );
}

#[test]
fn encoder_rejects_bad_input() {
    let mut enc = Encoder::new(EncoderConfig::DEFAULTS, 2).expect("valid");
    let mut out = Vec::new();
    assert_eq!(
        enc.encode(0, &[0; 10], &mut out),
        Err(CodecError::PageLength { len: 10 })
    );
    assert!(matches!(
        enc.encode(2, &[0; PAGE_SIZE], &mut out),
        Err(CodecError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        enc.index_baseline(&[0; PAGE_SIZE]),
        Err(CodecError::BaselineLength { .. })
    ));
    let bad = EncoderConfig {
        zstd_level: 1000,
        ..EncoderConfig::DEFAULTS
    };
    assert!(matches!(
        Encoder::new(bad, 1),
        Err(CodecError::Config { .. })
    ));
}

/// Random bytes never panic the decoder (and errors leave memory intact).
#[test]
fn decoder_never_panics_on_random_input() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xdec0de);
    let mut dec = Decoder::new();
    let mut mem = vec![0u8; 4 * PAGE_SIZE];
    let mut payload = vec![0u8; 2 * PAGE_SIZE];
    let zstd_magic = [0x28, 0xb5, 0x2f, 0xfd];
    for _ in 0..100_000 {
        let tag: u8 = rng.gen_range(0..7);
        let len = match rng.gen_range(0..4) {
            0 => rng.gen_range(0..16),
            1 => 8,
            2 => PAGE_SIZE,
            _ => rng.gen_range(0..payload.len()),
        };
        rng.fill_bytes(&mut payload[..len]);
        if len > 5 && rng.gen_bool(0.3) {
            // Start like a zstd frame (after a delta header, half the time).
            let at = usize::from(rng.gen_bool(0.5));
            payload[at..at + 4].copy_from_slice(&zstd_magic);
        }
        let index = rng.gen_range(0..6);
        let before = mem.clone();
        let result = EncodingKind::from_u8(tag)
            .and_then(|kind| dec.decode(index, kind, &payload[..len], &mut mem));
        if result.is_err() {
            assert!(mem == before, "memory changed on error");
        }
    }
}
