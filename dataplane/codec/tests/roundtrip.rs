//! Lossless round trips: an encoder and a decoder run as a pair over a
//! simulated destination image, batch by batch. After every decoded batch the
//! destination must equal the source, and the decoder must have reported
//! each pushed page once, in order, with the content pushed.

use dwcp_codec::{
    BatchReport, CodecError, Decoder, Encoder, EncoderConfig, EncodingKind, PageContent,
    BATCH_FORMAT, BATCH_PAGES_MAX, BATCH_PAYLOAD_PAGES_MAX, CONTROL_LEN_MAX, ENCODED_BATCH_LEN_MAX,
    PAGE_SIZE, SECTION_OVERHEAD_MAX, STREAM_LEVEL_MIN,
};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ZERO_PAGE: [u8; PAGE_SIZE] = [0u8; PAGE_SIZE];

fn slot(kind: EncodingKind) -> usize {
    kind.slot()
}

/// The fields of a batch's trailer, read from its end as `format.rs` lays
/// them out: page count, first index, the four section lengths, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrailerFields {
    page_count: u64,
    first_index: u64,
    control_len: u64,
    tokens_len: u64,
    prefix_len: u64,
    literals_len: u64,
    flags: u8,
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

fn trailer(batch: &[u8]) -> TrailerFields {
    let (&len, rest) = batch.split_last().expect("non-empty batch");
    let t = &rest[rest.len() - usize::from(len)..];
    let (&format, t) = t.split_last().expect("format byte");
    assert_eq!(format, BATCH_FORMAT);
    let (&flags, fields) = t.split_last().expect("flags byte");
    let mut at = 0;
    let mut next = || read_varint(fields, &mut at);
    TrailerFields {
        page_count: next(),
        first_index: next(),
        control_len: next(),
        tokens_len: next(),
        prefix_len: next(),
        literals_len: next(),
        flags,
    }
}

/// Source image, destination image, and the codec pair between them.
struct Pair {
    enc: Encoder,
    dec: Decoder,
    pages: usize,
    src: Vec<u8>,
    dst: Vec<u8>,
    out: Vec<u8>,
    /// Pages pushed into the open batch, in order, with the content pushed.
    pending: Vec<(u64, Vec<u8>)>,
    /// Kinds `push` returned for the open batch (`Zstd` for any literal).
    pushed: [u64; 5],
    /// Every finished batch added up.
    total: BatchReport,
    /// The last finished batch: its report and bytes.
    last: BatchReport,
    last_batch: Vec<u8>,
    batches: usize,
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
            pages,
            src: dst.clone(),
            dst,
            out: vec![0u8; ENCODED_BATCH_LEN_MAX],
            pending: Vec::new(),
            pushed: [0; 5],
            total: BatchReport::default(),
            last: BatchReport::default(),
            last_batch: Vec::new(),
            batches: 0,
        }
    }

    fn page(&self, i: usize) -> &[u8] {
        &self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
    }

    fn pushed_one(&mut self, i: usize, page: &[u8], kind: EncodingKind) {
        assert_eq!(self.enc.last_page(), page, "last_page after page {i}");
        assert_ne!(kind, EncodingKind::Raw, "push reports literals as zstd");
        if kind == EncodingKind::Zero {
            assert!(page.iter().all(|&b| b == 0), "non-zero page {i} as zero");
        }
        self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(page);
        self.pending.push((i as u64, page.to_vec()));
        self.pushed[slot(kind)] += 1;
        assert_eq!(self.enc.batch_pages(), self.pending.len());
        if !self.enc.has_room() {
            // Full by pages covered, by payload (pages or bytes), or by control records.
            let payload =
                self.pushed[slot(EncodingKind::Zstd)] + self.pushed[slot(EncodingKind::Delta)];
            assert!(
                self.enc.batch_pages() == BATCH_PAGES_MAX
                    || payload + 1 >= BATCH_PAYLOAD_PAGES_MAX as u64
                    || self.enc.batch_pages() >= CONTROL_LEN_MAX / 24,
                "full at {} pages, {payload} with a payload",
                self.enc.batch_pages()
            );
            self.flush();
        }
    }

    /// Pushes `page` as page `i`; finishes the batch when it is full.
    fn send(&mut self, i: usize, page: &[u8]) -> EncodingKind {
        assert!(self.enc.has_room());
        let kind = self.enc.push(i as u64, page).expect("push");
        self.pushed_one(i, page, kind);
        kind
    }

    /// `push_zero` of page `i`.
    fn send_zero(&mut self, i: usize) {
        assert!(self.enc.has_room());
        self.enc.push_zero(i as u64).expect("push_zero");
        self.pushed_one(i, &ZERO_PAGE, EncodingKind::Zero);
    }

    /// Sends `page` as page `i` outside the encoder, as the engine's bottom
    /// rung does (a raw frame on the same stream, after the open batch):
    /// finishes the open batch, tells the encoder to forget the page, and
    /// writes it to both sides directly.
    fn send_outside(&mut self, i: usize, page: &[u8]) {
        self.flush();
        self.enc
            .forget(i as u64)
            .expect("forget with no open batch");
        self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(page);
        self.dst[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(page);
    }

    /// Finishes the open batch (if any), decodes it and checks the pair.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            assert_eq!(self.enc.batch_pages(), 0);
            return;
        }
        let report = self.enc.finish(&mut self.out).expect("finish");
        let batch = &self.out[..report.len];
        self.check_report(&report, batch);
        let mut seen: Vec<(u64, Vec<u8>)> = Vec::with_capacity(self.pending.len());
        let n = self
            .dec
            .decode_batch(batch, &mut self.dst, |i, content| {
                seen.push((i, content.to_vec()));
            })
            .expect("own batch decodes");
        assert_eq!(n, self.pending.len());
        assert_eq!(seen.len(), self.pending.len(), "on_page calls");
        for (k, (got, want)) in seen.iter().zip(&self.pending).enumerate() {
            assert_eq!(got.0, want.0, "page {k} of the batch reported out of order");
            assert!(
                got.1 == want.1,
                "page {} reported with other content",
                got.0
            );
        }
        if let Some(p) = (0..self.pages).find(|&p| {
            self.dst[p * PAGE_SIZE..(p + 1) * PAGE_SIZE]
                != self.src[p * PAGE_SIZE..(p + 1) * PAGE_SIZE]
        }) {
            panic!(
                "destination page {p} differs after batch {} ({:?})",
                self.batches, report
            );
        }
        self.last_batch = batch.to_vec();
        self.last = report;
        self.total.add(&report);
        self.batches += 1;
        self.pending.clear();
        self.pushed = [0; 5];
        assert_eq!(self.enc.batch_pages(), 0);
        assert!(self.enc.has_room());
    }

    /// The report's accounting and the trailer agree with what was pushed.
    fn check_report(&self, report: &BatchReport, batch: &[u8]) {
        let pages = self.pending.len() as u64;
        assert!(report.len <= ENCODED_BATCH_LEN_MAX);
        assert_eq!(
            report.bytes_by_kind.iter().sum::<u64>() + report.control_bytes,
            report.len as u64,
            "bytes do not add up: {report:?}"
        );
        assert_eq!(report.pages_by_kind.iter().sum::<u64>(), pages);
        for kind in [
            EncodingKind::Zero,
            EncodingKind::Duplicate,
            EncodingKind::Delta,
        ] {
            assert_eq!(
                report.pages_by_kind[slot(kind)],
                self.pushed[slot(kind)],
                "{kind:?}"
            );
        }
        assert_eq!(report.bytes_by_kind[slot(EncodingKind::Zero)], 0);
        assert_eq!(report.bytes_by_kind[slot(EncodingKind::Duplicate)], 0);
        let zstd = report.pages_by_kind[slot(EncodingKind::Zstd)];
        let raw = report.pages_by_kind[slot(EncodingKind::Raw)];
        assert_eq!(zstd + raw, self.pushed[slot(EncodingKind::Zstd)]);
        assert!(zstd == 0 || raw == 0, "one literal section: {report:?}");
        assert_eq!(
            report.bytes_by_kind[slot(EncodingKind::Raw)],
            raw * PAGE_SIZE as u64
        );
        if zstd > 0 {
            // A stream piece: at most zstd's framing above raw.
            assert!(
                report.bytes_by_kind[slot(EncodingKind::Zstd)]
                    <= zstd * PAGE_SIZE as u64 + SECTION_OVERHEAD_MAX as u64
            );
        } else {
            assert_eq!(report.bytes_by_kind[slot(EncodingKind::Zstd)], 0);
        }
        if report.pages_by_kind[slot(EncodingKind::Delta)] == 0 {
            assert_eq!(report.bytes_by_kind[slot(EncodingKind::Delta)], 0);
        }
        let t = trailer(batch);
        assert_eq!(t.page_count, pages);
        assert_eq!(t.first_index, self.pending[0].0);
        assert_eq!(
            t.tokens_len + t.prefix_len,
            report.bytes_by_kind[slot(EncodingKind::Delta)]
        );
        if self.enc.level() == 0 {
            assert_eq!(t.flags, 0, "level 0 stores every section raw");
            assert_eq!(zstd, 0);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// An all-zero page pushed as content.
    Zero(usize),
    /// `push_zero`.
    PushZero(usize),
    Random(usize, u64),
    Edit(usize, Vec<(u16, u8)>),
    CopyOf(usize, usize),
    Pattern(usize, u8, u8),
    /// Content moved within the page: rotated by some bytes.
    Shift(usize, u16),
    /// Consecutive zero pages from a start.
    ZeroRun(usize, usize),
    /// Consecutive pages copied from consecutive pages: from, to, count.
    DupRun(usize, usize, usize),
    /// Consecutive random pages: start, count, seed.
    LiteralRun(usize, usize, u64),
    /// A migration round: every page re-sent in order, some changed.
    Round(u64),
    Flush,
    /// New zstd level, finishing the open batch first or not.
    SetLevel(i32, bool),
}

fn random_page(seed: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE_SIZE];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut p);
    p
}

