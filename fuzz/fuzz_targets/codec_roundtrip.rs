//! Fuzz target: the page codec's encoder and decoder as a pair.
//!
//! The input is a configuration byte then a sequence of operations on an
//! 8-page source image: push a page derived from the input, push a zero
//! page, finish the batch, change the zstd level. Every finished batch is
//! decoded into the destination image, which must then equal the source,
//! with each pushed page reported once, in order, with its content; the
//! batch's report must add up.

#![no_main]

use dwcp_codec::{
    Decoder, Encoder, EncoderConfig, EncodingKind, BATCH_PAGES_MAX, BATCH_PAYLOAD_PAGES_MAX,
    CONTROL_LEN_MAX, ENCODED_BATCH_LEN_MAX, PAGE_SIZE,
};
use libfuzzer_sys::fuzz_target;

const PAGES: usize = 8;
const LEVELS: [i32; 8] = [0, 1, 3, -1, 2, -5, 6, 0];

/// The input, read byte by byte; zeros once it is used up.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn index(&mut self) -> usize {
        usize::from(self.byte()) % PAGES
    }
}

struct Pair {
    enc: Encoder,
    dec: Decoder,
    src: Vec<u8>,
    dst: Vec<u8>,
    out: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    pushed: [u64; 5],
}

impl Pair {
    fn page(&self, i: usize) -> &[u8] {
        &self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
    }

    fn pushed_one(&mut self, i: usize, page: &[u8], kind: EncodingKind) {
        assert_eq!(self.enc.last_page(), page, "last_page of page {i}");
        assert_ne!(kind, EncodingKind::Raw);
        self.src[i * PAGE_SIZE..(i + 1) * PAGE_SIZE].copy_from_slice(page);
        self.pending.push((i as u64, page.to_vec()));
        self.pushed[kind.slot()] += 1;
        assert_eq!(self.enc.batch_pages(), self.pending.len());
        if !self.enc.has_room() {
            // Full by pages covered, by payload (pages or bytes), or by control records.
            let payload =
                self.pushed[EncodingKind::Zstd.slot()] + self.pushed[EncodingKind::Delta.slot()];
            assert!(
                self.pending.len() == BATCH_PAGES_MAX
                    || payload + 1 >= BATCH_PAYLOAD_PAGES_MAX as u64
                    || self.pending.len() >= CONTROL_LEN_MAX / 24
            );
            self.flush();
        }
    }

    fn push(&mut self, i: usize, page: &[u8]) {
        let kind = self.enc.push(i as u64, page).expect("push");
        if kind == EncodingKind::Zero {
            assert!(page.iter().all(|&b| b == 0), "non-zero page as zero");
        }
        self.pushed_one(i, page, kind);
    }

    fn push_zero(&mut self, i: usize) {
        self.enc.push_zero(i as u64).expect("push_zero");
        self.pushed_one(i, &[0u8; PAGE_SIZE], EncodingKind::Zero);
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let report = self.enc.finish(&mut self.out).expect("finish");
        assert!(report.len <= ENCODED_BATCH_LEN_MAX);
        assert_eq!(
            report.bytes_by_kind.iter().sum::<u64>() + report.control_bytes,
            report.len as u64,
            "{report:?}"
        );
        assert_eq!(
            report.pages_by_kind.iter().sum::<u64>(),
            self.pending.len() as u64
        );
        for kind in [
            EncodingKind::Zero,
            EncodingKind::Duplicate,
            EncodingKind::Delta,
        ] {
            assert_eq!(
                report.pages_by_kind[kind.slot()],
                self.pushed[kind.slot()],
                "{kind:?}"
            );
        }
        assert_eq!(
            report.pages_by_kind[EncodingKind::Zstd.slot()]
                + report.pages_by_kind[EncodingKind::Raw.slot()],
            self.pushed[EncodingKind::Zstd.slot()]
        );
        let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
        let n = self
            .dec
            .decode_batch(&self.out[..report.len], &mut self.dst, |i, content| {
                seen.push((i, content.to_vec()));
            })
            .expect("own batch decodes");
        assert_eq!(n, self.pending.len());
        assert!(
            seen == self.pending,
            "pages reported differ from pages pushed"
        );
        assert!(self.dst == self.src, "destination differs from source");
        self.pending.clear();
        self.pushed = [0; 5];
        assert_eq!(self.enc.batch_pages(), 0);
    }
}

