//! The encoded batch layout, shared by the encoder and the decoder.
//!
//! # Layout
//!
//! An encoded batch is four sections then a trailer:
//!
//! ```text
//! control | tokens | prefix | literals | trailer
//! ```
//!
//! - `control`: records in page order: `varint zigzag(index - expected)`
//!   (`expected` is the batch's first page, then the page after the previous
//!   record's last, so consecutive pages cost one byte), a `Tag` byte, then
//!   for `Duplicate` `varint zigzag(source - index)`, for `Delta` and
//!   `Prefix` `varint length` of that page's bytes in `tokens` / `prefix`;
//!   and for `Zero`, `Duplicate` and `Literal` a last `varint run`: the
//!   record also covers the `run` pages after `index` (a `Duplicate` run
//!   keeps the same `source - index` distance), so a batch of 64 zero
//!   pages is one 4-byte record.
//! - `tokens`: the XOR token streams of the `Delta` pages, concatenated.
//! - `prefix`: the `Prefix` pages' zstd frames (each the new page compressed
//!   with the destination's current page as raw-content dictionary), raw.
//! - `literals`: the `Literal` pages' 4096 bytes each, concatenated.
//! - trailer (read from the end): `varint page_count`, `varint first_index`,
//!   `varint` stored length of each of the four sections, a flags byte, the
//!   format byte, and last the trailer's own length in bytes (without that
//!   last byte).
//!
//! Flags bit 0/1/2: the control/tokens/literals section is compressed;
//! otherwise raw. Bit 3: the compressed sections are the next pieces of
//! their kinds' zstd streams (flushed, so each decodes to exactly its
//! section; see `stream.rs`); without it each is a zstd frame of its own. Other bits must
//! be zero. A trailer at the end lets the encoder write every section
//! straight into the output buffer, with no copy to make room for a header.
//!
//! Varints are LEB128, at most 10 bytes; a tenth byte above 1 or an
//! overlong encoding of a value is an error, so every value has one encoding.

use crate::{CodecError, PAGE_SIZE};

/// The only batch format this codec writes or reads. 2: a batch covers up
/// to [`BATCH_PAGES_MAX`] pages and compressed sections may continue their
/// kind's zstd stream across batches (`stream.rs`); 1 had 64-page batches
/// and a zstd frame per section.
pub const BATCH_FORMAT: u8 = 2;

/// Most pages one batch covers. Zero and duplicate pages cost only their
/// control records, so a batch may cover far more pages than it carries:
/// fewer batches means fewer zstd flushes and trailers (on t30s given t05s,
/// where most pages are unchanged, 4,096 batches of 64 pages cost 0.18 MB
/// of control and trailers alone).
pub const BATCH_PAGES_MAX: usize = 1024;

/// Most pages of one batch that carry a payload (literal, delta token
/// stream or prefix frame): bounds the batch's length (the wire's
/// `PAGES_PER_BATCH_MAX`).
pub const BATCH_PAYLOAD_PAGES_MAX: usize = 64;

/// Longest record in the control section: index varint, tag, value varint
/// (its run length is accounted separately when the run closes).
pub(crate) const CONTROL_RECORD_MAX: usize = 10 + 1 + 10;

/// Most bytes of a control section (raw). The encoder closes a batch before
/// a record could pass it; the decoder rejects more.
pub const CONTROL_LEN_MAX: usize = 4096;

/// Most bytes of a trailer, its length byte excluded: six varints, flags, format.
pub(crate) const TRAILER_LEN_MAX: usize = 6 * 10 + 2;

/// Most raw bytes of a batch's control, tokens, prefix and literal
/// sections together: a full payload (64 pages) leaves 840 bytes of
/// control; fewer payload pages leave room for more records, up to
/// [`CONTROL_LEN_MAX`]. Chosen so that [`ENCODED_BATCH_LEN_MAX`] fits the
/// wire's largest frame (asserted in the data plane's engine).
pub const BATCH_RAW_LEN_MAX: usize = BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE + 840;

/// Most bytes of an encoded batch: its raw sections (a token stream or
/// prefix frame is only chosen when shorter than a page), zstd's framing of
/// up to three compressed sections, and the trailer.
pub const ENCODED_BATCH_LEN_MAX: usize =
    BATCH_RAW_LEN_MAX + 3 * crate::stream::SECTION_OVERHEAD_MAX + TRAILER_LEN_MAX + 1;