fn text_page() -> Vec<u8> {
    b"guest page text "
        .iter()
        .copied()
        .cycle()
        .take(PAGE_SIZE)
        .collect()
}

fn pattern_page(byte: u8, period: u8) -> Vec<u8> {
    let period = usize::from(period).max(1);
    (0..PAGE_SIZE)
        .map(|k| {
            if k % period == 0 {
                byte
            } else {
                k.to_le_bytes()[1]
            }
        })
        .collect()
}

fn apply(pair: &mut Pair, op: &Op) {
    let pages = pair.pages;
    match op {
        Op::Zero(i) => {
            let kind = pair.send(i % pages, &ZERO_PAGE);
            assert_eq!(kind, EncodingKind::Zero);
        }
        Op::PushZero(i) => pair.send_zero(i % pages),
        Op::Random(i, seed) => {
            pair.send(i % pages, &random_page(*seed));
        }
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
            pair.send(i % pages, &pattern_page(*byte, *period));
        }
        Op::ZeroRun(start, n) => {
            let start = start % pages;
            for i in start..(start + n).min(pages) {
                pair.send(i, &ZERO_PAGE);
            }
        }
        Op::DupRun(from, to, n) => {
            let (from, to) = (from % pages, to % pages);
            for k in 0..*n {
                if from + k >= pages || to + k >= pages {
                    break;
                }
                let p = pair.page(from + k).to_vec();
                pair.send(to + k, &p);
            }
        }
        Op::LiteralRun(start, n, seed) => {
            let start = start % pages;
            for (k, i) in (start..(start + n).min(pages)).enumerate() {
                pair.send(i, &random_page(seed.wrapping_add(k as u64)));
            }
        }
        Op::Round(seed) => {
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            for i in 0..pages {
                let mut p = pair.page(i).to_vec();
                match rng.gen_range(0..10) {
                    0..=4 => {}
                    5..=7 => {
                        for _ in 0..rng.gen_range(1..20) {
                            let at = rng.gen_range(0..PAGE_SIZE);
                            p[at] = rng.gen();
                        }
                    }
                    8 => p.fill(0),
                    _ => rng.fill_bytes(&mut p),
                }
                pair.send(i, &p);
            }
        }
        Op::Flush => pair.flush(),
        Op::SetLevel(level, flush_first) => {
            if *flush_first {
                pair.flush();
            }
            pair.enc.set_level(*level).expect("valid level");
            assert_eq!(pair.enc.level(), *level);
        }
    }
}

