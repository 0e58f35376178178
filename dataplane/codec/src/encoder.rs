//! Source side: chooses each page's encoding and writes encoded batches.
//!
//! # Call order
//!
//! [`Encoder::new`] once per migration (or per stream: see "Ordering"), then
//! [`Encoder::index_baseline`] if the destination starts from a known image;
//! then, per batch, [`Encoder::push`] / [`Encoder::push_zero`] for up to
//! [`BATCH_PAGES_MAX`] pages while [`Encoder::has_room`], and
//! [`Encoder::finish`] to write the batch into a buffer.
//!
//! # Ordering
//!
//! The encoder mirrors what the destination holds: every batch it finishes
//! must reach the destination's [`crate::Decoder`], in the order finished,
//! and the destination's pages must change only through those batches.
//!
//! # Allocation
//!
//! Everything is allocated in `new`: the content index at its full
//! capacity, the delta cache (zeroed; with [`CacheCommit::AtSetUp`] also
//! written once so the OS commits it here rather than while encoding,
//! unless the encoder starts at level 0, which never touches it), the zstd
//! context and the section buffers at their bounds. `push` and `finish`
//! allocate nothing (with [`CacheCommit::OnFirstUse`] the OS faults in a
//! cache slot's page the first time a page is cached in it).

use zstd_safe::{CCtx, CParameter};

use crate::cache::DeltaCache;
use crate::delta::encode_tokens;
use crate::format::{
    index_delta, push_varint, Tag, Trailer, BATCH_PAGES_MAX, BATCH_PAYLOAD_PAGES_MAX,
    BATCH_RAW_LEN_MAX, CONTROL_LEN_MAX, CONTROL_RECORD_MAX, FLAG_CONTROL_ZSTD, FLAG_LITERALS_ZSTD,
    FLAG_STREAMED, FLAG_TOKENS_ZSTD,
};
use crate::index::ContentIndex;
use crate::stream::{SectionEncoder, SectionKind, SECTION_OVERHEAD_MAX, STREAM_LEVEL_MIN};
use crate::{is_zero, CodecError, EncodingKind, DELTA_TOKENS_MAX, PAGE_SIZE, ZSTD_DICT_MAGIC};

/// Cheap first: a delta token stream of at most this many bytes is sent
/// without trying the prefix (dictionary) form, which runs zstd over the
/// page and could save at most these bytes, 1/64 of the page.
const GOOD_ENOUGH: usize = PAGE_SIZE / 64;

static ZERO_PAGE: [u8; PAGE_SIZE] = [0u8; PAGE_SIZE];

/// Encoder settings. Start from [`EncoderConfig::DEFAULTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// zstd level for the batch sections and prefix deltas. Negative levels
    /// are zstd's fast levels. 0 is the cheapest rung, for links faster
    /// than the encoder: zero pages are still detected, every other page
    /// goes as a raw literal (no duplicate or delta search, no zstd).
    /// [`Encoder::set_level`] changes it between batches.
    pub zstd_level: i32,
    /// Pages whose last-sent version the encoder keeps for deltas
    /// (4 KiB + 9 bytes each). 0 turns deltas off.
    pub delta_cache_pages: usize,
    /// Most contents in the duplicate index (about 32 bytes each).
    pub dup_index_entries: usize,
}

impl EncoderConfig {
    /// 1 GiB of delta cache, an index entry for every page of a 64 GiB guest,
    /// zstd level 1.
    pub const DEFAULTS: Self = Self {
        zstd_level: 1,
        delta_cache_pages: 1 << 18,
        dup_index_entries: 1 << 24,
    };

    /// Checks the settings.
    pub fn validate(self) -> Result<Self, CodecError> {
        if self.delta_cache_pages >= u32::MAX as usize {
            return Err(CodecError::Config {
                reason: "delta_cache_pages must be below 2^32 - 1",
            });
        }
        check_level(self.zstd_level)?;
        Ok(self)
    }
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self::DEFAULTS
    }
}

fn check_level(level: i32) -> Result<(), CodecError> {
    if level != 0 && !(zstd_safe::min_c_level()..=zstd_safe::max_c_level()).contains(&level) {
        return Err(CodecError::Config {
            reason: "zstd_level is outside zstd's range",
        });
    }
    Ok(())
}

