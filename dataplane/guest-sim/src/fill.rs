//! Initial memory content: pure functions over byte slices that take a seeded
//! rng, so the same seed (and the same file source) gives the same memory.
//!
//! The realistic mix imitates what a real Linux guest's RAM looks like to a
//! migration source (see docs/guest-sim.md): about 45% zero pages, 15%
//! duplicate pages (copies of a few templates, 0xCC poison among them), 25%
//! page-cache-like copies of real files and 15% random (incompressible)
//! pages, laid out in contiguous runs of random length.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

/// The page size the simulator works in (and the migration source copies).
pub const PAGE: usize = 4096;

/// How to initialise the memory (`--fill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FillMode {
    /// The realistic mix of zero, duplicate, file and random pages.
    Realistic,
    /// Random bytes everywhere (the incompressible worst case).
    Random,
    /// All zero (a fresh, never-touched guest).
    Zero,
    /// Leave the existing content of the file alone.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zero,
    Duplicate,
    File,
    Random,
}

/// The realistic mix in percent of pages, with the largest run (as a power
/// of two in pages) of each kind: zero areas are big, duplicates small.
const MIX: [(Kind, usize, u32); 4] = [
    (Kind::Zero, 45, 12),
    (Kind::Duplicate, 15, 6),
    (Kind::File, 25, 8),
    (Kind::Random, 15, 7),
];

/// Pages of each kind for a memory of `pages` pages (same order as `MIX`).
fn page_targets(pages: usize) -> [usize; 4] {
    let mut t = [0usize; 4];
    for (slot, (_, pct, _)) in t.iter_mut().zip(MIX.iter()) {
        *slot = pages * pct / 100;
    }
    let assigned: usize = t.iter().sum();
    t[0] += pages - assigned;
    t
}

/// How many bytes of real files a realistic fill of `len` bytes can use: the
/// cap to give a [`FileWalker`].
pub fn file_bytes_needed(len: usize) -> u64 {
    let pages = page_targets(len / PAGE)[2];
    (pages * PAGE) as u64
}

/// Mean run length in pages when the run length is drawn as
/// `uniform(1..=2^e)` with `e` uniform in `0..=max_exp`.
fn mean_run(max_exp: u32) -> f64 {
    let sum: f64 = (0..=max_exp)
        .map(|e| (f64::from(1u32 << e) + 1.0) / 2.0)
        .sum();
    sum / f64::from(max_exp + 1)
}

fn run_length(max_exp: u32, rng: &mut ChaCha8Rng) -> usize {
    let e = rng.gen_range(0..=max_exp);
    rng.gen_range(1..=(1usize << e))
}

/// Fills `mem` with the realistic mix. Reproducible from the rng's seed and
/// the bytes `file_source` yields.
///
/// Zero runs are not written: `mem` must start zeroed (a freshly created or
/// truncated file is). Leaving those pages untouched keeps them unallocated
/// in tmpfs, like a real guest's never-touched RAM. A tail shorter than a
/// page is left alone.
pub fn fill_realistic(
    mem: &mut [u8],
    rng: &mut ChaCha8Rng,
    file_source: &mut impl Iterator<Item = Vec<u8>>,
) {
    let pages = mem.len() / PAGE;
    let mut remaining = page_targets(pages);
    let means: Vec<f64> = MIX.iter().map(|&(_, _, e)| mean_run(e)).collect();
    let templates = Templates::new(rng);
    let mut files = FileCursor::new(file_source);
    let mut page = 0;
    while page < pages {
        // Pick a kind in proportion to the runs it still has to place, so
        // every kind is spread over the whole memory (not bunched at the end).
        let weights: Vec<f64> = remaining
            .iter()
            .zip(&means)
            .map(|(&r, &m)| r as f64 / m)
            .collect();
        let total: f64 = weights.iter().sum();
        let mut x = rng.gen::<f64>() * total;
        let mut k = 0;
        for (i, w) in weights.iter().enumerate() {
            if remaining[i] == 0 {
                continue;
            }
            k = i;
            if x < *w {
                break;
            }
            x -= w;
        }
        let (kind, _, max_exp) = MIX[k];
        let len = run_length(max_exp, rng).min(remaining[k]).max(1);
        remaining[k] -= len;
        let run = &mut mem[page * PAGE..(page + len) * PAGE];
        match kind {
            Kind::Zero => {}
            Kind::Duplicate => templates.fill_run(run, rng),
            Kind::File => {
                for p in run.chunks_exact_mut(PAGE) {
                    files.next_page(p, rng);
                }
            }
            Kind::Random => rng.fill_bytes(run),
        }
        page += len;
    }
}

