//! HDE page codec: the encoding of every 4 KiB guest page the data plane sends.
//!
//! # Design
//!
//! A pure library (no I/O, no threads, no clock). The source side holds one
//! [`Encoder`] per migration (or per worker, over a contiguous page range);
//! the destination side holds one [`Decoder`] and the destination image.
//! The encoder tries the cheapest test first and tags every page with an
//! [`EncodingKind`]; the decoder never guesses:
//!
//! 1. [`EncodingKind::Zero`]: the page is all zero. No payload.
//! 2. [`EncodingKind::Duplicate`]: the destination already holds this content
//!    at some page index (from the baseline image or from any page sent in
//!    this migration). Payload: that index, `u64` little-endian. Content is
//!    found through a bounded index keyed by 128 bits of BLAKE3 (see
//!    [`EncoderConfig::dup_index_entries`]).
//! 3. [`EncodingKind::Delta`]: the encoder holds the version of this page
//!    last sent (bounded cache, [`EncoderConfig::delta_cache_pages`], CLOCK
//!    eviction). Payload: one header byte then either the XOR of the new page
//!    against the old one as a token stream ([`DELTA_TOKENS_RAW`]), that
//!    stream zstd-compressed ([`DELTA_TOKENS_ZSTD`]), or the new page
//!    zstd-compressed with the old one as dictionary ([`DELTA_ZSTD_PREFIX`]),
//!    whichever is smallest.
//! 4. [`EncodingKind::Zstd`]: one zstd frame whose content is the page.
//! 5. [`EncodingKind::Raw`]: the 4096 bytes.
//!
//! The layouts are specified in `docs/codec.md`. Decoding is lossless by
//! construction: `decode(encode(x)) == x` for every kind, property-tested in
//! `tests/roundtrip.rs`.
//!
//! # Limits
//!
//! Memory is bounded by [`EncoderConfig`] and the page count, see
//! [`Encoder::memory_bytes_max`]. The decoder allocates only its zstd context
//! and two page-sized buffers, whatever its input.

#![warn(missing_docs)]

mod cache;
mod decoder;
mod delta;
mod encoder;
mod error;
mod index;

pub use decoder::Decoder;
pub use encoder::{Encoder, EncoderConfig};
pub use error::CodecError;

/// Bytes in a guest page, the unit the codec encodes.
pub const PAGE_SIZE: usize = 4096;

/// Delta payload header: the token stream follows uncompressed.
pub const DELTA_TOKENS_RAW: u8 = 0;
/// Delta payload header: a zstd frame whose content is the token stream follows.
pub const DELTA_TOKENS_ZSTD: u8 = 1;

/// Delta payload header: a zstd frame of the new page, compressed with the
/// version last sent as a raw-content dictionary (catches changed bytes and
/// content moved within the page). Not used when the old page starts with
/// zstd's dictionary magic, which would make zstd parse it as a dictionary.
pub const DELTA_ZSTD_PREFIX: u8 = 2;

/// zstd's formatted-dictionary magic, little-endian.
pub(crate) const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// Largest token stream a delta payload may carry, after zstd decompression.
/// The encoder only emits a delta whose token stream is shorter than a page,
/// so the decoder rejects anything longer.
pub const DELTA_TOKENS_MAX: usize = PAGE_SIZE;

/// Bytes of a [`EncodingKind::Duplicate`] payload.
pub const DUPLICATE_PAYLOAD_LEN: usize = 8;

/// How one page is encoded on the wire. Discriminant 0 is `Invalid` so a
/// zeroed tag never decodes.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodingKind {
    /// Never sent; a zeroed tag byte.
    Invalid = 0,
    /// All-zero page, no payload.
    Zero = 1,
    /// Copy of the destination's current page at the `u64` LE index in the payload.
    Duplicate = 2,
    /// XOR against the version of this page last sent, as tokens, optionally zstd.
    Delta = 3,
    /// One zstd frame holding the page.
    Zstd = 4,
    /// The page, 4096 bytes.
    Raw = 5,
}

impl EncodingKind {
    /// Every valid kind, in wire order.
    pub const ALL: [EncodingKind; 5] = [
        EncodingKind::Zero,
        EncodingKind::Duplicate,
        EncodingKind::Delta,
        EncodingKind::Zstd,
        EncodingKind::Raw,
    ];

    /// The kind for a wire tag byte; `Invalid` and unknown tags are errors.
    pub fn from_u8(tag: u8) -> Result<Self, CodecError> {
        match tag {
            1 => Ok(Self::Zero),
            2 => Ok(Self::Duplicate),
            3 => Ok(Self::Delta),
            4 => Ok(Self::Zstd),
            5 => Ok(Self::Raw),
            _ => Err(CodecError::InvalidKind { tag }),
        }
    }

    /// Lowercase name, as used in reports (`zero`, `duplicate`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Zero => "zero",
            Self::Duplicate => "duplicate",
            Self::Delta => "delta",
            Self::Zstd => "zstd",
            Self::Raw => "raw",
        }
    }

    /// Index of the kind in [`EncodingKind::ALL`] (for per-kind counters).
    pub fn slot(self) -> Option<usize> {
        EncodingKind::ALL.iter().position(|k| *k == self)
    }
}

/// True when every byte of `page` is zero.
pub(crate) fn is_zero(page: &[u8]) -> bool {
    // OR-reduce 64-byte chunks (vectorised), stopping at the first non-zero one.
    page.chunks(64)
        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
}
