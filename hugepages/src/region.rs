//! [`Region`]: one anonymous, pre-faulted memory mapping, hugepage-backed when possible.
//!
//! # Design
//!
//! A region is mapped once, at startup, with `MAP_POPULATE` so that no page
//! fault happens later on a data-plane thread. With 2 MiB hugepages the
//! mapping also uses `MAP_HUGETLB | MAP_HUGE_2MB`, its length is rounded up to
//! 2 MiB, and the kernel takes the pages from the reserved pool
//! (`nr_hugepages`) at `mmap` time: if too few are free, `mmap` fails with
//! `ENOMEM` up front instead of `SIGBUS` on a later fault. What happens then
//! is the [`HugepagePolicy`]'s choice. A fallback under
//! [`HugepagePolicy::Prefer`] is logged once per process at info level (later
//! ones at debug level), so a misconfigured host is visible in the startup log
//! without flooding it.

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::HugepageError;
use crate::info::{free_2m_hugepages, total_2m_hugepages};

/// Size of the hugepages regions ask for: 2 MiB.
pub const HUGE_PAGE_SIZE: usize = 2 * 1024 * 1024;

/// What actually backs a [`Region`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageBacking {
    /// Reserved 2 MiB hugetlb pages.
    Hugetlb2M,
    /// Normal (base-size) pages.
    Normal,
}

/// Whether a [`Region`] must, may or must not use 2 MiB hugepages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugepagePolicy {
    /// Hugepages or [`HugepageError::HugepagesUnavailable`].
    Require,
    /// Try hugepages; if the kernel refuses, use normal pages and log why,
    /// once per process.
    Prefer,
    /// Normal pages only.
    Never,
}

/// Set by the first fallback under [`HugepagePolicy::Prefer`] in this process.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// An anonymous private mapping, read/write, pre-faulted, unmapped on drop.
#[derive(Debug)]
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
    backing: PageBacking,
}

// SAFETY: a Region exclusively owns its mapping (nothing else holds the
// address range) and the mapping is not tied to the creating thread, so
// moving it to, and unmapping it on, another thread is sound.
unsafe impl Send for Region {}
// SAFETY: `&Region` only exposes plain reads of immutable fields (`len`,
// `backing`, the pointer value). Accessing the memory behind `as_ptr` is
// already `unsafe` for the caller, who must synchronise it.
unsafe impl Sync for Region {}

impl Region {
    /// Maps at least `len` bytes under `policy`.
    ///
    /// Fails with [`HugepageError::Mmap`] if `len` is zero or rounding it up
    /// overflows, or if mapping normal pages fails; with
    /// [`HugepageError::HugepagesUnavailable`] under
    /// [`HugepagePolicy::Require`] when the kernel cannot supply the hugepages.
    pub fn new(len: usize, policy: HugepagePolicy) -> Result<Region, HugepageError> {
        if len == 0 {
            return Err(HugepageError::Mmap {
                len,
                cause: io::Error::new(io::ErrorKind::InvalidInput, "zero-length region"),
            });
        }
        match policy {
            HugepagePolicy::Never => Region::map_normal(len),
            HugepagePolicy::Require => {
                Region::map_huge(len)?.map_err(|cause| HugepageError::HugepagesUnavailable {
                    wanted_bytes: round_up(len, HUGE_PAGE_SIZE).unwrap_or(len),
                    free_hugepages: free_2m_hugepages().unwrap_or(0),
                    cause,
                })
            }
            HugepagePolicy::Prefer => match Region::map_huge(len)? {
                Ok(region) => Ok(region),
                Err(cause) => {
                    log_fallback_once(len, &cause);
                    Region::map_normal(len)
                }
            },
        }
    }

    /// What backs this region.
    pub fn backing(&self) -> PageBacking {
        self.backing
    }

    /// Usable length in bytes: the requested length rounded up to 2 MiB when
    /// hugetlb-backed, to the base page size otherwise.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a region is never empty. (Here for clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the mapping (aligned to its page size). Valid for reads and
    /// writes of [`len`](Region::len) bytes while the region lives; the caller
    /// is responsible for synchronising access.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The outer `Err` is a hard error (length overflow); the inner `Err` is
    /// the kernel refusing hugepages, which the policy decides about.
    fn map_huge(len: usize) -> Result<Result<Region, io::Error>, HugepageError> {
        let len = round_up(len, HUGE_PAGE_SIZE).ok_or_else(|| overflow(len))?;
        Ok(
            mmap_anonymous(len, libc::MAP_HUGETLB | libc::MAP_HUGE_2MB).map(|ptr| Region {
                ptr,
                len,
                backing: PageBacking::Hugetlb2M,
            }),
        )
    }

