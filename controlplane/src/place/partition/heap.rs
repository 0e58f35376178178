//! [`GainHeap`]: an addressable binary max-heap of vertices keyed by gain,
//! the priority queue of Fiduccia-Mattheyses refinement and greedy growing.
//!
//! Each vertex is in the heap at most once; `position` maps a vertex to its
//! slot so that a key can be changed or a vertex removed in O(log n).
//! Equal keys come out in an order fixed by the sequence of operations, so
//! the heap is deterministic.

use crate::place::graph::Weight;

const ABSENT: u32 = u32::MAX;

/// An addressable max-heap over vertex ids `0..capacity`.
#[derive(Debug, Clone)]
pub(crate) struct GainHeap {
    heap: Vec<(Weight, u32)>,
    position: Vec<u32>,
}

impl GainHeap {
    /// An empty heap for vertices `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(
            capacity < ABSENT as usize,
            "heap capacity {capacity} too large"
        );
        Self {
            heap: Vec::new(),
            position: vec![ABSENT; capacity],
        }
    }

    /// Removes every entry (O(len)).
    pub(crate) fn clear(&mut self) {
        for &(_, v) in &self.heap {
            self.position[v as usize] = ABSENT;
        }
        self.heap.clear();
    }

    /// The key of `v`, if present.
    pub(crate) fn key(&self, v: u32) -> Option<Weight> {
        let at = self.position[v as usize];
        (at != ABSENT).then(|| self.heap[at as usize].0)
    }

    /// Inserts `v` with `key`, or changes its key when it is present.
    pub(crate) fn set(&mut self, v: u32, key: Weight) {
        let at = self.position[v as usize];
        if at == ABSENT {
            let slot = self.heap.len();
            self.heap.push((key, v));
            self.position[v as usize] = u32::try_from(slot).expect("fewer than u32::MAX entries");
            self.sift_up(slot);
        } else {
            let slot = at as usize;
            let old = self.heap[slot].0;
            self.heap[slot].0 = key;
            if key > old {
                self.sift_up(slot);
            } else if key < old {
                self.sift_down(slot);
            }
        }
    }

    /// Removes `v` if present.
    pub(crate) fn remove(&mut self, v: u32) {
        let at = self.position[v as usize];
        if at == ABSENT {
            return;
        }
        let slot = at as usize;
        self.position[v as usize] = ABSENT;
        let last = self.heap.pop().expect("v is in the heap");
        if slot < self.heap.len() {
            let old = self.heap[slot].0;
            self.heap[slot] = last;
            self.position[last.1 as usize] = at;
            if last.0 > old {
                self.sift_up(slot);
            } else {
                self.sift_down(slot);
            }
        }
    }

    /// The vertex with the largest key, without removing it.
    pub(crate) fn peek(&self) -> Option<(u32, Weight)> {
        self.heap.first().map(|&(key, v)| (v, key))
    }

    /// Removes and returns the vertex with the largest key.
    pub(crate) fn pop(&mut self) -> Option<(u32, Weight)> {
        let (v, key) = self.peek()?;
        self.remove(v);
        Some((v, key))
    }

    fn sift_up(&mut self, mut slot: usize) {
        while slot > 0 {
            let parent = (slot - 1) / 2;
            if self.heap[parent].0 >= self.heap[slot].0 {
                break;
            }
            self.swap(slot, parent);
            slot = parent;
        }
    }

    fn sift_down(&mut self, mut slot: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * slot + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].0 > self.heap[left].0 {
                right
            } else {
                left
            };
            if self.heap[slot].0 >= self.heap[child].0 {
                break;
            }
            self.swap(slot, child);
            slot = child;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a].1 as usize] = u32::try_from(a).expect("fits");
        self.position[self.heap[b].1 as usize] = u32::try_from(b).expect("fits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_key_order_after_updates_and_removals() {
        let mut heap = GainHeap::new(8);
        for (v, key) in [(0, 5), (1, -3), (2, 9), (3, 0), (4, 7)] {
            heap.set(v, key);
        }
        heap.set(1, 20);
        heap.set(2, -10);
        heap.remove(4);
        assert_eq!(heap.key(4), None);
        assert_eq!(heap.key(0), Some(5));
        let order: Vec<_> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(order, vec![(1, 20), (0, 5), (3, 0), (2, -10)]);
        assert_eq!(heap.pop(), None);
    }
}
