//! Source side: chooses and writes the encoding of each page.
//!
//! # Call order
//!
//! [`Encoder::new`] once per migration (or per worker and page range), then
//! [`Encoder::index_baseline`] if the destination starts from a known image,
//! then [`Encoder::encode`] for every page sent, in any order, any number of
//! times. The encoder mirrors what the destination holds, so every page it
//! encodes must reach the destination's [`crate::Decoder`] in the same order.
//!
//! # Allocation
//!
//! Everything is allocated in `new`: the content index at its full
//! capacity, the delta cache (zeroed and written once, so the OS commits
//! it here rather than during encoding),
//! the zstd context and scratch buffers. `encode` only appends to the
//! caller's `out`, which does not allocate once its capacity covers the
//! batch (reuse it across batches after `clear()`).

use zstd_safe::{CCtx, CParameter};

use crate::cache::DeltaCache;
use crate::delta::encode_tokens;
use crate::index::{key_of, ContentIndex};
use crate::{
    is_zero, CodecError, EncodingKind, DELTA_TOKENS_MAX, DELTA_TOKENS_RAW, DELTA_TOKENS_ZSTD,
    DELTA_ZSTD_PREFIX, PAGE_SIZE, ZSTD_DICT_MAGIC,
};

/// Cheap first: a candidate payload of at most this many bytes is sent
/// without trying the remaining encodings. Each of those runs zstd over a
/// token stream or a whole page (the dictionary form also loads the old
/// page), and could save at most these bytes, 1/64 of the page. In the order
/// tried (raw tokens, zstd of tokens, zstd with the old page as dictionary,
/// zstd of the page) a raw token stream of under 64 bytes (a few changed
/// words) is sent as is.
const GOOD_ENOUGH: usize = PAGE_SIZE / 64;

/// Encoder settings. Start from [`EncoderConfig::DEFAULTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// zstd level for whole pages and delta token streams; 0 turns zstd off
    /// (datacenter links faster than the encoder). Negative levels are zstd's
    /// fast levels.
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
        if self.zstd_level != 0
            && !(zstd_safe::min_c_level()..=zstd_safe::max_c_level()).contains(&self.zstd_level)
        {
            return Err(CodecError::Config {
                reason: "zstd_level is outside zstd's range",
            });
        }
        Ok(self)
    }
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self::DEFAULTS
    }
}

/// Source-side page encoder; see the module docs for the call order.
pub struct Encoder {
    config: EncoderConfig,
    page_count: u64,
    index: ContentIndex,
    cache: DeltaCache,
    cctx: CCtx<'static>,
    xor: Box<[u8; PAGE_SIZE]>,
    tokens: Vec<u8>,
    delta_zstd: Box<[u8]>,
    prefix_zstd: Box<[u8]>,
    page_zstd: Box<[u8]>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .field("page_count", &self.page_count)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for a guest of `page_count` pages whose destination starts
    /// all-zero (or from a baseline given to [`Encoder::index_baseline`]).
    pub fn new(config: EncoderConfig, page_count: u64) -> Result<Self, CodecError> {
        let config = config.validate()?;
        let pages = usize::try_from(page_count).map_err(|_| CodecError::Config {
            reason: "page_count does not fit this machine's address space",
        })?;
        let mut cctx = CCtx::try_create().ok_or(CodecError::Config {
            reason: "zstd context allocation failed",
        })?;
        if config.zstd_level != 0 {
            cctx.set_parameter(CParameter::CompressionLevel(config.zstd_level))
                .map_err(|c| CodecError::zstd("compress", c))?;
        }
        let bound = zstd_safe::compress_bound(PAGE_SIZE);
        Ok(Self {
            config,
            page_count,
            index: ContentIndex::new(pages, config.dup_index_entries),
            cache: DeltaCache::new(pages, config.delta_cache_pages),
            cctx,
            xor: Box::new([0u8; PAGE_SIZE]),
            tokens: Vec::with_capacity(DELTA_TOKENS_MAX + 16),
            delta_zstd: vec![0u8; bound].into_boxed_slice(),
            prefix_zstd: vec![0u8; bound].into_boxed_slice(),
            page_zstd: vec![0u8; bound].into_boxed_slice(),
        })
    }

    /// Upper bound of the bytes this encoder holds for `config` and `page_count`
    /// (index + delta cache, not counting zstd's context of a few hundred KiB).
    pub fn memory_bytes_max(config: EncoderConfig, page_count: usize) -> usize {
        ContentIndex::bytes_max(page_count, config.dup_index_entries)
            + DeltaCache::bytes_max(page_count, config.delta_cache_pages)
    }

