//! The per-record seqlock: one writer process, any number of readers, no
//! locks shared between processes.
//!
//! # Design
//!
//! Each record is a [`Seqlocked<R>`]: a `seq: u64` counter, then the payload
//! `R`, padded to a multiple of 64 bytes (one or more whole cache lines, so
//! two records never share a line). `seq` is even when the record is stable
//! and odd while it is being written; it never goes back.
//!
//! Writer (`write`):
//! 1. `seq.compare_exchange(s, s + 1, Acquire, Relaxed)` from an even `s`:
//!    now odd. The compare-exchange also serialises two writers of the same
//!    record inside one process (they would otherwise both make it even
//!    again while the other is still copying); across processes there is
//!    one writer per record by protocol.
//! 2. `fence(Release)`: no payload store below may become visible before the
//!    odd `seq`.
//! 3. Store the payload words with `Relaxed` atomic stores.
//! 4. `seq.store(s + 2, Release)`: even again, publishing the payload.
//!
//! Reader (`read`):
//! 1. `s1 = seq.load(Acquire)`; odd means a write is under way: retry.
//! 2. Copy the payload words into a local with `Relaxed` atomic loads.
//! 3. `fence(Acquire)`, then `s2 = seq.load(Relaxed)`.
//! 4. `s1 == s2`: no write overlapped the copy, so the local is one
//!    writer's complete payload. Otherwise retry.
//!
//! Why that is enough: if any payload load in step 2 saw a store of a write
//! that began after `s1`, that store comes after the writer's release fence
//! (writer step 2), and the reader's acquire fence (step 3) follows the
//! load, so the fences synchronise and the writer's odd `seq` store happens
//! before the reader's `s2` load, which therefore cannot return `s1`.
//! Conversely the `Acquire` load of `s1` synchronises with the `Release`
//! store that made it even, so the copy sees at least that write's payload.
//! This is the classic seqlock: Linux's `seqcount_t`
//! (`include/linux/seqlock.h`), crossbeam's `SeqLock`
//! (`crossbeam-utils/src/atomic/seq_lock.rs`), and the fence placement of
//! H.-J. Boehm, "Can seqlocks get along with programming language memory
//! models?" (MSPC 2012).
//!
//! The payload is copied with per-word *atomic* accesses rather than
//! `read_volatile` / `copy_nonoverlapping`: a plain read that races with a
//! write is undefined behaviour in Rust even when its result is thrown away,
//! a relaxed atomic load is not, and on x86-64 and aarch64 both compile to
//! the same `mov` / `ldr` (the cost is that the copy is not vectorised).
//!
//! Text fields are copied only up to their length (see [`TextSpan`]): a job
//! status is 17 KiB, of which a running job uses about 200 bytes, and
//! copying the whole record on every poll would make readers lose the race
//! against a busy writer. The reader learns each text's length from the
//! words it has already copied; a length torn by a racing write is clamped
//! to the field and the copy is discarded by the `seq` check anyway.
//!
//! Retries are bounded: a reader gives up after [`SEQLOCK_RETRIES_MAX`]
//! attempts, a writer waiting for a concurrent writer of the same record
//! after those plus [`WRITER_SLEEP_RETRIES_MAX`] sleeping ones; both then
//! return `TablesError::Torn`.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::Duration;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::error::TablesError;
use super::region::SharedRegion;
use super::text::TEXT_LEN_PREFIX;

/// Attempts a reader makes to find a record stable, and a writer to find it
/// free, before giving up with `TablesError::Torn`.
pub const SEQLOCK_RETRIES_MAX: u32 = 10_000;
/// A retry yields the CPU once every this many attempts and spins otherwise.
pub const SEQLOCK_YIELD_EVERY: u32 = 64;

/// Extra attempts of a writer waiting for a concurrent writer of the same
/// record, each after a `WRITER_SLEEP`.
pub const WRITER_SLEEP_RETRIES_MAX: u32 = 10_000;
/// Sleep between those attempts.
const WRITER_SLEEP: Duration = Duration::from_micros(100);

/// Bytes in one copied word.
const WORD: usize = 8;

/// A record in the file: the seqlock counter, then the payload, padded to a
/// multiple of 64 bytes. Never instantiated; it states the layout that
/// `layout.rs` and the functions below use.
#[repr(C, align(64))]
pub(crate) struct Seqlocked<R> {
    /// Even: stable. Odd: being written.
    seq: u64,
    /// The record.
    payload: R,
}

impl<R: SeqlockPayload> Seqlocked<R> {
    /// Distance between consecutive records of a table.
    pub(crate) const STRIDE: usize = {
        assert!(
            size_of::<R>().is_multiple_of(WORD),
            "payload is whole words"
        );
        assert!(align_of::<R>() <= WORD, "payload starts right after seq");
        size_of::<Self>()
    };
    /// Offset of the payload inside the record.
    pub(crate) const PAYLOAD_OFFSET: usize = core::mem::offset_of!(Self, payload);
}

