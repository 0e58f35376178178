//! [`BufferPool`]: fixed, equal-size buffers carved from one [`Region`].
//!
//! # Design
//!
//! Everything is allocated in [`BufferPool::new`]: the region, the free list
//! (a `crossbeam::queue::ArrayQueue<u32>` with room for every buffer) and one
//! `AtomicBool` "in use" flag per buffer. `get` and `put` allocate nothing and
//! take no lock, so they are safe on pinned polling threads.
//!
//! * **Writers of the free list**: `new` (fills it with every index) and
//!   `put`, from any thread. **Readers**: `get`, from any thread. Ownership of
//!   a buffer travels with its index: whoever popped it owns it until it
//!   pushes it back.
//! * **Ordering**: `ArrayQueue` push is a release and pop an acquire on the
//!   slot, so every write the previous owner made to a buffer happens-before
//!   the next owner's `get` returns it. The in-use flags are swapped with
//!   `AcqRel`; they carry no data, they only catch double `put`s (always
//!   checked: a duplicate index in the free list would hand one buffer to two
//!   owners, which is memory unsafety, and the check costs one uncontended
//!   atomic on a cache line `put` already touches).
//! * **io_uring**: [`BufferPool::registration_iovecs`] splits the buffers into
//!   iovecs of at most [`REGISTERED_BUFFER_BYTES_MAX`] (1 GiB, the kernel's
//!   per-buffer limit), each a whole number of buffers, so a buffer's
//!   registered index is simply `id / buffers_per_iovec`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::queue::ArrayQueue;

use crate::error::HugepageError;
use crate::region::{HugepagePolicy, PageBacking, Region};

/// Buffer lengths must be a multiple of this (page size; keeps every buffer
/// page-aligned, as `O_DIRECT` and io_uring fixed buffers like).
pub const BUFFER_ALIGN: usize = 4096;
/// Largest buffer: one buffer must fit in one io_uring registered buffer.
pub const BUFFER_LEN_MAX: usize = REGISTERED_BUFFER_BYTES_MAX;
/// Largest number of buffers in one pool.
pub const BUFFER_COUNT_MAX: u32 = 65_536;
/// Largest pool, `buffer_len * buffer_count`: 8 GiB.
pub const POOL_BYTES_MAX: usize = 8 << 30;
/// io_uring's limit on one registered buffer: 1 GiB.
pub const REGISTERED_BUFFER_BYTES_MAX: usize = 1 << 30;

// The byte-size constants need 64-bit `usize`; the data plane is 64-bit Linux only.
const _: () = assert!(usize::BITS >= 64, "dwcp-hugepages needs a 64-bit target");
const _: () = assert!(BUFFER_LEN_MAX.is_multiple_of(BUFFER_ALIGN));

/// Index of one buffer in a [`BufferPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferId(pub u32);

/// A fixed pool of equal-size buffers carved from one [`Region`] at startup;
/// no allocation after [`new`](BufferPool::new).
///
/// Buffers are handed out as [`BufferId`] indices through a lock-free free
/// list, so any thread can `get` and `put`. Share it with `Arc`.
pub struct BufferPool {
    region: Region,
    layout: Layout,
    free: ArrayQueue<u32>,
    in_use: Box<[AtomicBool]>,
}

impl BufferPool {
    /// Maps `buffer_len * buffer_count` bytes under `policy` and puts every
    /// buffer on the free list.
    ///
    /// `buffer_len` must be a non-zero multiple of [`BUFFER_ALIGN`] and at most
    /// [`BUFFER_LEN_MAX`]; `buffer_count` in `1..=`[`BUFFER_COUNT_MAX`]; the
    /// product at most [`POOL_BYTES_MAX`].
    pub fn new(
        buffer_len: usize,
        buffer_count: u32,
        policy: HugepagePolicy,
    ) -> Result<BufferPool, HugepageError> {
        if buffer_len == 0
            || !buffer_len.is_multiple_of(BUFFER_ALIGN)
            || buffer_len > BUFFER_LEN_MAX
        {
            return Err(HugepageError::InvalidBufferLen { len: buffer_len });
        }
        if buffer_count == 0 || buffer_count > BUFFER_COUNT_MAX {
            return Err(HugepageError::InvalidBufferCount {
                count: buffer_count,
                max: BUFFER_COUNT_MAX,
            });
        }
        // Cannot overflow: at most 2^30 * 2^16 on a 64-bit target.
        let bytes = buffer_len * buffer_count as usize;
        if bytes > POOL_BYTES_MAX {
            return Err(HugepageError::PoolTooLarge {
                bytes,
                max: POOL_BYTES_MAX,
            });
        }
        let layout = Layout::new(buffer_len, buffer_count);
        let region = Region::new(bytes, policy)?;
        assert!(region.len() >= bytes, "region shorter than requested");

        let free = ArrayQueue::new(buffer_count as usize);
        for index in 0..buffer_count {
            free.push(index)
                .expect("free list was created with room for every buffer");
        }
        let in_use = (0..buffer_count).map(|_| AtomicBool::new(false)).collect();
        Ok(BufferPool {
            region,
            layout,
            free,
            in_use,
        })
    }