/// Fills `mem` with random bytes.
pub fn fill_random(mem: &mut [u8], rng: &mut ChaCha8Rng) {
    for chunk in mem.chunks_mut(1 << 20) {
        rng.fill_bytes(chunk);
    }
}

/// Whether a slice is all zero bytes.
pub fn is_zero(buf: &[u8]) -> bool {
    let (head, words, tail) = {
        // SAFETY: every bit pattern is a valid u64, and align_to only
        // reinterprets the correctly aligned middle part of the slice.
        unsafe { buf.align_to::<u64>() }
    };
    head.iter().all(|&b| b == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// A few template pages that duplicate runs copy, like the identical pages
/// of a real guest: freed memory poisoned with 0xCC (freed initramfs) or 0x6B
/// (slab poison), arrays of one record, small headers followed by zeros, and
/// a few identical data pages.
struct Templates {
    pages: Vec<Vec<u8>>,
}

impl Templates {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        let mut pages = vec![vec![0xCC; PAGE], vec![0x6B; PAGE], vec![0xFF; PAGE]];
        for _ in 0..3 {
            // An array of one 64-byte record (a table of identical structs).
            let mut rec = [0u8; 64];
            rng.fill_bytes(&mut rec[..24]);
            pages.push(rec.iter().copied().cycle().take(PAGE).collect());
        }
        for _ in 0..3 {
            // A short header then zeros (a mostly empty buffer).
            let mut p = vec![0u8; PAGE];
            let n = rng.gen_range(16..=512);
            rng.fill_bytes(&mut p[..n]);
            pages.push(p);
        }
        for _ in 0..2 {
            let mut p = vec![0u8; PAGE];
            text_like(&mut p, rng);
            pages.push(p);
        }
        for _ in 0..2 {
            let mut p = vec![0u8; PAGE];
            rng.fill_bytes(&mut p);
            pages.push(p);
        }
        Templates { pages }
    }

    /// 0xCC poison is the most common duplicate; the rest share equally.
    fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        if rng.gen_bool(0.4) {
            0
        } else {
            rng.gen_range(1..self.pages.len())
        }
    }

    fn fill_run(&self, run: &mut [u8], rng: &mut ChaCha8Rng) {
        let base = self.pick(rng);
        for p in run.chunks_exact_mut(PAGE) {
            let t = if rng.gen_bool(0.75) {
                base
            } else {
                self.pick(rng)
            };
            p.copy_from_slice(&self.pages[t]);
        }
    }
}

/// Text-like pseudo random content: words, spaces and newlines.
pub fn text_like(page: &mut [u8], rng: &mut ChaCha8Rng) {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "for",
        "if",
        "else",
        "return",
        "static",
        "const",
        "int",
        "void",
        "char",
        "struct",
        "#include",
        "#define",
        "error",
        "file",
        "path",
        "user",
        "/usr/lib",
        "/usr/share",
        "data",
        "name",
        "type",
        "size",
        "0",
        "1",
        "-1",
        "true",
        "false",
        "function",
        "self",
        "new",
        "local",
        "config",
        "value",
        "=",
        "{",
        "}",
        "(",
        ")",
        ";",
        "#",
        "license",
        "version",
        "GNU",
        "General",
        "Public",
        "Software",
        "Foundation",
        "copyright",
        "debian",
        "linux",
        "kernel",
        "module",
        "package",
        "description:",
        "depends:",
        "0x0",
    ];
    let mut i = 0;
    let mut words_on_line = 0;
    while i < page.len() {
        let w = WORDS[rng.gen_range(0..WORDS.len())].as_bytes();
        let n = w.len().min(page.len() - i);
        page[i..i + n].copy_from_slice(&w[..n]);
        i += n;
        if i < page.len() {
            words_on_line += 1;
            page[i] = if words_on_line >= rng.gen_range(6..14) {
                words_on_line = 0;
                b'\n'
            } else {
                b' '
            };
            i += 1;
        }
    }
}

