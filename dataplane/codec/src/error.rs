//! Errors of the page codec.

/// Everything the encoder or decoder can reject. Messages are lowercase.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// A page buffer was not exactly one page.
    #[error("page buffer is {len} bytes, expected 4096")]
    PageLength {
        /// Length given.
        len: usize,
    },
    /// The destination image is not a whole number of pages.
    #[error("memory of {len} bytes is not a multiple of 4096")]
    MemoryLength {
        /// Length given.
        len: usize,
    },
    /// A page index beyond the image.
    #[error("page index {index} out of range for {page_count} pages")]
    IndexOutOfRange {
        /// Index given (the page itself or a duplicate source).
        index: u64,
        /// Pages in the image.
        page_count: u64,
    },
    /// A control record tag that names no encoding.
    #[error("invalid record tag {tag}")]
    InvalidKind {
        /// Tag byte received.
        tag: u8,
    },
    /// A delta token stream that is truncated, overruns the page or leaves bytes.
    #[error("delta token stream is malformed at byte {offset}")]
    DeltaTokens {
        /// Offset in the token stream where decoding failed.
        offset: usize,
    },
    /// zstd refused the input (decoder) or failed (encoder).
    #[error("zstd {op} failed: {reason}")]
    Zstd {
        /// `compress` or `decompress`.
        op: &'static str,
        /// zstd's error name.
        reason: &'static str,
    },
    /// A zstd frame whose content is not exactly the expected size.
    #[error("zstd output is {len} bytes, expected {expected}")]
    ZstdOutputLength {
        /// Bytes produced.
        len: usize,
        /// Bytes required.
        expected: usize,
    },
    /// A configuration the encoder cannot run with.
    #[error("invalid encoder config: {reason}")]
    Config {
        /// What is wrong.
        reason: &'static str,
    },
    /// An encoded batch whose layout is malformed.
    #[error("encoded batch is malformed: {what}")]
    BatchLayout {
        /// Which rule the batch breaks.
        what: &'static str,
    },
    /// An encoded batch in a format this codec does not know.
    #[error("encoded batch format {format} is unknown")]
    BatchFormat {
        /// Format byte received.
        format: u8,
    },
    /// A malformed LEB128 value.
    #[error("varint is malformed at byte {offset}")]
    Varint {
        /// Offset where it starts.
        offset: usize,
    },
    /// The output buffer cannot hold the batch.
    #[error("output buffer of {len} bytes is too small, {needed} needed")]
    OutputTooSmall {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// `push` on a batch with no room left, `finish` on an empty one, or
    /// `forget` while a batch is open.
    #[error("batch is {state}")]
    BatchState {
        /// `full`, `empty` or `open`.
        state: &'static str,
    },
    /// `index_baseline` got an image of the wrong size.
    #[error("baseline of {len} bytes does not match {page_count} pages")]
    BaselineLength {
        /// Bytes given.
        len: usize,
        /// Pages the encoder was created for.
        page_count: u64,
    },
}

/// Batch-level rejections (see `format.rs` for the layout).
impl CodecError {
    pub(crate) fn layout(what: &'static str) -> Self {
        CodecError::BatchLayout { what }
    }

    pub(crate) fn zstd(op: &'static str, code: usize) -> Self {
        CodecError::Zstd {
            op,
            reason: zstd_safe::get_error_name(code),
        }
    }
}