/// When the delta cache's memory is committed (faulted in by the OS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheCommit {
    /// In [`Encoder::with_cache_commit`], one write per page (unless the
    /// encoder starts at level 0, which never touches the cache): set-up
    /// pays for every slot, and encoding never faults. What a benchmark of
    /// the encoder's steady state wants.
    AtSetUp,
    /// When a slot is first written while encoding: set-up pays nothing, and
    /// only the slots a migration uses (its non-zero pages) are ever faulted.
    /// What a migration wants, whose set-up is on its critical path.
    OnFirstUse,
}

/// What one finished batch holds, for per-kind accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Bytes written (the whole encoded batch).
    pub len: usize,
    /// Pages per kind, indexed by [`EncodingKind::slot`].
    pub pages_by_kind: [u64; 5],
    /// Payload bytes per kind, indexed by [`EncodingKind::slot`]: delta is
    /// the tokens section and prefix frames as stored, zstd or raw the
    /// literal section as stored. Zero and duplicate pages have no payload;
    /// their records are in `control_bytes`.
    pub bytes_by_kind: [u64; 5],
    /// Control section as stored plus the trailer.
    pub control_bytes: u64,
}

impl BatchReport {
    /// Adds `other` into `self` (running totals).
    pub fn add(&mut self, other: &BatchReport) {
        self.len += other.len;
        for (a, b) in self.pages_by_kind.iter_mut().zip(other.pages_by_kind) {
            *a += b;
        }
        for (a, b) in self.bytes_by_kind.iter_mut().zip(other.bytes_by_kind) {
            *a += b;
        }
        self.control_bytes += other.control_bytes;
    }
}

/// Source-side encoder; see the module docs for the call order.
pub struct Encoder {
    config: EncoderConfig,
    level: i32,
    page_count: u64,
    index: ContentIndex,
    cache: DeltaCache,
    /// One-shot context: prefix (dictionary) deltas, and sections below
    /// [`STREAM_LEVEL_MIN`].
    cctx: CCtx<'static>,
    control_stream: SectionEncoder,
    tokens_stream: SectionEncoder,
    literals_stream: SectionEncoder,
    xor: Box<[u8; PAGE_SIZE]>,
    prefix_frame: Box<[u8]>,
    control: Vec<u8>,
    tokens: Vec<u8>,
    prefix: Vec<u8>,
    /// `BATCH_PAYLOAD_PAGES_MAX + 1` page slots: literal pages in order,
    /// then the snapshot of the page being encoded.
    literals: Box<[u8]>,
    literal_pages: usize,
    /// Pages of the open batch with a payload (literal, delta or prefix).
    payload_pages: usize,
    /// Slot of the last pushed page's snapshot in `literals`; `None` after `push_zero`.
    last_slot: Option<usize>,
    batch_pages: usize,
    first_index: u64,
    expected_index: u64,
    pages_by_kind: [u64; 5],
    /// The record whose run is still open (its run length not yet written).
    run: Option<Run>,
}

/// A control record that later pages may extend.
#[derive(Debug, Clone, Copy)]
struct Run {
    tag: Tag,
    value: u64,
    pages: u64,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .field("level", &self.level)
            .field("page_count", &self.page_count)
            .field("batch_pages", &self.batch_pages)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for a guest of `page_count` pages whose destination starts
    /// all-zero (or from a baseline given to [`Encoder::index_baseline`]),
    /// its delta cache committed at set-up ([`CacheCommit::AtSetUp`]).
    pub fn new(config: EncoderConfig, page_count: u64) -> Result<Self, CodecError> {
        Self::with_cache_commit(config, page_count, CacheCommit::AtSetUp)
    }