fn level() -> impl Strategy<Value = i32> {
    // 3 and 6 are streamed (STREAM_LEVEL_MIN), the others frames of their own.
    prop::sample::select(vec![0, 1, 3, 6, -1])
}

fn op() -> impl Strategy<Value = Op> {
    let idx = || 0usize..64;
    prop_oneof![
        2 => idx().prop_map(Op::Zero),
        1 => idx().prop_map(Op::PushZero),
        3 => (idx(), any::<u64>()).prop_map(|(i, s)| Op::Random(i, s)),
        4 => (idx(), prop::collection::vec(any::<(u16, u8)>(), 1..100))
            .prop_map(|(i, e)| Op::Edit(i, e)),
        3 => (idx(), idx()).prop_map(|(i, f)| Op::CopyOf(i, f)),
        2 => (idx(), any::<u8>(), any::<u8>()).prop_map(|(i, b, p)| Op::Pattern(i, b, p)),
        2 => (idx(), any::<u16>()).prop_map(|(i, by)| Op::Shift(i, by)),
        1 => (idx(), 1usize..10).prop_map(|(i, n)| Op::ZeroRun(i, n)),
        1 => (idx(), idx(), 1usize..10).prop_map(|(f, t, n)| Op::DupRun(f, t, n)),
        1 => (idx(), 1usize..10, any::<u64>()).prop_map(|(i, n, s)| Op::LiteralRun(i, n, s)),
        1 => any::<u64>().prop_map(Op::Round),
        2 => Just(Op::Flush),
        1 => (level(), any::<bool>()).prop_map(|(l, f)| Op::SetLevel(l, f)),
    ]
}

fn config() -> impl Strategy<Value = EncoderConfig> {
    (
        level(),
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

/// A baseline image with zero, random, filled and text pages.
fn baseline(pages: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut base = vec![0u8; pages * PAGE_SIZE];
    for p in base.chunks_exact_mut(PAGE_SIZE) {
        match rng.gen_range(0..4) {
            0 => {}
            1 => rng.fill_bytes(p),
            2 => p.fill(rng.gen()),
            _ => p.copy_from_slice(&text_page()),
        }
    }
    base
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Sequences of batches where pages are re-sent, with every kind of
    /// content, runs, repeated and unordered indices, and level changes.
    #[test]
    fn pair_stays_equal(cfg in config(), pages in 1usize..24,
                        ops in prop::collection::vec(op(), 1..100)) {
        let mut pair = Pair::new(cfg, pages, None);
        for op in &ops {
            apply(&mut pair, op);
        }
        pair.flush();
    }

    /// Same, starting from a baseline image the destination already holds.
    #[test]
    fn pair_with_baseline(cfg in config(), pages in 1usize..16, seed in any::<u64>(),
                          ops in prop::collection::vec(op(), 1..80)) {
        let mut pair = Pair::new(cfg, pages, Some(baseline(pages, seed)));
        for op in &ops {
            apply(&mut pair, op);
        }
        pair.flush();
    }

    /// Any single page round-trips through an encoder with every test
    /// enabled, alone in its batch or with a duplicate of itself.
    #[test]
    fn random_page_round_trips(bytes in prop::collection::vec(any::<u8>(), PAGE_SIZE),
                               one_batch in any::<bool>()) {
        let mut pair = Pair::new(EncoderConfig::DEFAULTS, 2, None);
        pair.send(0, &bytes);
        if !one_batch {
            pair.flush();
        }
        let kind = pair.send(1, &bytes);
        pair.flush();
        if bytes.iter().any(|&b| b != 0) {
            prop_assert_eq!(kind, EncodingKind::Duplicate);
        } else {
            prop_assert_eq!(kind, EncodingKind::Zero);
        }
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
    // Batch 1: zero, an incompressible literal (raw section), its duplicate.
    pair.send(0, &ZERO_PAGE);
    let noise = random_page(1);
    pair.send(1, &noise);
    assert_eq!(pair.send(2, &noise), EncodingKind::Duplicate);
    pair.flush();
    assert_eq!(pair.last.pages_by_kind[slot(EncodingKind::Raw)], 1);
    // Batch 2: a delta and a compressible literal (zstd section).
    let mut edited = noise.clone();
    edited[10] ^= 0xff;
    edited[3000] ^= 1;
    assert_eq!(pair.send(1, &edited), EncodingKind::Delta);
    pair.send(3, &text_page());
    pair.flush();
    assert_eq!(pair.last.pages_by_kind[slot(EncodingKind::Zstd)], 1);
    let got: Vec<&str> = EncodingKind::ALL
        .iter()
        .zip(pair.total.pages_by_kind)
        .filter(|(_, n)| *n > 0)
        .map(|(k, _)| k.name())
        .collect();
    assert_eq!(got, ["zero", "duplicate", "delta", "zstd", "raw"]);

    // From STREAM_LEVEL_MIN on, sections are stream pieces: an
    // incompressible literal is a zstd piece of about its own size.
    let mut pair = Pair::new(
        EncoderConfig {
            zstd_level: STREAM_LEVEL_MIN,
            ..cfg
        },
        2,
        None,
    );
    pair.send(0, &noise);
    pair.flush();
    assert_eq!(pair.last.pages_by_kind[slot(EncodingKind::Zstd)], 1);
    assert!(pair.last.bytes_by_kind[slot(EncodingKind::Zstd)] >= PAGE_SIZE as u64);

    // At level 0 every literal is raw.
    let mut pair = Pair::new(
        EncoderConfig {
            zstd_level: 0,
            ..cfg
        },
        2,
        None,
    );
    pair.send(0, &text_page());
    pair.flush();
    assert_eq!(pair.last.pages_by_kind[slot(EncodingKind::Raw)], 1);
    assert_eq!(pair.last.pages_by_kind[slot(EncodingKind::Zstd)], 0);
}

/// Content shifted within a page is a delta (zstd with the old page as
/// dictionary, the prefix section), far smaller than the page.
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
    pair.flush();
    let mut shifted = vec![0x5a; 100];
    shifted.extend_from_slice(&noise[..PAGE_SIZE - 100]);
    assert_eq!(pair.send(0, &shifted), EncodingKind::Delta);
    pair.flush();
    let t = trailer(&pair.last_batch);
    assert!(t.prefix_len > 0, "a prefix delta: {t:?}");
    assert_eq!(t.tokens_len, 0);
    assert!(
        pair.last.len < 200,
        "batch with the delta of a shifted page is {} bytes",
        pair.last.len
    );
}

/// A few changed bytes are sent as a token stream (no zstd prefix frame),
/// a few bytes long, even when zstd is on.
#[test]
fn small_edit_is_tokens() {
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 1, None);
    let text = text_page();
    pair.send(0, &text);
    pair.flush();
    let mut edited = text.clone();
    edited[5] = 0;
    edited[4000] = 1;
    assert_eq!(pair.send(0, &edited), EncodingKind::Delta);
    pair.flush();
    let t = trailer(&pair.last_batch);
    assert_eq!(t.prefix_len, 0, "{t:?}");
    assert!(t.tokens_len > 0 && t.tokens_len <= 16, "{t:?}");
    assert!(pair.last.bytes_by_kind[slot(EncodingKind::Delta)] <= 16);
    assert!(pair.last.len < 40, "{} bytes", pair.last.len);
}

/// Page 2 moves to page 5 after page 2 is overwritten: the index must not
/// point at page 2's old content. Within one batch and across batches.
#[test]
fn duplicate_index_follows_overwrites() {
    for flush_each in [false, true] {
        let mut pair = Pair::new(EncoderConfig::DEFAULTS, 8, None);
        let a = random_page(7);
        let b = random_page(8);
        let mut kinds = Vec::new();
        for (i, p) in [(2, &a), (2, &b), (5, &a), (6, &b)] {
            kinds.push(pair.send(i, p));
            if flush_each {
                pair.flush();
            }
        }
        pair.flush();
        assert_ne!(
            kinds[2],
            EncodingKind::Duplicate,
            "page 2 no longer holds a"
        );
        assert_eq!(kinds[3], EncodingKind::Duplicate, "page 2 holds b");
        assert_eq!(
            pair.total.pages_by_kind[slot(EncodingKind::Duplicate)],
            1,
            "flush_each {flush_each}"
        );
    }
}

/// A page zeroed (by push_zero) is no duplicate source any more.
#[test]
fn zeroed_page_is_no_duplicate_source() {
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 4, None);
    let a = random_page(9);
    pair.send(0, &a);
    pair.send_zero(0);
    assert_ne!(pair.send(1, &a), EncodingKind::Duplicate);
    pair.flush();
}

