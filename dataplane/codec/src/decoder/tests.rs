//! One test per decoder rejection, on batches built by hand. Each checks the
//! exact error and, for the structural ones (found in pass 1), that memory
//! is unchanged and no page was reported.

use super::Decoder;
use crate::format::{
    push_varint, zigzag, Tag, Trailer, BATCH_FORMAT, BATCH_PAGES_MAX, BATCH_PAYLOAD_PAGES_MAX,
    CONTROL_LEN_MAX, FLAG_CONTROL_ZSTD, FLAG_LITERALS_ZSTD, FLAG_STREAMED, FLAG_TOKENS_ZSTD,
    TRAILER_LEN_MAX,
};
use crate::{CodecError, DELTA_TOKENS_MAX, PAGE_SIZE};

const PAGES: usize = 4;

/// A 4-page image whose pages all differ (and none is zero).
fn memory() -> Vec<u8> {
    (0..PAGES * PAGE_SIZE)
        .map(|i| u8::try_from((i / PAGE_SIZE * 37 + i % 251 + 1) % 256).expect("< 256"))
        .collect()
}

fn page(mem: &[u8], i: usize) -> &[u8] {
    &mem[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
}

/// One control record: index delta (signed, from the expected index), tag
/// byte, the value varint if any, the run varint if any.
fn record(control: &mut Vec<u8>, delta: i64, tag: u8, value: Option<u64>, run: Option<u64>) {
    push_varint(control, zigzag(delta));
    control.push(tag);
    if let Some(v) = value {
        push_varint(control, v);
    }
    if let Some(r) = run {
        push_varint(control, r);
    }
}

/// The sections and trailer fields of a batch, assembled by `bytes`.
#[derive(Debug, Clone, Default)]
struct Batch {
    page_count: usize,
    first_index: u64,
    control: Vec<u8>,
    tokens: Vec<u8>,
    prefix: Vec<u8>,
    literals: Vec<u8>,
    flags: u8,
}

impl Batch {
    fn new(page_count: usize) -> Self {
        Self {
            page_count,
            ..Self::default()
        }
    }

    /// The encoded batch, section lengths taken from the sections.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in [&self.control, &self.tokens, &self.prefix, &self.literals] {
            out.extend_from_slice(s);
        }
        let pos = out.len();
        out.resize(pos + TRAILER_LEN_MAX + 1, 0);
        let end = Trailer {
            page_count: self.page_count,
            first_index: self.first_index,
            control_len: self.control.len(),
            tokens_len: self.tokens.len(),
            prefix_len: self.prefix.len(),
            literals_len: self.literals.len(),
            flags: self.flags,
        }
        .write(&mut out, pos)
        .expect("room for the trailer");
        out.truncate(end);
        out
    }
}

/// A trailer written field by field (for fields `Trailer::write` cannot
/// express), with its length byte.
fn raw_trailer(fields: &[u64], flags: u8, format: u8) -> Vec<u8> {
    let mut t = Vec::new();
    for &f in fields {
        push_varint(&mut t, f);
    }
    t.push(flags);
    t.push(format);
    let len = u8::try_from(t.len()).expect("short trailer");
    t.push(len);
    t
}

fn zstd_frame(content: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; zstd_safe::compress_bound(content.len())];
    let n = zstd_safe::compress(&mut buf[..], content, 1).expect("compress");
    buf.truncate(n);
    buf
}

/// `new` compressed with `old` as raw-content dictionary, as the encoder's
/// prefix deltas are.
fn prefix_frame(new: &[u8], old: &[u8]) -> Vec<u8> {
    let mut cctx = zstd_safe::CCtx::create();
    let mut buf = vec![0u8; zstd_safe::compress_bound(new.len())];
    let n = cctx
        .compress_using_dict(&mut buf[..], new, old, 1)
        .expect("compress with dictionary");
    buf.truncate(n);
    buf
}

/// XOR token stream that flips byte `at` of a page with `x`.
fn flip_tokens(at: usize, x: u8) -> Vec<u8> {
    let mut xor = [0u8; PAGE_SIZE];
    xor[at] = x;
    let mut out = Vec::new();
    assert!(crate::delta::encode_tokens(&xor, &mut out, usize::MAX));
    out
}