    /// As [`Encoder::new`], committing the delta cache as `commit` says.
    pub fn with_cache_commit(
        config: EncoderConfig,
        page_count: u64,
        commit: CacheCommit,
    ) -> Result<Self, CodecError> {
        let config = config.validate()?;
        let pages = usize::try_from(page_count).map_err(|_| CodecError::Config {
            reason: "page_count does not fit this machine's address space",
        })?;
        let cctx = CCtx::try_create().ok_or(CodecError::Config {
            reason: "zstd context allocation failed",
        })?;
        let mut encoder = Self {
            config,
            level: 0,
            page_count,
            index: ContentIndex::new(pages, config.dup_index_entries),
            // Level 0 never reads or writes the cache: commit it only for an
            // encoder that starts above it.
            cache: DeltaCache::new(
                pages,
                config.delta_cache_pages,
                commit == CacheCommit::AtSetUp && config.zstd_level != 0,
            ),
            cctx,
            control_stream: SectionEncoder::new(SectionKind::Control)?,
            tokens_stream: SectionEncoder::new(SectionKind::Tokens)?,
            literals_stream: SectionEncoder::new(SectionKind::Literals)?,
            xor: Box::new([0u8; PAGE_SIZE]),
            prefix_frame: vec![0u8; zstd_safe::compress_bound(PAGE_SIZE)].into_boxed_slice(),
            control: Vec::with_capacity(CONTROL_LEN_MAX),
            tokens: Vec::with_capacity(BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE),
            prefix: Vec::with_capacity(BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE),
            literals: vec![0u8; (BATCH_PAYLOAD_PAGES_MAX + 1) * PAGE_SIZE].into_boxed_slice(),
            literal_pages: 0,
            payload_pages: 0,
            last_slot: None,
            batch_pages: 0,
            first_index: 0,
            expected_index: 0,
            pages_by_kind: [0; 5],
            run: None,
        };
        encoder.set_level(config.zstd_level)?;
        Ok(encoder)
    }

    /// Upper bound of the bytes this encoder holds for `config` and `page_count`
    /// (index + delta cache, not counting zstd's context of a few hundred KiB
    /// and the section buffers of about 1 MiB).
    pub fn memory_bytes_max(config: EncoderConfig, page_count: usize) -> usize {
        ContentIndex::bytes_max(page_count, config.dup_index_entries)
            + DeltaCache::bytes_max(page_count, config.delta_cache_pages)
    }

    /// The settings given to `new`.
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// The zstd level in use (0: off).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Changes the zstd level (0: off) for the pages pushed and batches
    /// finished from now on. The decoder needs no notice: each section says
    /// whether it is compressed, and a new level starts a new zstd frame.
    pub fn set_level(&mut self, level: i32) -> Result<(), CodecError> {
        check_level(level)?;
        if level != 0 {
            self.cctx
                .set_parameter(CParameter::CompressionLevel(level))
                .map_err(|c| CodecError::zstd("compress", c))?;
        }
        self.level = level;
        Ok(())
    }

    /// Records `baseline`, the image the destination already holds: each
    /// page becomes a duplicate target and, while the delta cache has room
    /// (later pages evict earlier ones once it is full), a delta reference
    /// for its own index.
    pub fn index_baseline(&mut self, baseline: &[u8]) -> Result<(), CodecError> {
        let expected = usize::try_from(self.page_count)
            .ok()
            .and_then(|p| p.checked_mul(PAGE_SIZE));
        if expected != Some(baseline.len()) {
            return Err(CodecError::BaselineLength {
                len: baseline.len(),
                page_count: self.page_count,
            });
        }
        for (i, page) in baseline.chunks_exact(PAGE_SIZE).enumerate() {
            if is_zero(page) {
                self.index.set(i, None);
                self.cache.remove(i);
            } else {
                let key = self.index.key_of(page);
                self.index.set(i, Some(key));
                self.cache.put(i, page);
            }
        }
        Ok(())
    }

    /// True while another page (with a payload or not) fits the open batch.
    pub fn has_room(&self) -> bool {
        // Room for one more record and the open run's length, and for one
        // more page of payload.
        let control = self.control.len() + CONTROL_RECORD_MAX + 10;
        let payload = self.literal_pages * PAGE_SIZE + self.tokens.len() + self.prefix.len();
        self.batch_pages < BATCH_PAGES_MAX
            && self.payload_pages < BATCH_PAYLOAD_PAGES_MAX
            && control <= CONTROL_LEN_MAX
            && control + payload + PAGE_SIZE <= BATCH_RAW_LEN_MAX
    }

    /// Pages in the open batch.
    pub fn batch_pages(&self) -> usize {
        self.batch_pages
    }

    /// The copy of the page pushed last, exactly as encoded (the guest may
    /// change the live page meanwhile): hash this, not the live page, to
    /// know what the destination holds. All zero after `push_zero`. Valid
    /// until the next push.
    pub fn last_page(&self) -> &[u8] {
        match self.last_slot {
            Some(slot) => &self.literals[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE],
            None => &ZERO_PAGE,
        }
    }