/// A page the engine sent raw (outside the encoder) is neither a duplicate
/// source nor a delta base any more; without `forget`, page 1 would be a
/// duplicate of page 0's old content and page 0's next version a delta
/// against it, and the destination would differ.
#[test]
fn a_page_sent_outside_the_encoder_is_no_reference_any_more() {
    for level in [1, 3] {
        let config = EncoderConfig {
            zstd_level: level,
            ..EncoderConfig::DEFAULTS
        };
        let mut pair = Pair::new(config, 4, None);
        let old = random_page(9);
        pair.send(0, &old);
        pair.flush();
        let new = random_page(10);
        pair.send_outside(0, &new);
        assert_ne!(pair.send(1, &old), EncodingKind::Duplicate, "level {level}");
        let mut next = new.clone();
        next[7] ^= 1;
        pair.send(0, &next);
        pair.flush();
        assert_eq!(
            pair.send(2, &next),
            EncodingKind::Duplicate,
            "level {level}"
        );
        pair.flush();
    }
}

#[test]
fn forget_needs_an_empty_batch_and_a_page_in_range() {
    let mut enc = Encoder::new(EncoderConfig::DEFAULTS, 2).expect("valid");
    enc.push(0, &random_page(1)).expect("push");
    assert_eq!(enc.forget(1), Err(CodecError::BatchState { state: "open" }));
    let mut out = vec![0u8; ENCODED_BATCH_LEN_MAX];
    enc.finish(&mut out).expect("finish");
    assert_eq!(
        enc.forget(2),
        Err(CodecError::IndexOutOfRange {
            index: 2,
            page_count: 2
        })
    );
    assert_eq!(enc.forget(1), Ok(()));
}

