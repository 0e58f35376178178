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
//! Page tables are populated up front, where that is safe. Measured here
//! (docs/dataplane.md): the first write through an unpopulated /dev/shm
//! mapping runs at 1.1 GB/s, one page fault per 4 KiB page, against 8.5 GB/s
//! once populated. The destination maps its (fully reserved) image with
//! `MAP_POPULATE`. The source populates only the file's data extents
//! (`MADV_POPULATE_READ`, [`SourceMemory::populate_data`]) and never reads
//! its holes: a read fault on a hole of a shared tmpfs mapping allocates it,
//! costing the host memory the guest never used. Populating 512 MiB takes
//! about 60 ms here, so the source does it on a helper thread while it
//! connects and handshakes, not before.

use dwcp_dataplane_core::scan::PAGE_LEN;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Bytes populated per `madvise` call (a multiple of 4 KiB and 2 MiB pages;
/// one hugepage on a hugetlbfs mount of larger pages): about 1.3 ms of
/// holding the mmap lock here.
const POPULATE_CHUNK_BYTES: usize = 8 << 20;

/// `statfs` magic of hugetlbfs.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

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
        "{path} is on hugetlbfs with {page_bytes}-byte pages, which needs a multiple of that, but the guest has {len} bytes"
    )]
    HugetlbfsGranule {
        /// The file.
        path: PathBuf,
        /// The guest's size.
        len: u64,
        /// The mount's hugepage size.
        page_bytes: u64,
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

/// The largest page tmpfs backs a file with (a PMD-sized transparent huge
/// page on x86-64), which may extend past the end of a file of another size.
const TMPFS_HUGE_PAGE_BYTES: u64 = 2 * 1024 * 1024;

/// True if `file` lives on tmpfs.
fn is_on_tmpfs(file: &File) -> bool {
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open for the life of `file`; `stats` is writable.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut stats) };
    rc == 0 && stats.f_type == libc::TMPFS_MAGIC
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MemoryError + 'a {
    move |cause| MemoryError::Io {
        op,
        path: path.to_owned(),
        cause,
    }
}

