//! One zstd stream per batch section, kept open across the batches of a
//! migration stream.
//!
//! # Why
//!
//! A batch holds at most 64 pages; after zero and duplicate pages leave, its
//! literal section averages about 17 (70 KiB). Compressed on its own, each
//! section forgets everything before it: on the real t30s guest, zstd -3
//! over such sections gave 89.8 MB where one stream over the same pages
//! gives 86.6 MB. So each section kind (control, tokens, literals) is one
//! zstd stream per encoder: each batch's section is the bytes zstd emits for
//! that section's raw content with a flush (`ZSTD_e_flush`), which makes
//! every byte of the section decodable at once while the next batch still
//! matches against the last [`SectionKind::window_log`] bytes of the ones
//! before it.
//!
//! # Contract
//!
//! The decoder must see every compressed section of a kind, in the order the
//! encoder wrote them: the batch ordering the encoder already requires (see
//! [`crate::Encoder`]). Sections stored raw (level 0) do not enter the stream
//! on either side. A level change ends the open frame (`ZSTD_e_end`) at the
//! start of the next compressed section and opens a new frame at the new
//! level; the decoder needs no notice, as zstd frames are self-delimiting.
//!
//! # Bounds
//!
//! The encoder sets each kind's window explicitly and the decoder refuses
//! frames that ask for more (`ZSTD_d_windowLogMax`), so a malicious source
//! cannot make the destination allocate more than
//! [`STREAM_WINDOWS_BYTES_MAX`] per decoder. Each section's output is bounded
//! by its buffer; a section that decodes to more is an error.

use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer, ResetDirective};

use crate::CodecError;

/// The three streamed section kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind {
    /// Control records.
    Control,
    /// Delta token streams.
    Tokens,
    /// Literal pages.
    Literals,
}

impl SectionKind {
    /// log2 of the stream's window: how far back a match may reach.
    pub(crate) const fn window_log(self) -> u32 {
        match self {
            SectionKind::Control => 17,
            SectionKind::Tokens => 20,
            SectionKind::Literals => 21,
        }
    }
}

/// Lowest zstd level whose sections go through the streams. Below it each
/// section is a frame of its own: on t30s, one stream instead of a frame
/// per section saved 0.2 % at level 1 (95.10 -> 94.88 MB) and cost 20-35 %
/// of encode and decode speed (the window is then kept in zstd's own
/// buffer, matched in its slower `extDict` mode and copied out again); at
/// level 3 it saved 3.7 % (89.8 -> 86.5 MB), where the link, not the
/// encoder, is the bottleneck.
pub const STREAM_LEVEL_MIN: i32 = 3;

/// Most bytes of history the three decoder streams keep (their windows).
pub const STREAM_WINDOWS_BYTES_MAX: usize = (1 << 17) + (1 << 20) + (1 << 21);

/// Most bytes a flushed section adds to its raw content: frame header (18),
/// the end of a previous frame on a level change (block header 3 +
/// checksum 4), and a 3-byte header per block of at most 128 KiB (a section
/// is under 512 KiB: 4 blocks, plus one for a flush boundary).
pub const SECTION_OVERHEAD_MAX: usize = 18 + 7 + 5 * 3;

const _: () = assert!(SectionKind::Literals.window_log() <= 27);

/// Encoder side of one section kind's stream.
pub(crate) struct SectionEncoder {
    kind: SectionKind,
    cctx: CCtx<'static>,
    /// Level of the open frame, `None` before the first compressed section.
    frame_level: Option<i32>,
}

impl SectionEncoder {
    /// A stream for `kind`, with no frame open yet.
    pub(crate) fn new(kind: SectionKind) -> Result<Self, CodecError> {
        let mut cctx = CCtx::try_create().ok_or(CodecError::Config {
            reason: "zstd context allocation failed",
        })?;
        cctx.set_parameter(CParameter::WindowLog(kind.window_log()))
            .map_err(|c| CodecError::zstd("compress", c))?;
        Ok(Self {
            kind,
            cctx,
            frame_level: None,
        })
    }