#[test]
fn encoder_rejects_bad_input() {
    let mut enc = Encoder::new(EncoderConfig::DEFAULTS, 2).expect("valid");
    assert_eq!(
        enc.push(0, &[0; 10]),
        Err(CodecError::PageLength { len: 10 })
    );
    assert_eq!(
        enc.push(0, &[1; PAGE_SIZE + 1]),
        Err(CodecError::PageLength { len: PAGE_SIZE + 1 })
    );
    assert_eq!(
        enc.push(2, &[1; PAGE_SIZE]),
        Err(CodecError::IndexOutOfRange {
            index: 2,
            page_count: 2
        })
    );
    assert_eq!(
        enc.push_zero(u64::MAX),
        Err(CodecError::IndexOutOfRange {
            index: u64::MAX,
            page_count: 2
        })
    );
    assert_eq!(enc.batch_pages(), 0, "rejected pages are not in the batch");
    assert!(matches!(
        enc.index_baseline(&[0; PAGE_SIZE]),
        Err(CodecError::BaselineLength { .. })
    ));
    let mut out = vec![0u8; ENCODED_BATCH_LEN_MAX];
    assert_eq!(
        enc.finish(&mut out),
        Err(CodecError::BatchState { state: "empty" })
    );
    assert_eq!(
        enc.set_level(1000),
        Err(CodecError::Config {
            reason: "zstd_level is outside zstd's range"
        })
    );
    assert_eq!(enc.level(), 1, "a rejected level leaves the level");

    let bad = EncoderConfig {
        zstd_level: 1000,
        ..EncoderConfig::DEFAULTS
    };
    assert!(matches!(
        Encoder::new(bad, 1),
        Err(CodecError::Config { .. })
    ));
    let bad = EncoderConfig {
        delta_cache_pages: u32::MAX as usize,
        ..EncoderConfig::DEFAULTS
    };
    assert!(matches!(
        Encoder::new(bad, 1),
        Err(CodecError::Config { .. })
    ));

    // A full batch takes no more pages.
    let pages = BATCH_PAGES_MAX + 2;
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, pages, None);
    for i in 0..BATCH_PAGES_MAX - 1 {
        pair.enc.push_zero(i as u64).expect("room");
        pair.pending.push((i as u64, ZERO_PAGE.to_vec()));
        pair.pushed[slot(EncodingKind::Zero)] += 1;
    }
    let last = random_page(4);
    let kind = pair
        .enc
        .push(BATCH_PAGES_MAX as u64 - 1, &last)
        .expect("room for the last page");
    pair.pending
        .push((BATCH_PAGES_MAX as u64 - 1, last.clone()));
    pair.pushed[slot(kind)] += 1;
    pair.src[(BATCH_PAGES_MAX - 1) * PAGE_SIZE..BATCH_PAGES_MAX * PAGE_SIZE].copy_from_slice(&last);
    assert!(!pair.enc.has_room());
    assert_eq!(
        pair.enc.push(BATCH_PAGES_MAX as u64, &[1; PAGE_SIZE]),
        Err(CodecError::BatchState { state: "full" })
    );
    assert_eq!(
        pair.enc.push_zero(0),
        Err(CodecError::BatchState { state: "full" })
    );
    // An output too small is refused; the batch stays and finishes after.
    let mut small = vec![0u8; 100];
    assert!(matches!(
        pair.enc.finish(&mut small),
        Err(CodecError::OutputTooSmall { len: 100, .. })
    ));
    assert_eq!(pair.enc.batch_pages(), BATCH_PAGES_MAX);
    pair.flush();
    assert_eq!(
        pair.last.pages_by_kind[slot(EncodingKind::Zero)],
        BATCH_PAGES_MAX as u64 - 1
    );

    // Too small in the middle of a run, then more pages pushed before the
    // finish that succeeds.
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 8, None);
    pair.send(0, &ZERO_PAGE);
    pair.send(1, &ZERO_PAGE);
    let mut small = vec![0u8; 5];
    assert!(matches!(
        pair.enc.finish(&mut small),
        Err(CodecError::OutputTooSmall { len: 5, .. })
    ));
    pair.send(2, &ZERO_PAGE);
    pair.send(3, &random_page(5));
    pair.flush();
}

/// The per-kind accounting adds up to the batch, for a batch of every kind
/// at several levels (the pair also checks it for every batch it finishes).
#[test]
fn batch_report_accounting_adds_up() {
    for level in [0, 1, 3, -1] {
        let cfg = EncoderConfig {
            zstd_level: level,
            delta_cache_pages: 16,
            dup_index_entries: 16,
        };
        let mut pair = Pair::new(cfg, 16, None);
        let noise = random_page(11);
        pair.send(0, &noise);
        pair.send(1, &text_page());
        pair.flush();
        let mut edited = noise.clone();
        edited[1] ^= 1;
        let mut shifted = text_page();
        shifted.rotate_left(3);
        pair.send(0, &edited);
        pair.send(2, &noise.clone());
        pair.send(3, &ZERO_PAGE);
        pair.send_zero(4);
        pair.send(1, &shifted);
        pair.send(5, &random_page(12));
        pair.send(6, &text_page());
        pair.flush();
        let r = pair.last;
        assert_eq!(
            r.bytes_by_kind.iter().sum::<u64>() + r.control_bytes,
            r.len as u64
        );
        assert_eq!(r.pages_by_kind.iter().sum::<u64>(), 7);
        assert_eq!(r.pages_by_kind[slot(EncodingKind::Zero)], 2);
        assert!(r.control_bytes > 0);
        let t = pair.total;
        assert_eq!(
            t.bytes_by_kind.iter().sum::<u64>() + t.control_bytes,
            t.len as u64
        );
        assert_eq!(t.pages_by_kind.iter().sum::<u64>(), 9);
    }
}

/// 64 incompressible literal pages at scattered indices, at every level,
/// fit a buffer of exactly `ENCODED_BATCH_LEN_MAX` bytes.
#[test]
fn full_batch_of_incompressible_literals_fits() {
    for level in [0, 1, 3, -1, -5] {
        let cfg = EncoderConfig {
            zstd_level: level,
            delta_cache_pages: 0,
            dup_index_entries: 0,
        };
        let pages = 3 * BATCH_PAYLOAD_PAGES_MAX;
        let mut enc = Encoder::new(cfg, pages as u64).expect("valid");
        let mut src = vec![0u8; pages * PAGE_SIZE];
        for k in 0..BATCH_PAYLOAD_PAGES_MAX {
            // Non-consecutive and not increasing: one record each.
            let i = (k * 3 + 7 * (k % 2)) % pages;
            let p = random_page(100 + k as u64);
            assert_eq!(enc.push(i as u64, &p), Ok(EncodingKind::Zstd));
            src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(&p);
        }
        assert!(!enc.has_room());
        let mut out = vec![0u8; ENCODED_BATCH_LEN_MAX];
        let report = enc.finish(&mut out).expect("fits the bound");
        assert!(report.len <= ENCODED_BATCH_LEN_MAX);
        // Stored raw, except as a stream piece (of about raw size).
        let kind = if level >= STREAM_LEVEL_MIN {
            EncodingKind::Zstd
        } else {
            EncodingKind::Raw
        };
        assert_eq!(
            report.pages_by_kind[slot(kind)],
            BATCH_PAYLOAD_PAGES_MAX as u64
        );
        let mut dst = vec![0u8; pages * PAGE_SIZE];
        let n = Decoder::new()
            .decode_batch(&out[..report.len], &mut dst, |_, _| {})
            .expect("decodes");
        assert_eq!(n, BATCH_PAYLOAD_PAGES_MAX);
        assert!(dst == src, "level {level}");
    }
}