/// Hands out file content page by page, like the page cache: a file's last
/// partial page is padded with zeros. When the source runs dry, pages get
/// text-like pseudo random content instead.
struct FileCursor<'a, I: Iterator<Item = Vec<u8>>> {
    source: &'a mut I,
    cur: Vec<u8>,
    pos: usize,
    exhausted: bool,
}

impl<'a, I: Iterator<Item = Vec<u8>>> FileCursor<'a, I> {
    fn new(source: &'a mut I) -> Self {
        FileCursor {
            source,
            cur: Vec::new(),
            pos: 0,
            exhausted: false,
        }
    }

    fn next_page(&mut self, page: &mut [u8], rng: &mut ChaCha8Rng) {
        let mut empties = 0;
        while self.pos >= self.cur.len() && !self.exhausted {
            match self.source.next() {
                Some(v) if !v.is_empty() => {
                    self.cur = v;
                    self.pos = 0;
                }
                // A source yielding only empty buffers counts as dry.
                Some(_) if empties < 1000 => empties += 1,
                _ => self.exhausted = true,
            }
        }
        if self.pos < self.cur.len() {
            let n = PAGE.min(self.cur.len() - self.pos);
            page[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
            page[n..].fill(0);
            self.pos += n;
        } else {
            text_like(page, rng);
        }
    }
}

/// The directories a realistic fill reads files from.
pub const DEFAULT_FILE_ROOTS: [&str; 3] = ["/usr/share", "/usr/lib", "/usr/bin"];

/// At most this much of any one file is used, for variety.
const PER_FILE_CAP: u64 = 1 << 20;

/// Walks directory trees depth first in name order and yields the content of
/// the regular files it can read (symlinks and unreadable files skipped),
/// until the page-rounded total reaches the cap.
#[derive(Debug)]
pub struct FileWalker {
    stack: Vec<PathBuf>,
    remaining: u64,
}

impl FileWalker {
    pub fn new(roots: &[&Path], cap: u64) -> Self {
        FileWalker {
            stack: roots.iter().rev().map(|p| p.to_path_buf()).collect(),
            remaining: cap,
        }
    }

