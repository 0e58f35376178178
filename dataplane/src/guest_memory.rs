//! Guest memory files: the source's read-only view and the destination's image.
//!
//! # Design
//! Guest RAM is a file (QEMU `memory-backend-file,share=on` on /dev/shm or
//! hugetlbfs). The source maps it shared and read-only; the guest keeps
//! writing through its own mapping, so the bytes under the source's slice
//! may change at any time. The source only ever copies and hashes them, and
//! the pre-copy design tolerates torn reads (see
//! [`dwcp_dataplane_core::scan`]); it never relies on two reads agreeing.
//!
//! The destination creates (or reuses, when the size matches) its file,
//! reserves the whole size with `posix_fallocate` so a full tmpfs or an
//! exhausted hugepage pool is a clear error now rather than a SIGBUS in the
//! middle of a migration, and maps it shared and writable.
//!
//! Both sides map with `MAP_POPULATE`. Measured here (perf/README.md): the
//! first write through an unpopulated /dev/shm mapping runs at 1.1 GB/s,
//! one page fault per 4 KiB page, against 8.5 GB/s once populated; reads
//! fault at half speed. Populating at set-up moves that cost out of the
//! copy loop and into one batched kernel call.

use dwcp_dataplane_core::scan::PAGE_LEN;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// `statfs` magic of hugetlbfs.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
/// Size granule of a hugetlbfs file (2 MiB pages).
pub const HUGETLBFS_GRANULE: u64 = 2 << 20;

/// A guest memory file that cannot be used.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// The file does not exist.
    #[error("guest memory file {path} does not exist")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// It could not be opened, sized or mapped.
    #[error("cannot {op} guest memory file {path}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// Its size is not a whole number of pages.
    #[error("guest memory file {path} is {len} bytes, not a positive multiple of the {PAGE_LEN}-byte page")]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// An existing destination file has another size.
    #[error("destination file {path} exists with {existing} bytes but the guest has {wanted}")]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Its size.
        existing: u64,
        /// The guest's.
        wanted: u64,
    },
    /// A hugetlbfs file must be a multiple of the huge page.
    #[error(
        "{path} is on hugetlbfs, which needs a multiple of 2 MiB, but the guest has {len} bytes"
    )]
    HugetlbfsGranule {
        /// The file.
        path: PathBuf,
        /// The guest's size.
        len: u64,
    },
    /// Not enough space (tmpfs full, or not enough huge pages reserved).
    #[error("not enough space for {wanted} bytes at {path} (tmpfs full, or too few hugepages reserved: see scripts/setup-hugepages.sh)")]
    NoSpace {
        /// The file.
        path: PathBuf,
        /// Bytes needed.
        wanted: u64,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MemoryError + 'a {
    move |cause| MemoryError::Io {
        op,
        path: path.to_owned(),
        cause,
    }
}