    /// Takes a free buffer; `None` when all are in use (backpressure, not an error).
    pub fn get(&self) -> Option<BufferId> {
        let index = self.free.pop()?;
        let was_in_use = self.flag(index).swap(true, Ordering::AcqRel);
        debug_assert!(
            !was_in_use,
            "buffer {index} was on the free list while in use"
        );
        Some(BufferId(index))
    }

    /// Returns a buffer taken with [`get`](BufferPool::get).
    ///
    /// # Panics
    ///
    /// If `id` is already free (returned twice, or never handed out), or out of range.
    pub fn put(&self, id: BufferId) {
        debug_assert!(
            id.0 < self.layout.buffer_count,
            "BufferPool::put: {id:?} out of range (buffer_count {})",
            self.layout.buffer_count
        );
        let was_in_use = self.flag(id.0).swap(false, Ordering::AcqRel);
        assert!(
            was_in_use,
            "BufferPool::put: buffer {} returned twice (or never handed out)",
            id.0
        );
        self.free
            .push(id.0)
            .expect("free list has room for every buffer and the in-use flag rules out duplicates");
    }

    /// Length of every buffer in bytes.
    pub fn buffer_len(&self) -> usize {
        self.layout.buffer_len
    }

    /// Number of buffers.
    pub fn buffer_count(&self) -> u32 {
        self.layout.buffer_count
    }

    /// Buffers on the free list now (a snapshot: other threads may change it).
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// What backs the pool's memory.
    pub fn backing(&self) -> PageBacking {
        self.region.backing()
    }