    /// Adds page `page_index`, known to be all zero without reading it (a
    /// hole in a sparse memory file).
    pub fn push_zero(&mut self, page_index: u64) -> Result<(), CodecError> {
        let i = self.begin_record(page_index)?;
        self.record(page_index, Tag::Zero, 0);
        self.index.set(i, None);
        self.cache.remove(i);
        self.last_slot = None;
        self.end_record(EncodingKind::Zero);
        Ok(())
    }

    /// Adds `page` (4096 bytes, read once into the encoder's copy) as page
    /// `page_index` and returns how it is encoded (`Zstd` for a page whose
    /// bytes go in the literal section, whether or not that section ends up
    /// compressed). The encoder then assumes the destination holds the copy
    /// ([`Encoder::last_page`]) at `page_index`.
    pub fn push(&mut self, page_index: u64, page: &[u8]) -> Result<EncodingKind, CodecError> {
        if page.len() != PAGE_SIZE {
            return Err(CodecError::PageLength { len: page.len() });
        }
        let i = self.begin_record(page_index)?;
        let slot = self.literal_pages;
        let range = slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE;
        self.literals[range.clone()].copy_from_slice(page);
        self.last_slot = Some(slot);

        let snapshot = &self.literals[range.clone()];
        if is_zero(snapshot) {
            self.record(page_index, Tag::Zero, 0);
            self.index.set(i, None);
            self.cache.remove(i);
            self.last_slot = None;
            self.end_record(EncodingKind::Zero);
            return Ok(EncodingKind::Zero);
        }
        if self.level == 0 {
            // Level 0 is the cheapest rung, for links faster than the
            // encoder: zero detection only, the page goes as a literal and
            // leaves the index and cache (which no longer hold its content).
            self.index.set(i, None);
            self.cache.remove(i);
            self.record(page_index, Tag::Literal, 0);
            self.literal_pages += 1;
            self.end_record(EncodingKind::Zstd);
            return Ok(EncodingKind::Zstd);
        }
        let key = self.index.key_of(snapshot);
        let kind = if let Some(source) = self.index.lookup(&key) {
            self.record(page_index, Tag::Duplicate, index_delta(page_index, source));
            EncodingKind::Duplicate
        } else {
            self.encode_content(page_index, i, range.clone())?
        };
        let snapshot = &self.literals[range];
        self.index.set(i, Some(key));
        self.cache.put(i, snapshot);
        self.end_record(kind);
        Ok(kind)
    }

    /// Forgets page `page_index`: the caller sends it outside this encoder
    /// (raw, on the same stream and in order with this encoder's batches),
    /// so neither the duplicate index nor the delta cache may name the
    /// content the page had. The open batch must be empty (finish it
    /// first): a record for the page there would race with the raw copy.
    pub fn forget(&mut self, page_index: u64) -> Result<(), CodecError> {
        if self.batch_pages != 0 {
            return Err(CodecError::BatchState { state: "open" });
        }
        if page_index >= self.page_count {
            return Err(CodecError::IndexOutOfRange {
                index: page_index,
                page_count: self.page_count,
            });
        }
        let i = usize::try_from(page_index).expect("page_count fits usize, checked in new");
        self.index.set(i, None);
        self.cache.remove(i);
        Ok(())
    }

    /// Checks that page `page_index` can go in the open batch.
    fn begin_record(&mut self, page_index: u64) -> Result<usize, CodecError> {
        if !self.has_room() {
            return Err(CodecError::BatchState { state: "full" });
        }
        if page_index >= self.page_count {
            return Err(CodecError::IndexOutOfRange {
                index: page_index,
                page_count: self.page_count,
            });
        }
        if self.batch_pages == 0 {
            self.first_index = page_index;
            self.expected_index = page_index;
        }
        Ok(usize::try_from(page_index).expect("page_count fits usize, checked in new"))
    }