    /// Compresses `raw` at `level` (non-zero) into `out` as the next piece
    /// of this stream; returns the bytes written. `out` must hold at least
    /// `raw.len() + SECTION_OVERHEAD_MAX`.
    pub(crate) fn compress(
        &mut self,
        level: i32,
        raw: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CodecError> {
        debug_assert!(level != 0, "level 0 sections are stored raw");
        let zstd = |c| CodecError::zstd("compress", c);
        let mut output = OutBuffer::around(out);
        if self.frame_level != Some(level) {
            if self.frame_level.is_some() {
                // End the open frame; zstd keeps nothing buffered after a flush.
                let mut empty = InBuffer::around(&[]);
                let left = self
                    .cctx
                    .compress_stream2(&mut output, &mut empty, ZSTD_EndDirective::ZSTD_e_end)
                    .map_err(zstd)?;
                if left != 0 {
                    return Err(self.overflow());
                }
            }
            self.cctx
                .set_parameter(CParameter::CompressionLevel(level))
                .map_err(zstd)?;
            // A level resets the window to the level's default: set it back.
            self.cctx
                .set_parameter(CParameter::WindowLog(self.kind.window_log()))
                .map_err(zstd)?;
            self.frame_level = Some(level);
        }
        let mut input = InBuffer::around(raw);
        let left = self
            .cctx
            .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
            .map_err(zstd)?;
        if left != 0 || input.pos() != raw.len() {
            return Err(self.overflow());
        }
        Ok(output.pos())
    }

    /// The output buffer was too small: a bug in the caller's bound. The
    /// stream is unusable from here; start a new frame on the next call.
    fn overflow(&mut self) -> CodecError {
        // Best effort: the error below is what matters.
        let _ = self.cctx.reset(ResetDirective::SessionOnly);
        self.frame_level = None;
        CodecError::Config {
            reason: "section output buffer below its bound",
        }
    }
}

/// Decoder side of one section kind's stream.
pub(crate) struct SectionDecoder {
    dctx: DCtx<'static>,
}

impl SectionDecoder {
    /// A stream for `kind`: frames asking for a larger window are refused.
    pub(crate) fn new(kind: SectionKind) -> Self {
        let mut dctx = DCtx::create();
        dctx.set_parameter(DParameter::WindowLogMax(kind.window_log()))
            .expect("a window log within zstd's range, asserted above");
        Self { dctx }
    }

    /// Decompresses the next piece of this stream into `buf`, whose length
    /// bounds the section: every input byte must be consumed and the output
    /// must fit. Returns the bytes written.
    pub(crate) fn decompress(
        &mut self,
        stored: &[u8],
        buf: &mut [u8],
        too_long: &'static str,
    ) -> Result<usize, CodecError> {
        let mut output = OutBuffer::around(buf);
        let mut input = InBuffer::around(stored);
        // Each call makes progress on input or output; a flushed section
        // ends with both consumed. Frames (level changes) may follow each
        // other inside one section.
        loop {
            let before = (input.pos(), output.pos());
            self.dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(|c| CodecError::zstd("decompress", c))?;
            if input.pos() == stored.len() {
                break;
            }
            if output.pos() == output.capacity() {
                return Err(CodecError::layout(too_long));
            }
            if (input.pos(), output.pos()) == before {
                return Err(CodecError::layout("zstd section made no progress"));
            }
        }
        // All input read, room left: zstd has flushed everything it can.
        // With the buffer full, more output may be pending: refuse rather
        // than leave it for the next batch.
        if output.pos() == output.capacity() && !stored.is_empty() {
            let mut probe = [0u8; 1];
            let mut probe_out = OutBuffer::around(&mut probe[..]);
            let mut nothing = InBuffer::around(&[]);
            self.dctx
                .decompress_stream(&mut probe_out, &mut nothing)
                .map_err(|c| CodecError::zstd("decompress", c))?;
            if probe_out.pos() != 0 {
                return Err(CodecError::layout(too_long));
            }
        }
        Ok(output.pos())
    }

    /// Forgets the stream after an error: the next section must start a
    /// new frame (what a fresh encoder writes).
    pub(crate) fn reset(&mut self) {
        self.dctx
            .reset(ResetDirective::SessionOnly)
            .expect("a session reset does not fail");
    }
}
