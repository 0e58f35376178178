//! The crate's error type.

use std::io;

/// Everything that can go wrong creating a [`Region`](crate::Region) or a
/// [`BufferPool`](crate::BufferPool), or reading the kernel's hugepage state.
///
/// Every variant carries the values that caused it, so the message alone tells
/// an operator what to change.
#[derive(Debug, thiserror::Error)]
pub enum HugepageError {
    /// `buffer_len` is zero, not a multiple of [`BUFFER_ALIGN`](crate::BUFFER_ALIGN),
    /// or larger than [`BUFFER_LEN_MAX`](crate::BUFFER_LEN_MAX).
    #[error(
        "invalid buffer length {len}: must be a non-zero multiple of {} bytes and at most {} bytes",
        crate::BUFFER_ALIGN,
        crate::BUFFER_LEN_MAX
    )]
    InvalidBufferLen {
        /// The rejected length in bytes.
        len: usize,
    },

    /// `buffer_count` is zero or above [`BUFFER_COUNT_MAX`](crate::BUFFER_COUNT_MAX).
    #[error("invalid buffer count {count}: must be in 1..={max}")]
    InvalidBufferCount {
        /// The rejected count.
        count: u32,
        /// The largest accepted count.
        max: u32,
    },

    /// `buffer_len * buffer_count` exceeds [`POOL_BYTES_MAX`](crate::POOL_BYTES_MAX).
    #[error("buffer pool of {bytes} bytes is too large: at most {max} bytes")]
    PoolTooLarge {
        /// The requested pool size in bytes.
        bytes: usize,
        /// The largest accepted pool size in bytes.
        max: usize,
    },

    /// [`HugepagePolicy::Require`](crate::HugepagePolicy::Require) was given and the
    /// kernel could not back the region with 2 MiB hugepages.
    #[error(
        "2 MiB hugepages unavailable: wanted {wanted_bytes} bytes, {free_hugepages} free 2 MiB \
         hugepages (reserve more with scripts/setup-hugepages.sh)"
    )]
    HugepagesUnavailable {
        /// The region size that was asked for, rounded up to 2 MiB.
        wanted_bytes: usize,
        /// Free 2 MiB hugepages when the mapping failed (0 if that could not be read).
        free_hugepages: u64,
        /// The error `mmap` returned (usually `ENOMEM`: too few pages reserved).
        #[source]
        cause: io::Error,
    },

    /// `mmap` of normal pages failed, or the length was zero or overflowed.
    #[error("mmap of {len} bytes failed")]
    Mmap {
        /// The length that was asked for.
        len: usize,
        /// The error `mmap` returned.
        #[source]
        cause: io::Error,
    },

    /// A `/proc` or `/sys` file could not be read.
    #[error("cannot read {path}")]
    ReadProc {
        /// The file that could not be read.
        path: &'static str,
        /// The error from reading it.
        #[source]
        cause: io::Error,
    },

    /// `/proc/meminfo` lacks a hugepage field or has one that does not parse
    /// (a kernel built without `CONFIG_HUGETLBFS` has none of them).
    #[error("/proc/meminfo: field {field} is missing or malformed")]
    Meminfo {
        /// The field name, e.g. `HugePages_Free`.
        field: &'static str,
    },
}
