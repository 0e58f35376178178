//! Frame header: the 24 bytes in front of every frame after the handshake.
//!
//! ```text
//! offset  size  field
//!      0     4  magic      u32 LE = 0x4643_5744 (bytes 'D' 'W' 'C' 'F')
//!      4     1  kind       FrameKind (0 = Invalid, never valid)
//!      5     1  flags      FRAME_FLAG_PLAINTEXT is the only defined bit
//!      6     2  stream_id  u16 LE, < STREAMS_MAX
//!      8     8  seq        u64 LE, >= 1, +1 per frame on the stream
//!     16     4  body_len   u32 LE, FRAME_TAG_LEN..=FRAME_BODY_LEN_MAX (tag included)
//!     20     4  reserved   u32, must be 0
//! ```
//!
//! The header is the AEAD associated data; the body that follows is
//! `ciphertext ‖ 16-byte tag` (or `plaintext ‖ xxh3-128 checksum` when
//! `FRAME_FLAG_PLAINTEXT` is set).

use crate::error::WireError;
use crate::limits::{FRAME_BODY_LEN_MAX, FRAME_HEADER_LEN, FRAME_TAG_LEN, STREAMS_MAX};
use crate::wire_reader::Reader;

/// Frame magic: the bytes `D W C F` read as a little-endian u32.
pub const FRAME_MAGIC: u32 = 0x4643_5744;
/// Body is plaintext followed by an xxh3-128 checksum instead of AEAD output.
pub const FRAME_FLAG_PLAINTEXT: u8 = 0x01;
/// Every flag bit v1 defines; any other bit is rejected.
pub const FRAME_FLAGS_KNOWN: u8 = FRAME_FLAG_PLAINTEXT;

const _: () = assert!(u32::from_le_bytes(*b"DWCF") == FRAME_MAGIC);
#[allow(clippy::cast_possible_truncation)] // FRAME_TAG_LEN is 16
const FRAME_TAG_LEN_U32: u32 = FRAME_TAG_LEN as u32;
const _: () = assert!(FRAME_TAG_LEN_U32 as usize == FRAME_TAG_LEN);

/// What a frame's body contains.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Never valid on the wire; a zeroed header does not decode.
    Invalid = 0,
    /// A batch of pages (`BatchView` / `BatchWriter`), source → destination.
    PageBatch = 1,
    /// `Ack`, destination → source.
    Ack = 2,
    /// `RoundEnd`, source → destination on stream 0.
    RoundEnd = 3,
    /// `Final`, source → destination on stream 0.
    Final = 4,
    /// `VerifyResult`, destination → source on stream 0.
    VerifyResult = 5,
    /// `Abort`, either direction, any stream.
    Abort = 6,
    /// Pages encoded by the page codec, source → destination: `u32` LE
    /// round, then one encoded batch (`dwcp_codec::format`). Only sent when
    /// the handshake granted [`crate::limits::CAP_PAGE_CODEC`]; every page
    /// of it belongs to the stream's stripes ([`crate::limits::stream_of_page`]).
    EncodedBatch = 7,
    /// `Commit`, source → destination on stream 0, after an ok verdict:
    /// the source hands the guest over. Only sent when the handshake granted
    /// [`crate::limits::CAP_HANDOVER_COMMIT`].
    Commit = 8,
    /// `Goodbye`, source → destination on stream 0, empty: the source's
    /// last frame, once the destination acknowledged `Commit` (part of
    /// [`crate::limits::CAP_HANDOVER_COMMIT`]).
    Goodbye = 9,
}

impl FrameKind {
    /// Maps a wire byte to a valid kind; 0 (`Invalid`) and unknown bytes give `None`.
    pub const fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::PageBatch),
            2 => Some(Self::Ack),
            3 => Some(Self::RoundEnd),
            4 => Some(Self::Final),
            5 => Some(Self::VerifyResult),
            6 => Some(Self::Abort),
            7 => Some(Self::EncodedBatch),
            8 => Some(Self::Commit),
            9 => Some(Self::Goodbye),
            _ => None,
        }
    }

    /// The wire byte of this kind.
    pub const fn to_wire(self) -> u8 {
        self as u8
    }
}

