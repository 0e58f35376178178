//! Destination side: applies one encoded page to the destination image.
//!
//! The destination image's current content of each page is the version the
//! source last sent, which is what Delta and Duplicate refer to. Every
//! malformed input is a [`CodecError`]; on error `memory` is unchanged. The
//! decoder never allocates after [`Decoder::new`]: zstd output goes into
//! fixed page-sized buffers, so a frame that claims more is an error.

use zstd_safe::DCtx;

use crate::delta::decode_tokens;
use crate::{
    CodecError, EncodingKind, DELTA_TOKENS_MAX, DELTA_TOKENS_RAW, DELTA_TOKENS_ZSTD,
    DELTA_ZSTD_PREFIX, DUPLICATE_PAYLOAD_LEN, PAGE_SIZE,
};

/// Destination-side page decoder.
pub struct Decoder {
    dctx: DCtx<'static>,
    page: Box<[u8; PAGE_SIZE]>,
    tokens: Box<[u8; DELTA_TOKENS_MAX]>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with its zstd context and buffers.
    pub fn new() -> Self {
        Self {
            dctx: DCtx::create(),
            page: Box::new([0u8; PAGE_SIZE]),
            tokens: Box::new([0u8; DELTA_TOKENS_MAX]),
        }
    }

    /// Writes page `page_index`, encoded as `kind` with `payload`, into
    /// `memory` (the whole destination image, a multiple of 4096 bytes).
    pub fn decode(
        &mut self,
        page_index: u64,
        kind: EncodingKind,
        payload: &[u8],
        memory: &mut [u8],
    ) -> Result<(), CodecError> {
        if !memory.len().is_multiple_of(PAGE_SIZE) {
            return Err(CodecError::MemoryLength { len: memory.len() });
        }
        let page_count = (memory.len() / PAGE_SIZE) as u64;
        let dst = checked_offset(page_index, page_count)?;
        match kind {
            EncodingKind::Invalid => Err(CodecError::InvalidKind { tag: kind as u8 }),
            EncodingKind::Zero => {
                if !payload.is_empty() {
                    return Err(CodecError::payload(kind, payload.len()));
                }
                memory[dst..dst + PAGE_SIZE].fill(0);
                Ok(())
            }
            EncodingKind::Duplicate => {
                let bytes: [u8; DUPLICATE_PAYLOAD_LEN] = payload
                    .try_into()
                    .map_err(|_| CodecError::payload(kind, payload.len()))?;
                let src = checked_offset(u64::from_le_bytes(bytes), page_count)?;
                memory.copy_within(src..src + PAGE_SIZE, dst);
                Ok(())
            }
            EncodingKind::Delta => {
                let (&header, body) = payload
                    .split_first()
                    .ok_or(CodecError::payload(kind, payload.len()))?;
                let tokens: &[u8] = match header {
                    DELTA_TOKENS_RAW => {
                        if body.len() > DELTA_TOKENS_MAX {
                            return Err(CodecError::payload(kind, payload.len()));
                        }
                        body
                    }
                    DELTA_TOKENS_ZSTD => {
                        let n = self
                            .dctx
                            .decompress(&mut self.tokens[..], body)
                            .map_err(|c| CodecError::zstd("decompress", c))?;
                        &self.tokens[..n]
                    }
                    DELTA_ZSTD_PREFIX => {
                        let old = &memory[dst..dst + PAGE_SIZE];
                        let n = self
                            .dctx
                            .decompress_using_dict(&mut self.page[..], body, old)
                            .map_err(|c| CodecError::zstd("decompress", c))?;
                        if n != PAGE_SIZE {
                            return Err(CodecError::ZstdOutputLength {
                                len: n,
                                expected: PAGE_SIZE,
                            });
                        }
                        memory[dst..dst + PAGE_SIZE].copy_from_slice(&self.page[..]);
                        return Ok(());
                    }
                    _ => return Err(CodecError::DeltaHeader { header }),
                };
                decode_tokens(tokens, &mut self.page)?;
                for (m, x) in memory[dst..dst + PAGE_SIZE]
                    .iter_mut()
                    .zip(self.page.iter())
                {
                    *m ^= x;
                }
                Ok(())
            }
            EncodingKind::Zstd => {
                let n = self
                    .dctx
                    .decompress(&mut self.page[..], payload)
                    .map_err(|c| CodecError::zstd("decompress", c))?;
                if n != PAGE_SIZE {
                    return Err(CodecError::ZstdOutputLength {
                        len: n,
                        expected: PAGE_SIZE,
                    });
                }
                memory[dst..dst + PAGE_SIZE].copy_from_slice(&self.page[..]);
                Ok(())
            }
            EncodingKind::Raw => {
                if payload.len() != PAGE_SIZE {
                    return Err(CodecError::payload(kind, payload.len()));
                }
                memory[dst..dst + PAGE_SIZE].copy_from_slice(payload);
                Ok(())
            }
        }
    }
}

/// Byte offset of page `index`, checked against `page_count`.
fn checked_offset(index: u64, page_count: u64) -> Result<usize, CodecError> {
    if index >= page_count {
        return Err(CodecError::IndexOutOfRange { index, page_count });
    }
    // index < page_count = memory.len() / 4096, so the offset fits usize.
    Ok(usize::try_from(index).expect("index < page_count fits usize") * PAGE_SIZE)
}

#[cfg(test)]
mod tests;