/// Decodes `batch` into a fresh image: the result, the image, the pages reported.
fn decode(batch: &[u8]) -> (Result<usize, CodecError>, Vec<u8>, Vec<u64>) {
    let mut mem = memory();
    let mut reported = Vec::new();
    let result = Decoder::new().decode_batch(batch, &mut mem, |i, content| {
        assert_eq!(content.len(), PAGE_SIZE);
        reported.push(i);
    });
    (result, mem, reported)
}

/// A batch the decoder must reject before writing anything.
fn rejects(batch: &[u8]) -> CodecError {
    let (result, mem, reported) = decode(batch);
    let err = result.expect_err("malformed batch must be rejected");
    assert!(mem == memory(), "memory changed on {err:?}");
    assert!(reported.is_empty(), "pages reported on {err:?}");
    err
}

fn layout(what: &'static str) -> CodecError {
    CodecError::BatchLayout { what }
}

/// A batch of one page: `tag` (with value and run) at page 0.
fn one(tag: u8, value: Option<u64>, run: Option<u64>) -> Batch {
    let mut b = Batch::new(1);
    record(&mut b.control, 0, tag, value, run);
    b
}

/// The valid batch the rejection tests start from: literal, duplicate,
/// delta tokens, zero run over pages 0..4.
fn valid() -> Batch {
    let mut b = Batch::new(PAGES);
    record(&mut b.control, 0, Tag::Literal as u8, None, Some(0));
    b.literals = vec![0xab; PAGE_SIZE];
    // Page 1 = page 0 (source - index = -1).
    record(
        &mut b.control,
        0,
        Tag::Duplicate as u8,
        Some(zigzag(-1)),
        Some(0),
    );
    b.tokens = flip_tokens(7, 0xff);
    record(
        &mut b.control,
        0,
        Tag::Delta as u8,
        Some(b.tokens.len() as u64),
        None,
    );
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    b
}

#[test]
fn accepts_hand_built_batch() {
    let (result, mem, reported) = decode(&valid().bytes());
    assert_eq!(result, Ok(PAGES));
    assert_eq!(reported, [0, 1, 2, 3]);
    let before = memory();
    assert!(page(&mem, 0).iter().all(|&b| b == 0xab));
    assert!(page(&mem, 1).iter().all(|&b| b == 0xab));
    let mut expected = page(&before, 2).to_vec();
    expected[7] ^= 0xff;
    assert_eq!(page(&mem, 2), &expected[..]);
    assert!(page(&mem, 3).iter().all(|&b| b == 0));
}

#[test]
fn accepts_compressed_sections_prefix_and_runs() {
    let before = memory();
    let mut b = Batch::new(PAGES);
    b.first_index = 3;
    // Page 3: prefix delta against its current content.
    let mut new3 = page(&before, 3).to_vec();
    new3.rotate_left(100);
    b.prefix = prefix_frame(&new3, page(&before, 3));
    record(
        &mut b.control,
        0,
        Tag::Prefix as u8,
        Some(b.prefix.len() as u64),
        None,
    );
    // Pages 0 and 1: a literal run (index 4 -> 0: delta -4).
    record(&mut b.control, -4, Tag::Literal as u8, None, Some(1));
    let mut literals = vec![0x11; PAGE_SIZE];
    literals.extend_from_slice(&[0x22; PAGE_SIZE]);
    // Page 2: token delta, tokens and literals stored as zstd frames.
    let tokens = flip_tokens(0, 1);
    record(
        &mut b.control,
        0,
        Tag::Delta as u8,
        Some(tokens.len() as u64),
        None,
    );
    b.control = zstd_frame(&b.control);
    b.tokens = zstd_frame(&tokens);
    b.literals = zstd_frame(&literals);
    b.flags = FLAG_CONTROL_ZSTD | FLAG_TOKENS_ZSTD | FLAG_LITERALS_ZSTD;
    let (result, mem, reported) = decode(&b.bytes());
    assert_eq!(result, Ok(PAGES));
    assert_eq!(reported, [3, 0, 1, 2]);
    assert_eq!(page(&mem, 3), &new3[..]);
    assert!(page(&mem, 0).iter().all(|&x| x == 0x11));
    assert!(page(&mem, 1).iter().all(|&x| x == 0x22));
    let mut expected = page(&before, 2).to_vec();
    expected[0] ^= 1;
    assert_eq!(page(&mem, 2), &expected[..]);

    // A duplicate run keeps its distance: pages 2, 3 = pages 0, 1.
    let mut b = Batch::new(2);
    b.first_index = 2;
    record(
        &mut b.control,
        0,
        Tag::Duplicate as u8,
        Some(zigzag(-2)),
        Some(1),
    );
    let (result, mem, reported) = decode(&b.bytes());
    assert_eq!(result, Ok(2));
    assert_eq!(reported, [2, 3]);
    assert_eq!(page(&mem, 2), page(&before, 0));
    assert_eq!(page(&mem, 3), page(&before, 1));
}