    /// Adds page `page_index` as `tag` with `value` (duplicate offset or
    /// delta length) to the control section: it extends the open run when
    /// it is the next page with the same runnable tag and value, else it
    /// closes the run and writes a new record.
    fn record(&mut self, page_index: u64, tag: Tag, value: u64) {
        if let Some(run) = self.run.as_mut() {
            if run.tag == tag && run.value == value && page_index == self.expected_index {
                run.pages += 1;
                self.expected_index = page_index.wrapping_add(1);
                return;
            }
        }
        self.close_run();
        push_varint(
            &mut self.control,
            index_delta(self.expected_index, page_index),
        );
        self.control.push(tag as u8);
        if tag.has_value() {
            push_varint(&mut self.control, value);
        }
        if tag.runs() {
            self.run = Some(Run {
                tag,
                value,
                pages: 1,
            });
        }
        self.expected_index = page_index.wrapping_add(1);
    }

    /// Writes the open run's length (pages after the first) and closes it.
    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            push_varint(&mut self.control, run.pages - 1);
        }
    }

    fn end_record(&mut self, kind: EncodingKind) {
        self.batch_pages += 1;
        if matches!(kind, EncodingKind::Zstd | EncodingKind::Delta) {
            self.payload_pages += 1;
        }
        self.pages_by_kind[kind.slot()] += 1;
    }

    /// Delta (tokens or prefix) or literal, for the page in `literals[range]`.
    fn encode_content(
        &mut self,
        page_index: u64,
        i: usize,
        range: std::ops::Range<usize>,
    ) -> Result<EncodingKind, CodecError> {
        let page = &self.literals[range];
        let Some(old) = self.cache.get(i) else {
            self.record(page_index, Tag::Literal, 0);
            self.literal_pages += 1;
            return Ok(EncodingKind::Zstd);
        };
        for ((x, a), b) in self.xor.iter_mut().zip(old).zip(page) {
            *x = a ^ b;
        }
        let tokens_start = self.tokens.len();
        let tokens_len = if encode_tokens(&self.xor, &mut self.tokens, DELTA_TOKENS_MAX) {
            Some(self.tokens.len() - tokens_start)
        } else {
            None
        };
        let mut prefix_len = None;
        if self.level != 0
            && tokens_len.is_none_or(|n| n > GOOD_ENOUGH)
            && !old.starts_with(&ZSTD_DICT_MAGIC)
        {
            let n = self
                .cctx
                .compress_using_dict(&mut self.prefix_frame[..], page, old, self.level)
                .map_err(|c| CodecError::zstd("compress", c))?;
            // Shorter than the token stream as is; the tokens section is
            // compressed again later, so this favours tokens slightly.
            if n < tokens_len.unwrap_or(PAGE_SIZE) {
                prefix_len = Some(n);
            }
        }
        if let Some(n) = prefix_len {
            self.tokens.truncate(tokens_start);
            self.record(page_index, Tag::Prefix, n as u64);
            self.prefix.extend_from_slice(&self.prefix_frame[..n]);
            return Ok(EncodingKind::Delta);
        }
        if let Some(n) = tokens_len {
            self.record(page_index, Tag::Delta, n as u64);
            return Ok(EncodingKind::Delta);
        }
        self.record(page_index, Tag::Literal, 0);
        self.literal_pages += 1;
        Ok(EncodingKind::Zstd)
    }

    /// Writes the open batch into `out` (at least
    /// [`crate::ENCODED_BATCH_LEN_MAX`] bytes covers any batch) and starts a
    /// new one. Above level 0, each section of at least
    /// `COMPRESS_MIN` bytes continues its zstd stream (see
    /// `stream.rs`); shorter sections, and every section at level 0, are
    /// stored raw.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<BatchReport, CodecError> {
        if self.batch_pages == 0 {
            return Err(CodecError::BatchState { state: "empty" });
        }
        self.close_run();
        let literals_raw = self.literal_pages * PAGE_SIZE;
        let needed = self.control.len()
            + self.tokens.len()
            + self.prefix.len()
            + literals_raw
            + 3 * SECTION_OVERHEAD_MAX
            + crate::format::TRAILER_LEN_MAX
            + 1;
        if out.len() < needed {
            return Err(CodecError::OutputTooSmall {
                len: out.len(),
                needed,
            });
        }
        let level = self.level;
        let streamed = level >= STREAM_LEVEL_MIN;
        let mut flags = if streamed { FLAG_STREAMED } else { 0 };
        let mut pos = 0;
        let (control_len, z) = store(
            Compressor::pick(streamed, &mut self.control_stream, &mut self.cctx),
            level,
            &self.control,
            &mut out[pos..],
        )?;
        flags |= if z { FLAG_CONTROL_ZSTD } else { 0 };
        pos += control_len;
        let (tokens_len, z) = store(
            Compressor::pick(streamed, &mut self.tokens_stream, &mut self.cctx),
            level,
            &self.tokens,
            &mut out[pos..],
        )?;
        flags |= if z { FLAG_TOKENS_ZSTD } else { 0 };
        pos += tokens_len;
        out[pos..pos + self.prefix.len()].copy_from_slice(&self.prefix);
        pos += self.prefix.len();
        let (literals_len, literals_zstd) = store(
            Compressor::pick(streamed, &mut self.literals_stream, &mut self.cctx),
            level,
            &self.literals[..literals_raw],
            &mut out[pos..],
        )?;
        flags |= if literals_zstd { FLAG_LITERALS_ZSTD } else { 0 };
        pos += literals_len;
        let trailer = Trailer {
            page_count: self.batch_pages,
            first_index: self.first_index,
            control_len,
            tokens_len,
            prefix_len: self.prefix.len(),
            literals_len,
            flags,
        };
        let end = trailer.write(out, pos)?;

        let mut report = BatchReport {
            len: end,
            pages_by_kind: self.pages_by_kind,
            bytes_by_kind: [0; 5],
            control_bytes: (control_len + end - pos) as u64,
        };
        let slot = EncodingKind::slot;
        report.bytes_by_kind[slot(EncodingKind::Delta)] = (tokens_len + self.prefix.len()) as u64;
        if !literals_zstd && self.literal_pages > 0 {
            // Stored raw: count those pages as raw.
            let pages = report.pages_by_kind[slot(EncodingKind::Zstd)];
            report.pages_by_kind[slot(EncodingKind::Zstd)] = 0;
            report.pages_by_kind[slot(EncodingKind::Raw)] = pages;
            report.bytes_by_kind[slot(EncodingKind::Raw)] = literals_len as u64;
        } else {
            report.bytes_by_kind[slot(EncodingKind::Zstd)] = literals_len as u64;
        }
        self.reset_batch();
        Ok(report)
    }

    fn reset_batch(&mut self) {
        self.control.clear();
        self.tokens.clear();
        self.prefix.clear();
        self.literal_pages = 0;
        self.payload_pages = 0;
        self.last_slot = None;
        self.batch_pages = 0;
        self.pages_by_kind = [0; 5];
        self.run = None;
    }
}