/// A page derived from the input, possibly from the image's current pages.
fn derive(pair: &Pair, i: usize, input: &mut Input<'_>) -> Vec<u8> {
    let mut p = pair.page(i).to_vec();
    match input.byte() % 8 {
        0 => {
            let from = input.index();
            p.copy_from_slice(pair.page(from));
        }
        1 => p.fill(input.byte()),
        2 => {
            for _ in 0..1 + input.byte() % 16 {
                let pos = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
                p[pos % PAGE_SIZE] = input.byte();
            }
        }
        3 => {
            let by = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
            p.rotate_right(by % PAGE_SIZE);
        }
        4 => {
            // Incompressible: xorshift from a seed.
            let mut x = u64::from(input.byte()) << 32 | u64::from(input.byte()) | 1;
            for chunk in p.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
        }
        5 => {
            // The input's next bytes, tiled.
            let n = 1 + usize::from(input.byte() % 64);
            let tile = input.take(n).to_vec();
            if !tile.is_empty() {
                for (k, b) in p.iter_mut().enumerate() {
                    *b = tile[k % tile.len()];
                }
            }
        }
        6 => {
            for (k, b) in p.iter_mut().enumerate() {
                *b = b"guest page text "[k % 16];
            }
        }
        _ => {
            let start = usize::from(u16::from_le_bytes([input.byte(), input.byte()])) % PAGE_SIZE;
            let len = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
            let end = (start + len).min(PAGE_SIZE);
            p[start..end].fill(0);
        }
    }
    p
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let c = input.byte();
    let config = EncoderConfig {
        zstd_level: LEVELS[usize::from(c & 7)],
        delta_cache_pages: [0, 1, 4, 64][usize::from((c >> 3) & 3)],
        dup_index_entries: [0, 2, 1000, 3][usize::from((c >> 5) & 3)],
    };
    let mut enc = Encoder::new(config, PAGES as u64).expect("valid config");
    let mut image = vec![0u8; PAGES * PAGE_SIZE];
    if c & 0x80 != 0 {
        // A baseline the destination already holds.
        for (k, p) in image.chunks_exact_mut(PAGE_SIZE).enumerate() {
            let b = input.byte();
            if !b.is_multiple_of(3) {
                for (j, x) in p.iter_mut().enumerate() {
                    *x = b.wrapping_mul(u8::try_from(j % 251).expect("< 251"))
                        ^ u8::try_from(k).expect("< 8");
                }
            }
        }
        enc.index_baseline(&image).expect("baseline size");
    }
    let mut pair = Pair {
        enc,
        dec: Decoder::new(),
        src: image.clone(),
        dst: image,
        out: vec![0u8; ENCODED_BATCH_LEN_MAX],
        pending: Vec::new(),
        pushed: [0; 5],
    };
    let mut ops = 0;
    while !input.done() && ops < 2000 {
        ops += 1;
        match input.byte() % 8 {
            0..=2 => {
                let i = input.index();
                let p = derive(&pair, i, &mut input);
                pair.push(i, &p);
            }
            3 => {
                let i = input.index();
                pair.push_zero(i);
            }
            4 => pair.flush(),
            5 => {
                let level = LEVELS[usize::from(input.byte() % 8)];
                pair.enc.set_level(level).expect("valid level");
            }
            6 => {
                // A run: consecutive pages, each a copy of the page at the
                // same distance or each derived the same way.
                let (from, to) = (input.index(), input.index());
                let n = 1 + usize::from(input.byte() % 8);
                let copy = input.byte().is_multiple_of(2);
                for k in 0..n {
                    if to + k >= PAGES || from + k >= PAGES {
                        break;
                    }
                    let p = if copy {
                        pair.page(from + k).to_vec()
                    } else {
                        derive(&pair, to + k, &mut input)
                    };
                    pair.push(to + k, &p);
                }
            }
            _ => {
                let i = input.index();
                pair.push(i, &[0u8; PAGE_SIZE]);
            }
        }
    }
    pair.flush();
});