#[test]
fn rejects_empty_batch() {
    assert_eq!(rejects(&[]), layout("empty batch"));
}

#[test]
fn rejects_trailer_length_byte() {
    let good = valid().bytes();
    let mut too_big = good.clone();
    *too_big.last_mut().expect("non-empty") = u8::try_from(TRAILER_LEN_MAX + 1).expect("small");
    assert_eq!(rejects(&too_big), layout("trailer length"));
    let mut too_small = good.clone();
    *too_small.last_mut().expect("non-empty") = 7;
    assert_eq!(rejects(&too_small), layout("trailer length"));
    // A length longer than the whole batch.
    assert_eq!(rejects(&[1, 2, 3, 20]), layout("trailer length"));
    assert_eq!(rejects(&[0]), layout("trailer length"));
}

#[test]
fn rejects_unknown_format() {
    let good = valid().bytes();
    // 1: the format before sections became streams.
    for format in [0, 1, 3, 0xff] {
        let mut bad = good.clone();
        let at = bad.len() - 2;
        assert_eq!(bad[at], BATCH_FORMAT);
        bad[at] = format;
        assert_eq!(rejects(&bad), CodecError::BatchFormat { format });
    }
}

#[test]
fn rejects_unknown_flags() {
    for flags in [16, 0x80, 0xff] {
        let mut b = valid();
        b.flags = flags;
        assert_eq!(rejects(&b.bytes()), layout("unknown flags"));
    }
}

#[test]
fn rejects_trailer_with_trailing_bytes() {
    // Seven varints where six are expected.
    let mut b = vec![0u8; 1];
    b.extend(raw_trailer(&[1, 0, 1, 0, 0, 0, 0], 0, BATCH_FORMAT));
    assert_eq!(rejects(&b), layout("trailer has trailing bytes"));
}

#[test]
fn rejects_section_lengths_that_do_not_add_up() {
    let good = valid();
    let body = [
        good.control.as_slice(),
        &good.tokens,
        &good.prefix,
        &good.literals,
    ]
    .concat();
    let lens = [
        good.control.len() as u64,
        good.tokens.len() as u64,
        0,
        good.literals.len() as u64,
    ];
    let with = |lens: [u64; 4], body: &[u8]| {
        let mut b = body.to_vec();
        b.extend(raw_trailer(
            &[PAGES as u64, 0, lens[0], lens[1], lens[2], lens[3]],
            0,
            BATCH_FORMAT,
        ));
        b
    };
    let what = layout("section lengths do not add up to the batch");
    // The helper itself builds a valid batch.
    assert_eq!(decode(&with(lens, &body)).0, Ok(PAGES));
    for k in 0..4 {
        let mut more = lens;
        more[k] += 1;
        assert_eq!(rejects(&with(more, &body)), what);
    }
    let mut less = lens;
    less[3] -= 1;
    assert_eq!(rejects(&with(less, &body)), what);
    // One byte more in the batch than the lengths say.
    let mut longer = body.clone();
    longer.push(0);
    assert_eq!(rejects(&with(lens, &longer)), what);
    // Lengths that overflow when added.
    assert_eq!(rejects(&with([u64::MAX; 4], &body)), what);
}