/// Where a section's compressed form comes from.
enum Compressor<'a> {
    /// The next piece of the kind's stream (level >= [`STREAM_LEVEL_MIN`]).
    Stream(&'a mut SectionEncoder),
    /// A zstd frame of its own, at the context's level.
    OneShot(&'a mut CCtx<'static>),
}

impl<'a> Compressor<'a> {
    /// The stream when `streamed`, else the one-shot context.
    fn pick(streamed: bool, stream: &'a mut SectionEncoder, cctx: &'a mut CCtx<'static>) -> Self {
        if streamed {
            Compressor::Stream(stream)
        } else {
            Compressor::OneShot(cctx)
        }
    }
}

/// Writes `raw` into `out` compressed when `level` is on and `raw` is at
/// least [`crate::COMPRESS_MIN`] bytes, else as is; returns the bytes
/// written and whether compressed. A frame of its own that would not be
/// shorter is stored raw instead; a stream piece cannot be taken back (the
/// stream has seen it), and zstd stores incompressible blocks raw inside it.
fn store(
    compressor: Compressor<'_>,
    level: i32,
    raw: &[u8],
    out: &mut [u8],
) -> Result<(usize, bool), CodecError> {
    if level != 0 && raw.len() >= crate::COMPRESS_MIN {
        match compressor {
            Compressor::Stream(stream) => return Ok((stream.compress(level, raw, out)?, true)),
            Compressor::OneShot(cctx) => {
                // Capacity one byte short of raw: zstd fails rather than
                // write a frame that saves nothing.
                if let Ok(n) = cctx.compress2(&mut out[..raw.len() - 1], raw) {
                    return Ok((n, true));
                }
            }
        }
    }
    out[..raw.len()].copy_from_slice(raw);
    Ok((raw.len(), false))
}
