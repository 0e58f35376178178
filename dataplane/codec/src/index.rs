//! Content index: which destination page currently holds a given content.
//!
//! # Design
//!
//! Keys are 128-bit XXH3 hashes of a page under a secret (192 bytes drawn
//! from the operating system's random source when the index is made, never
//! sent and never shown). Hits are trusted without comparing bytes, which
//! frees the encoder from keeping a copy of every page the destination
//! holds. Why that is safe:
//! - An accidental collision among the 2^28 pages of a 1 TiB guest has
//!   probability about 2^-73.
//! - A guest cannot craft one: the hash is keyed by a secret it never sees,
//!   and it never observes a hash value either, so it cannot search.
//! - Were a reference ever wrong, the destination's page would differ from
//!   what the source sent, and the end-to-end image digest (per-page hashes
//!   of what each side holds) fails the migration: it is never reported as
//!   a success.
//!
//! The keys were BLAKE3 before: a cryptographic hash, but one 4 KiB page at
//! a time it ran at 1.4 to 2.2 GB/s on one core here against 6.7 to 9.6 GB/s
//! for keyed XXH3-128, and hashing was a fifth to a third of the encoder's
//! time on real guest memory.
//!
//! `current[i]` is the key of the destination's content at page `i` (or
//! none: zero or unknown). When page `i` is sent again its old entry is
//! removed from the map if it still points at `i`, so a hit always names a
//! page whose current content is the key. The map holds at most
//! `entries_max` keys, preallocated; when full, new contents are not indexed
//! (no eviction: entries leave only when their page is overwritten). Bytes:
//! `17 * page_count + ~32 * entries_max`.

use rand::RngCore;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use xxhash_rust::xxh3::{xxh3_128_with_secret_input, SecretInput};

/// A page's keyed 128-bit XXH3 hash.
pub(crate) type Key = [u8; 16];

/// Bytes of the hash secret: XXH3's default secret size (its minimum, 136,
/// is checked by `SecretInput::new`).
const SECRET_LEN: usize = 192;

/// Keys are uniformly random already: hash = their first 8 bytes.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 16]` hashes as its 16 bytes (no length prefix for arrays).
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(word);
    }
}

pub(crate) struct ContentIndex {
    map: HashMap<Key, u64, BuildHasherDefault<KeyHasher>>,
    /// Key of the destination's current content per page; `None` if zero or unknown.
    current: Vec<Option<Key>>,
    entries_max: usize,
    /// The hash secret (see the module docs).
    secret: Box<SecretInput<[u8; SECRET_LEN]>>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl std::fmt::Debug for ContentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("ContentIndex")
            .field("entries", &self.map.len())
            .field("entries_max", &self.entries_max)
            .field("pages", &self.current.len())
            .finish_non_exhaustive()
    }
}

impl ContentIndex {
    pub(crate) fn new(page_count: usize, entries_max: usize) -> Self {
        let entries_max = entries_max.min(page_count);
        let mut bytes = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = Box::new(SecretInput::new(bytes));
        Self {
            map: HashMap::with_capacity_and_hasher(entries_max, BuildHasherDefault::default()),
            current: vec![None; page_count],
            entries_max,
            secret,
        }
    }

    /// The key of `page`'s content under this index's secret.
    pub(crate) fn key_of(&self, page: &[u8]) -> Key {
        xxh3_128_with_secret_input(page, &self.secret).to_le_bytes()
    }

    /// A page whose destination content currently has this key.
    pub(crate) fn lookup(&self, key: &Key) -> Option<u64> {
        let index = *self.map.get(key)?;
        let slot = usize::try_from(index).expect("indexed pages fit usize");
        debug_assert_eq!(self.current[slot].as_ref(), Some(key));
        Some(index)
    }

    /// Records that the destination's page `index` now holds content `key`
    /// (`None`: zero page).
    pub(crate) fn set(&mut self, index: usize, key: Option<Key>) {
        if self.current[index] == key {
            return;
        }
        let page = u64::try_from(index).expect("usize fits u64");
        if let Some(old) = self.current[index].take() {
            if self.map.get(&old) == Some(&page) {
                self.map.remove(&old);
            }
        }
        self.current[index] = key;
        if let Some(k) = key {
            if self.map.len() < self.entries_max {
                self.map.entry(k).or_insert(page);
            }
        }
    }

    pub(crate) fn bytes_max(page_count: usize, entries_max: usize) -> usize {
        // Option<[u8;16]> is 17 bytes; a hashbrown entry is 24 bytes plus a
        // control byte at load factor 7/8.
        page_count * 17 + entries_max.min(page_count) * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PAGE_SIZE;

    #[test]
    fn keys_are_stable_in_an_index_and_secret_between_indexes() {
        let a = ContentIndex::new(1, 1);
        let b = ContentIndex::new(1, 1);
        let page = [5u8; PAGE_SIZE];
        let mut other = page;
        other[PAGE_SIZE - 1] = 6;
        assert_eq!(a.key_of(&page), a.key_of(&page));
        assert_ne!(a.key_of(&page), a.key_of(&other));
        // Equal only if both secrets were the same (a fixed or unseeded key).
        assert_ne!(a.key_of(&page), b.key_of(&page));
    }

    #[test]
    fn debug_output_leaves_the_secret_out() {
        let index = ContentIndex::new(4, 2);
        let shown = format!("{index:?}");
        assert!(shown.contains("entries_max: 2"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