#[test]
fn rejects_page_count() {
    let mut b = valid();
    b.page_count = 0;
    assert_eq!(rejects(&b.bytes()), layout("page count"));
    let mut b = Batch::new(BATCH_PAGES_MAX + 1);
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    assert_eq!(rejects(&b.bytes()), layout("page count"));
    // The largest count is accepted (a run of zero pages).
    let mut mem = vec![7u8; BATCH_PAGES_MAX * PAGE_SIZE];
    let mut b = Batch::new(BATCH_PAGES_MAX);
    record(
        &mut b.control,
        0,
        Tag::Zero as u8,
        None,
        Some(BATCH_PAGES_MAX as u64 - 1),
    );
    let n = Decoder::new()
        .decode_batch(&b.bytes(), &mut mem, |_, _| {})
        .expect("a whole batch of zero pages");
    assert_eq!(n, BATCH_PAGES_MAX);
    assert!(mem.iter().all(|&x| x == 0));
}

#[test]
fn rejects_more_payload_pages_than_a_batch_holds() {
    // One-byte-flip token streams, a record each: small enough for the
    // tokens buffer, one page too many for a batch.
    let deltas = |pages: usize| {
        let tokens = flip_tokens(5, 1);
        let mut b = Batch::new(pages);
        for _ in 0..pages {
            let len = Some(tokens.len() as u64);
            record(&mut b.control, 0, Tag::Delta as u8, len, None);
            b.tokens.extend_from_slice(&tokens);
        }
        b.bytes()
    };
    let pages = BATCH_PAYLOAD_PAGES_MAX + 1;
    let mut mem = vec![7u8; pages * PAGE_SIZE];
    let err = Decoder::new().decode_batch(&deltas(pages), &mut mem, |_, _| {});
    assert_eq!(
        err,
        Err(layout("more pages with a payload than a batch holds"))
    );
    assert!(mem.iter().all(|&x| x == 7));
    // One fewer decodes.
    let n = Decoder::new().decode_batch(&deltas(pages - 1), &mut mem, |_, _| {});
    assert_eq!(n, Ok(pages - 1));
}

#[test]
fn rejects_bad_trailer_varint() {
    // page_count written overlong (1 as 0x81 0x00).
    let mut b = vec![0u8];
    let mut t = vec![0x81, 0x00, 0, 1, 0, 0, 0, 0, BATCH_FORMAT];
    t.push(u8::try_from(t.len()).expect("short"));
    b.extend(t);
    assert_eq!(rejects(&b), CodecError::Varint { offset: 0 });
    // The last field's varint runs into the flags and ends without a final byte.
    let mut b = vec![0u8];
    let mut t = vec![1, 0, 1, 0, 0, 0x80, 0, BATCH_FORMAT];
    t.push(u8::try_from(t.len()).expect("short"));
    b.extend(t);
    assert_eq!(rejects(&b), CodecError::Varint { offset: 5 });
}

#[test]
fn rejects_bad_control_varint() {
    // Overlong index delta.
    let mut b = Batch::new(1);
    b.control = vec![0x80, 0x00, Tag::Zero as u8, 0];
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 0 });
    // Truncated index delta.
    b.control = vec![0x80];
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 0 });
    // Duplicate without its source varint.
    b.control = vec![0, Tag::Duplicate as u8];
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 2 });
    // Zero without its run varint.
    b.control = vec![0, Tag::Zero as u8];
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 2 });
    // Delta length overlong.
    b.control = vec![0, Tag::Delta as u8, 0x85, 0x00];
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 2 });
    // A run length beyond u64 (tenth byte above 1).
    b.control = vec![0, Tag::Zero as u8];
    b.control.extend_from_slice(&[0xff; 9]);
    b.control.push(0x02);
    assert_eq!(rejects(&b.bytes()), CodecError::Varint { offset: 2 });
}

#[test]
fn rejects_control_ending_inside_a_record() {
    let mut b = Batch::new(1);
    b.control = vec![0];
    assert_eq!(
        rejects(&b.bytes()),
        layout("control section ends inside a record")
    );
}