const _: () = assert!(BATCH_PAGES_MAX * CONTROL_RECORD_MAX > CONTROL_LEN_MAX);
const _: () = assert!(CONTROL_LEN_MAX >= 16 * CONTROL_RECORD_MAX);
const _: () = assert!(TRAILER_LEN_MAX < 256);
const _: () = assert!(BATCH_PAYLOAD_PAGES_MAX <= BATCH_PAGES_MAX);
const _: () =
    assert!(BATCH_RAW_LEN_MAX >= BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE + 16 * CONTROL_RECORD_MAX);

/// Flag: the control section is a zstd frame.
pub(crate) const FLAG_CONTROL_ZSTD: u8 = 1;
/// Flag: the tokens section is a zstd frame.
pub(crate) const FLAG_TOKENS_ZSTD: u8 = 2;
/// Flag: the literals section is a zstd frame.
pub(crate) const FLAG_LITERALS_ZSTD: u8 = 4;
/// Flag: the batch's compressed sections are pieces of their kinds' zstd
/// streams (`stream.rs`), not frames of their own.
pub(crate) const FLAG_STREAMED: u8 = 8;
const FLAGS_KNOWN: u8 = FLAG_CONTROL_ZSTD | FLAG_TOKENS_ZSTD | FLAG_LITERALS_ZSTD | FLAG_STREAMED;

/// Control record tag. 0 is never valid, so zeroed bytes never decode.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Zero = 1,
    Duplicate = 2,
    Delta = 3,
    Prefix = 4,
    Literal = 5,
}

impl Tag {
    pub(crate) fn from_u8(tag: u8) -> Result<Self, CodecError> {
        match tag {
            1 => Ok(Self::Zero),
            2 => Ok(Self::Duplicate),
            3 => Ok(Self::Delta),
            4 => Ok(Self::Prefix),
            5 => Ok(Self::Literal),
            _ => Err(CodecError::InvalidKind { tag }),
        }
    }

    /// True when the record carries a value varint (duplicate offset or delta length).
    pub(crate) fn has_value(self) -> bool {
        matches!(self, Tag::Duplicate | Tag::Delta | Tag::Prefix)
    }

    /// True when the record ends with a run length (it may cover consecutive pages).
    pub(crate) fn runs(self) -> bool {
        matches!(self, Tag::Zero | Tag::Duplicate | Tag::Literal)
    }
}

/// Section lengths as stored, and what the trailer says about the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trailer {
    pub(crate) page_count: usize,
    pub(crate) first_index: u64,
    pub(crate) control_len: usize,
    pub(crate) tokens_len: usize,
    pub(crate) prefix_len: usize,
    pub(crate) literals_len: usize,
    pub(crate) flags: u8,
}

impl Trailer {
    /// Appends the trailer and its length byte to `out` at `pos`; returns the new end.
    pub(crate) fn write(&self, out: &mut [u8], pos: usize) -> Result<usize, CodecError> {
        let mut buf = [0u8; TRAILER_LEN_MAX];
        let mut n = 0;
        for value in [
            self.page_count as u64,
            self.first_index,
            self.control_len as u64,
            self.tokens_len as u64,
            self.prefix_len as u64,
            self.literals_len as u64,
        ] {
            n += put_varint(&mut buf[n..], value);
        }
        buf[n] = self.flags;
        buf[n + 1] = BATCH_FORMAT;
        n += 2;
        let end = pos + n + 1;
        let len = out.len();
        let dst = out
            .get_mut(pos..end)
            .ok_or(CodecError::OutputTooSmall { len, needed: end })?;
        dst[..n].copy_from_slice(&buf[..n]);
        dst[n] = u8::try_from(n).expect("TRAILER_LEN_MAX < 256");
        Ok(end)
    }

    /// Reads the trailer of `batch`; returns it and where the sections end.
    pub(crate) fn read(batch: &[u8]) -> Result<(Self, usize), CodecError> {
        let bad = |what: &'static str| CodecError::BatchLayout { what };
        let (&len_byte, rest) = batch.split_last().ok_or(bad("empty batch"))?;
        let len = usize::from(len_byte);
        if !(8..=TRAILER_LEN_MAX).contains(&len) || len > rest.len() {
            return Err(bad("trailer length"));
        }
        let sections_end = rest.len() - len;
        let trailer = &rest[sections_end..];
        let (&format, trailer) = trailer.split_last().expect("len >= 8");
        if format != BATCH_FORMAT {
            return Err(CodecError::BatchFormat { format });
        }
        let (&flags, fields) = trailer.split_last().expect("len >= 8");
        if flags & !FLAGS_KNOWN != 0 {
            return Err(bad("unknown flags"));
        }
        let mut at = 0;
        let mut next = || get_varint(fields, &mut at);
        let page_count = next()?;
        let first_index = next()?;
        let lens = [next()?, next()?, next()?, next()?];
        if at != fields.len() {
            return Err(bad("trailer has trailing bytes"));
        }
        if page_count == 0 || page_count > BATCH_PAGES_MAX as u64 {
            return Err(bad("page count"));
        }
        let mut total = 0u64;
        for l in lens {
            total = total.saturating_add(l);
        }
        if total != sections_end as u64 {
            return Err(bad("section lengths do not add up to the batch"));
        }
        // Each length is at most `total`, which fits usize.
        let as_usize = |v: u64| usize::try_from(v).expect("bounded by the batch length");
        Ok((
            Self {
                page_count: as_usize(page_count),
                first_index,
                control_len: as_usize(lens[0]),
                tokens_len: as_usize(lens[1]),
                prefix_len: as_usize(lens[2]),
                literals_len: as_usize(lens[3]),
                flags,
            },
            sections_end,
        ))
    }
}