/// A decoded, validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the body holds.
    pub kind: FrameKind,
    /// Flag bits (`FRAME_FLAG_PLAINTEXT`).
    pub flags: u8,
    /// Stream the frame belongs to, `< STREAMS_MAX`.
    pub stream_id: u16,
    /// Per-stream sequence number, starting at 1.
    pub seq: u64,
    /// Body length in bytes, tag included.
    pub body_len: u32,
}

impl FrameHeader {
    /// Encodes the header. Does not validate: encoding an invalid header
    /// produces bytes that `decode` rejects.
    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        let fields: [(usize, &[u8]); 6] = [
            (0, &FRAME_MAGIC.to_le_bytes()),
            (4, &[self.kind.to_wire()]),
            (5, &[self.flags]),
            (6, &self.stream_id.to_le_bytes()),
            (8, &self.seq.to_le_bytes()),
            (16, &self.body_len.to_le_bytes()),
        ];
        for (offset, bytes) in fields {
            if let Some(dst) = out.get_mut(offset..offset + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        out
    }

    /// Decodes and validates the first `FRAME_HEADER_LEN` bytes of `bytes`
    /// (anything after them is the body and is ignored here).
    ///
    /// Rejects: fewer than 24 bytes (`Truncated`), bad magic, kind 0 or
    /// unknown, unknown flag bits, reserved != 0, `stream_id >= STREAMS_MAX`,
    /// `seq == 0`, `body_len < FRAME_TAG_LEN`, `body_len > FRAME_BODY_LEN_MAX`.
    pub fn decode(bytes: &[u8]) -> Result<FrameHeader, WireError> {
        let head = bytes.get(..FRAME_HEADER_LEN).ok_or(WireError::Truncated {
            what: "frame header",
            needed: FRAME_HEADER_LEN,
            got: bytes.len(),
        })?;
        let mut r = Reader::new(head, "frame header");
        let magic = r.u32()?;
        if magic != FRAME_MAGIC {
            return Err(WireError::BadMagic { found: magic });
        }
        let kind_byte = r.u8()?;
        let kind = FrameKind::from_wire(kind_byte).ok_or(WireError::UnknownFrameKind(kind_byte))?;
        let flags = r.u8()?;
        if flags & !FRAME_FLAGS_KNOWN != 0 {
            return Err(WireError::UnknownFrameFlags {
                flags,
                allowed: FRAME_FLAGS_KNOWN,
            });
        }
        let stream_id = r.u16()?;
        let seq = r.u64()?;
        let body_len = r.u32()?;
        r.reserved::<4>("frame header reserved")?;
        r.finish()?;
        if stream_id >= STREAMS_MAX {
            return Err(WireError::StreamIdOutOfRange {
                stream_id,
                limit: STREAMS_MAX,
            });
        }
        if seq == 0 {
            return Err(WireError::ZeroSeq { stream_id });
        }
        if body_len < FRAME_TAG_LEN_U32 {
            return Err(WireError::BodyTooShort {
                body_len,
                min: FRAME_TAG_LEN_U32,
            });
        }
        if body_len > FRAME_BODY_LEN_MAX {
            return Err(WireError::BodyTooLong {
                body_len,
                max: FRAME_BODY_LEN_MAX,
            });
        }
        Ok(FrameHeader {
            kind,
            flags,
            stream_id,
            seq,
            body_len,
        })
    }

    /// True when the body is plaintext with an xxh3-128 checksum tag.
    pub fn is_plaintext(&self) -> bool {
        self.flags & FRAME_FLAG_PLAINTEXT != 0
    }

    /// Length of the body without the tag (the plaintext length).
    pub fn payload_len(&self) -> usize {
        usize::try_from(self.body_len)
            .unwrap_or(usize::MAX)
            .saturating_sub(FRAME_TAG_LEN)
    }

    /// Total frame length on the wire: header plus body.
    pub fn frame_len(&self) -> usize {
        usize::try_from(self.body_len)
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_HEADER_LEN)
    }
}

#[cfg(test)]
#[path = "frame_test.rs"]
mod tests;