/// A text field of a payload: `offset` of its `len` prefix from the start
/// of the payload, `cap` its capacity in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextSpan {
    /// Offset of the text's `len: u16` in the payload.
    pub(crate) offset: usize,
    /// Capacity of the text (`N` of `RawText<N>`).
    pub(crate) cap: usize,
}

/// A `repr(C)` payload that can live in a [`Seqlocked`] record.
pub(crate) trait SeqlockPayload:
    FromBytes + IntoBytes + Immutable + KnownLayout + Copy
{
    /// Every text field, in increasing offset order, not overlapping.
    const TEXT_SPANS: &'static [TextSpan];
}

/// Walks the byte ranges of a payload that carry meaning: everything except
/// the unused tail of each text. Calls `copy(buf, range)` with word-aligned,
/// increasing, non-overlapping ranges; each text's `len` is read from `buf`
/// after the range holding it was copied (so a reader can fill `buf` as it
/// goes). `full` walks the whole payload in one range.
fn walk_used(
    spans: &[TextSpan],
    buf: &mut [u8],
    full: bool,
    mut copy: impl FnMut(&mut [u8], core::ops::Range<usize>),
) {
    let size = buf.len();
    let mut pos = 0;
    let mut copy_to = |buf: &mut [u8], pos: &mut usize, end: usize| {
        let end = end.min(size);
        if end > *pos {
            copy(buf, *pos..end);
            *pos = end;
        }
    };
    if !full {
        for span in spans {
            let len_at = span.offset;
            copy_to(
                buf,
                &mut pos,
                (len_at + TEXT_LEN_PREFIX).next_multiple_of(WORD),
            );
            let len = usize::from(u16::from_le_bytes([buf[len_at], buf[len_at + 1]])).min(span.cap);
            copy_to(
                buf,
                &mut pos,
                (len_at + TEXT_LEN_PREFIX + len).next_multiple_of(WORD),
            );
            // Skip the unused tail, but not the word that also holds the next field.
            let tail_word = (len_at + TEXT_LEN_PREFIX + span.cap) / WORD * WORD;
            pos = pos.max(tail_word);
        }
    }
    copy_to(buf, &mut pos, size);
}