#[test]
fn rejects_record_index_out_of_range() {
    let oor = |index| CodecError::IndexOutOfRange {
        index,
        page_count: PAGES as u64,
    };
    // Page 4 of a 4-page image.
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.first_index = PAGES as u64;
    assert_eq!(rejects(&b.bytes()), oor(4));
    // From the expected page 0, delta +5.
    let mut b = Batch::new(1);
    record(&mut b.control, 5, Tag::Zero as u8, None, Some(0));
    assert_eq!(rejects(&b.bytes()), oor(5));
    // Below page 0.
    let mut b = Batch::new(1);
    record(&mut b.control, -1, Tag::Zero as u8, None, Some(0));
    assert_eq!(rejects(&b.bytes()), oor(u64::MAX));
    // The second record steps past the end.
    let mut b = Batch::new(2);
    b.first_index = 3;
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    assert_eq!(rejects(&b.bytes()), oor(4));
    // A huge first index.
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.first_index = u64::MAX;
    assert_eq!(rejects(&b.bytes()), oor(u64::MAX));
    // Any page of an empty image.
    let mut empty: [u8; 0] = [];
    let err = Decoder::new().decode_batch(
        &one(Tag::Zero as u8, None, Some(0)).bytes(),
        &mut empty,
        |_, _| {},
    );
    assert_eq!(
        err,
        Err(CodecError::IndexOutOfRange {
            index: 0,
            page_count: 0
        })
    );
}

#[test]
fn rejects_duplicate_source_out_of_range() {
    let oor = |index| CodecError::IndexOutOfRange {
        index,
        page_count: PAGES as u64,
    };
    // Page 0 copying page 4.
    let b = one(Tag::Duplicate as u8, Some(zigzag(4)), Some(0));
    assert_eq!(rejects(&b.bytes()), oor(4));
    // Page 0 copying page -1.
    let b = one(Tag::Duplicate as u8, Some(zigzag(-1)), Some(0));
    assert_eq!(rejects(&b.bytes()), oor(u64::MAX));
    // Page 1 copying page 0 is fine.
    let mut b = one(Tag::Duplicate as u8, Some(zigzag(-1)), Some(0));
    b.first_index = 1;
    assert_eq!(decode(&b.bytes()).0, Ok(1));
}

#[test]
fn rejects_runs_past_the_end() {
    // Zero run over pages 2, 3, 4.
    let mut b = Batch::new(3);
    b.first_index = 2;
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(2));
    assert_eq!(
        rejects(&b.bytes()),
        CodecError::IndexOutOfRange {
            index: 4,
            page_count: PAGES as u64
        }
    );
    // Literal run over pages 3, 4.
    let mut b = Batch::new(2);
    b.first_index = 3;
    record(&mut b.control, 0, Tag::Literal as u8, None, Some(1));
    b.literals = vec![1; 2 * PAGE_SIZE];
    assert_eq!(
        rejects(&b.bytes()),
        CodecError::IndexOutOfRange {
            index: 4,
            page_count: PAGES as u64
        }
    );
    // Duplicate run: pages 0, 1, 2 from sources 2, 3, 4. The pages exist,
    // the last source does not.
    let mut b = Batch::new(3);
    record(
        &mut b.control,
        0,
        Tag::Duplicate as u8,
        Some(zigzag(2)),
        Some(2),
    );
    assert!(matches!(
        rejects(&b.bytes()),
        CodecError::IndexOutOfRange { page_count, .. } if page_count == PAGES as u64
    ));
    // A run covering more pages than the batch has.
    let mut b = Batch::new(2);
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(2));
    assert_eq!(
        rejects(&b.bytes()),
        layout("a run covers more pages than the batch")
    );
    // A run length that saturates.
    let mut b = Batch::new(2);
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(u64::MAX));
    assert_eq!(
        rejects(&b.bytes()),
        layout("a run covers more pages than the batch")
    );
}

