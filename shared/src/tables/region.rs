//! `SharedRegion`: the mapped tables file seen as atomic words. All of the
//! `unsafe` of [`crate::tables`] is in this file.
//!
//! # Design
//!
//! The file is mapped `MAP_SHARED` and read and written by two processes at
//! once, so no Rust reference to plain (non-atomic) data in it may ever
//! exist: the other process could change the bytes under it, which is
//! undefined behaviour for `&[u8]`. The mapping is therefore kept as a
//! [`memmap2::MmapRaw`] (a pointer, never a slice) and every access goes
//! through [`SharedRegion::word`] (`&AtomicU64`) or
//! [`SharedRegion::word32`] (`&AtomicU32`). Racing atomic accesses are
//! defined behaviour, so a reader copying a record while its writer rewrites
//! it gets stale or mixed *values* (which the seqlock detects and discards),
//! never undefined behaviour. On x86-64 and aarch64 a `Relaxed` atomic load
//! or store of an aligned word is a plain `mov` / `ldr` / `str`.
//!
//! Mixed-size access: the only `AtomicU32` is the header's `dataplane_pid`;
//! 64-bit accesses to the word that holds it happen only while the file is
//! being initialised, before it is published under its name.
//!
//! Residual risk: if another process shrinks the file (`ftruncate`) while it
//! is mapped, touching the lost pages raises `SIGBUS`. The file is mode 0600
//! and only the data plane resizes it, and only a temporary file before it is
//! published (see `file.rs`), so this needs a process of the same user that
//! ignores the protocol.

use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::MmapRaw;

use super::layout::TABLES_FILE_LEN;

/// Alignment of the start of the mapping that the layout relies on (every
/// table offset and record stride is a multiple of it).
const REGION_ALIGN: usize = 64;

/// The mapped tables file: `TABLES_FILE_LEN` bytes, accessed only as
/// aligned atomic words.
#[derive(Debug)]
pub(crate) struct SharedRegion {
    /// The `MAP_SHARED` mapping; unmapped on drop. The file descriptor it was
    /// made from is already closed (a mapping outlives its descriptor).
    map: MmapRaw,
}

impl SharedRegion {
    /// Wraps a mapping of exactly `TABLES_FILE_LEN` bytes.
    ///
    /// Panics (a bug in `file.rs`) if the mapping has another length or is
    /// not aligned to `REGION_ALIGN`; `mmap` returns page-aligned addresses.
    pub(crate) fn new(map: MmapRaw) -> Self {
        assert_eq!(
            map.len(),
            TABLES_FILE_LEN,
            "mapping covers the whole layout"
        );
        assert_eq!(
            map.as_ptr().align_offset(REGION_ALIGN),
            0,
            "mmap returns page-aligned memory"
        );
        Self { map }
    }

    /// The 8-byte word at `offset` bytes from the start of the file.
    ///
    /// Panics if `offset` is not 8-aligned or the word is past the end: every
    /// offset comes from the compiled layout, so either is a bug.
    pub(crate) fn word(&self, offset: usize) -> &AtomicU64 {
        assert_eq!(offset % 8, 0, "word offset {offset} is 8-aligned");
        assert!(
            offset
                .checked_add(8)
                .is_some_and(|end| end <= self.map.len()),
            "word offset {offset} inside the mapping"
        );
        // SAFETY: `offset + 8 <= len` (checked above), so the pointer and the
        // 8 bytes after it are inside the live mapping, which is readable and
        // writable (MmapRaw maps PROT_READ|PROT_WRITE, MAP_SHARED) and stays
        // mapped for as long as `self`, and so the returned borrow, lives.
        // The base is page-aligned (asserted in `new`) and `offset` is a
        // multiple of 8, so the pointer meets `AtomicU64`'s alignment. Every
        // access to this memory, from this process or the other one, is an
        // atomic access through this function or `word32` (module docs), so
        // there are no non-atomic accesses to race with.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    /// The 4-byte word at `offset` bytes from the start of the file.
    ///
    /// Panics if `offset` is not 4-aligned or the word is past the end.
    pub(crate) fn word32(&self, offset: usize) -> &AtomicU32 {
        assert_eq!(offset % 4, 0, "word32 offset {offset} is 4-aligned");
        assert!(
            offset
                .checked_add(4)
                .is_some_and(|end| end <= self.map.len()),
            "word32 offset {offset} inside the mapping"
        );
        // SAFETY: as in `word`: in bounds (checked), aligned (page-aligned
        // base, offset a multiple of 4), mapped read-write for the lifetime of
        // the borrow, and only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) }
    }
}