    fn map_normal(len: usize) -> Result<Region, HugepageError> {
        let len = round_up(len, base_page_size()).ok_or_else(|| overflow(len))?;
        let ptr = mmap_anonymous(len, 0).map_err(|cause| HugepageError::Mmap { len, cause })?;
        Ok(Region {
            ptr,
            len,
            backing: PageBacking::Normal,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned/was given (len is
        // a multiple of the page size, 2 MiB for hugetlb); we own the mapping
        // and `&mut self` means no borrow of it is left.
        let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        if rc != 0 {
            tracing::error!(error = %io::Error::last_os_error(), len = self.len, "munmap failed");
        }
    }
}

fn mmap_anonymous(len: usize, extra_flags: libc::c_int) -> io::Result<NonNull<u8>> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE | extra_flags;
    // SAFETY: an anonymous mapping with a null address hint: no fd, and the
    // kernel picks a fresh range that overlaps no memory Rust knows about.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned a null mapping"))
}

fn base_page_size() -> usize {
    // SAFETY: sysconf reads a constant; no pointers, no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

fn round_up(len: usize, to: usize) -> Option<usize> {
    debug_assert!(to.is_power_of_two());
    Some(len.checked_add(to - 1)? & !(to - 1))
}

fn overflow(len: usize) -> HugepageError {
    HugepageError::Mmap {
        len,
        cause: io::Error::new(
            io::ErrorKind::InvalidInput,
            "length overflows when rounded to pages",
        ),
    }
}

/// Logs a Prefer fallback at info level the first time in this process
/// (debug level afterwards). Returns whether this call was the info-level one.
fn log_fallback_once(len: usize, cause: &io::Error) -> bool {
    let wanted_bytes = round_up(len, HUGE_PAGE_SIZE).unwrap_or(len);
    if FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::debug!(wanted_bytes, error = %cause, "2 MiB hugepages unavailable, using normal pages");
        return false;
    }
    let needed = (wanted_bytes / HUGE_PAGE_SIZE) as u64;
    let advice = match (total_2m_hugepages(), free_2m_hugepages()) {
        (Some(0), _) => "0 hugepages reserved: run scripts/setup-hugepages.sh".to_string(),
        (Some(total), Some(0)) => format!(
            "all {total} reserved 2 MiB hugepages are in use: reserve more with scripts/setup-hugepages.sh --pages N"
        ),
        (_, Some(free)) if free < needed => format!(
            "only {free} free 2 MiB hugepages, {needed} needed: reserve more with scripts/setup-hugepages.sh --pages N"
        ),
        (_, Some(_)) => "hugepages are free but the kernel refused them (see error)".to_string(),
        (_, None) => "cannot read hugepage counters: does this kernel support 2 MiB hugetlb pages?".to_string(),
    };
    tracing::info!(
        wanted_bytes,
        error = %cause,
        "2 MiB hugepages unavailable, falling back to normal pages (logged once per process): {advice}"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{hugepage_state_lock, HugepageReservation};

    #[test]
    fn never_maps_normal_zeroed_memory() {
        let region = Region::new(3 * 4096 + 1, HugepagePolicy::Never).expect("map normal pages");
        assert_eq!(region.backing(), PageBacking::Normal);
        assert!(region.len() > 3 * 4096);
        assert_eq!(region.len() % base_page_size(), 0);
        // SAFETY: the region is live, `len` bytes are mapped read/write and
        // nothing else references them.
        let bytes = unsafe { std::slice::from_raw_parts_mut(region.as_ptr(), region.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes.fill(0xA5);
        assert!(bytes.iter().all(|&b| b == 0xA5));
    }

    #[test]
    fn zero_and_overflowing_lengths_are_errors() {
        for policy in [
            HugepagePolicy::Never,
            HugepagePolicy::Prefer,
            HugepagePolicy::Require,
        ] {
            assert!(matches!(
                Region::new(0, policy),
                Err(HugepageError::Mmap { len: 0, .. })
            ));
            assert!(matches!(
                Region::new(usize::MAX - 5, policy),
                Err(HugepageError::Mmap { .. })
            ));
        }
    }

    #[test]
    fn prefer_falls_back_and_require_fails_without_hugepages() {
        let _lock = hugepage_state_lock();
        let free = free_2m_hugepages();
        let prefer = Region::new(HUGE_PAGE_SIZE + 1, HugepagePolicy::Prefer)
            .expect("Prefer never fails for a small region");
        if free == Some(0) {
            assert_eq!(prefer.backing(), PageBacking::Normal);
        }
        if prefer.backing() == PageBacking::Hugetlb2M {
            assert_eq!(prefer.len(), 2 * HUGE_PAGE_SIZE);
        }
        drop(prefer);

        // Only assert the failure when the host has no free 2 MiB pages at all
        // (read before mapping: a successful Require would consume them).
        let free = free_2m_hugepages();
        let require = Region::new(HUGE_PAGE_SIZE + 1, HugepagePolicy::Require);
        if free == Some(0) {
            match require {
                Err(HugepageError::HugepagesUnavailable {
                    wanted_bytes,
                    free_hugepages,
                    cause,
                }) => {
                    assert_eq!(wanted_bytes, 2 * HUGE_PAGE_SIZE);
                    assert_eq!(free_hugepages, 0);
                    assert!(
                        cause.raw_os_error().is_some(),
                        "cause is the mmap errno: {cause}"
                    );
                }
                other => panic!("expected HugepagesUnavailable, got {other:?}"),
            }
        } else if let Ok(region) = require {
            assert_eq!(region.backing(), PageBacking::Hugetlb2M);
        }
    }

    #[test]
    fn fallback_is_logged_once() {
        let cause = io::Error::from_raw_os_error(libc::ENOMEM);
        let first = log_fallback_once(4096, &cause);
        let second = log_fallback_once(4096, &cause);
        // `first` may be false if another test already fell back in this process.
        let _ = first;
        assert!(!second, "a second fallback must not log at info level");
        assert!(FALLBACK_LOGGED.load(Ordering::Relaxed));
    }

    #[test]
    fn rounding() {
        assert_eq!(round_up(1, HUGE_PAGE_SIZE), Some(HUGE_PAGE_SIZE));
        assert_eq!(
            round_up(HUGE_PAGE_SIZE, HUGE_PAGE_SIZE),
            Some(HUGE_PAGE_SIZE)
        );
        assert_eq!(
            round_up(HUGE_PAGE_SIZE + 1, HUGE_PAGE_SIZE),
            Some(2 * HUGE_PAGE_SIZE)
        );
        assert_eq!(round_up(usize::MAX, 4096), None);
    }

    #[test]
    fn region_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Region>();
    }

    /// Opt-in (root and `DWCP_TEST_HUGEPAGES=1`): reserves two 2 MiB pages,
    /// checks that Require really gets hugetlb memory, restores the old count.
    #[test]
    fn require_maps_hugepages_when_reserved() {
        let _lock = hugepage_state_lock();
        let Some(_reservation) = HugepageReservation::opt_in(2) else {
            return;
        };
        let before = free_2m_hugepages().expect("hugepage counters readable");
        let region = Region::new(HUGE_PAGE_SIZE + 4096, HugepagePolicy::Require)
            .expect("two free hugepages were just reserved");
        assert_eq!(region.backing(), PageBacking::Hugetlb2M);
        assert_eq!(region.len(), 2 * HUGE_PAGE_SIZE);
        assert_eq!(region.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
        let after = free_2m_hugepages().expect("hugepage counters readable");
        assert!(
            after + 2 <= before,
            "MAP_POPULATE faulted both pages in: {before} -> {after}"
        );
        // SAFETY: live region, `len` bytes mapped read/write, no other reference.
        let bytes = unsafe { std::slice::from_raw_parts_mut(region.as_ptr(), region.len()) };
        bytes.fill(7);
        assert!(bytes.iter().all(|&b| b == 7));
        drop(region);
        let prefer = Region::new(HUGE_PAGE_SIZE, HugepagePolicy::Prefer).expect("map");
        assert_eq!(prefer.backing(), PageBacking::Hugetlb2M);
    }
}
