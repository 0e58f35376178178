//! Files of a run: the scratch folder on /dev/shm, byte-for-byte
//! comparison, page differences, copies with an older modification time.

use crate::units::PAGE_LEN;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Bytes read per step when comparing files.
const COMPARE_CHUNK: usize = 4 << 20;
const _: () = assert!(COMPARE_CHUNK.is_multiple_of(PAGE_LEN));

/// How much older than now the destination's old copy is made to look.
pub const OLD_COPY_AGE: Duration = Duration::from_secs(86_400);

/// A folder (mode 0700) removed with its contents on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates `<base>/dwcp-wanbench-<pid>-<n>` (n counts this process's folders).
    pub fn new(base: &Path) -> Result<Self> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("dwcp-wanbench-{}-{n}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing a stale {}", path.display()))?;
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<scratch>/<name>`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How two files compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Same length, same bytes.
    Identical,
    /// Lengths differ.
    Length {
        /// Expected length.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// First differing byte offset.
    DifferAt(u64),
}

impl Comparison {
    /// A short phrase for a report.
    pub fn describe(&self) -> String {
        match self {
            Self::Identical => "identical".into(),
            Self::Length { expected, actual } => {
                format!("length {actual} instead of {expected}")
            }
            Self::DifferAt(offset) => format!("differs at byte {offset}"),
        }
    }
}

/// Compares `expected` with `actual`, byte for byte.
pub fn compare(expected: &Path, actual: &Path) -> Result<Comparison> {
    let expected_len = len_of(expected)?;
    let actual_len = len_of(actual)?;
    if expected_len != actual_len {
        return Ok(Comparison::Length {
            expected: expected_len,
            actual: actual_len,
        });
    }
    let mut offset = 0u64;
    let mut differs = None;
    walk_pairs(expected, actual, |a, b| {
        if differs.is_none() && a != b {
            let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
            differs = Some(offset + at as u64);
        }
        offset += a.len() as u64;
        differs.is_none()
    })?;
    Ok(differs.map_or(Comparison::Identical, Comparison::DifferAt))
}

/// Pages (4 KiB) that differ between two files of the same length.
pub fn differing_pages(a: &Path, b: &Path) -> Result<u64> {
    let mut pages = 0u64;
    walk_pairs(a, b, |x, y| {
        pages += count_differing_pages(x, y);
        true
    })?;
    Ok(pages)
}

/// Pages of `a` and `b` (same length) that differ.
pub fn count_differing_pages(a: &[u8], b: &[u8]) -> u64 {
    a.chunks(PAGE_LEN)
        .zip(b.chunks(PAGE_LEN))
        .filter(|(x, y)| x != y)
        .count() as u64
}

fn len_of(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .len())
}

/// Reads both files in equal chunks and hands each pair to `f` until it
/// returns false or a file ends.
fn walk_pairs(a: &Path, b: &Path, mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
    let mut fa = File::open(a).with_context(|| format!("opening {}", a.display()))?;
    let mut fb = File::open(b).with_context(|| format!("opening {}", b.display()))?;
    let mut ba = vec![0u8; COMPARE_CHUNK];
    let mut bb = vec![0u8; COMPARE_CHUNK];
    loop {
        let na = read_full(&mut fa, &mut ba).with_context(|| format!("reading {}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).with_context(|| format!("reading {}", b.display()))?;
        let n = na.min(nb);
        if n == 0 || !f(&ba[..n], &bb[..n]) || na != nb {
            return Ok(());
        }
        crate::interrupt::check()?;
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Copies `from` to `to` and makes the copy look `OLD_COPY_AGE` old, so
/// that rsync's quick check (size and time) does not skip it.
pub fn copy_as_old(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    let old = SystemTime::now() - OLD_COPY_AGE;
    File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(old))
        .with_context(|| format!("setting the time of {}", to.display()))
}

/// Removes `path` if it exists.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Bytes free to an unprivileged writer on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).context("a path with NUL")?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is writable; both outlive the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", path.display()));
    }
    #[allow(clippy::useless_conversion)] // the field widths differ by target
    Ok(u64::from(st.f_bavail) * u64::from(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> Scratch {
        Scratch::new(&std::env::temp_dir()).expect("scratch")
    }

    #[test]
    fn compare_finds_the_first_difference_and_length_changes() {
        let dir = scratch();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        let mut data = vec![7u8; 3 * COMPARE_CHUNK / 2];
        std::fs::write(&a, &data).expect("write");
        std::fs::write(&b, &data).expect("write");
        assert_eq!(compare(&a, &b).expect("compare"), Comparison::Identical);
        let at = COMPARE_CHUNK + 5;
        data[at] = 8;
        std::fs::write(&b, &data).expect("write");
        assert_eq!(
            compare(&a, &b).expect("compare"),
            Comparison::DifferAt(at as u64)
        );
        std::fs::write(&c, &data[..100]).expect("write");
        assert!(matches!(
            compare(&a, &c).expect("compare"),
            Comparison::Length { actual: 100, .. }
        ));
        assert!(compare(&a, &dir.join("missing")).is_err());
    }

    #[test]
    fn differing_pages_counts_pages_not_bytes() {
        let dir = scratch();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut data = vec![0u8; 8 * PAGE_LEN];
        std::fs::write(&a, &data).expect("write");
        data[1] = 1; // page 0
        data[2] = 1; // page 0 again
        data[5 * PAGE_LEN] = 1; // page 5
        std::fs::write(&b, &data).expect("write");
        assert_eq!(differing_pages(&a, &b).expect("pages"), 2);
        assert_eq!(differing_pages(&a, &a).expect("pages"), 0);
    }

    #[test]
    fn old_copy_is_older_and_equal() {
        let dir = scratch();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"hello").expect("write");
        copy_as_old(&a, &b).expect("copy");
        assert_eq!(compare(&a, &b).expect("compare"), Comparison::Identical);
        let modified = std::fs::metadata(&b)
            .and_then(|m| m.modified())
            .expect("mtime");
        let age = SystemTime::now()
            .duration_since(modified)
            .expect("in the past");
        assert!(age >= OLD_COPY_AGE - Duration::from_secs(60), "{age:?}");
    }

    #[test]
    fn scratch_is_removed_on_drop() {
        let path = {
            let dir = Scratch::new(&std::env::temp_dir()).expect("scratch");
            std::fs::write(dir.join("x"), b"x").expect("write");
            dir.path().to_path_buf()
        };
        assert!(!path.exists());
    }
}
