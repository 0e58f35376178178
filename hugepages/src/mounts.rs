//! Where hugetlbfs is mounted, from `/proc/mounts`.
//!
//! A guest memory file meant to be hugepage-backed must live on a hugetlbfs
//! mount; these functions tell operators (and startup logs) where those are.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

const MOUNTS_PATH: &str = "/proc/mounts";
const HUGETLBFS: &str = "hugetlbfs";

/// Mount points of every hugetlbfs currently mounted, in `/proc/mounts` order.
///
/// Empty when none is mounted or `/proc/mounts` cannot be read (the reason is
/// logged at debug level): callers use this for advice, not for correctness.
pub fn hugetlbfs_mounts() -> Vec<PathBuf> {
    match std::fs::read_to_string(MOUNTS_PATH) {
        Ok(text) => parse_mounts(&text),
        Err(error) => {
            tracing::debug!(%error, path = MOUNTS_PATH, "cannot read mount table");
            Vec::new()
        }
    }
}

/// Parses the text of `/proc/mounts` (fstab format) and returns the mount
/// points whose filesystem type is `hugetlbfs`.
///
/// Pure. The kernel escapes space, tab, newline and backslash in paths as
/// `\040`, `\011`, `\012` and `\134`; these are decoded. Malformed lines are
/// skipped.
pub fn parse_mounts(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount_point = fields.next()?;
            let fs_type = fields.next()?;
            (fs_type == HUGETLBFS).then(|| unescape(mount_point))
        })
        .collect()
}

/// Decodes the kernel's `\ooo` octal escapes; anything else is kept verbatim.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hugetlbfs_only() {
        let text = "proc /proc proc rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0
nodev /mnt/huge\\0401g hugetlbfs rw,relatime,pagesize=1024M 0 0
/dev/vda / ext4 rw,relatime 0 0
";
        assert_eq!(
            parse_mounts(text),
            vec![
                PathBuf::from("/dev/hugepages"),
                PathBuf::from("/mnt/huge 1g")
            ]
        );
    }

    #[test]
    fn none_mounted() {
        assert!(parse_mounts("proc /proc proc rw 0 0\n").is_empty());
        assert!(parse_mounts("").is_empty());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "garbage\nonly two\nnodev /huge hugetlbfs rw 0 0\n";
        assert_eq!(parse_mounts(text), vec![PathBuf::from("/huge")]);
    }

    #[test]
    fn unescapes_kernel_escapes() {
        assert_eq!(unescape(r"/a\011b\012c\134d"), PathBuf::from("/a\tb\nc\\d"));
        // A backslash not followed by three octal digits is kept as is.
        assert_eq!(unescape(r"/x\9y\"), PathBuf::from(r"/x\9y\"));
    }

    #[test]
    fn reads_this_machine() {
        // Must not panic whatever is mounted.
        let _ = hugetlbfs_mounts();
    }
}
