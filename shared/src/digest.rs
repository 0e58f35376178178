//! `MemoryDigest`: the guest memory digest carried in `Final` and `VerifyResult`.
//!
//! ```text
//! digest = xxh3_128( h(0) ‖ h(1) ‖ … ‖ h(pages_total - 1) ).to_le_bytes()
//! h(i)   = xxh3_64(page i, PAGE_SIZE bytes).to_le_bytes()
//! ```
//!
//! Pages are fed in index order, every page including all-zero ones, so
//! both ends get the same 16 bytes for the same memory.

use core::fmt;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// Streaming memory digest; feed every page in index order.
#[derive(Clone)]
pub struct MemoryDigest {
    hasher: Xxh3,
    pages: u64,
}

impl fmt::Debug for MemoryDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDigest")
            .field("pages", &self.pages)
            .finish()
    }
}

impl Default for MemoryDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self {
            hasher: Xxh3::new(),
            pages: 0,
        }
    }

    /// The per-page hash `h(i)` of one page's bytes.
    pub fn page_hash(page: &[u8]) -> u64 {
        xxh3_64(page)
    }

    /// Feeds the next page (index order).
    pub fn update_page(&mut self, page: &[u8]) {
        self.update_page_hash(Self::page_hash(page));
    }

    /// Feeds the precomputed hash of the next page (index order), for
    /// callers that hash pages in parallel.
    pub fn update_page_hash(&mut self, hash: u64) {
        self.hasher.update(&hash.to_le_bytes());
        self.pages = self.pages.saturating_add(1);
    }

    /// Pages fed so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The 16-byte digest of the pages fed so far.
    pub fn finish(&self) -> [u8; 16] {
        self.hasher.digest128().to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_definition() {
        let pages: Vec<Vec<u8>> = (0u8..3).map(|i| vec![i; 4096]).collect();
        let mut d = MemoryDigest::new();
        let mut concat = Vec::new();
        for p in &pages {
            d.update_page(p);
            concat.extend_from_slice(&xxh3_64(p).to_le_bytes());
        }
        assert_eq!(d.pages(), 3);
        assert_eq!(
            d.finish(),
            xxhash_rust::xxh3::xxh3_128(&concat).to_le_bytes()
        );
    }

    #[test]
    fn order_matters() {
        let (a, b) = (vec![1u8; 4096], vec![2u8; 4096]);
        let mut d1 = MemoryDigest::new();
        d1.update_page(&a);
        d1.update_page(&b);
        let mut d2 = MemoryDigest::new();
        d2.update_page(&b);
        d2.update_page(&a);
        assert_ne!(d1.finish(), d2.finish());
    }
}