    fn read_file(path: &Path, want: u64) -> Option<Vec<u8>> {
        let f = File::open(path).ok()?;
        let mut buf = Vec::new();
        f.take(want).read_to_end(&mut buf).ok()?;
        (!buf.is_empty()).then_some(buf)
    }
}

impl Iterator for FileWalker {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        while self.remaining > 0 {
            let path = self.stack.pop()?;
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if let Ok(rd) = fs::read_dir(&path) {
                    let mut entries: Vec<PathBuf> =
                        rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    entries.sort();
                    self.stack.extend(entries.into_iter().rev());
                }
                continue;
            }
            if !meta.is_file() || meta.len() == 0 {
                continue;
            }
            let want = meta.len().min(PER_FILE_CAP).min(self.remaining);
            if let Some(buf) = Self::read_file(&path, want) {
                let pages = (buf.len() as u64).div_ceil(PAGE as u64);
                self.remaining = self.remaining.saturating_sub(pages * PAGE as u64);
                return Some(buf);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    struct Census {
        pages: usize,
        zero: usize,
        /// Non-zero pages whose content also occurs elsewhere.
        duplicate: usize,
        poison: usize,
        distinct_nonzero: usize,
    }

    fn census(mem: &[u8]) -> Census {
        let mut counts: HashMap<&[u8], usize> = HashMap::new();
        let mut zero = 0;
        for p in mem.chunks_exact(PAGE) {
            if is_zero(p) {
                zero += 1;
            } else {
                *counts.entry(p).or_default() += 1;
            }
        }
        let duplicate = counts.values().filter(|&&c| c > 1).sum();
        let poison = counts.get(&[0xCCu8; PAGE][..]).copied().unwrap_or(0);
        Census {
            pages: mem.len() / PAGE,
            zero,
            duplicate,
            poison,
            distinct_nonzero: counts.len(),
        }
    }

    /// A deterministic stand-in for real files: text with zero padding.
    fn fake_files() -> impl Iterator<Item = Vec<u8>> {
        (0u32..).map(|i| {
            let line = format!("file {i}: some configuration text = value{i}\n");
            line.repeat(1 + (i as usize * 37) % 400).into_bytes()
        })
    }

    fn realistic(seed: u64, len: usize, files: &mut impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut mem = vec![0u8; len];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        fill_realistic(&mut mem, &mut rng, files);
        mem
    }

    #[test]
    fn realistic_proportions_64mib() {
        let mem = realistic(1, 64 << 20, &mut fake_files());
        let c = census(&mem);
        let zero_frac = c.zero as f64 / c.pages as f64;
        assert!(
            (0.35..=0.55).contains(&zero_frac),
            "zero fraction {zero_frac}"
        );
        let nonzero = c.pages - c.zero;
        let dup_frac = c.duplicate as f64 / nonzero as f64;
        assert!(dup_frac > 0.15, "duplicates {dup_frac} of non-zero pages");
        assert!(c.poison > c.pages / 50, "0xCC poison pages: {}", c.poison);
        // Not all random: many non-zero pages repeat, and some are text.
        assert!(c.distinct_nonzero < nonzero * 9 / 10);
        let texty = mem
            .chunks_exact(PAGE)
            .filter(|p| {
                p.iter()
                    .all(|&b| b == 0 || b.is_ascii_graphic() || b == b' ' || b == b'\n')
            })
            .count();
        assert!(texty > c.pages / 5, "text-like pages {texty}");
    }

    #[test]
    fn realistic_is_in_runs_not_alternation() {
        let mem = realistic(7, 16 << 20, &mut fake_files());
        let zero: Vec<bool> = mem.chunks_exact(PAGE).map(is_zero).collect();
        let changes = zero.windows(2).filter(|w| w[0] != w[1]).count();
        // Page-by-page alternation at 45% would change about every other page.
        assert!(changes < zero.len() / 8, "{changes} zero/non-zero changes");
    }

    #[test]
    fn realistic_is_reproducible_and_seed_dependent() {
        let a = realistic(3, 4 << 20, &mut fake_files());
        let b = realistic(3, 4 << 20, &mut fake_files());
        let c = realistic(4, 4 << 20, &mut fake_files());
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn realistic_without_files_falls_back_to_text() {
        let mem = realistic(1, 8 << 20, &mut std::iter::empty());
        let c = census(&mem);
        let zero_frac = c.zero as f64 / c.pages as f64;
        assert!(
            (0.35..=0.55).contains(&zero_frac),
            "zero fraction {zero_frac}"
        );
        let texty = mem
            .chunks_exact(PAGE)
            .filter(|p| !is_zero(p) && p.iter().all(|&b| b.is_ascii()))
            .count();
        assert!(texty > c.pages / 5);
    }

    #[test]
    fn file_pages_are_padded_like_page_cache() {
        let mut src = vec![vec![b'a'; 5000], vec![b'b'; 10]].into_iter();
        let mut cur = FileCursor::new(&mut src);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut p = vec![0xEEu8; PAGE];
        cur.next_page(&mut p, &mut rng);
        assert!(p.iter().all(|&b| b == b'a'));
        cur.next_page(&mut p, &mut rng);
        assert!(p[..904].iter().all(|&b| b == b'a') && is_zero(&p[904..]));
        cur.next_page(&mut p, &mut rng);
        assert!(p[..10].iter().all(|&b| b == b'b') && is_zero(&p[10..]));
    }

    #[test]
    fn random_fill_is_dense() {
        let mut mem = vec![0u8; 1 << 20];
        fill_random(&mut mem, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(census(&mem).zero, 0);
    }

    #[test]
    fn walker_respects_cap_and_skips_unreadable() {
        let dir = std::env::temp_dir().join(format!("guest-sim-walk-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).expect("create test dir");
        fs::write(dir.join("a"), vec![1u8; 10_000]).expect("write a");
        fs::write(dir.join("sub/b"), vec![2u8; 100]).expect("write b");
        fs::write(dir.join("c"), b"").expect("write c");
        let all: Vec<Vec<u8>> =
            FileWalker::new(&[&dir, Path::new("/nonexistent")], 1 << 20).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].len(), 10_000);
        assert_eq!(all[1], vec![2u8; 100]);
        let capped: Vec<Vec<u8>> = FileWalker::new(&[&dir], 4096).collect();
        assert_eq!(capped.len(), 1);
        assert_eq!(capped[0].len(), 4096);
        fs::remove_dir_all(&dir).expect("remove test dir");
    }

    #[test]
    fn zero_check() {
        let mut p = vec![0u8; PAGE + 3];
        assert!(is_zero(&p));
        assert!(is_zero(&p[1..]));
        p[PAGE + 2] = 1;
        assert!(!is_zero(&p[1..]));
    }
}