#[test]
fn rejects_invalid_tags() {
    for tag in [0u8, 6, 7, 0x80, 0xff] {
        let b = one(tag, None, Some(0));
        assert_eq!(rejects(&b.bytes()), CodecError::InvalidKind { tag });
    }
    // A bad tag after a good record.
    let mut b = Batch::new(2);
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    record(&mut b.control, 0, 6, None, Some(0));
    assert_eq!(rejects(&b.bytes()), CodecError::InvalidKind { tag: 6 });
}

#[test]
fn rejects_delta_lengths() {
    let what = layout("delta length is 0 or not under a page");
    for tag in [Tag::Delta, Tag::Prefix] {
        for len in [0u64, PAGE_SIZE as u64, PAGE_SIZE as u64 + 1, u64::MAX] {
            let b = one(tag as u8, Some(len), None);
            assert_eq!(rejects(&b.bytes()), what, "{tag:?} of {len} bytes");
        }
    }
}

#[test]
fn rejects_tokens_not_matching_records() {
    let what = layout("delta lengths do not match the tokens section");
    let tokens = flip_tokens(0, 1);
    let n = tokens.len() as u64;
    // One byte more, one byte less, and tokens with no delta record.
    let mut b = one(Tag::Delta as u8, Some(n), None);
    b.tokens = [tokens.as_slice(), &[0]].concat();
    assert_eq!(rejects(&b.bytes()), what);
    b.tokens = tokens[..tokens.len() - 1].to_vec();
    assert_eq!(rejects(&b.bytes()), what);
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.tokens = tokens;
    assert_eq!(rejects(&b.bytes()), what);
}

#[test]
fn rejects_prefix_not_matching_records() {
    let what = layout("prefix lengths do not match the prefix section");
    let frame = prefix_frame(&[9; PAGE_SIZE], page(&memory(), 0));
    let n = frame.len() as u64;
    let mut b = one(Tag::Prefix as u8, Some(n), None);
    b.prefix = [frame.as_slice(), &[0]].concat();
    assert_eq!(rejects(&b.bytes()), what);
    b.prefix = frame[..frame.len() - 1].to_vec();
    assert_eq!(rejects(&b.bytes()), what);
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.prefix = frame;
    assert_eq!(rejects(&b.bytes()), what);
}

#[test]
fn rejects_literals_not_matching_records() {
    let what = layout("literal pages do not match the literals section");
    let mut b = one(Tag::Literal as u8, None, Some(0));
    for len in [0, 1, PAGE_SIZE - 1, PAGE_SIZE + 1, 2 * PAGE_SIZE] {
        b.literals = vec![3; len];
        assert_eq!(rejects(&b.bytes()), what, "{len} literal bytes");
    }
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.literals = vec![3; PAGE_SIZE];
    assert_eq!(rejects(&b.bytes()), what);
}

#[test]
fn rejects_control_bytes_after_last_record() {
    let what = layout("control section has bytes after the last record");
    let mut b = valid();
    b.control.push(0);
    assert_eq!(rejects(&b.bytes()), what);
    // A whole extra record beyond the page count.
    let mut b = one(Tag::Zero as u8, None, Some(0));
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    assert_eq!(rejects(&b.bytes()), what);
}

#[test]
fn rejects_raw_sections_over_their_bound() {
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.control.resize(CONTROL_LEN_MAX + 1, 0);
    assert_eq!(rejects(&b.bytes()), layout("control section is too long"));
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.tokens = vec![0; BATCH_PAYLOAD_PAGES_MAX * DELTA_TOKENS_MAX + 1];
    assert_eq!(rejects(&b.bytes()), layout("tokens section is too long"));
    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.literals = vec![0; BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE + 1];
    assert_eq!(rejects(&b.bytes()), layout("literals section is too long"));
}

