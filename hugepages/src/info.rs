//! The kernel's hugepage counters, from `/proc/meminfo` and sysfs.
//!
//! `/proc/meminfo` reports the pool of the *default* hugepage size (2 MiB on
//! x86_64 unless the kernel was booted with `default_hugepagesz=`). Regions
//! always ask for 2 MiB pages explicitly (`MAP_HUGE_2MB`), so
//! [`free_2m_hugepages`] prefers the size-specific sysfs counter.

use crate::error::HugepageError;
use crate::HUGE_PAGE_SIZE;

const MEMINFO_PATH: &str = "/proc/meminfo";
const SYSFS_2M_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const KIB: u64 = 1024;

/// Hugepage counters of the default hugepage size, as `/proc/meminfo` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugepageInfo {
    /// `HugePages_Total`: pages reserved in the pool.
    pub total: u64,
    /// `HugePages_Free`: reserved pages not yet faulted in by anyone.
    pub free: u64,
    /// `Hugepagesize`, converted from kB to bytes.
    pub page_size_bytes: u64,
}

impl HugepageInfo {
    /// Reads and parses `/proc/meminfo`.
    pub fn read() -> Result<HugepageInfo, HugepageError> {
        let text =
            std::fs::read_to_string(MEMINFO_PATH).map_err(|cause| HugepageError::ReadProc {
                path: MEMINFO_PATH,
                cause,
            })?;
        parse_meminfo(&text)
    }
}

/// Parses the text of `/proc/meminfo` into a [`HugepageInfo`].
///
/// Pure: takes the file's contents, touches nothing. Fails with
/// [`HugepageError::Meminfo`] naming the first missing or malformed field.
pub fn parse_meminfo(text: &str) -> Result<HugepageInfo, HugepageError> {
    let total = field(text, "HugePages_Total")?;
    let free = field(text, "HugePages_Free")?;
    let size_kib = field(text, "Hugepagesize")?;
    let page_size_bytes = size_kib.checked_mul(KIB).ok_or(HugepageError::Meminfo {
        field: "Hugepagesize",
    })?;
    Ok(HugepageInfo {
        total,
        free,
        page_size_bytes,
    })
}

/// Finds `name:` at the start of a line and parses the first number after it
/// (the unit, `kB` for sizes, is ignored; callers know it).
fn field(text: &str, name: &'static str) -> Result<u64, HugepageError> {
    text.lines()
        .find_map(|line| {
            let (key, rest) = line.split_once(':')?;
            (key.trim() == name).then_some(rest)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .ok_or(HugepageError::Meminfo { field: name })
}

/// Free 2 MiB hugepages right now: the sysfs counter for the 2 MiB pool, or
/// `/proc/meminfo` when the default size is 2 MiB and sysfs is unreadable;
/// `None` when neither can be read.
pub fn free_2m_hugepages() -> Option<u64> {
    pool_2m_counter("free_hugepages", |info| info.free)
}

/// Free pages in the pool of `page_bytes` hugepages (2 MiB, 1 GiB, ...),
/// from sysfs (`/sys/kernel/mm/hugepages/hugepages-<kB>kB/free_hugepages`);
/// `None` when the kernel has no such pool or the counter cannot be read.
pub fn free_hugepages_of_size(page_bytes: u64) -> Option<u64> {
    if page_bytes == HUGE_PAGE_SIZE as u64 {
        return free_2m_hugepages();
    }
    let kib = page_bytes / KIB;
    std::fs::read_to_string(format!(
        "/sys/kernel/mm/hugepages/hugepages-{kib}kB/free_hugepages"
    ))
    .ok()
    .and_then(|s| s.trim().parse().ok())
}

/// Size of the 2 MiB pool (`nr_hugepages`), read like [`free_2m_hugepages`].
pub(crate) fn total_2m_hugepages() -> Option<u64> {
    pool_2m_counter("nr_hugepages", |info| info.total)
}

fn pool_2m_counter(name: &str, from_meminfo: fn(&HugepageInfo) -> u64) -> Option<u64> {
    let sysfs = std::fs::read_to_string(format!("{SYSFS_2M_DIR}/{name}"));
    if let Some(value) = sysfs.ok().and_then(|s| s.trim().parse().ok()) {
        return Some(value);
    }
    let info = HugepageInfo::read().ok()?;
    (info.page_size_bytes == HUGE_PAGE_SIZE as u64).then(|| from_meminfo(&info))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MemTotal:       24684096 kB
MemFree:        20000000 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
FileHugePages:      2048 kB
HugePages_Total:      64
HugePages_Free:       60
HugePages_Rsvd:        2
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:          131072 kB
";

    #[test]
    fn parses_sample() {
        let info = parse_meminfo(SAMPLE).expect("sample parses");
        assert_eq!(
            info,
            HugepageInfo {
                total: 64,
                free: 60,
                page_size_bytes: 2 * 1024 * 1024
            }
        );
    }

    #[test]
    fn similar_prefixes_do_not_match() {
        // "AnonHugePages" and "HugePages_Rsvd" must not be mistaken for the fields we want.
        let text = "AnonHugePages: 7 kB\nHugePages_Rsvd: 9\nHugePages_Total: 1\n\
                    HugePages_Free: 0\nHugepagesize: 1048576 kB\n";
        let info = parse_meminfo(text).expect("parses");
        assert_eq!(info.total, 1);
        assert_eq!(info.free, 0);
        assert_eq!(info.page_size_bytes, 1 << 30);
    }

    #[test]
    fn missing_field_is_named() {
        let text = "HugePages_Total: 1\nHugepagesize: 2048 kB\n";
        match parse_meminfo(text) {
            Err(HugepageError::Meminfo { field }) => assert_eq!(field, "HugePages_Free"),
            other => panic!("expected Meminfo error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_field_is_named() {
        let text = "HugePages_Total: lots\nHugePages_Free: 0\nHugepagesize: 2048 kB\n";
        match parse_meminfo(text) {
            Err(HugepageError::Meminfo { field }) => assert_eq!(field, "HugePages_Total"),
            other => panic!("expected Meminfo error, got {other:?}"),
        }
        assert!(parse_meminfo("").is_err());
    }

    #[test]
    fn reads_this_machine() {
        // Every Linux kernel with hugetlbfs support has these fields; this only
        // checks that the real file parses and is self-consistent.
        if let Ok(info) = HugepageInfo::read() {
            assert!(info.free <= info.total);
            assert!(info.page_size_bytes >= 4096);
        }
    }
}
