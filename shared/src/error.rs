//! `WireError`: every reason a v1 encoder or decoder refuses bytes.
//!
//! One variant per distinct rejection. Each variant carries the offending
//! value and the bound it broke so a log line alone says what was wrong.
//! Decoders return these; they never panic.

use crate::batch::PageEncoding;

/// Why bytes were rejected by a decoder, or why an encoder could not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before a complete structure.
    #[error("{what} truncated: need {needed} bytes, got {got}")]
    Truncated {
        /// Structure being read.
        what: &'static str,
        /// Bytes needed to read it (from the start of the input).
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The input continues past the end of an exact-length structure.
    #[error("{what} has trailing bytes: expected {expected} bytes, got {got}")]
    TrailingBytes {
        /// Structure being read.
        what: &'static str,
        /// Exact length the structure occupies.
        expected: usize,
        /// Length of the input.
        got: usize,
    },
    /// An encoder's output buffer cannot hold the encoding.
    #[error("output buffer too small for {what}: need {needed} bytes, got {got}")]
    BufferTooSmall {
        /// Structure being written.
        what: &'static str,
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// Frame header magic is not `FRAME_MAGIC`.
    #[error("bad frame magic {found:#010x}")]
    BadMagic {
        /// The magic found (read little-endian).
        found: u32,
    },
    /// Frame kind byte is 0 (`Invalid`) or not defined by v1.
    #[error("unknown frame kind {0}")]
    UnknownFrameKind(u8),
    /// Frame flags carry a bit v1 does not define.
    #[error("unknown frame flags {flags:#04x} (allowed {allowed:#04x})")]
    UnknownFrameFlags {
        /// Flags found.
        flags: u8,
        /// Mask of the bits v1 defines.
        allowed: u8,
    },
    /// A reserved field is not zero.
    #[error("reserved field {what} is {value:#x}, must be 0")]
    ReservedNonZero {
        /// The reserved field.
        what: &'static str,
        /// Its value (zero-extended).
        value: u64,
    },
    /// A stream id is not below the stream limit.
    #[error("stream id {stream_id} out of range (must be below {limit})")]
    StreamIdOutOfRange {
        /// Stream id found.
        stream_id: u16,
        /// Exclusive upper bound.
        limit: u16,
    },
    /// A frame header carries seq 0; seq starts at 1 on every stream.
    #[error("frame on stream {stream_id} has seq 0 (seq starts at 1)")]
    ZeroSeq {
        /// Stream the frame claims.
        stream_id: u16,
    },
    /// Frame `body_len` is smaller than the tag.
    #[error("frame body_len {body_len} below minimum {min}")]
    BodyTooShort {
        /// Declared body length.
        body_len: u32,
        /// Minimum (the tag length).
        min: u32,
    },
    /// Frame `body_len` exceeds `FRAME_BODY_LEN_MAX`.
    #[error("frame body_len {body_len} exceeds maximum {max}")]
    BodyTooLong {
        /// Declared body length.
        body_len: u32,
        /// Maximum allowed.
        max: u32,
    },
    /// Batch `page_count` is 0 or above `PAGES_PER_BATCH_MAX`.
    #[error("batch page_count {page_count} out of range 1..={max}")]
    PageCountOutOfRange {
        /// Page count found.
        page_count: u16,
        /// Inclusive maximum.
        max: u16,
    },
    /// A batch entry's encoding byte is 0 (`Invalid`) or undefined.
    #[error("page {page_index} has unknown encoding {encoding}")]
    UnknownPageEncoding {
        /// Page the entry is for.
        page_index: u64,
        /// Encoding byte found.
        encoding: u8,
    },
    /// A batch entry's `payload_len` does not match its encoding.
    #[error("page {page_index} encoding {encoding:?} has payload_len {payload_len}, expected {expected}")]
    PayloadLenMismatch {
        /// Page the entry is for.
        page_index: u64,
        /// The entry's encoding.
        encoding: PageEncoding,
        /// Declared payload length.
        payload_len: u32,
        /// Length the encoding requires.
        expected: u32,
    },
    /// A batch entry names a page outside guest memory.
    #[error("page index {page_index} out of range (guest has {pages_total} pages)")]
    PageIndexOutOfRange {
        /// Page index found.
        page_index: u64,
        /// Pages in guest memory (exclusive bound).
        pages_total: u64,
    },
    /// The same page index appears twice in one batch.
    #[error("page index {page_index} repeated within one batch")]
    DuplicatePageIndex {
        /// The repeated page index.
        page_index: u64,
    },
    /// A raw page handed to the batch writer is not `PAGE_SIZE` bytes.
    #[error("raw page is {len} bytes, expected {expected}")]
    PageLenMismatch {
        /// Length given.
        len: usize,
        /// Required length.
        expected: usize,
    },
    /// The batch writer has no room for another page.
    #[error("batch full: {page_count} pages, {free_bytes} bytes free, entry needs {needed}")]
    BatchFull {
        /// Pages already in the batch.
        page_count: u16,
        /// Free bytes left in the buffer.
        free_bytes: usize,
        /// Bytes the rejected entry needs.
        needed: usize,
    },
    /// A stream count is 0 or above `STREAMS_MAX`.
    #[error("stream_count {stream_count} out of range 1..={max}")]
    StreamCountOutOfRange {
        /// Stream count found.
        stream_count: u16,
        /// Inclusive maximum.
        max: u16,
    },
    /// A boolean byte is neither 0 nor 1.
    #[error("{what} is {value}, must be 0 or 1")]
    InvalidBool {
        /// The boolean field.
        what: &'static str,
        /// Byte found.
        value: u8,
    },
    /// Abort code is 0 (`Invalid`) or undefined.
    #[error("unknown abort code {0}")]
    UnknownAbortCode(u16),
    /// A reason string is longer than `ABORT_REASON_LEN_MAX`.
    #[error("{what} is {len} bytes, maximum {max}")]
    ReasonTooLong {
        /// The reason field.
        what: &'static str,
        /// Length found.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A reason string is not valid UTF-8.
    #[error("{what} is not utf-8 (valid up to byte {valid_up_to})")]
    ReasonNotUtf8 {
        /// The reason field.
        what: &'static str,
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// Handshake message magic is not `HANDSHAKE_MAGIC`.
    #[error("bad handshake magic {found:#010x}")]
    BadHandshakeMagic {
        /// The magic found (read little-endian).
        found: u32,
    },
    /// Handshake kind byte is 0 (`Invalid`) or undefined.
    #[error("unknown handshake message kind {0}")]
    UnknownHandshakeKind(u8),
    /// Handshake `body_len` exceeds `HANDSHAKE_MSG_LEN_MAX`.
    #[error("handshake body_len {body_len} exceeds maximum {max}")]
    HandshakeBodyTooLong {
        /// Declared body length.
        body_len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A fixed-size handshake message declares the wrong `body_len`.
    #[error("{what} body_len {body_len}, expected {expected}")]
    BodyLenMismatch {
        /// The message kind.
        what: &'static str,
        /// Declared body length.
        body_len: usize,
        /// Length the message kind requires.
        expected: usize,
    },
    /// Handshake flags carry a bit v1 does not define.
    #[error("{what} has unknown flags {flags:#x} (allowed {allowed:#x})")]
    UnknownHandshakeFlags {
        /// The message carrying the flags.
        what: &'static str,
        /// Flags found.
        flags: u32,
        /// Mask of the bits v1 defines.
        allowed: u32,
    },
    /// ClientHello version range is empty or starts at version 0.
    #[error("invalid version range {version_min}..={version_max}")]
    InvalidVersionRange {
        /// Lowest version offered.
        version_min: u16,
        /// Highest version offered.
        version_max: u16,
    },
    /// ServerHello selects version 0.
    #[error("server selected invalid version {version}")]
    InvalidVersion {
        /// Version found.
        version: u16,
    },
    /// Reject code is 0 (`Invalid`) or undefined.
    #[error("unknown reject code {0}")]
    UnknownRejectCode(u16),
}