#[test]
fn rejects_compressed_section_that_is_not_zstd() {
    let garbage = vec![1u8, 2, 3, 4, 5, 6, 7, 8];
    for (flag, field) in [
        (FLAG_CONTROL_ZSTD, 0),
        (FLAG_TOKENS_ZSTD, 1),
        (FLAG_LITERALS_ZSTD, 2),
    ] {
        let mut b = valid();
        match field {
            0 => b.control = garbage.clone(),
            1 => b.tokens = garbage.clone(),
            _ => b.literals = garbage.clone(),
        }
        b.flags = flag;
        assert!(
            matches!(
                rejects(&b.bytes()),
                CodecError::Zstd {
                    op: "decompress",
                    ..
                }
            ),
            "flag {flag}"
        );
        // An empty section flagged as compressed: zstd reads no frame and
        // yields an empty section, which the records then do not match.
        let expected = match field {
            0 => {
                b.control.clear();
                CodecError::Varint { offset: 0 }
            }
            1 => {
                b.tokens.clear();
                layout("delta lengths do not match the tokens section")
            }
            _ => {
                b.literals.clear();
                layout("literal pages do not match the literals section")
            }
        };
        assert_eq!(rejects(&b.bytes()), expected, "empty section, flag {flag}");
        // A truncated frame: zstd's error for a frame of its own; a stream
        // waits for the rest, so the section is short and the records do
        // not match it.
        let mut b = valid();
        let frame = zstd_frame(&[5; 300]);
        let truncated = frame[..frame.len() - 1].to_vec();
        match field {
            0 => b.control = truncated,
            1 => b.tokens = truncated,
            _ => b.literals = truncated,
        }
        b.flags = flag;
        assert!(
            matches!(
                rejects(&b.bytes()),
                CodecError::Zstd {
                    op: "decompress",
                    ..
                }
            ),
            "truncated frame, flag {flag}"
        );
        b.flags = flag | FLAG_STREAMED;
        let err = rejects(&b.bytes());
        assert!(
            matches!(
                err,
                CodecError::BatchLayout { .. } | CodecError::Varint { .. }
            ),
            "truncated stream piece, flag {flag}: {err:?}"
        );
    }
}

#[test]
fn rejects_compressed_section_over_its_bound() {
    // A frame of its own: zstd refuses to write past the buffer. A stream
    // piece: the decoder stops at the bound.
    let check = |b: &mut Batch, flag: u8, too_long: &'static str| {
        b.flags = flag;
        assert!(matches!(rejects(&b.bytes()), CodecError::Zstd { .. }));
        b.flags = flag | FLAG_STREAMED;
        assert_eq!(rejects(&b.bytes()), layout(too_long));
    };
    let mut b = one(Tag::Zero as u8, None, Some(0));
    let mut control = b.control.clone();
    control.resize(CONTROL_LEN_MAX + 1, 0);
    b.control = zstd_frame(&control);
    check(&mut b, FLAG_CONTROL_ZSTD, "control section is too long");

    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.tokens = zstd_frame(&vec![0; BATCH_PAYLOAD_PAGES_MAX * DELTA_TOKENS_MAX + 1]);
    check(&mut b, FLAG_TOKENS_ZSTD, "tokens section is too long");

    let mut b = one(Tag::Zero as u8, None, Some(0));
    b.literals = zstd_frame(&vec![0; BATCH_PAYLOAD_PAGES_MAX * PAGE_SIZE + 1]);
    check(&mut b, FLAG_LITERALS_ZSTD, "literals section is too long");

    // A compressed control section at its bound still decodes (then fails
    // on its content, not its size).
    let mut b = one(Tag::Zero as u8, None, Some(0));
    let mut control = b.control.clone();
    control.resize(CONTROL_LEN_MAX, 0);
    b.control = zstd_frame(&control);
    b.flags = FLAG_CONTROL_ZSTD;
    assert_eq!(
        rejects(&b.bytes()),
        layout("control section has bytes after the last record")
    );
}