fn on_hugetlbfs(path: &Path) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stats` is writable.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stats) };
    rc == 0 && stats.f_type == HUGETLBFS_MAGIC
}

/// The source's read-only view of guest memory.
#[derive(Debug)]
pub struct SourceMemory {
    map: memmap2::Mmap,
    path: PathBuf,
}

impl SourceMemory {
    /// Maps `path` shared and read-only.
    pub fn open(path: &Path) -> Result<Self, MemoryError> {
        let file = File::open(path).map_err(|cause| match cause.kind() {
            std::io::ErrorKind::NotFound => MemoryError::NotFound {
                path: path.to_owned(),
            },
            _ => MemoryError::Io {
                op: "open",
                path: path.to_owned(),
                cause,
            },
        })?;
        let len = file.metadata().map_err(io("stat", path))?.len();
        if len == 0 || len % PAGE_LEN as u64 != 0 {
            return Err(MemoryError::BadSize {
                path: path.to_owned(),
                len,
            });
        }
        // SAFETY: the mapping is read-only and shared; the guest may change
        // the bytes concurrently, which this crate tolerates by design (module
        // docs): it only copies and hashes them. Truncating the file under a
        // running migration would SIGBUS, as it would crash the guest itself.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
            .map_err(io("map", path))?;
        Ok(Self {
            map,
            path: path.to_owned(),
        })
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// True for an empty mapping (never: `open` rejects it).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.map.len() / PAGE_LEN
    }

    /// Pages `first..first + count`, as one slice.
    pub fn pages(&self, first: usize, count: usize) -> &[u8] {
        &self.map[first * PAGE_LEN..(first + count) * PAGE_LEN]
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The destination's guest memory image.
#[derive(Debug)]
pub struct DestinationMemory {
    map: memmap2::MmapMut,
    path: PathBuf,
    created: bool,
}

impl DestinationMemory {
    /// Creates `path` with `len` bytes (or reuses it if it has exactly that size).
    pub fn create(path: &Path, len: u64) -> Result<Self, MemoryError> {
        if len == 0 || !len.is_multiple_of(PAGE_LEN as u64) {
            return Err(MemoryError::BadSize {
                path: path.to_owned(),
                len,
            });
        }
        if on_hugetlbfs(path) && !len.is_multiple_of(HUGETLBFS_GRANULE) {
            return Err(MemoryError::HugetlbfsGranule {
                path: path.to_owned(),
                len,
            });
        }
        let existing = match std::fs::metadata(path) {
            Ok(meta) => Some(meta.len()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(cause) => {
                return Err(MemoryError::Io {
                    op: "stat",
                    path: path.to_owned(),
                    cause,
                })
            }
        };
        if let Some(existing) = existing.filter(|&e| e != 0 && e != len) {
            return Err(MemoryError::SizeMismatch {
                path: path.to_owned(),
                existing,
                wanted: len,
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("create", path))?;
        let created = existing.is_none();
        let result = Self::reserve_and_map(file, path, len, created);
        if result.is_err() && created {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn reserve_and_map(
        file: File,
        path: &Path,
        len: u64,
        created: bool,
    ) -> Result<Self, MemoryError> {
        file.set_len(len).map_err(io("size", path))?;
        let signed_len = libc::off_t::try_from(len).map_err(|_| MemoryError::BadSize {
            path: path.to_owned(),
            len,
        })?;
        // SAFETY: plain syscall on an fd we own.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, signed_len) };
        match rc {
            0 => {}
            libc::ENOSPC => {
                return Err(MemoryError::NoSpace {
                    path: path.to_owned(),
                    wanted: len,
                })
            }
            libc::EOPNOTSUPP | libc::EINVAL => {
                tracing::debug!(path = %path.display(), "posix_fallocate unsupported here")
            }
            other => {
                return Err(MemoryError::Io {
                    op: "reserve",
                    path: path.to_owned(),
                    cause: std::io::Error::from_raw_os_error(other),
                })
            }
        }
        // SAFETY: this process is the file's only writer while it receives a
        // migration; the space is reserved above, so writes cannot SIGBUS on ENOSPC.
        let map = unsafe { memmap2::MmapOptions::new().populate().map_mut(&file) }
            .map_err(io("map", path))?;
        Ok(Self {
            map,
            path: path.to_owned(),
            created,
        })
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// True for an empty mapping (never).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.map.len() / PAGE_LEN
    }

    /// One page, writable.
    pub fn page_mut(&mut self, index: usize) -> &mut [u8] {
        &mut self.map[index * PAGE_LEN..(index + 1) * PAGE_LEN]
    }

    /// Pages `first..first + count`.
    pub fn pages(&self, first: usize, count: usize) -> &[u8] {
        &self.map[first * PAGE_LEN..(first + count) * PAGE_LEN]
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file if this migration created it (after a failure).
    pub fn discard(self) {
        let (path, created) = (self.path.clone(), self.created);
        drop(self.map);
        if created {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %err, "could not remove the incomplete memory file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dwcp-gm-{}-{name}", std::process::id()))
    }

    #[test]
    fn source_rejects_missing_and_misaligned_files() {
        assert!(matches!(
            SourceMemory::open(&temp("missing")),
            Err(MemoryError::NotFound { .. })
        ));
        let odd = temp("odd");
        std::fs::write(&odd, [1u8; 100]).expect("write");
        assert!(matches!(
            SourceMemory::open(&odd),
            Err(MemoryError::BadSize { len: 100, .. })
        ));
        std::fs::remove_file(odd).expect("cleanup");
    }

    #[test]
    fn destination_creates_reuses_and_refuses_other_sizes() {
        let path = temp("dest");
        let mut memory = DestinationMemory::create(&path, 8 * PAGE_LEN as u64).expect("create");
        memory.page_mut(3)[0] = 7;
        drop(memory);
        assert!(matches!(
            DestinationMemory::create(&path, 4 * PAGE_LEN as u64),
            Err(MemoryError::SizeMismatch { existing, .. }) if existing == 8 * PAGE_LEN as u64
        ));
        let reused =
            DestinationMemory::create(&path, 8 * PAGE_LEN as u64).expect("same size is reused");
        assert_eq!(reused.pages(3, 1)[0], 7);
        reused.discard();
        assert!(path.exists(), "a reused file is not ours to delete");
        std::fs::remove_file(&path).expect("cleanup");
        let created = DestinationMemory::create(&path, 8 * PAGE_LEN as u64).expect("create");
        created.discard();
        assert!(
            !path.exists(),
            "a file the migration created is removed on failure"
        );
    }
}