    /// The buffer's bytes, writable.
    ///
    /// # Safety
    ///
    /// The caller must own `id` (got it from [`get`](BufferPool::get) and not
    /// yet [`put`](BufferPool::put) it) and must not create overlapping
    /// references to the same buffer (no other `slice`/`slice_mut` of `id`
    /// alive, no I/O in flight on it) while the returned slice lives.
    ///
    /// # Panics
    ///
    /// If `id` is out of range.
    // The memory sits behind the region's raw pointer, not inside `self`; exclusivity
    // comes from owning `id` (see # Safety), as for any arena handing out `&mut`.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, id: BufferId) -> &mut [u8] {
        let ptr = self.buffer_ptr(id);
        debug_assert!(
            self.flag(id.0).load(Ordering::Relaxed),
            "slice_mut of free buffer {id:?}"
        );
        // SAFETY: `buffer_ptr` checked the range, so `ptr..ptr + buffer_len`
        // lies inside the region, which is mapped read/write, initialised
        // (anonymous memory is zero-filled) and lives as long as `&self`.
        // Exclusive access is the caller's obligation (# Safety).
        unsafe { std::slice::from_raw_parts_mut(ptr, self.layout.buffer_len) }
    }

    /// The buffer's bytes.
    ///
    /// # Safety
    ///
    /// The caller must own `id` (as for [`slice_mut`](BufferPool::slice_mut))
    /// and no `&mut` to this buffer, nor a kernel write into it, may exist
    /// while the returned slice lives.
    ///
    /// # Panics
    ///
    /// If `id` is out of range.
    pub unsafe fn slice(&self, id: BufferId) -> &[u8] {
        let ptr = self.buffer_ptr(id);
        debug_assert!(
            self.flag(id.0).load(Ordering::Relaxed),
            "slice of free buffer {id:?}"
        );
        // SAFETY: as in `slice_mut`: in range, mapped, initialised, outlives
        // `&self`; absence of writers is the caller's obligation.
        unsafe { std::slice::from_raw_parts(ptr, self.layout.buffer_len) }
    }

    /// Start of the buffer, for io_uring submissions; `buffer_len` bytes long.
    ///
    /// # Panics
    ///
    /// If `id` is out of range.
    pub fn buffer_ptr(&self, id: BufferId) -> *mut u8 {
        let offset = self.layout.offset(id);
        // SAFETY: `offset` checked `id < buffer_count`, so offset + buffer_len
        // <= buffer_len * buffer_count <= region.len(): in bounds of one mapping.
        unsafe { self.region.as_ptr().add(offset) }
    }

    /// iovecs covering every buffer, each at most [`REGISTERED_BUFFER_BYTES_MAX`]
    /// and a whole number of buffers, in buffer order: pass them to io_uring
    /// `register_buffers`. Allocates; call at setup.
    pub fn registration_iovecs(&self) -> Vec<libc::iovec> {
        self.layout
            .iovec_ranges()
            .map(|(first, count)| libc::iovec {
                iov_base: self.buffer_ptr(BufferId(first)).cast(),
                iov_len: count as usize * self.layout.buffer_len,
            })
            .collect()
    }

    /// Index, in [`registration_iovecs`](BufferPool::registration_iovecs), of
    /// the iovec holding `id` (the `buf_index` of io_uring fixed reads/writes;
    /// the address is [`buffer_ptr`](BufferPool::buffer_ptr)).
    ///
    /// # Panics
    ///
    /// If `id` is out of range.
    pub fn registered_index(&self, id: BufferId) -> u16 {
        self.layout.registered_index(id)
    }

    fn flag(&self, index: u32) -> &AtomicBool {
        &self.in_use[index as usize]
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("buffer_len", &self.layout.buffer_len)
            .field("buffer_count", &self.layout.buffer_count)
            .field("available", &self.available())
            .field("backing", &self.backing())
            .field("region", &self.region)
            .finish()
    }
}

/// Pure arithmetic of a pool: where buffers are and how they group into iovecs.
#[derive(Debug, Clone, Copy)]
struct Layout {
    buffer_len: usize,
    buffer_count: u32,
    buffers_per_iovec: u32,
}

impl Layout {
    /// Callers have checked `buffer_len` and `buffer_count` against the bounds.
    fn new(buffer_len: usize, buffer_count: u32) -> Layout {
        assert!(buffer_len > 0 && buffer_len <= REGISTERED_BUFFER_BYTES_MAX);
        assert!(buffer_count > 0 && buffer_count <= BUFFER_COUNT_MAX);
        let per = (REGISTERED_BUFFER_BYTES_MAX / buffer_len).min(buffer_count as usize);
        let buffers_per_iovec = u32::try_from(per).expect("at most buffer_count, which is a u32");
        let layout = Layout {
            buffer_len,
            buffer_count,
            buffers_per_iovec,
        };
        // Each iovec holds more than 512 MiB (or every buffer), so an 8 GiB pool
        // needs at most 17: far below u16::MAX and io_uring's 16384.
        assert!(layout.iovec_count() <= u32::from(u16::MAX));
        layout
    }

    fn iovec_count(&self) -> u32 {
        self.buffer_count.div_ceil(self.buffers_per_iovec)
    }

    /// `(first buffer, number of buffers)` of each iovec.
    fn iovec_ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.iovec_count()).map(|i| {
            let first = i * self.buffers_per_iovec;
            (first, self.buffers_per_iovec.min(self.buffer_count - first))
        })
    }

    fn offset(&self, id: BufferId) -> usize {
        assert!(
            id.0 < self.buffer_count,
            "{id:?} out of range (buffer_count {})",
            self.buffer_count
        );
        id.0 as usize * self.buffer_len
    }

    fn registered_index(&self, id: BufferId) -> u16 {
        assert!(
            id.0 < self.buffer_count,
            "{id:?} out of range (buffer_count {})",
            self.buffer_count
        );
        u16::try_from(id.0 / self.buffers_per_iovec)
            .expect("iovec count fits u16 (checked in Layout::new)")
    }
}

#[cfg(test)]
mod tests;
