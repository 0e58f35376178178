//! Destination side: applies one encoded batch to the destination image.
//!
//! The destination image's current content of each page is the version the
//! source last sent, which is what Duplicate and Delta records refer to.
//!
//! # Checks
//!
//! Every malformed input is a [`CodecError`], never a panic. A batch is
//! decoded in two passes: the first decompresses the sections into fixed
//! buffers and checks the whole structure (trailer, every record's index,
//! tag and length, and that the records use each section exactly), so a
//! structurally bad batch leaves `memory` unchanged. The second applies the
//! records in order; a token stream or prefix frame that turns out bad
//! there stops it with an error after the records before it were written,
//! so a decode error is fatal for the migration (the destination discards
//! the image).
//!
//! # Allocation
//!
//! None after [`Decoder::new`]: zstd output goes into fixed buffers at the
//! format's bounds, so a frame that claims more is an error.

use zstd_safe::DCtx;

use crate::delta::decode_tokens;
use crate::format::{
    get_varint, offset_index, Tag, Trailer, BATCH_PAYLOAD_PAGES_MAX, CONTROL_LEN_MAX,
    FLAG_CONTROL_ZSTD, FLAG_LITERALS_ZSTD, FLAG_STREAMED, FLAG_TOKENS_ZSTD,
};
use crate::stream::{SectionDecoder, SectionKind};
use crate::{CodecError, DELTA_TOKENS_MAX, PAGE_SIZE};

/// Destination-side batch decoder.
pub struct Decoder {
    /// One-shot context: prefix (dictionary) deltas, and sections that are
    /// frames of their own.
    dctx: DCtx<'static>,
    control_stream: SectionDecoder,
    tokens_stream: SectionDecoder,
    literals_stream: SectionDecoder,
    control: Box<[u8]>,
    tokens: Box<[u8]>,
    literals: Box<[u8]>,
    page: Box<[u8; PAGE_SIZE]>,
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

/// One control record, as parsed.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// First page.
    index: u64,
    tag: Tag,
    /// Duplicate: source index of the first page. Delta/Prefix: bytes in their section.
    value: u64,
    /// Pages covered (consecutive from `index`).
    pages: u64,
}

/// Walks the control records of a batch.
struct Records<'a> {
    control: &'a [u8],
    at: usize,
    expected: u64,
    page_count: u64,
}

impl Records<'_> {
    /// The next record; `pages_left` bounds its run.
    fn next_record(&mut self, pages_left: u64) -> Result<Record, CodecError> {
        let out_of_range = |base: u64, encoded: u64| CodecError::IndexOutOfRange {
            index: base.wrapping_add_signed(crate::format::unzigzag(encoded)),
            page_count: self.page_count,
        };
        let delta = get_varint(self.control, &mut self.at)?;
        let index = offset_index(self.expected, delta)
            .filter(|&i| i < self.page_count)
            .ok_or(out_of_range(self.expected, delta))?;
        let tag = *self
            .control
            .get(self.at)
            .ok_or(CodecError::layout("control section ends inside a record"))?;
        self.at += 1;
        let tag = Tag::from_u8(tag)?;
        let value = match tag {
            Tag::Zero | Tag::Literal => 0,
            Tag::Duplicate => {
                let encoded = get_varint(self.control, &mut self.at)?;
                offset_index(index, encoded)
                    .filter(|&s| s < self.page_count)
                    .ok_or(out_of_range(index, encoded))?
            }
            Tag::Delta | Tag::Prefix => {
                let len = get_varint(self.control, &mut self.at)?;
                if len == 0 || len >= PAGE_SIZE as u64 {
                    return Err(CodecError::layout("delta length is 0 or not under a page"));
                }
                len
            }
        };
        let pages = if tag.runs() {
            get_varint(self.control, &mut self.at)?.saturating_add(1)
        } else {
            1
        };
        if pages > pages_left {
            return Err(CodecError::layout("a run covers more pages than the batch"));
        }
        // The run's last page, and for a duplicate run its last source, must exist.
        let last = index + (pages - 1);
        if last >= self.page_count
            || (tag == Tag::Duplicate && value + (pages - 1) >= self.page_count)
        {
            return Err(CodecError::IndexOutOfRange {
                index: last,
                page_count: self.page_count,
            });
        }
        self.expected = last + 1;
        Ok(Record {
            index,
            tag,
            value,
            pages,
        })
    }
}

impl Decoder {
    /// A decoder with its zstd contexts and buffers (about 0.5 MiB; the
    /// streams' windows come with their first compressed section).
    pub fn new() -> Self {
        Self {
            dctx: DCtx::create(),
            control_stream: SectionDecoder::new(SectionKind::Control),
            tokens_stream: SectionDecoder::new(SectionKind::Tokens),
            literals_stream: SectionDecoder::new(SectionKind::Literals),
            control: vec![0u8; CONTROL_LEN_MAX].into_boxed_slice(),
            tokens: vec![0u8; BATCH_PAYLOAD_PAGES_MAX * DELTA_TOKENS_MAX].into_boxed_slice(),
            literals: vec![0u8; BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE].into_boxed_slice(),
            page: Box::new([0u8; PAGE_SIZE]),
        }
    }