#[test]
fn rejects_bad_token_stream_after_earlier_pages() {
    // Covers only 10 bytes of the page.
    let bad = vec![0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let b = {
        let mut b = one(Tag::Delta as u8, Some(bad.len() as u64), None);
        b.tokens = bad.clone();
        b
    };
    assert!(matches!(
        rejects(&b.bytes()),
        CodecError::DeltaTokens { .. }
    ));
    // (0, 0) token; trailing bytes after a whole page.
    for tokens in [vec![0, 0], [flip_tokens(1, 1).as_slice(), &[0]].concat()] {
        let mut b = one(Tag::Delta as u8, Some(tokens.len() as u64), None);
        b.tokens = tokens;
        assert!(matches!(
            rejects(&b.bytes()),
            CodecError::DeltaTokens { .. }
        ));
    }

    // Found in pass 2: the pages before it are written and reported, the
    // bad one and those after it are not.
    let mut b = Batch::new(3);
    record(&mut b.control, 0, Tag::Literal as u8, None, Some(0));
    b.literals = vec![0xcd; PAGE_SIZE];
    record(
        &mut b.control,
        0,
        Tag::Delta as u8,
        Some(bad.len() as u64),
        None,
    );
    b.tokens = bad;
    record(&mut b.control, 0, Tag::Zero as u8, None, Some(0));
    let (result, mem, reported) = decode(&b.bytes());
    assert!(matches!(result, Err(CodecError::DeltaTokens { .. })));
    assert_eq!(reported, [0]);
    let before = memory();
    assert!(page(&mem, 0).iter().all(|&x| x == 0xcd));
    assert_eq!(mem[PAGE_SIZE..], before[PAGE_SIZE..]);
}

#[test]
fn rejects_bad_prefix_frames() {
    let before = memory();
    // Not a zstd frame.
    let mut b = one(Tag::Prefix as u8, Some(3), None);
    b.prefix = vec![1, 2, 3];
    assert!(matches!(
        rejects(&b.bytes()),
        CodecError::Zstd {
            op: "decompress",
            ..
        }
    ));
    // A frame of 10 bytes, not a page.
    let frame = prefix_frame(&[1; 10], page(&before, 0));
    let mut b = one(Tag::Prefix as u8, Some(frame.len() as u64), None);
    b.prefix = frame;
    assert_eq!(
        rejects(&b.bytes()),
        CodecError::ZstdOutputLength {
            len: 10,
            expected: PAGE_SIZE
        }
    );
    // A frame of more than a page: the page buffer bounds it.
    let frame = zstd_frame(&[1; PAGE_SIZE + 1]);
    let mut b = one(Tag::Prefix as u8, Some(frame.len() as u64), None);
    b.prefix = frame;
    assert!(matches!(rejects(&b.bytes()), CodecError::Zstd { .. }));
    // Made against another dictionary (page 1's content) than the page's
    // own: decodes, but to the wrong content or an error; never a panic.
    let new = [2u8; PAGE_SIZE];
    let frame = prefix_frame(&new, page(&before, 1));
    let mut b = one(Tag::Prefix as u8, Some(frame.len() as u64), None);
    b.prefix = frame;
    let _ = decode(&b.bytes());
}

#[test]
fn rejects_memory_not_page_multiple() {
    let batch = valid().bytes();
    for len in [1, PAGE_SIZE - 1, PAGE_SIZE + 1, PAGES * PAGE_SIZE - 1] {
        let mut mem = vec![5u8; len];
        let err = Decoder::new().decode_batch(&batch, &mut mem, |_, _| {});
        assert_eq!(err, Err(CodecError::MemoryLength { len }));
        assert!(mem.iter().all(|&x| x == 5));
    }
}

#[test]
fn decoder_is_reusable_after_errors() {
    let mut dec = Decoder::new();
    let mut mem = memory();
    let mut bad = valid();
    bad.literals = vec![1, 2, 3, 4, 5, 6, 7, 8];
    bad.flags = FLAG_LITERALS_ZSTD;
    let frame = prefix_frame(&[1; 10], page(&mem, 0));
    let mut short_prefix = one(Tag::Prefix as u8, Some(frame.len() as u64), None);
    short_prefix.prefix = frame;
    for batch in [bad.bytes(), short_prefix.bytes(), vec![0xff; 40]] {
        assert!(dec.decode_batch(&batch, &mut mem, |_, _| {}).is_err());
    }
    assert!(mem == memory());
    let n = dec
        .decode_batch(&valid().bytes(), &mut mem, |_, _| {})
        .expect("valid batch after errors");
    assert_eq!(n, PAGES);
    assert!(page(&mem, 0).iter().all(|&b| b == 0xab));
}
