//! Page hashing, the dirty-page scan, and the image digest.
//!
//! # Design
//! There is no dirty-page log here (no soft-dirty bits, no KVM log), so a
//! pre-copy round finds changed pages by hashing: the source keeps, per page,
//! the xxh3-64 hash of the bytes it last *sent* (hashed from its copy in the
//! frame buffer, never from live memory, so a page the guest changes during
//! the copy is caught by the next round). A round hashes every live page and
//! sends those whose hash differs. The guest writes concurrently, so a hash
//! may see a torn page; that only ever makes a page look dirty, never clean
//! when it is not, up to xxh3-64 collisions (2^-64 per page and round).
//!
//! The image digest is xxh3-128 over the per-page hashes (each as u64 LE) in
//! page order. The source computes it from its sent-hash table after the
//! final paused round, when that table equals the hashes of the paused
//! image; the destination from hashes of its own pages as written.

use dwcp_shared::digest::MemoryDigest;
use dwcp_shared::limits::PAGE_SIZE;

/// Bytes per page, as a usize.
pub const PAGE_LEN: usize = PAGE_SIZE as usize;

/// xxh3-64 of one page.
pub fn page_hash(page: &[u8]) -> u64 {
    debug_assert_eq!(page.len(), PAGE_LEN, "pages are PAGE_LEN bytes");
    MemoryDigest::page_hash(page)
}

/// The hash of an all-zero page.
pub fn zero_page_hash() -> u64 {
    static ZERO: [u8; PAGE_LEN] = [0u8; PAGE_LEN];
    MemoryDigest::page_hash(&ZERO)
}

/// True if every byte of the page is zero.
pub fn is_zero_page(page: &[u8]) -> bool {
    // Folding 64-byte chunks with OR lets the compiler vectorise; an early
    // exit per chunk keeps non-zero pages cheap.
    page.chunks(64)
        .all(|chunk| chunk.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// The image digest ([`MemoryDigest`]) of a table of page hashes in page order.
pub fn image_digest(page_hashes: &[u64]) -> [u8; 16] {
    let mut digest = MemoryDigest::new();
    for &hash in page_hashes {
        digest.update_page_hash(hash);
    }
    digest.finish()
}

/// Writes into `dirty` the indices (relative to `first_page`) of pages in
/// `pages` whose hash differs from `sent_hashes`, stopping when `dirty` is
/// full. Returns `(found, pages_scanned)`; the caller continues from
/// `first_page + pages_scanned`.
pub fn find_dirty(pages: &[u8], sent_hashes: &[u64], dirty: &mut [u32]) -> (usize, usize) {
    assert_eq!(pages.len() % PAGE_LEN, 0, "scan covers whole pages");
    assert_eq!(
        pages.len() / PAGE_LEN,
        sent_hashes.len(),
        "one sent hash per page"
    );
    let mut found = 0;
    for (index, (page, sent)) in pages.chunks_exact(PAGE_LEN).zip(sent_hashes).enumerate() {
        if found == dirty.len() {
            return (found, index);
        }
        if page_hash(page) != *sent {
            dirty[found] = u32::try_from(index).expect("a scan window holds fewer than 2^32 pages");
            found += 1;
        }
    }
    (found, sent_hashes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        let mut page = vec![0u8; PAGE_LEN];
        assert!(is_zero_page(&page));
        assert_eq!(page_hash(&page), zero_page_hash());
        page[PAGE_LEN - 1] = 1;
        assert!(!is_zero_page(&page));
        page[PAGE_LEN - 1] = 0;
        page[0] = 0x80;
        assert!(!is_zero_page(&page));
    }

    #[test]
    fn find_dirty_reports_changed_pages_and_resumes_when_full() {
        let mut memory = vec![0u8; PAGE_LEN * 10];
        let mut sent: Vec<u64> = memory.chunks_exact(PAGE_LEN).map(page_hash).collect();
        for page in [1usize, 4, 5, 9] {
            memory[page * PAGE_LEN + 17] = 0xAA;
        }
        let mut dirty = [0u32; 3];
        let (found, scanned) = find_dirty(&memory, &sent, &mut dirty);
        assert_eq!((found, &dirty[..found]), (3, &[1, 4, 5][..]));
        let (found2, scanned2) =
            find_dirty(&memory[scanned * PAGE_LEN..], &sent[scanned..], &mut dirty);
        assert_eq!(found2, 1);
        assert_eq!(scanned + dirty[0] as usize, 9);
        assert_eq!(scanned + scanned2, 10);
        for (page, hash) in memory.chunks_exact(PAGE_LEN).zip(sent.iter_mut()) {
            *hash = page_hash(page);
        }
        assert_eq!(find_dirty(&memory, &sent, &mut dirty).0, 0);
    }

    #[test]
    fn digest_depends_on_every_hash_and_its_position() {
        let hashes: Vec<u64> = (0..2000).collect();
        let base = image_digest(&hashes);
        let mut changed = hashes.clone();
        changed[1999] ^= 1;
        assert_ne!(image_digest(&changed), base);
        let mut swapped = hashes.clone();
        swapped.swap(0, 1);
        assert_ne!(image_digest(&swapped), base);
        assert_eq!(image_digest(&hashes), base);
    }
}
