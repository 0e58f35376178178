//! Content index: which destination page currently holds a given content.
//!
//! # Design
//!
//! Keys are the first 128 bits of the BLAKE3 hash of a page. BLAKE3 is a
//! cryptographic hash, so an accidental collision among the 2^28 pages of a
//! 1 TiB guest has probability about 2^-73, and a guest that tries to craft
//! one needs about 2^64 hash evaluations (birthday bound): neither happens
//! in practice, so a hit is trusted without comparing bytes. That frees the
//! encoder from keeping a copy of every page the destination holds.
//!
//! `current[i]` is the key of the destination's content at page `i` (or
//! none: zero or unknown). When page `i` is sent again its old entry is
//! removed from the map if it still points at `i`, so a hit always names a
//! page whose current content is the key. The map holds at most
//! `entries_max` keys, preallocated; when full, new contents are not indexed
//! (no eviction: entries leave only when their page is overwritten). Bytes:
//! `17 * page_count + ~32 * entries_max`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// 128 bits of BLAKE3.
pub(crate) type Key = [u8; 16];

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

pub(crate) fn key_of(page: &[u8]) -> Key {
    let hash = blake3::hash(page);
    let mut key = [0u8; 16];
    key.copy_from_slice(&hash.as_bytes()[..16]);
    key
}

#[derive(Debug)]
pub(crate) struct ContentIndex {
    map: HashMap<Key, u64, BuildHasherDefault<KeyHasher>>,
    /// Key of the destination's current content per page; `None` if zero or unknown.
    current: Vec<Option<Key>>,
    entries_max: usize,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl ContentIndex {
    pub(crate) fn new(page_count: usize, entries_max: usize) -> Self {
        let entries_max = entries_max.min(page_count);
        Self {
            map: HashMap::with_capacity_and_hasher(entries_max, BuildHasherDefault::default()),
            current: vec![None; page_count],
            entries_max,
        }
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