/// Far duplicates at changing distances, with a literal now and then (a
/// record each), fill the control section before the batch covers
/// `BATCH_PAGES_MAX` pages; the batch still fits `ENCODED_BATCH_LEN_MAX`
/// and decodes.
#[test]
fn control_bound_closes_a_batch_of_alternating_records() {
    let pages = 8 * BATCH_PAGES_MAX;
    // A baseline of distinct pages in the upper half: far duplicate
    // targets, a three-byte distance each.
    let mut baseline = vec![0u8; pages * PAGE_SIZE];
    for p in pages / 2..pages {
        baseline[p * PAGE_SIZE..(p + 1) * PAGE_SIZE].copy_from_slice(&random_page(p as u64));
    }
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, pages, Some(baseline));
    let mut i = 0;
    while pair.batches == 0 {
        if i % 17 == 0 {
            pair.send(i, &random_page(1 << 20 | i as u64));
        } else {
            // A new distance each time: no runs, five bytes a record.
            let far = random_page((pages - 1 - i) as u64);
            assert_eq!(pair.send(i, &far), EncodingKind::Duplicate);
        }
        i += 1;
    }
    assert!(pair.last.len <= ENCODED_BATCH_LEN_MAX);
    let covered: u64 = pair.last.pages_by_kind.iter().sum();
    assert!(
        covered < BATCH_PAGES_MAX as u64,
        "{covered} pages: the control bound should close the batch first"
    );
}

/// 64 zero pages (pushed as content or with `push_zero`) are one record,
/// a batch of fewer than 32 bytes.
#[test]
fn zero_pages_are_one_record() {
    let pages = 2 * BATCH_PAGES_MAX;
    for by_content in [false, true] {
        let mut pair = Pair::new(EncoderConfig::DEFAULTS, pages, None);
        for i in 0..BATCH_PAGES_MAX {
            if by_content {
                pair.send(i + 3, &ZERO_PAGE);
            } else {
                pair.send_zero(i + 3);
            }
        }
        // The last page a batch covers finished it: one record (index
        // delta, tag, a two-byte run).
        assert_eq!(pair.batches, 1);
        assert!(pair.last.len < 32, "{} bytes", pair.last.len);
        assert_eq!(trailer(&pair.last_batch).control_len, 4);
    }
}

/// Consecutive literals and consecutive duplicates with the same distance
/// are one record each.
#[test]
fn literal_and_duplicate_runs_are_one_record() {
    let pages = 2 * BATCH_PAGES_MAX;
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, pages, None);
    for i in 0..32 {
        pair.send(i, &random_page(200 + i as u64));
    }
    pair.flush();
    // index delta, tag, run: one record of literals.
    assert_eq!(trailer(&pair.last_batch).control_len, 3);
    for i in 0..32 {
        let p = pair.page(i).to_vec();
        assert_eq!(pair.send(40 + i, &p), EncodingKind::Duplicate);
    }
    pair.flush();
    // index delta, tag, distance (-40), run.
    assert_eq!(trailer(&pair.last_batch).control_len, 4);
    assert!(pair.last.len < 32, "{} bytes", pair.last.len);
}

/// Pages pushed at repeated and unordered indices in one batch decode in
/// push order, each reported with the content it had then.
#[test]
fn repeated_and_unordered_indices_in_one_batch() {
    for level in [0, 1] {
        let cfg = EncoderConfig {
            zstd_level: level,
            ..EncoderConfig::DEFAULTS
        };
        let mut pair = Pair::new(cfg, 8, None);
        let a = random_page(20);
        let mut a2 = a.clone();
        a2[100] ^= 0x40;
        let mut a3 = a2.clone();
        a3.rotate_left(17);
        pair.send(5, &a);
        pair.send(2, &text_page());
        pair.send(5, &a2);
        pair.send(0, &a2);
        pair.send(5, &a3);
        pair.send(2, &ZERO_PAGE);
        pair.send(7, &a3);
        pair.send(6, &a2);
        pair.send_zero(5);
        pair.send(5, &a);
        assert_eq!(pair.batches, 0);
        pair.flush();
        assert_eq!(pair.batches, 1);
    }
}

/// Changing the level between batches, and in the middle of one, needs no
/// notice to the decoder.
#[test]
fn level_changes_between_batches() {
    let mut pair = Pair::new(EncoderConfig::DEFAULTS, 8, None);
    let mut rng = ChaCha8Rng::seed_from_u64(30);
    // Streamed levels (3, 5, 6) interleaved with frame-per-section ones: a
    // stream's frame continues across them, and ends on a level change.
    for (round, level) in [1, 0, 3, -1, 3, 6, 5, 0, 1, 5].into_iter().enumerate() {
        if round % 2 == 0 {
            pair.flush();
        }
        pair.enc.set_level(level).expect("valid level");
        for i in 0..8 {
            let mut p = pair.page(i).to_vec();
            match (i + round) % 4 {
                0 => p.copy_from_slice(&text_page()),
                1 => {
                    let at = rng.gen_range(0..PAGE_SIZE);
                    p[at] = p[at].wrapping_add(1);
                }
                2 => p.rotate_left(rng.gen_range(1..64)),
                _ => rng.fill_bytes(&mut p),
            }
            pair.send(i, &p);
        }
    }
    pair.flush();
}