/// Spins (and every `SEQLOCK_YIELD_EVERY` attempts, yields) before a retry.
fn backoff(attempt: u32) {
    if attempt % SEQLOCK_YIELD_EVERY == SEQLOCK_YIELD_EVERY - 1 {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Writer step 1: makes an even `seq` odd and returns its even value.
///
/// A record found odd is being written by another thread of this process
/// (the owner reset records left odd by a dead writer when it attached),
/// which may have been preempted mid-copy. So after `SEQLOCK_RETRIES_MAX`
/// spinning attempts the writer keeps trying for up to
/// `WRITER_SLEEP_RETRIES_MAX` more, sleeping `WRITER_SLEEP` between them
/// (about a second in all), before it gives up with `None`.
fn take(seq: &AtomicU64) -> Option<u64> {
    let try_take = || {
        let s = seq.load(Ordering::Relaxed);
        let even = s.is_multiple_of(2);
        (even
            && seq
                .compare_exchange_weak(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
                .is_ok())
        .then_some(s)
    };
    for attempt in 0..SEQLOCK_RETRIES_MAX {
        if let Some(s) = try_take() {
            return Some(s);
        }
        backoff(attempt);
    }
    for _ in 0..WRITER_SLEEP_RETRIES_MAX {
        if let Some(s) = try_take() {
            return Some(s);
        }
        std::thread::sleep(WRITER_SLEEP);
    }
    None
}

/// Reads a consistent copy of the payload of the record at `record_offset`.
pub(crate) fn read<R: SeqlockPayload>(
    region: &SharedRegion,
    record_offset: usize,
    table: &'static str,
    slot: usize,
) -> Result<R, TablesError> {
    let seq = region.word(record_offset);
    let base = record_offset + Seqlocked::<R>::PAYLOAD_OFFSET;
    let mut local = R::new_zeroed();
    for attempt in 0..SEQLOCK_RETRIES_MAX {
        let s1 = seq.load(Ordering::Acquire);
        if s1.is_multiple_of(2) {
            walk_used(R::TEXT_SPANS, local.as_mut_bytes(), false, |buf, range| {
                for at in range.step_by(WORD) {
                    let word = region.word(base + at).load(Ordering::Relaxed);
                    buf[at..at + WORD].copy_from_slice(&word.to_ne_bytes());
                }
            });
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return Ok(local);
            }
        }
        backoff(attempt);
    }
    Err(TablesError::Torn { table, slot })
}

/// Writes `payload` into the record at `record_offset` (only the used part
/// of each text unless `full`).
pub(crate) fn write<R: SeqlockPayload>(
    region: &SharedRegion,
    record_offset: usize,
    payload: &R,
    full: bool,
    table: &'static str,
    slot: usize,
) -> Result<(), TablesError> {
    let seq = region.word(record_offset);
    let base = record_offset + Seqlocked::<R>::PAYLOAD_OFFSET;
    let s = take(seq).ok_or(TablesError::Torn { table, slot })?;
    fence(Ordering::Release);
    let mut local = *payload;
    walk_used(R::TEXT_SPANS, local.as_mut_bytes(), full, |buf, range| {
        for at in range.step_by(WORD) {
            let word =
                u64::from_ne_bytes(buf[at..at + WORD].try_into().expect("a word is 8 bytes"));
            region.word(base + at).store(word, Ordering::Relaxed);
        }
    });
    seq.store(s.wrapping_add(2), Ordering::Release);
    Ok(())
}

/// Owner-side recovery after a restart: if the record's `seq` is odd (its
/// writer died mid-write), zero the payload and make `seq` even again, so
/// the record reads as empty. Returns whether it was reset. Only the
/// record's owner may call this, before it writes the record.
pub(crate) fn reset_if_torn<R: SeqlockPayload>(
    region: &SharedRegion,
    record_offset: usize,
) -> bool {
    let seq = region.word(record_offset);
    let s = seq.load(Ordering::Acquire);
    if s.is_multiple_of(2) {
        return false;
    }
    let base = record_offset + Seqlocked::<R>::PAYLOAD_OFFSET;
    // `seq` stays odd while the payload is zeroed, so readers keep retrying.
    fence(Ordering::Release);
    for at in (0..size_of::<R>()).step_by(WORD) {
        region.word(base + at).store(0, Ordering::Relaxed);
    }
    seq.store(s.wrapping_add(1), Ordering::Release);
    true
}

#[cfg(test)]
mod tests {
    use super::{walk_used, TextSpan};

    /// Runs `walk_used` as a reader would (copying from `src` into a zeroed
    /// buffer) and returns the buffer and the ranges.
    fn reader_copy(src: &[u8], spans: &[TextSpan]) -> (Vec<u8>, Vec<core::ops::Range<usize>>) {
        let mut dst = vec![0u8; src.len()];
        let mut ranges = Vec::new();
        walk_used(spans, &mut dst, false, |buf, range| {
            buf[range.clone()].copy_from_slice(&src[range.clone()]);
            ranges.push(range);
        });
        (dst, ranges)
    }

    #[test]
    fn walk_copies_everything_but_unused_text_tails() {
        // Payload: 10 fixed bytes, text A (cap 20) at 10, 3 fixed bytes at 32,
        // text B (cap 30) at 35, 1 fixed byte at 67, tail to 72.
        let spans = [
            TextSpan {
                offset: 10,
                cap: 20,
            },
            TextSpan {
                offset: 35,
                cap: 30,
            },
        ];
        for (len_a, len_b) in [(0u16, 0u16), (1, 1), (5, 29), (20, 30), (19, 0), (7, 13)] {
            let mut src: Vec<u8> = (0..72u8).map(|i| i.wrapping_mul(7) | 1).collect();
            src[10..12].copy_from_slice(&len_a.to_le_bytes());
            src[35..37].copy_from_slice(&len_b.to_le_bytes());
            let (dst, ranges) = reader_copy(&src, &spans);
            let a_used = 12..12 + usize::from(len_a);
            let b_used = 37..37 + usize::from(len_b);
            for i in 0..72 {
                let in_a_tail = (12..32).contains(&i) && !a_used.contains(&i);
                let in_b_tail = (37..67).contains(&i) && !b_used.contains(&i);
                if !in_a_tail && !in_b_tail {
                    assert_eq!(dst[i], src[i], "byte {i} copied (lens {len_a}, {len_b})");
                }
            }
            for pair in ranges.windows(2) {
                assert!(pair[0].end <= pair[1].start, "ranges increase: {ranges:?}");
            }
            for r in &ranges {
                assert!(r.start % 8 == 0 && (r.end % 8 == 0 || r.end == 72), "{r:?}");
            }
        }
    }

    #[test]
    fn walk_skips_long_tails_and_clamps_torn_lengths() {
        let spans = [TextSpan {
            offset: 0,
            cap: 1000,
        }];
        let mut src = vec![0xEEu8; 1008];
        src[0..2].copy_from_slice(&3u16.to_le_bytes());
        let (_, ranges) = reader_copy(&src, &spans);
        let copied: usize = ranges.iter().map(|r| r.len()).sum();
        assert_eq!(
            copied,
            8 + 8,
            "len word plus the last word (which may hold the next field)"
        );
        src[0..2].copy_from_slice(&u16::MAX.to_le_bytes());
        let (dst, ranges) = reader_copy(&src, &spans);
        assert_eq!(
            ranges.last().map(|r| r.end),
            Some(1008),
            "clamped to the field"
        );
        assert_eq!(dst, src);
    }

    #[test]
    fn full_walk_is_one_range() {
        let spans = [TextSpan {
            offset: 0,
            cap: 100,
        }];
        let mut buf = vec![0u8; 104];
        let mut ranges = Vec::new();
        walk_used(&spans, &mut buf, true, |_, r| ranges.push(r));
        assert_eq!(ranges, vec![0..104]);
    }
}
