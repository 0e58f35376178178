//! `RecentSamples`: the last `capacity` values of a stream.

use std::collections::VecDeque;

/// The last `capacity` values pushed, oldest first; allocated once.
///
/// Means are summed afresh over the values asked for, so no rounding error
/// builds up over a long-running predictor.
#[derive(Debug, Clone)]
pub struct RecentSamples {
    values: VecDeque<f64>,
    capacity: usize,
}

impl RecentSamples {
    /// The most values one buffer may hold.
    pub const CAPACITY_MAX: usize = 1 << 20;

    /// An empty buffer for the last `capacity` values.
    ///
    /// # Panics
    /// If `capacity` is 0 or above [`CAPACITY_MAX`](Self::CAPACITY_MAX).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity >= 1, "a sample buffer holds at least one value");
        assert!(
            capacity <= Self::CAPACITY_MAX,
            "a sample buffer of {capacity} values is over the maximum"
        );
        Self {
            values: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `value`, dropping the oldest when full; returns the value
    /// dropped.
    pub fn push(&mut self, value: f64) -> Option<f64> {
        let dropped = if self.values.len() == self.capacity {
            self.values.pop_front()
        } else {
            None
        };
        self.values.push_back(value);
        debug_assert!(self.values.len() <= self.capacity);
        dropped
    }

    /// Values held, at most the capacity.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing has been pushed since creation or [`clear`](Self::clear).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The capacity given at creation.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The newest value.
    pub fn last(&self) -> Option<f64> {
        self.values.back().copied()
    }

    /// The newest `count` values (fewer if fewer are held), oldest first.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = f64> + '_ {
        let skip = self.values.len().saturating_sub(count);
        self.values.iter().skip(skip).copied()
    }

    /// Mean of the newest `count` values (of all held if fewer); `None` when
    /// empty or `count` is 0.
    pub fn mean_newest(&self, count: usize) -> Option<f64> {
        let taken = count.min(self.values.len());
        if taken == 0 {
            return None;
        }
        Some(self.newest(taken).sum::<f64>() / taken as f64)
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.values.clear();
    }
}
