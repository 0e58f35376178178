//! HDE page codec: the encoding of every 4 KiB guest page the data plane sends.
//!
//! # Design
//!
//! A pure library (no I/O, no threads, no clock). The source side holds an
//! [`Encoder`] (one per migration, or one per stream over the pages that
//! stream carries); the destination side holds a [`Decoder`] and the
//! destination image. Pages travel in encoded batches of up to
//! [`BATCH_PAGES_MAX`] pages. For each page the encoder tries the cheapest
//! test first and records its choice with a tag; the decoder never guesses:
//!
//! 1. Zero: the page is all zero. No payload.
//! 2. Duplicate: the destination already holds this content at some page
//!    (from the baseline image or any page sent in this migration). The
//!    record names that page. Content is found through a bounded index keyed
//!    by a keyed 128-bit XXH3 hash (see [`EncoderConfig::dup_index_entries`]).
//! 3. Delta: the encoder holds the version of this page last sent (bounded
//!    cache, [`EncoderConfig::delta_cache_pages`], CLOCK eviction). Either
//!    the XOR against it as a token stream (the batch's tokens section), or
//!    the new page as a zstd frame with the old one as dictionary (the
//!    prefix section), whichever is shorter.
//! 4. Literal: the page's bytes go in the batch's literal section.
//!
//! Each section of a batch (control records, tokens, literals) is one zstd
//! frame at the encoder's current level when that is shorter, else raw, so
//! zstd sees up to 64 pages of context at once and the per-page records
//! cost about two bytes before compression. The level can change between
//! batches ([`Encoder::set_level`]) without telling the decoder. The layout
//! is in [`format`](mod@format) and `docs/codec.md`. Decoding is lossless by
//! construction: `decode(encode(x)) == x`, property-tested in
//! `tests/roundtrip.rs`.
//!
//! # Limits
//!
//! Memory is bounded by [`EncoderConfig`] and the page count, see
//! [`Encoder::memory_bytes_max`]. The decoder allocates only its zstd
//! contexts and buffers at the format's bounds (about 0.5 MiB), and its
//! streams' windows at their first compressed section (at most
//! [`STREAM_WINDOWS_BYTES_MAX`]), whatever its input.
//! An encoded batch is at most [`ENCODED_BATCH_LEN_MAX`] bytes.

#![warn(missing_docs)]

mod cache;
mod decoder;
mod delta;
mod encoder;
mod error;
pub mod format;
mod index;
mod stream;

pub use decoder::{Decoder, PageContent};
pub use encoder::{BatchReport, CacheCommit, Encoder, EncoderConfig};
pub use error::CodecError;
pub use format::{
    BATCH_FORMAT, BATCH_PAGES_MAX, BATCH_PAYLOAD_PAGES_MAX, BATCH_RAW_LEN_MAX, CONTROL_LEN_MAX,
    ENCODED_BATCH_LEN_MAX,
};
pub use stream::{SECTION_OVERHEAD_MAX, STREAM_LEVEL_MIN, STREAM_WINDOWS_BYTES_MAX};

/// Bytes in a guest page, the unit the codec encodes.
pub const PAGE_SIZE: usize = 4096;

/// zstd's formatted-dictionary magic, little-endian. A prefix delta is not
/// used when the old page starts with it: zstd would parse the page as a
/// formatted dictionary.
pub(crate) const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// Sections shorter than this are stored raw without zstd: a flushed zstd
/// piece costs a few bytes of framing, so there is little to win.
pub(crate) const COMPRESS_MIN: usize = 64;

/// Longest delta token stream: the encoder only uses one shorter than a page.
pub const DELTA_TOKENS_MAX: usize = PAGE_SIZE;

/// How a page was sent, for reports and per-kind counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodingKind {
    /// All-zero page.
    Zero,
    /// A reference to a page the destination holds with the same content.
    Duplicate,
    /// A delta against the version of this page last sent.
    Delta,
    /// In a zstd-compressed literal section.
    Zstd,
    /// In a literal section stored as is.
    Raw,
}

impl EncodingKind {
    /// Every kind, in report order.
    pub const ALL: [EncodingKind; 5] = [
        EncodingKind::Zero,
        EncodingKind::Duplicate,
        EncodingKind::Delta,
        EncodingKind::Zstd,
        EncodingKind::Raw,
    ];

    /// Lowercase name, as used in reports (`zero`, `duplicate`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Duplicate => "duplicate",
            Self::Delta => "delta",
            Self::Zstd => "zstd",
            Self::Raw => "raw",
        }
    }

    /// Index of the kind in [`EncodingKind::ALL`] (for per-kind counters).
    pub fn slot(self) -> usize {
        self as usize
    }
}

/// zstd levels this codec accepts besides 0 (off): zstd's own range,
/// negative levels being its fast ones.
pub fn zstd_level_range() -> std::ops::RangeInclusive<i32> {
    zstd_safe::min_c_level()..=zstd_safe::max_c_level()
}

/// True when every byte of `page` is zero.
pub(crate) fn is_zero(page: &[u8]) -> bool {
    // OR-reduce 64-byte chunks (vectorised), stopping at the first non-zero one.
    page.chunks(64)
        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
}
