//! Protocol v1 constants: versions, sizes and bounds.
//!
//! Every length that a decoder checks lives here so that encoder, decoder,
//! tests and `docs/protocol.md` agree. `*_LEN` is a fixed size of a wire
//! structure, `*_MAX` an inclusive upper bound. The `const _: () = assert!`
//! blocks pin the arithmetic so a change to one constant that breaks another
//! fails to compile instead of producing frames the peer rejects.

/// Lowest protocol version this build speaks.
pub const PROTOCOL_VERSION_MIN: u16 = 1;
/// Highest protocol version this build speaks.
pub const PROTOCOL_VERSION_MAX: u16 = 1;

/// Guest page size in bytes; the only page size v1 supports.
pub const PAGE_SIZE: u32 = 4096;

/// Length of the frame header (sent in clear, authenticated as AEAD associated data).
pub const FRAME_HEADER_LEN: usize = 24;
/// Length of the trailing frame tag: the AES-256-GCM tag, or the xxh3-128
/// checksum in plaintext mode.
pub const FRAME_TAG_LEN: usize = 16;

/// Number of streams a session may use; stream ids are `0..STREAMS_MAX`.
pub const STREAMS_MAX: u16 = 64;

/// Most pages one `PageBatch` frame may carry.
pub const PAGES_PER_BATCH_MAX: u16 = 64;
/// Length of the batch header at the start of a `PageBatch` body.
pub const BATCH_HEADER_LEN: usize = 8;
/// Length of one page entry header inside a batch (payload not included).
pub const PAGE_ENTRY_LEN: usize = 16;

/// Largest `body_len` a frame header may declare; `body_len` includes the tag.
/// This is a batch of `PAGES_PER_BATCH_MAX` raw pages plus the tag.
#[allow(clippy::cast_possible_truncation)] // checked below: fits in u32
pub const FRAME_BODY_LEN_MAX: u32 = (BATCH_HEADER_LEN
    + PAGES_PER_BATCH_MAX as usize * (PAGE_ENTRY_LEN + PAGE_SIZE as usize)
    + FRAME_TAG_LEN) as u32;
/// Largest complete frame on the wire (header plus body).
pub const FRAME_LEN_MAX: usize = FRAME_HEADER_LEN + FRAME_BODY_LEN_MAX as usize;

/// Longest UTF-8 reason string (in bytes) in an `Abort` frame or a `Reject` message.
pub const ABORT_REASON_LEN_MAX: usize = 256;

/// Length of the handshake message header.
pub const HANDSHAKE_HEADER_LEN: usize = 8;
/// Largest `body_len` a handshake message may declare.
pub const HANDSHAKE_MSG_LEN_MAX: usize = 512;

/// Capability: the destination decodes `EncodedBatch` frames (page codec).
pub const CAP_PAGE_CODEC: u32 = 1;

/// Capability bits this build understands and offers. The server answers
/// the intersection of the client's offer and its own.
pub const CAPABILITIES_V1: u32 = CAP_PAGE_CODEC;

/// Bytes of the round number that starts an `EncodedBatch` body.
pub const ENCODED_BATCH_HEADER_LEN: usize = 4;

/// The pages stream `stream` of `stream_count` carries when the page codec
/// is on: contiguous ranges of `ceil(page_count / stream_count)` pages, the
/// last one shorter. Every page goes on one stream only, so a stream's
/// frames, applied in order, see exactly the destination content the
/// stream's encoder expects.
pub fn stream_pages(page_count: u64, stream_count: u16, stream: u16) -> core::ops::Range<u64> {
    assert!(stream < stream_count, "stream below stream_count");
    let per = page_count.div_ceil(u64::from(stream_count));
    let start = (u64::from(stream) * per).min(page_count);
    start..(start + per).min(page_count)
}

// Layout checks.
const _: () = assert!(PROTOCOL_VERSION_MIN >= 1, "version 0 is invalid");
const _: () = assert!(PROTOCOL_VERSION_MIN <= PROTOCOL_VERSION_MAX);
const _: () = assert!(PAGE_SIZE.is_power_of_two());
const _: () = assert!(FRAME_HEADER_LEN == 4 + 1 + 1 + 2 + 8 + 4 + 4);
const _: () = assert!(BATCH_HEADER_LEN == 4 + 2 + 2);
const _: () = assert!(PAGE_ENTRY_LEN == 8 + 1 + 3 + 4);
const _: () = assert!(
    (BATCH_HEADER_LEN
        + PAGES_PER_BATCH_MAX as usize * (PAGE_ENTRY_LEN + PAGE_SIZE as usize)
        + FRAME_TAG_LEN)
        <= u32::MAX as usize
);
const _: () = assert!(FRAME_BODY_LEN_MAX as usize >= FRAME_TAG_LEN);
const _: () = assert!(FRAME_LEN_MAX == 24 + 263_192);
const _: () = assert!(STREAMS_MAX >= 1 && PAGES_PER_BATCH_MAX >= 1);
const _: () = assert!(ABORT_REASON_LEN_MAX <= u16::MAX as usize);
// A Reject (4-byte prefix + longest reason) must fit in one handshake message.
const _: () = assert!(4 + ABORT_REASON_LEN_MAX <= HANDSHAKE_MSG_LEN_MAX);
const _: () = assert!(HANDSHAKE_MSG_LEN_MAX <= u16::MAX as usize);
// Every control body must fit in a frame body next to the tag.
const _: () = assert!(4 + ABORT_REASON_LEN_MAX + FRAME_TAG_LEN <= FRAME_BODY_LEN_MAX as usize);
const _: () = assert!(32 + 8 * STREAMS_MAX as usize + FRAME_TAG_LEN <= FRAME_BODY_LEN_MAX as usize);

#[cfg(test)]
mod tests {
    use super::stream_pages;

    #[test]
    fn stream_pages_cover_every_page_once_in_order() {
        for (pages, streams) in [(0u64, 1u16), (1, 1), (1, 3), (10, 3), (262_144, 4), (7, 64)] {
            let mut next = 0;
            for s in 0..streams {
                let range = stream_pages(pages, streams, s);
                assert_eq!(
                    range.start,
                    next.min(pages),
                    "{pages} pages, stream {s}/{streams}"
                );
                assert!(range.start <= range.end);
                next = range.end;
            }
            assert_eq!(
                next, pages,
                "{pages} pages over {streams} streams: all covered"
            );
        }
        assert_eq!(
            stream_pages(10, 3, 2),
            8..10,
            "the last range is the short one"
        );
    }
}