/// How a decode may leave `before` (a copy of it decoded into): pages not
/// reported are unchanged, reported ones hold their last reported content;
/// an accepted batch reported each of its pages; a structural rejection
/// (found before any page is written) changed nothing.
fn check_decode(dec: &mut Decoder, batch: &[u8], before: &[u8]) -> Result<usize, CodecError> {
    let pages = before.len() / PAGE_SIZE;
    let mut mem = before.to_vec();
    let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
    let result = dec.decode_batch(batch, &mut mem, |i, content| {
        assert!(i < pages as u64, "reported page {i} beyond the image");
        assert_eq!(content.len(), PAGE_SIZE);
        seen.push((i, content.to_vec()));
    });
    for p in 0..pages {
        let now = &mem[p * PAGE_SIZE..(p + 1) * PAGE_SIZE];
        match seen.iter().rev().find(|(i, _)| *i == p as u64) {
            Some((_, content)) => assert!(now == &content[..], "page {p} differs from its report"),
            None => assert!(
                now == &before[p * PAGE_SIZE..(p + 1) * PAGE_SIZE],
                "page {p} changed without a report ({result:?})"
            ),
        }
    }
    match &result {
        Ok(n) => {
            assert_eq!(*n, seen.len());
            assert!((1..=BATCH_PAGES_MAX).contains(n));
        }
        // Found in pass 2 (a token stream or prefix frame): earlier pages
        // of the batch may be written, as checked above.
        Err(
            CodecError::DeltaTokens { .. }
            | CodecError::Zstd { .. }
            | CodecError::ZstdOutputLength { .. },
        ) => {}
        Err(e) => {
            assert!(seen.is_empty(), "pages reported before {e:?}");
            assert!(mem == before, "memory changed on {e:?}");
        }
    }
    result
}

/// Valid batches over a 4-page image, each with the image before it: every
/// record kind, runs, compressed and raw sections.
fn valid_batches() -> Vec<ValidBatch> {
    const PAGES: usize = 4;
    let mut corpus = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(0xba7c4);
    for level in [0, 1, 3, -1] {
        let cfg = EncoderConfig {
            zstd_level: level,
            delta_cache_pages: 4,
            dup_index_entries: 8,
        };
        let mut pair = Pair::new(cfg, PAGES, None);
        let mut history = Vec::new();
        for _ in 0..6 {
            let before = pair.dst.clone();
            for _ in 0..rng.gen_range(1..12) {
                let i = rng.gen_range(0..PAGES);
                let mut p = pair.page(i).to_vec();
                match rng.gen_range(0..7) {
                    0 => p.fill(0),
                    1 => rng.fill_bytes(&mut p),
                    2 => p.copy_from_slice(&text_page()),
                    3 => {
                        let from = rng.gen_range(0..PAGES);
                        p.copy_from_slice(pair.page(from));
                    }
                    4 => p.rotate_left(rng.gen_range(1..300)),
                    5 => {
                        for _ in 0..rng.gen_range(1..8) {
                            let at = rng.gen_range(0..PAGE_SIZE);
                            p[at] = rng.gen();
                        }
                    }
                    _ => {
                        pair.send_zero(i);
                        continue;
                    }
                }
                pair.send(i, &p);
            }
            pair.flush();
            corpus.push(ValidBatch {
                history: history.clone(),
                batch: pair.last_batch.clone(),
                before,
            });
            history.push(pair.last_batch.clone());
        }
    }
    corpus
}

/// A batch an encoder wrote, the batches it wrote before (a decoder must
/// have seen them: compressed sections continue zstd streams), and the
/// destination image before it.
struct ValidBatch {
    history: Vec<Vec<u8>>,
    batch: Vec<u8>,
    before: Vec<u8>,
}

impl ValidBatch {
    /// A fresh decoder that has decoded this batch's history.
    fn decoder(&self) -> Decoder {
        let mut dec = Decoder::new();
        let mut mem = vec![0u8; self.before.len()];
        for batch in &self.history {
            dec.decode_batch(batch, &mut mem, |_, _| {})
                .expect("history decodes");
        }
        assert!(mem == self.before, "history rebuilds the image");
        dec
    }
}

