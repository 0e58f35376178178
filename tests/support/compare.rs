//! Byte-for-byte comparison of two memory files.

use std::fs::File;
use std::io::Read;
use std::path::Path;

const PAGE: usize = 4096;
const PAGE_U64: u64 = PAGE as u64;
const CHUNK: usize = 4 << 20;

/// The first difference between two files, described (page, offset and the
/// differing bytes), or None if they are equal.
pub fn first_difference(a: &Path, b: &Path) -> Result<Option<String>, String> {
    let open = |p: &Path| File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let len = |f: &File, p: &Path| {
        f.metadata()
            .map(|m| m.len())
            .map_err(|e| format!("cannot stat {}: {e}", p.display()))
    };
    let (la, lb) = (len(&fa, a)?, len(&fb, b)?);
    if la != lb {
        return Ok(Some(format!(
            "sizes differ: {} is {la} bytes, {} is {lb} bytes",
            a.display(),
            b.display()
        )));
    }
    let mut ba = vec![0u8; CHUNK];
    let mut bb = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < la {
        let n = usize::try_from((la - offset).min(CHUNK as u64)).expect("chunk fits usize");
        fa.read_exact(&mut ba[..n])
            .map_err(|e| format!("read {} at {offset}: {e}", a.display()))?;
        fb.read_exact(&mut bb[..n])
            .map_err(|e| format!("read {} at {offset}: {e}", b.display()))?;
        if ba[..n] != bb[..n] {
            let i = ba[..n]
                .iter()
                .zip(&bb[..n])
                .position(|(x, y)| x != y)
                .expect("slices differ somewhere");
            let at = offset + i as u64;
            let page = at / PAGE_U64;
            let page_start = usize::try_from(page * PAGE_U64 - offset).expect("in chunk");
            let page_end = (page_start + PAGE).min(n);
            let differing = ba[page_start..page_end]
                .iter()
                .zip(&bb[page_start..page_end])
                .filter(|(x, y)| x != y)
                .count();
            let pages_differing = count_differing_pages(&ba[..n], &bb[..n]);
            return Ok(Some(format!(
                "first difference at byte {at} (page {page}, offset {} in the page): {:#04x} in {} vs {:#04x} in {}; \
                 {differing} bytes of that page differ; {pages_differing} differing pages in that {} MiB chunk",
                at % PAGE_U64,
                ba[i],
                a.display(),
                bb[i],
                b.display(),
                CHUNK >> 20
            )));
        }
        offset += n as u64;
    }
    Ok(None)
}

fn count_differing_pages(a: &[u8], b: &[u8]) -> usize {
    a.chunks(PAGE)
        .zip(b.chunks(PAGE))
        .filter(|(x, y)| x != y)
        .count()
}

/// Panics unless `a` and `b` are byte-for-byte equal, naming the first differing page.
pub fn assert_same_bytes(a: &Path, b: &Path, what: &str) {
    match first_difference(a, b) {
        Ok(None) => {}
        Ok(Some(diff)) => panic!("{what}: the files differ: {diff}"),
        Err(e) => panic!("{what}: cannot compare: {e}"),
    }
}

/// Pages of `path` that hold anything but zeros (0 if it cannot be read).
pub fn nonzero_pages(path: &Path) -> u64 {
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let zero = [0u8; PAGE];
    let mut buf = vec![0u8; CHUNK];
    let mut count = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) | Err(_) => return count,
            Ok(n) => n,
        };
        // Slice equality is a memcmp, fast even in a debug build.
        count += buf[..n]
            .chunks(PAGE)
            .filter(|page| *page != &zero[..page.len()])
            .count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_differing_page() {
        let dir = crate::TempDir::new("compare-unit");
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut bytes = vec![7u8; 5 * PAGE + 100];
        std::fs::write(&a, &bytes).expect("write a");
        std::fs::write(&b, &bytes).expect("write b");
        assert_eq!(first_difference(&a, &b), Ok(None));
        bytes[3 * PAGE + 17] = 8;
        bytes[4 * PAGE] = 9;
        std::fs::write(&b, &bytes).expect("write b");
        let diff = first_difference(&a, &b)
            .expect("readable")
            .expect("differs");
        assert!(diff.contains("page 3, offset 17"), "{diff}");
        assert!(diff.contains("2 differing pages"), "{diff}");
        std::fs::write(&b, &bytes[..100]).expect("write b");
        let diff = first_difference(&a, &b)
            .expect("readable")
            .expect("differs");
        assert!(diff.contains("sizes differ"), "{diff}");
        assert_eq!(nonzero_pages(&a), 6);
    }
}
