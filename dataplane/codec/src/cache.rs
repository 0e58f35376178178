//! Delta cache: the version of each page last sent, for a bounded number of pages.
//!
//! # Design
//!
//! `slots_max` page-sized slots in one zeroed allocation. With `commit`, `new`
//! writes it once so the OS commits it at set-up, not on first use while
//! encoding (`slots_max * 4 KiB` resident from the start); without, the OS
//! commits each slot when it is first written (an encoder that starts at the
//! bottom rung, which never touches the cache, pays nothing at set-up and
//! nothing until it steps up). `slot_of[page]` maps a page to
//! its slot (`u32::MAX`: not cached) and `page_of[slot]` back. Eviction is
//! CLOCK (second chance): a page that is sent again while cached gets its
//! reference bit set; a new page takes a free slot, or the first slot under
//! the hand whose bit is clear, clearing bits as the hand passes. So pages
//! that keep changing (the ones deltas pay off for) stay, pages sent once
//! age out. Bytes: `4 * page_count + slots_max * (4096 + 9)`.

use crate::PAGE_SIZE;

const NONE: u32 = u32::MAX;
const FREE: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct DeltaCache {
    data: Vec<u8>,
    slot_of: Vec<u32>,
    page_of: Vec<u64>,
    referenced: Vec<bool>,
    hand: usize,
    /// Slots ever used; slots at and beyond it are free.
    used: usize,
    /// Slots freed by `remove` below `used` (capacity preallocated).
    free: Vec<u32>,
}

impl DeltaCache {
    /// `slots_max` must be below `u32::MAX` (checked by the config);
    /// `commit`: fault every slot in now (see the module docs).
    pub(crate) fn new(page_count: usize, slots_max: usize, commit: bool) -> Self {
        let slots_max = slots_max.min(page_count);
        let mut data = vec![0u8; slots_max * PAGE_SIZE];
        // Pre-fault: a zeroed allocation this large is fresh anonymous memory,
        // and the OS's first write to each page (a fault plus zeroing) costs
        // several times a copy into committed memory. Writing one byte per
        // page here pays that at set-up instead of during encoding.
        // `black_box` keeps the compiler from dropping the stores of zeros
        // into memory it knows is zeroed.
        if commit {
            for byte in data.iter_mut().step_by(PAGE_SIZE) {
                *byte = std::hint::black_box(0);
            }
        }
        Self {
            data,
            slot_of: vec![NONE; page_count],
            page_of: vec![FREE; slots_max],
            referenced: vec![false; slots_max],
            hand: 0,
            used: 0,
            free: Vec::with_capacity(slots_max),
        }
    }

    pub(crate) fn bytes_max(page_count: usize, slots_max: usize) -> usize {
        4 * page_count + slots_max.min(page_count) * (PAGE_SIZE + 9)
    }

    fn slot_bytes(&self, slot: usize) -> &[u8] {
        &self.data[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE]
    }

    /// The version of `page` last sent, if cached.
    pub(crate) fn get(&self, page: usize) -> Option<&[u8]> {
        let slot = self.slot_of[page];
        (slot != NONE).then(|| self.slot_bytes(slot as usize))
    }

    /// Forgets `page` (its destination content is now zero).
    pub(crate) fn remove(&mut self, page: usize) {
        let slot = self.slot_of[page];
        if slot != NONE {
            self.slot_of[page] = NONE;
            self.page_of[slot as usize] = FREE;
            self.referenced[slot as usize] = false;
            self.free.push(slot);
        }
    }

    /// Records `bytes` as the version of `page` last sent, evicting if full.
    pub(crate) fn put(&mut self, page: usize, bytes: &[u8]) {
        let slots_max = self.page_of.len();
        if slots_max == 0 {
            return;
        }
        let slot = if self.slot_of[page] != NONE {
            let slot = self.slot_of[page] as usize;
            self.referenced[slot] = true;
            slot
        } else {
            let slot = if let Some(free) = self.free.pop() {
                free as usize
            } else if self.used < slots_max {
                self.used += 1;
                self.used - 1
            } else {
                self.victim()
            };
            let old = self.page_of[slot];
            if old != FREE {
                self.slot_of[usize::try_from(old).expect("cached pages fit usize")] = NONE;
            }
            self.page_of[slot] = u64::try_from(page).expect("usize fits u64");
            self.slot_of[page] = u32::try_from(slot).expect("slots_max < u32::MAX by config");
            self.referenced[slot] = false;
            slot
        };
        self.data[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE].copy_from_slice(bytes);
    }

    fn victim(&mut self) -> usize {
        let slots_max = self.page_of.len();
        // Terminates within two sweeps: the first clears every bit it passes.
        loop {
            let slot = self.hand;
            self.hand = (self.hand + 1) % slots_max;
            if !self.referenced[slot] {
                return slot;
            }
            self.referenced[slot] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_keeps_referenced_pages() {
        let mut c = DeltaCache::new(10, 2, true);
        c.put(0, &[1; PAGE_SIZE]);
        c.put(1, &[2; PAGE_SIZE]);
        c.put(0, &[3; PAGE_SIZE]); // referenced
        c.put(2, &[4; PAGE_SIZE]); // evicts 1
        assert_eq!(c.get(0), Some(&[3u8; PAGE_SIZE][..]));
        assert!(c.get(1).is_none());
        assert_eq!(c.get(2), Some(&[4u8; PAGE_SIZE][..]));
        c.remove(2);
        assert!(c.get(2).is_none());
        c.put(5, &[5; PAGE_SIZE]);
        assert_eq!(c.get(5), Some(&[5u8; PAGE_SIZE][..]));
        assert!(c.get(0).is_some());
    }

    #[test]
    fn zero_slots_caches_nothing() {
        let mut c = DeltaCache::new(4, 0, false);
        c.put(1, &[1; PAGE_SIZE]);
        assert!(c.get(1).is_none());
    }
}