/// Writes `value` as LEB128 into `out`; returns the bytes written (`out` holds 10).
pub(crate) fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut n = 0;
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[n] = low;
            return n + 1;
        }
        out[n] = low | 0x80;
        n += 1;
    }
}

/// Appends `value` as LEB128 to `out`.
pub(crate) fn push_varint(out: &mut Vec<u8>, value: u64) {
    let mut buf = [0u8; 10];
    let n = put_varint(&mut buf, value);
    out.extend_from_slice(&buf[..n]);
}

/// Reads one LEB128 value at `*at`, advancing it.
pub(crate) fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, CodecError> {
    let start = *at;
    let bad = CodecError::Varint { offset: start };
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at).ok_or(bad.clone())?;
        *at += 1;
        if shift == 63 && byte > 1 {
            return Err(bad);
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            // One encoding per value: no trailing zero groups.
            if byte == 0 && shift > 0 {
                return Err(bad);
            }
            return Ok(value);
        }
    }
    Err(bad)
}

/// Zigzag: small magnitudes of either sign become small unsigned values.
pub(crate) fn zigzag(delta: i64) -> u64 {
    ((delta << 1) ^ (delta >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// `base + zigzag-decoded delta`, or `None` when it leaves `u64`.
pub(crate) fn offset_index(base: u64, encoded: u64) -> Option<u64> {
    base.checked_add_signed(unzigzag(encoded))
}

/// Signed distance `to - from` as a zigzag value (page indices fit `i64`).
pub(crate) fn index_delta(from: u64, to: u64) -> u64 {
    zigzag((to as i64).wrapping_sub(from as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut buf = [0u8; 10];
            let n = put_varint(&mut buf, v);
            let mut at = 0;
            assert_eq!(get_varint(&buf[..n], &mut at), Ok(v));
            assert_eq!(at, n);
        }
        let mut at = 0;
        assert!(get_varint(&[0x80, 0x00], &mut at).is_err(), "overlong zero");
        let mut at = 0;
        assert!(get_varint(&[0x80], &mut at).is_err(), "truncated");
        let mut at = 0;
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(get_varint(&too_big, &mut at).is_err(), "beyond u64");
    }

    #[test]
    fn zigzag_round_trips() {
        for d in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
        assert_eq!(index_delta(10, 9), 1);
        assert_eq!(offset_index(10, index_delta(10, 3)), Some(3));
        assert_eq!(offset_index(0, zigzag(-1)), None);
    }

    #[test]
    fn trailer_round_trips_and_rejects() {
        let t = Trailer {
            page_count: 3,
            first_index: 1 << 40,
            control_len: 7,
            tokens_len: 0,
            prefix_len: 2,
            literals_len: 4096,
            flags: FLAG_LITERALS_ZSTD,
        };
        let mut buf = vec![0u8; 7 + 2 + 4096 + TRAILER_LEN_MAX + 1];
        let end = t
            .write(&mut buf, 7 + 2 + 4096)
            .expect("room for the trailer");
        assert_eq!(Trailer::read(&buf[..end]), Ok((t, 7 + 2 + 4096)));
        // One byte more in a section than the lengths say.
        let mut longer = vec![0u8];
        longer.extend_from_slice(&buf[..end]);
        assert!(matches!(
            Trailer::read(&longer),
            Err(CodecError::BatchLayout { .. })
        ));
        let mut wrong_format = buf[..end].to_vec();
        let f = wrong_format.len() - 2;
        wrong_format[f] = 9;
        assert_eq!(
            Trailer::read(&wrong_format),
            Err(CodecError::BatchFormat { format: 9 })
        );
        assert!(Trailer::read(&[]).is_err());
        assert!(Trailer::read(&[200]).is_err());
    }
}