/// The hugepage size of the hugetlbfs mount holding `path` (2 MiB, 1 GiB,
/// as mounted with `pagesize=`), or `None` when `path` is not on hugetlbfs.
fn hugetlbfs_page_bytes(path: &Path) -> Option<u64> {
    let dir = path.parent()?;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stats` is writable.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stats) };
    // hugetlbfs reports its page size as the block size.
    (rc == 0 && stats.f_type == HUGETLBFS_MAGIC)
        .then(|| u64::try_from(stats.f_bsize).ok())
        .flatten()
        .filter(|&bytes| bytes > 0)
}

/// The source's read-only view of guest memory.
#[derive(Debug)]
pub struct SourceMemory {
    // Field order is drop order: unmap before closing the file.
    map: memmap2::Mmap,
    file: File,
    path: PathBuf,
}

impl SourceMemory {
    /// Maps `path` shared and read-only (page tables not yet populated:
    /// [`Self::populate_data`]).
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
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(io("map", path))?;
        Ok(Self {
            map,
            file,
            path: path.to_owned(),
        })
    }

    /// Writes into `out` the page ranges that hold data; everything else is
    /// a hole, which reads as zeros. One `lseek(SEEK_DATA/SEEK_HOLE)` pair
    /// per extent; file systems without hole support report one extent.
    pub fn data_extents(&self, out: &mut Vec<std::ops::Range<usize>>) -> Result<(), MemoryError> {
        out.clear();
        let len = libc::off_t::try_from(self.len()).map_err(|_| MemoryError::BadSize {
            path: self.path.clone(),
            len: self.len(),
        })?;
        let fd = self.file.as_raw_fd();
        let page = PAGE_LEN as libc::off_t;
        let mut pos: libc::off_t = 0;
        while pos < len {
            // SAFETY: lseek has no memory preconditions; results are checked.
            let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
            if data < 0 {
                let err = std::io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::ENXIO) => break,
                    Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => {
                        out.clear();
                        out.push(0..self.page_count());
                        return Ok(());
                    }
                    _ => {
                        return Err(MemoryError::Io {
                            op: "find data in",
                            path: self.path.clone(),
                            cause: err,
                        })
                    }
                }
            }
            // SAFETY: as above.
            let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
            let end = if hole < 0 { len } else { hole.min(len) };
            let first = usize::try_from(data / page).expect("offset below the mapping length");
            let last =
                usize::try_from((end + page - 1) / page).expect("offset below the mapping length");
            match out.last_mut() {
                Some(previous) if previous.end >= first => previous.end = previous.end.max(last),
                _ => out.push(first..last),
            }
            pos = end;
        }
        Ok(())
    }

    /// Pre-faults the page tables of the data extents (MADV_POPULATE_READ,
    /// Linux 5.14+), without touching holes: reading a hole of a tmpfs file
    /// through a shared mapping would allocate it, costing the host memory
    /// the guest never used. Optional: an unpopulated page faults in on its
    /// first read.
    pub fn populate_data(&self) -> Result<(), MemoryError> {
        const MADV_POPULATE_READ: libc::c_int = 22;
        let mut extents = Vec::new();
        self.data_extents(&mut extents)?;
        // On hugetlbfs a chunk must be whole hugepages (1 GiB ones included).
        let chunk_bytes = hugetlbfs_page_bytes(&self.path)
            .and_then(|page| usize::try_from(page).ok())
            .map_or(POPULATE_CHUNK_BYTES, |page| POPULATE_CHUNK_BYTES.max(page));
        for extent in extents {
            let bytes = &self.map[extent.start * PAGE_LEN..extent.end * PAGE_LEN];
            // One call holds the process's mmap lock for its whole range:
            // in chunks, the threads that map buffers and stacks meanwhile
            // (the frame pool, the handshakes) wait for one chunk at most.
            for chunk in bytes.chunks(chunk_bytes) {
                // SAFETY: the range lies inside our live mapping; POPULATE_READ
                // only fills page tables and does not change contents.
                let rc = unsafe {
                    libc::madvise(
                        chunk.as_ptr().cast_mut().cast(),
                        chunk.len(),
                        MADV_POPULATE_READ,
                    )
                };
                if rc != 0 {
                    tracing::debug!(err = %std::io::Error::last_os_error(), "MADV_POPULATE_READ unavailable; pages fault in on first read");
                    return Ok(());
                }
            }
        }
        Ok(())
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
    starts_zeroed: bool,
}

/// A destination image that passed the cheap checks (size, granule, free
/// space) and exists with its final length, but whose memory is not yet
/// allocated. The handshake is answered at this point; [`Self::allocate`]
/// (seconds per GiB on a loaded machine) runs after it.
#[derive(Debug)]
pub struct PendingMemory {
    file: File,
    path: PathBuf,
    len: u64,
    created: bool,
    /// The file was created here or was empty: every byte reads zero.
    starts_zeroed: bool,
}

/// Bytes free on the file system holding `file` (`None` if unknown).
///
/// A hugetlbfs mount without `size=` reports no blocks at all (it has no limit
/// of its own); what bounds it is the free hugepages of the mount's page
/// size (`hugetlbfs_page_bytes`), so those count.
fn free_bytes(file: &File, hugetlbfs_page_bytes: Option<u64>) -> Option<u64> {
    if let Some(page_bytes) = hugetlbfs_page_bytes {
        return dwcp_hugepages::free_hugepages_of_size(page_bytes)
            .map(|pages| pages.saturating_mul(page_bytes));
    }
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open for the life of `file`; `stats` is writable.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut stats) };
    (rc == 0 && stats.f_blocks > 0).then(|| stats.f_bavail.saturating_mul(stats.f_frsize))
}

impl PendingMemory {
    /// Checks `len`, creates `path` (or reuses it at exactly that size),
    /// sizes it, and checks the file system has room for what is missing.
    pub fn open(path: &Path, len: u64) -> Result<Self, MemoryError> {
        if len == 0 || !len.is_multiple_of(PAGE_LEN as u64) {
            return Err(MemoryError::BadSize {
                path: path.to_owned(),
                len,
            });
        }
        if let Some(page_bytes) = hugetlbfs_page_bytes(path) {
            if !len.is_multiple_of(page_bytes) {
                return Err(MemoryError::HugetlbfsGranule {
                    path: path.to_owned(),
                    len,
                    page_bytes,
                });
            }
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
        // Guest RAM holds the guest's secrets: owner-only, like the key file.
        let file = std::os::unix::fs::OpenOptionsExt::mode(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            0o600,
        )
        .open(path)
        .map_err(io("create", path))?;
        let pending = Self {
            file,
            path: path.to_owned(),
            len,
            created: existing.is_none(),
            starts_zeroed: existing.is_none_or(|e| e == 0),
        };
        match pending.size_and_check_space() {
            Ok(()) => Ok(pending),
            Err(err) => {
                pending.discard();
                Err(err)
            }
        }
    }

    fn size_and_check_space(&self) -> Result<(), MemoryError> {
        let path = &self.path;
        self.file.set_len(self.len).map_err(io("size", path))?;
        let allocated = std::os::unix::fs::MetadataExt::blocks(
            &self.file.metadata().map_err(io("stat", path))?,
        ) * 512;
        let missing = self.len.saturating_sub(allocated);
        match free_bytes(&self.file, hugetlbfs_page_bytes(path)) {
            Some(free) if free < missing => Err(MemoryError::NoSpace {
                path: path.clone(),
                wanted: self.len,
            }),
            _ => Ok(()),
        }
    }

    /// Reserves every byte (`posix_fallocate`) and maps the image populated.
    pub fn allocate(self) -> Result<DestinationMemory, MemoryError> {
        let path = self.path.clone();
        let len = self.len;
        let signed_len = libc::off_t::try_from(len).map_err(|_| MemoryError::BadSize {
            path: path.clone(),
            len,
        })?;
        // A tmpfs file whose every page is already allocated (a pre-provisioned
        // image) needs no `posix_fallocate`, which would still walk each page
        // (12 ms per 256 MiB here) while the first frames wait for the decoder.
        let rc = if self.is_allocated_on_tmpfs() {
            0
        } else {
            // SAFETY: plain syscall on an fd we own.
            unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, signed_len) }
        };
        let reserved = match rc {
            0 => Ok(()),
            libc::ENOSPC => Err(MemoryError::NoSpace {
                path: path.clone(),
                wanted: len,
            }),
            libc::EOPNOTSUPP | libc::EINVAL => {
                tracing::debug!(path = %path.display(), "posix_fallocate unsupported here");
                Ok(())
            }
            other => Err(MemoryError::Io {
                op: "reserve",
                path: path.clone(),
                cause: std::io::Error::from_raw_os_error(other),
            }),
        };
        if let Err(err) = reserved {
            self.discard();
            return Err(err);
        }
        // Not populated: `posix_fallocate` has allocated (and zeroed) every
        // page, so the decoder's first write to a page is a minor fault that
        // maps a page already there (the kernel maps its neighbours with it).
        // Populating the map here took 0.6 s per GiB on the 2-core test
        // machine, all of it before the first frame could be decoded.
        // SAFETY: this process is the file's only writer while it receives a
        // migration; the space is reserved above, so writes cannot SIGBUS on ENOSPC.
        match unsafe { memmap2::MmapOptions::new().map_mut(&self.file) } {
            Ok(map) => Ok(DestinationMemory {
                map,
                path: self.path,
                created: self.created,
                starts_zeroed: self.starts_zeroed,
            }),
            Err(cause) => {
                self.discard();
                Err(MemoryError::Io {
                    op: "map",
                    path,
                    cause,
                })
            }
        }
    }

    /// True if the file is on tmpfs and every byte of it is allocated.
    /// tmpfs counts in `st_blocks` exactly the pages it holds, those that
    /// `posix_fallocate` reserved included (no metadata blocks, unlike disk
    /// file systems), so `st_blocks` covering the length means no hole is
    /// left. Only for a length in whole 2 MiB units: on a `huge=` mount a
    /// huge page may run past the end of a shorter file and count beyond
    /// it. (`SEEK_HOLE` cannot tell: tmpfs reports reserved, unwritten
    /// pages as holes, which a pre-provisioned image is made of.)
    fn is_allocated_on_tmpfs(&self) -> bool {
        if !self.len.is_multiple_of(TMPFS_HUGE_PAGE_BYTES) {
            return false;
        }
        if !is_on_tmpfs(&self.file) {
            return false;
        }
        self.file.metadata().is_ok_and(|meta| {
            std::os::unix::fs::MetadataExt::blocks(&meta).saturating_mul(512) >= self.len
        })
    }

    /// Removes the file if this migration created it.
    pub fn discard(self) {
        remove_if_created(&self.path, self.created);
    }
}

fn remove_if_created(path: &Path, created: bool) {
    if created {
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), %err, "could not remove the incomplete memory file");
        }
    }
}

impl DestinationMemory {
    /// Creates `path` with `len` bytes (or reuses it if it has exactly that
    /// size) and allocates it: [`PendingMemory::open`] then [`PendingMemory::allocate`].
    pub fn create(path: &Path, len: u64) -> Result<Self, MemoryError> {
        PendingMemory::open(path, len)?.allocate()
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

    /// Every byte read zero when the migration began (the file was created
    /// by it, or was empty): a page not written since holds zeros.
    pub fn starts_zeroed(&self) -> bool {
        self.starts_zeroed
    }

    /// One page, writable.
    pub fn page_mut(&mut self, index: usize) -> &mut [u8] {
        &mut self.map[index * PAGE_LEN..(index + 1) * PAGE_LEN]
    }

    /// Pages `range`, writable (the page codec decodes a stream's range at once).
    pub fn range_mut(&mut self, range: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.map[range.start * PAGE_LEN..range.end * PAGE_LEN]
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
        remove_if_created(&path, created);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dwcp-gm-{}-{name}", std::process::id()))
    }

    #[test]
    fn holes_are_reported_as_not_data() {
        let path = temp("sparse");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(64 * PAGE_LEN as u64).expect("size");
        std::os::unix::fs::FileExt::write_all_at(&file, &[1u8; PAGE_LEN], 10 * PAGE_LEN as u64)
            .expect("write");
        std::os::unix::fs::FileExt::write_all_at(&file, &[2u8; 3 * PAGE_LEN], 40 * PAGE_LEN as u64)
            .expect("write");
        drop(file);
        let memory = SourceMemory::open(&path).expect("open");
        let mut extents = Vec::new();
        memory.data_extents(&mut extents).expect("extents");
        // File systems may round extents out to their block size; every data
        // page must be covered and most of the file must be hole.
        let covered = |page: usize| extents.iter().any(|e| e.contains(&page));
        assert!(covered(10) && covered(40) && covered(42), "{extents:?}");
        let data_pages: usize = extents.iter().map(|e| e.len()).sum();
        assert!(data_pages < 64, "holes are found: {extents:?}");
        std::fs::remove_file(path).expect("cleanup");
    }

    /// Populating reads only the data extents, in chunks: on tmpfs a read
    /// of a hole through the shared mapping would allocate it.
    #[test]
    fn populating_leaves_the_holes_of_a_tmpfs_file_unallocated() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            eprintln!("SKIPPED: no /dev/shm");
            return;
        }
        let path = shm.join(format!("dwcp-gm-{}-populate", std::process::id()));
        let data = 3 * POPULATE_CHUNK_BYTES + 5 * PAGE_LEN;
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(4 * data as u64).expect("size");
        std::os::unix::fs::FileExt::write_all_at(&file, &vec![7u8; data], data as u64)
            .expect("write");
        drop(file);
        let memory = SourceMemory::open(&path).expect("open");
        memory.populate_data().expect("populate");
        let allocated = std::fs::metadata(&path).expect("stat").blocks() * 512;
        std::fs::remove_file(&path).expect("cleanup");
        assert!(
            allocated >= data as u64 && allocated < 2 * data as u64,
            "{allocated} bytes allocated for {data} bytes of data in a {}-byte file",
            4 * data
        );
    }

    /// A tmpfs image with a hole is reserved; one without is recognised
    /// as allocated, so `allocate` skips the page walk.
    #[test]
    fn only_a_tmpfs_image_without_holes_counts_as_allocated() {
        let shm = Path::new("/dev/shm");
        let path = shm.join(format!("dwcp-gm-{}-allocated", std::process::id()));
        let len = TMPFS_HUGE_PAGE_BYTES;
        let Ok(file) = std::fs::File::create(&path) else {
            eprintln!("SKIPPED: no /dev/shm");
            return;
        };
        if !is_on_tmpfs(&file) {
            std::fs::remove_file(&path).expect("cleanup");
            eprintln!("SKIPPED: /dev/shm is not tmpfs");
            return;
        }
        file.set_len(len).expect("size");
        std::os::unix::fs::FileExt::write_all_at(
            &file,
            &vec![1u8; usize::try_from(len).expect("2 MiB") - PAGE_LEN],
            0,
        )
        .expect("write all but the last page");
        drop(file);
        let pending = PendingMemory::open(&path, len).expect("open");
        assert!(!pending.is_allocated_on_tmpfs(), "the last page is a hole");
        let memory = pending.allocate().expect("allocate");
        drop(memory);
        assert_eq!(std::fs::metadata(&path).expect("stat").blocks() * 512, len);
        let pending = PendingMemory::open(&path, len).expect("open again");
        assert!(
            pending.is_allocated_on_tmpfs(),
            "every page is allocated now"
        );
        let memory = pending.allocate().expect("allocate without fallocate");
        assert_eq!(memory.pages(0, 1)[0], 1, "the data is kept");
        drop(memory);
        std::fs::remove_file(&path).expect("cleanup");

        // Reserved but never written, as a pre-provisioned image is.
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(len).expect("size");
        drop(file);
        let pending = PendingMemory::open(&path, len).expect("open");
        assert!(!pending.is_allocated_on_tmpfs(), "sparse");
        drop(pending.allocate().expect("reserve"));
        let pending = PendingMemory::open(&path, len).expect("open again");
        assert!(pending.is_allocated_on_tmpfs(), "reserved pages count");
        pending.discard();

        // A length off the 2 MiB grid is always reserved.
        let odd = len + PAGE_LEN as u64;
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(odd).expect("size");
        std::os::unix::fs::FileExt::write_all_at(
            &file,
            &vec![1u8; usize::try_from(odd).expect("2 MiB + 4 KiB")],
            0,
        )
        .expect("write every page");
        drop(file);
        let pending = PendingMemory::open(&path, odd).expect("open");
        assert!(!pending.is_allocated_on_tmpfs(), "not in whole 2 MiB units");
        pending.discard();
        std::fs::remove_file(&path).expect("cleanup");
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