/// Random bytes, shorter than `max`, that start like a zstd frame at times.
fn random_section(rng: &mut ChaCha8Rng, max: usize) -> Vec<u8> {
    let mut s = vec![0u8; rng.gen_range(0..max)];
    rng.fill_bytes(&mut s);
    if s.len() > 8 && rng.gen_bool(0.3) {
        s[..4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
    }
    s
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let low = u8::try_from(v & 0x7f).expect("7 bits");
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Appends a batch of plausible records, sections that mostly match them
/// and a trailer that mostly matches the sections, each with some damage
/// at times, so that random input gets past the first checks.
fn plausible_batch(rng: &mut ChaCha8Rng, buf: &mut Vec<u8>) {
    let (mut control, mut tokens, mut prefix, mut literals) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pages = 0u64;
    for _ in 0..rng.gen_range(1..6) {
        // Small index delta (zigzag: either sign), tag 0..=6.
        push_varint(&mut control, rng.gen_range(0..8));
        let tag = rng.gen_range(0..7u8);
        control.push(tag);
        let run = rng.gen_range(0..3u64);
        match tag {
            // Duplicate: a small distance.
            2 => push_varint(&mut control, rng.gen_range(0..8)),
            // Delta: a token stream, valid or not.
            3 => {
                let t = if rng.gen_bool(0.5) {
                    let at = rng.gen_range(0..PAGE_SIZE);
                    let mut t = Vec::new();
                    push_varint(&mut t, at as u64);
                    t.push(1);
                    t.push(rng.gen());
                    let rest = (PAGE_SIZE - at - 1) as u64;
                    if rest > 0 {
                        push_varint(&mut t, rest);
                        t.push(0);
                    }
                    t
                } else {
                    let mut t = random_section(rng, 12);
                    t.push(1);
                    t
                };
                push_varint(&mut control, t.len() as u64);
                tokens.extend_from_slice(&t);
            }
            // Prefix: bytes that are no valid frame, mostly.
            4 => {
                let mut f = random_section(rng, 24);
                f.push(0);
                push_varint(&mut control, f.len() as u64);
                prefix.extend_from_slice(&f);
            }
            _ => {}
        }
        let covered = match tag {
            1 | 2 | 5 => {
                push_varint(&mut control, run);
                run + 1
            }
            _ => 1,
        };
        if tag == 5 {
            let len = literals.len() + PAGE_SIZE * usize::try_from(covered).expect("small");
            literals.resize(len, rng.gen());
        }
        pages += covered;
    }
    let page_count = if rng.gen_bool(0.8) {
        pages
    } else {
        rng.gen_range(0..70)
    };
    if rng.gen_bool(0.1) {
        let at = rng.gen_range(0..control.len());
        control[at] = rng.gen();
    }
    let flags: u8 = if rng.gen_bool(0.9) {
        0
    } else {
        rng.gen_range(0..16)
    };
    let first_index = rng.gen_range(0..6u64);
    for s in [&control, &tokens, &prefix, &literals] {
        buf.extend_from_slice(s);
    }
    let mut t = Vec::new();
    for v in [
        page_count,
        first_index,
        control.len() as u64,
        tokens.len() as u64,
        prefix.len() as u64,
        literals.len() as u64,
    ] {
        push_varint(&mut t, v);
    }
    t.push(flags);
    t.push(BATCH_FORMAT);
    t.push(u8::try_from(t.len()).expect("short trailer"));
    buf.extend_from_slice(&t);
}

/// Random bytes and mutated valid batches never panic the decoder; errors
/// change memory only as `check_decode` allows.
#[test]
fn decoder_never_panics_on_random_input() {
    const PAGES: usize = 4;
    let mut rng = ChaCha8Rng::seed_from_u64(0xdec0de);
    let mut dec = Decoder::new();
    let image: Vec<u8> = (0..PAGES * PAGE_SIZE)
        .map(|i| u8::try_from((i / PAGE_SIZE * 37 + i % 7) % 256).expect("< 256"))
        .collect();
    let mut buf = Vec::with_capacity(3 * PAGE_SIZE);
    let mut accepted = 0;
    for _ in 0..100_000 {
        buf.clear();
        if rng.gen_bool(0.5) {
            // Bytes with no structure.
            let len = match rng.gen_range(0..3) {
                0 => rng.gen_range(0..16),
                1 => rng.gen_range(8..80),
                _ => rng.gen_range(0..600),
            };
            buf.resize(len, 0);
            rng.fill_bytes(&mut buf);
        } else {
            plausible_batch(&mut rng, &mut buf);
        }
        if check_decode(&mut dec, &buf, &image).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted > 500, "{accepted} random batches accepted");

    // Mutations of valid batches.
    let corpus = valid_batches();
    for valid in &corpus {
        let n =
            check_decode(&mut valid.decoder(), &valid.batch, &valid.before).expect("valid batch");
        assert!(n > 0);
    }
    let mut structural = 0;
    for _ in 0..20_000 {
        let valid = &corpus[rng.gen_range(0..corpus.len())];
        let (batch, before) = (&valid.batch, &valid.before);
        let mut m = batch.clone();
        match rng.gen_range(0..7) {
            0 => {
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..m.len());
                    m[at] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 => {
                // A byte of the trailer or the section just before it.
                let at = m.len() - 1 - rng.gen_range(0..m.len().min(24));
                m[at] = rng.gen();
            }
            2 => m.truncate(rng.gen_range(0..m.len())),
            3 => {
                for _ in 0..rng.gen_range(1..16) {
                    m.push(rng.gen());
                }
            }
            4 => {
                let at = rng.gen_range(0..m.len());
                let end = (at + rng.gen_range(1..32)).min(m.len());
                m.drain(at..end);
            }
            5 => {
                let at = rng.gen_range(0..m.len());
                let extra: Vec<u8> = (0..rng.gen_range(1..8)).map(|_| rng.gen()).collect();
                m.splice(at..at, extra);
            }
            _ => {
                let at = rng.gen_range(0..m.len());
                m[at] = rng.gen();
            }
        }
        if let Err(e) = check_decode(&mut valid.decoder(), &m, before) {
            if !matches!(
                e,
                CodecError::DeltaTokens { .. }
                    | CodecError::Zstd { .. }
                    | CodecError::ZstdOutputLength { .. }
            ) {
                structural += 1;
            }
        }
    }
    assert!(structural > 1000, "{structural} structural rejections");
    // A decoder that rejected random input starts a new stream: it still
    // decodes a fresh encoder's first batch.
    for valid in corpus.iter().filter(|v| v.history.is_empty()) {
        check_decode(&mut dec, &valid.batch, &valid.before).expect("valid first batch");
    }
}

/// `decode_batch_sparse` leaves a zero page it is told is already zero
/// untouched (here a page of 0xaa stands in for "not zero", to show the
/// decoder did not write it), writes the other zero pages, and tells
/// `on_page` which pages are zero without handing it their memory.
#[test]
fn a_known_zero_page_is_not_written() {
    let cfg = EncoderConfig {
        zstd_level: 1,
        delta_cache_pages: 4,
        dup_index_entries: 4,
    };
    let mut encoder = Encoder::new(cfg, 4).expect("encoder");
    let data = text_page();
    for (index, page) in [&ZERO_PAGE[..], &data, &ZERO_PAGE[..], &ZERO_PAGE[..]]
        .into_iter()
        .enumerate()
    {
        encoder.push(index as u64, page).expect("push");
    }
    let mut batch = vec![0u8; ENCODED_BATCH_LEN_MAX];
    let report = encoder.finish(&mut batch).expect("finish");
    let mut memory = vec![0xaau8; 4 * PAGE_SIZE];
    let mut told = Vec::new();
    Decoder::new()
        .decode_batch_sparse(
            &batch[..report.len],
            &mut memory,
            4,
            |index| index,
            |index| index == 0,
            |index, content| told.push((index, content == PageContent::Zero)),
        )
        .expect("decodes");
    assert!(
        memory[..PAGE_SIZE].iter().all(|&b| b == 0xaa),
        "page 0 untouched"
    );
    assert_eq!(&memory[PAGE_SIZE..2 * PAGE_SIZE], &data[..]);
    assert!(
        memory[2 * PAGE_SIZE..].iter().all(|&b| b == 0),
        "pages 2-3 zeroed"
    );
    told.sort_unstable();
    assert_eq!(told, [(0, true), (1, false), (2, true), (3, true)]);
}
