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

/// Capability: the destination decodes `EncodedBatch` frames (page codec)
/// with the striped stream layout ([`stream_of_page`]). Bit 0 was the
/// codec with contiguous per-stream ranges, which this build no longer
/// offers or grants: two builds that disagree fall back to raw pages.
pub const CAP_PAGE_CODEC: u32 = 1 << 1;

/// Capability: the source sends `Commit` after an ok verdict, and the
/// destination counts its image as migrated only once it has it; the
/// source ends with `Goodbye` once `Commit` was acknowledged. This
/// build requires it on both sides: without it a verdict the source never
/// read (a stream that broke after the destination wrote it) would leave
/// both hosts believing they own the guest.
pub const CAP_HANDOVER_COMMIT: u32 = 1 << 2;

/// Capability bits this build understands and offers. The server answers
/// the intersection of the client's offer and its own.
pub const CAPABILITIES_V1: u32 = CAP_PAGE_CODEC | CAP_HANDOVER_COMMIT;

/// Capability bits this build requires the peer to grant (server) or offer
/// (client); a peer without them is refused in the handshake.
pub const CAPABILITIES_REQUIRED: u32 = CAP_HANDOVER_COMMIT;
const _: () = assert!(CAPABILITIES_REQUIRED & !CAPABILITIES_V1 == 0);

/// Bytes of the round number that starts an `EncodedBatch` body.
pub const ENCODED_BATCH_HEADER_LEN: usize = 4;

/// Pages per stripe of the striped stream layout (4 MiB of guest memory).
pub const STREAM_STRIPE_PAGES: u64 = 1024;

/// With the page codec on, every page belongs to one stream: guest memory
/// is cut into stripes of [`STREAM_STRIPE_PAGES`] pages dealt to the
/// streams in turn (stripe `k` to stream `k % stream_count`). A stream's
/// frames, applied in order, then see exactly the destination content the
/// stream's encoder expects, and every stream gets a share of every part
/// of memory (contiguous ranges left a stream with nothing but zero pages
/// while another carried most of the data). Returns the stream of `page`.
pub fn stream_of_page(page: u64, stream_count: u16) -> u16 {
    assert!(stream_count >= 1, "at least one stream");
    let stream = (page / STREAM_STRIPE_PAGES) % u64::from(stream_count);
    u16::try_from(stream).expect("below stream_count")
}

/// The index of `page` among its stream's pages (the stream's encoder and
/// decoder number its pages `0..stream_page_count`).
pub fn stream_local_page(page: u64, stream_count: u16) -> u64 {
    assert!(stream_count >= 1, "at least one stream");
    let round = STREAM_STRIPE_PAGES * u64::from(stream_count);
    (page / round) * STREAM_STRIPE_PAGES + page % STREAM_STRIPE_PAGES
}

/// The guest page that is page `local` of stream `stream` (the inverse of
/// [`stream_local_page`]).
pub fn stream_global_page(local: u64, stream_count: u16, stream: u16) -> u64 {
    assert!(stream < stream_count, "stream below stream_count");
    let stripe = local / STREAM_STRIPE_PAGES;
    (stripe * u64::from(stream_count) + u64::from(stream)) * STREAM_STRIPE_PAGES
        + local % STREAM_STRIPE_PAGES
}

/// How many of a `page_count`-page guest's pages stream `stream` carries.
pub fn stream_page_count(page_count: u64, stream_count: u16, stream: u16) -> u64 {
    assert!(stream < stream_count, "stream below stream_count");
    let round = STREAM_STRIPE_PAGES * u64::from(stream_count);
    let full_rounds = page_count / round;
    let tail = page_count % round;
    let tail_start = u64::from(stream) * STREAM_STRIPE_PAGES;
    full_rounds * STREAM_STRIPE_PAGES + tail.saturating_sub(tail_start).min(STREAM_STRIPE_PAGES)
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
    use super::*;

    #[test]
    fn the_stripes_give_every_page_to_one_stream_and_back() {
        let stripe = STREAM_STRIPE_PAGES;
        for (pages, streams) in [
            (0u64, 1u16),
            (1, 1),
            (1, 3),
            (3 * stripe + 5, 2),
            (262_144, 5),
            (7 * stripe - 1, 64),
        ] {
            let mut seen = vec![0u64; usize::from(streams)];
            for page in 0..pages {
                let s = stream_of_page(page, streams);
                let local = stream_local_page(page, streams);
                assert_eq!(
                    stream_global_page(local, streams, s),
                    page,
                    "{pages} pages over {streams}: page {page}"
                );
                // Pages of a stream are numbered densely, in guest order.
                assert_eq!(local, seen[usize::from(s)], "page {page} of stream {s}");
                seen[usize::from(s)] += 1;
            }
            for s in 0..streams {
                assert_eq!(
                    seen[usize::from(s)],
                    stream_page_count(pages, streams, s),
                    "{pages} pages over {streams}: stream {s}'s count"
                );
            }
        }
    }

    #[test]
    fn stripes_go_to_the_streams_in_turn() {
        let stripe = STREAM_STRIPE_PAGES;
        assert_eq!(stream_of_page(0, 3), 0);
        assert_eq!(stream_of_page(stripe - 1, 3), 0);
        assert_eq!(stream_of_page(stripe, 3), 1);
        assert_eq!(stream_of_page(3 * stripe, 3), 0);
        assert_eq!(stream_local_page(3 * stripe + 2, 3), stripe + 2);
        // 2.5 stripes over 2 streams: stream 0 has 1 + 0.5, stream 1 has 1.
        assert_eq!(stream_page_count(stripe * 5 / 2, 2, 0), stripe * 3 / 2);
        assert_eq!(stream_page_count(stripe * 5 / 2, 2, 1), stripe);
    }
}