    /// Applies `batch` to `memory` (the whole destination image, a multiple
    /// of 4096 bytes) and calls `on_page(index, content)` after each page is
    /// written. Returns the number of pages in the batch.
    ///
    /// Batches must come in the order the encoder finished them (their
    /// compressed sections continue zstd streams). After an error the
    /// streams are reset: the decoder then accepts what a fresh encoder
    /// writes, not the failed stream's continuation.
    pub fn decode_batch(
        &mut self,
        batch: &[u8],
        memory: &mut [u8],
        on_page: impl FnMut(u64, &[u8]),
    ) -> Result<usize, CodecError> {
        // A length that is not whole pages is refused inside.
        let page_count = (memory.len() / PAGE_SIZE) as u64;
        self.decode_batch_mapped(batch, memory, page_count, |index| index, on_page)
    }

    /// As [`Decoder::decode_batch`], for an encoder that numbered its pages
    /// `0..page_count` while they lie elsewhere in `memory`: page `i` is
    /// `memory`'s page `place(i)`. `place` must map `0..page_count` one to
    /// one into `memory`'s pages (else this panics on an index past its
    /// end); `on_page` gets the encoder's numbering.
    pub fn decode_batch_mapped(
        &mut self,
        batch: &[u8],
        memory: &mut [u8],
        page_count: u64,
        place: impl Fn(u64) -> u64,
        mut on_page: impl FnMut(u64, &[u8]),
    ) -> Result<usize, CodecError> {
        self.decode_batch_sparse(
            batch,
            memory,
            page_count,
            place,
            |_| false,
            |index, content| on_page(index, content.bytes()),
        )
    }