    /// The settings in use.
    pub fn config(&self) -> EncoderConfig {
        self.config
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
                self.index.set(i, Some(key_of(page)));
                self.cache.put(i, page);
            }
        }
        Ok(())
    }

    /// Encodes `page` (4096 bytes) as page `page_index`, appends its payload
    /// to `out` and returns its kind. The encoder then assumes the destination
    /// holds `page` at `page_index`.
    pub fn encode(
        &mut self,
        page_index: u64,
        page: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<EncodingKind, CodecError> {
        if page.len() != PAGE_SIZE {
            return Err(CodecError::PageLength { len: page.len() });
        }
        if page_index >= self.page_count {
            return Err(CodecError::IndexOutOfRange {
                index: page_index,
                page_count: self.page_count,
            });
        }
        let i = usize::try_from(page_index).expect("page_count fits usize, checked in new");

        if is_zero(page) {
            self.index.set(i, None);
            self.cache.remove(i);
            return Ok(EncodingKind::Zero);
        }

        let key = key_of(page);
        if let Some(src) = self.index.lookup(&key) {
            out.extend_from_slice(&src.to_le_bytes());
            self.index.set(i, Some(key));
            self.cache.put(i, page);
            return Ok(EncodingKind::Duplicate);
        }

        let kind = self.encode_content(i, page, out)?;
        self.index.set(i, Some(key));
        self.cache.put(i, page);
        Ok(kind)
    }

    /// Delta, zstd or raw: the smallest, trying the cheapest first and
    /// stopping at a candidate of at most [`GOOD_ENOUGH`] bytes.
    fn encode_content(
        &mut self,
        i: usize,
        page: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<EncodingKind, CodecError> {
        let level_on = self.config.zstd_level != 0;
        // Payload bytes of the delta candidate (header included).
        let size = |d: Option<(u8, usize)>| d.map_or(usize::MAX, |(_, n)| 1 + n);

        // Delta candidate: (header, length of the bytes after the header).
        let mut delta: Option<(u8, usize)> = None;
        if let Some(old) = self.cache.get(i) {
            for ((x, a), b) in self.xor.iter_mut().zip(old).zip(page) {
                *x = a ^ b;
            }
            self.tokens.clear();
            if encode_tokens(&self.xor, &mut self.tokens, DELTA_TOKENS_MAX) {
                delta = Some((DELTA_TOKENS_RAW, self.tokens.len()));
                if level_on && size(delta) > GOOD_ENOUGH {
                    let n = self
                        .cctx
                        .compress2(&mut self.delta_zstd[..], &self.tokens)
                        .map_err(|c| CodecError::zstd("compress", c))?;
                    if n < self.tokens.len() {
                        delta = Some((DELTA_TOKENS_ZSTD, n));
                    }
                }
            }
            if level_on && size(delta) > GOOD_ENOUGH && !old.starts_with(&ZSTD_DICT_MAGIC) {
                let n = self
                    .cctx
                    .compress_using_dict(
                        &mut self.prefix_zstd[..],
                        page,
                        old,
                        self.config.zstd_level,
                    )
                    .map_err(|c| CodecError::zstd("compress", c))?;
                if n + 1 < size(delta) {
                    delta = Some((DELTA_ZSTD_PREFIX, n));
                }
            }
        }

        let mut zstd_len = None;
        if level_on && size(delta) > GOOD_ENOUGH {
            let n = self
                .cctx
                .compress2(&mut self.page_zstd[..], page)
                .map_err(|c| CodecError::zstd("compress", c))?;
            zstd_len = Some(n);
        }

        let delta_size = size(delta);
        let zstd_size = zstd_len.unwrap_or(usize::MAX);
        if delta_size < PAGE_SIZE && delta_size <= zstd_size {
            let (header, n) = delta.expect("delta_size is finite only with a delta");
            out.push(header);
            match header {
                DELTA_TOKENS_ZSTD => out.extend_from_slice(&self.delta_zstd[..n]),
                DELTA_ZSTD_PREFIX => out.extend_from_slice(&self.prefix_zstd[..n]),
                _ => out.extend_from_slice(&self.tokens),
            }
            return Ok(EncodingKind::Delta);
        }
        if zstd_size < PAGE_SIZE {
            out.extend_from_slice(&self.page_zstd[..zstd_size]);
            return Ok(EncodingKind::Zstd);
        }
        out.extend_from_slice(page);
        Ok(EncodingKind::Raw)
    }
}
