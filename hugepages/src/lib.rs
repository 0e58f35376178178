//! Hugepage-backed memory for the DWCP data plane.
//!
//! * [`Region`]: one anonymous, pre-faulted `mmap`, backed by 2 MiB hugetlb
//!   pages when the [`HugepagePolicy`] allows and the kernel has them reserved,
//!   normal pages otherwise ([`Region::backing`] says which).
//! * [`BufferPool`]: fixed, equal-size buffers carved from one region at
//!   startup and handed out as [`BufferId`]s through a lock-free free list;
//!   exposes the iovecs to register with io_uring.
//! * [`HugepageInfo`], [`hugetlbfs_mounts`]: the host's hugepage state, for
//!   error messages, startup logs and operator tooling.
//!
//! # Design
//!
//! All memory is mapped and pre-faulted (`MAP_POPULATE`) once, before the
//! data plane starts: polling threads never fault, allocate or lock. Hugepages
//! cut TLB misses when streaming gigabytes of guest memory; they must be
//! reserved by the operator (`scripts/setup-hugepages.sh`), so the default
//! [`HugepagePolicy::Prefer`] falls back to normal pages and logs why, once
//! per process. See `docs/hugepages.md` for sizing and setup, and the
//! `region` and `pool` module docs for the mapping and the free-list protocol
//! (who pushes, who pops, memory ordering).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use dwcp_hugepages::{BufferPool, HugepagePolicy};
//!
//! // 4 streams x 8 frames in flight x 64 KiB frames.
//! let pool = Arc::new(BufferPool::new(64 * 1024, 4 * 8, HugepagePolicy::Prefer)?);
//! let iovecs = pool.registration_iovecs(); // -> io_uring register_buffers
//! assert_eq!(iovecs.len(), 1);
//!
//! let id = pool.get().expect("a fresh pool has free buffers");
//! // SAFETY: `id` came from `get` and is not shared; no other slice of it exists.
//! let buf = unsafe { pool.slice_mut(id) };
//! buf[..5].copy_from_slice(b"frame");
//! let (_buf_index, _addr) = (pool.registered_index(id), pool.buffer_ptr(id));
//! pool.put(id);
//! # Ok::<(), dwcp_hugepages::HugepageError>(())
//! ```

#![warn(missing_docs)]

mod error;
mod info;
mod mounts;
mod pool;
mod region;

pub use error::HugepageError;
pub use info::{free_2m_hugepages, free_hugepages_of_size, parse_meminfo, HugepageInfo};
pub use mounts::{hugetlbfs_mounts, parse_mounts};
pub use pool::{
    BufferId, BufferPool, BUFFER_ALIGN, BUFFER_COUNT_MAX, BUFFER_LEN_MAX, POOL_BYTES_MAX,
    REGISTERED_BUFFER_BYTES_MAX,
};
pub use region::{HugepagePolicy, PageBacking, Region, HUGE_PAGE_SIZE};

#[cfg(test)]
mod test_support;