    /// As [`Decoder::decode_batch_mapped`], for a destination that knows
    /// which of its pages already hold zeros (a fresh image: every page it
    /// has not written yet). A zero page for which `known_zero(index)` is
    /// true is not written: its memory is not touched at all, so a fresh
    /// image's page is never faulted in or cleared for it. `on_page` is
    /// told [`PageContent::Zero`] for every zero page, written or not, and
    /// can account for it without reading the page.
    pub fn decode_batch_sparse(
        &mut self,
        batch: &[u8],
        memory: &mut [u8],
        page_count: u64,
        place: impl Fn(u64) -> u64,
        known_zero: impl Fn(u64) -> bool,
        on_page: impl FnMut(u64, PageContent<'_>),
    ) -> Result<usize, CodecError> {
        let result = self.decode_batch_inner(batch, memory, page_count, place, known_zero, on_page);
        if result.is_err() {
            self.control_stream.reset();
            self.tokens_stream.reset();
            self.literals_stream.reset();
        }
        result
    }

    fn decode_batch_inner(
        &mut self,
        batch: &[u8],
        memory: &mut [u8],
        page_count: u64,
        place: impl Fn(u64) -> u64,
        known_zero: impl Fn(u64) -> bool,
        mut on_page: impl FnMut(u64, PageContent<'_>),
    ) -> Result<usize, CodecError> {
        if !memory.len().is_multiple_of(PAGE_SIZE) {
            return Err(CodecError::MemoryLength { len: memory.len() });
        }
        let (trailer, _) = Trailer::read(batch)?;
        let (control, rest) = batch.split_at(trailer.control_len);
        let (tokens, rest) = rest.split_at(trailer.tokens_len);
        let (prefix, rest) = rest.split_at(trailer.prefix_len);
        let (literals, _) = rest.split_at(trailer.literals_len);

        let streamed = trailer.flags & FLAG_STREAMED != 0;
        let control = section(
            streamed.then_some(&mut self.control_stream),
            &mut self.dctx,
            control,
            trailer.flags & FLAG_CONTROL_ZSTD != 0,
            &mut self.control,
            "control section is too long",
        )?;
        let tokens = section(
            streamed.then_some(&mut self.tokens_stream),
            &mut self.dctx,
            tokens,
            trailer.flags & FLAG_TOKENS_ZSTD != 0,
            &mut self.tokens,
            "tokens section is too long",
        )?;
        let literals = section(
            streamed.then_some(&mut self.literals_stream),
            &mut self.dctx,
            literals,
            trailer.flags & FLAG_LITERALS_ZSTD != 0,
            &mut self.literals,
            "literals section is too long",
        )?;
        let dctx = &mut self.dctx;

        // Pass 1: structure.
        let records = || Records {
            control,
            at: 0,
            expected: trailer.first_index,
            page_count,
        };
        let mut walk = records();
        let (mut tokens_used, mut prefix_used, mut literals_used) = (0u64, 0u64, 0u64);
        let mut payload_pages = 0u64;
        let mut pages_left = trailer.page_count as u64;
        while pages_left > 0 {
            let r = walk.next_record(pages_left)?;
            pages_left -= r.pages;
            match r.tag {
                Tag::Delta => tokens_used += r.value,
                Tag::Prefix => prefix_used += r.value,
                Tag::Literal => literals_used += r.pages * PAGE_SIZE as u64,
                Tag::Zero | Tag::Duplicate => continue,
            }
            payload_pages += r.pages;
        }
        if payload_pages > BATCH_PAYLOAD_PAGES_MAX as u64 {
            return Err(CodecError::layout(
                "more pages with a payload than a batch holds",
            ));
        }
        if walk.at != control.len() {
            return Err(CodecError::layout(
                "control section has bytes after the last record",
            ));
        }
        if tokens_used != tokens.len() as u64 {
            return Err(CodecError::layout(
                "delta lengths do not match the tokens section",
            ));
        }
        if prefix_used != prefix.len() as u64 {
            return Err(CodecError::layout(
                "prefix lengths do not match the prefix section",
            ));
        }
        if literals_used != literals.len() as u64 {
            return Err(CodecError::layout(
                "literal pages do not match the literals section",
            ));
        }

        // Pass 2: apply, in order.
        let mut walk = records();
        let (mut tokens_at, mut prefix_at, mut literals_at) = (0usize, 0usize, 0usize);
        let mut pages_left = trailer.page_count as u64;
        while pages_left > 0 {
            let r = walk.next_record(pages_left).expect("checked in pass 1");
            pages_left -= r.pages;
            for k in 0..r.pages {
                let index = r.index + k;
                let dst = page_offset(place(index));
                match r.tag {
                    Tag::Zero => {
                        if !known_zero(index) {
                            memory[dst..dst + PAGE_SIZE].fill(0);
                        }
                        on_page(index, PageContent::Zero);
                        continue;
                    }
                    Tag::Duplicate => {
                        let src = page_offset(place(r.value + k));
                        memory.copy_within(src..src + PAGE_SIZE, dst);
                    }
                    Tag::Literal => {
                        memory[dst..dst + PAGE_SIZE]
                            .copy_from_slice(&literals[literals_at..literals_at + PAGE_SIZE]);
                        literals_at += PAGE_SIZE;
                    }
                    Tag::Delta => {
                        let n = usize::try_from(r.value).expect("below a page, checked in pass 1");
                        decode_tokens(&tokens[tokens_at..tokens_at + n], &mut self.page)?;
                        tokens_at += n;
                        for (m, x) in memory[dst..dst + PAGE_SIZE]
                            .iter_mut()
                            .zip(self.page.iter())
                        {
                            *m ^= x;
                        }
                    }
                    Tag::Prefix => {
                        let n = usize::try_from(r.value).expect("below a page, checked in pass 1");
                        let frame = &prefix[prefix_at..prefix_at + n];
                        prefix_at += n;
                        let old = &memory[dst..dst + PAGE_SIZE];
                        let got = dctx
                            .decompress_using_dict(&mut self.page[..], frame, old)
                            .map_err(|c| CodecError::zstd("decompress", c))?;
                        if got != PAGE_SIZE {
                            return Err(CodecError::ZstdOutputLength {
                                len: got,
                                expected: PAGE_SIZE,
                            });
                        }
                        memory[dst..dst + PAGE_SIZE].copy_from_slice(&self.page[..]);
                    }
                }
                on_page(index, PageContent::Bytes(&memory[dst..dst + PAGE_SIZE]));
            }
        }
        Ok(trailer.page_count)
    }
}

/// What a page holds after a batch wrote it, as told to
/// [`Decoder::decode_batch_sparse`]'s `on_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageContent<'a> {
    /// All zeros (written, or already zero and left untouched).
    Zero,
    /// These bytes: the page in the destination's memory.
    Bytes(&'a [u8]),
}

impl<'a> PageContent<'a> {
    /// The page's bytes (a static zero page for [`PageContent::Zero`]).
    pub fn bytes(self) -> &'a [u8] {
        match self {
            PageContent::Zero => &ZERO_PAGE,
            PageContent::Bytes(bytes) => bytes,
        }
    }
}

static ZERO_PAGE: [u8; PAGE_SIZE] = [0u8; PAGE_SIZE];

/// A section's raw content: `stored` itself, or decompressed into `buf`
/// (which bounds it): as the next piece of `stream` when the batch is
/// streamed, else as a zstd frame of its own.
fn section<'a>(
    stream: Option<&mut SectionDecoder>,
    dctx: &mut DCtx<'static>,
    stored: &'a [u8],
    compressed: bool,
    buf: &'a mut [u8],
    too_long: &'static str,
) -> Result<&'a [u8], CodecError> {
    if !compressed {
        if stored.len() > buf.len() {
            return Err(CodecError::layout(too_long));
        }
        return Ok(stored);
    }
    let n = match stream {
        Some(stream) => stream.decompress(stored, buf, too_long)?,
        None => dctx
            .decompress(buf, stored)
            .map_err(|c| CodecError::zstd("decompress", c))?,
    };
    Ok(&buf[..n])
}

/// Byte offset of page `index` (checked against the image by the caller).
fn page_offset(index: u64) -> usize {
    usize::try_from(index).expect("index < page_count fits usize") * PAGE_SIZE
}

#[cfg(test)]
mod tests;
