//! Which page window the engine sends next, with a live bound on how many
//! streams carry data at once.
//!
//! # Design
//! With the codec on, each stream owns one contiguous page range (its
//! encoder's state names only its own pages), so a page can never move to
//! another stream. The operator's live stream count therefore bounds how
//! many *ranges are in progress* at once: the active set is the first
//! `active` ranges (in index order) that still have pages left, visited one
//! window each in turn. When a range is done the next one joins; when the
//! count changes, the set changes at the next window. With every stream
//! active this is the plain interleaving (one window of each range in
//! turn) that keeps every stream busy. Raw frames have no such pinning:
//! the engine passes one range covering all pages and bounds the streams
//! it queues frames on instead.
//!
//! Pure: no clock, no I/O, no allocation after `new`.

use std::ops::Range;

/// Cursors over the ranges of one round.
#[derive(Debug)]
pub struct RangeSchedule {
    ranges: Vec<Range<usize>>,
    cursors: Vec<usize>,
    /// The range served last; the next window comes from the one after it.
    last: Option<usize>,
}

impl RangeSchedule {
    /// A schedule over `ranges`, each starting at its beginning.
    pub fn new(ranges: Vec<Range<usize>>) -> Self {
        let cursors = ranges.iter().map(|r| r.start).collect();
        Self {
            ranges,
            cursors,
            last: None,
        }
    }

    /// The next window of at most `window` pages, from a range among the
    /// first `active` (at least 1) unfinished ones; `None` when every range
    /// is done. Returns the range's index and the window.
    pub fn next_window(&mut self, active: usize, window: usize) -> Option<(usize, Range<usize>)> {
        self.next_window_preferring(active, window, |_| true)
    }

    /// As [`RangeSchedule::next_window`], but the turn skips ranges that
    /// are not `ready` (a stream whose encoder is busy elsewhere) when one
    /// in the active set is; with none ready it is the plain turn.
    pub fn next_window_preferring(
        &mut self,
        active: usize,
        window: usize,
        ready: impl Fn(usize) -> bool,
    ) -> Option<(usize, Range<usize>)> {
        assert!(window > 0, "a window holds at least one page");
        let active = active.max(1);
        let unfinished = |k: &usize| self.cursors[*k] < self.ranges[*k].end;
        let in_set = (0..self.ranges.len()).filter(unfinished).take(active);
        // The set in turn order: after the last range served, then from the start.
        let after = self.last.map_or(0, |last| last + 1);
        let in_turn = in_set
            .clone()
            .filter(|&k| k >= after)
            .chain(in_set.clone().filter(|&k| k < after));
        let chosen = in_turn
            .clone()
            .find(|&k| ready(k))
            .or_else(|| in_turn.clone().next())?;
        let start = self.cursors[chosen];
        let end = (start + window).min(self.ranges[chosen].end);
        self.cursors[chosen] = end;
        self.last = Some(chosen);
        Some((chosen, start..end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(schedule: &mut RangeSchedule, active: usize, window: usize) -> Vec<(usize, usize)> {
        std::iter::from_fn(|| schedule.next_window(active, window))
            .map(|(k, w)| (k, w.start))
            .collect()
    }

    #[test]
    fn all_active_interleaves_one_window_of_each() {
        let mut s = RangeSchedule::new(vec![0..4, 4..8, 8..10]);
        assert_eq!(
            drain(&mut s, 3, 2),
            vec![(0, 0), (1, 4), (2, 8), (0, 2), (1, 6)]
        );
    }

    #[test]
    fn one_active_stream_sends_the_ranges_one_after_another() {
        let mut s = RangeSchedule::new(vec![0..4, 4..8, 8..10]);
        assert_eq!(
            drain(&mut s, 1, 2),
            vec![(0, 0), (0, 2), (1, 4), (1, 6), (2, 8)]
        );
    }

    #[test]
    fn a_finished_range_lets_the_next_one_in() {
        let mut s = RangeSchedule::new(vec![0..2, 2..8, 8..12]);
        // Two at a time: range 0 ends after one window, then range 2 joins.
        assert_eq!(
            drain(&mut s, 2, 2),
            vec![(0, 0), (1, 2), (2, 8), (1, 4), (2, 10), (1, 6)]
        );
    }

    #[test]
    fn a_live_change_takes_effect_at_the_next_window_and_every_page_goes_once() {
        let ranges = vec![0..100, 100..200, 200..300, 300..400];
        let mut s = RangeSchedule::new(ranges);
        let mut seen = vec![0u8; 400];
        let mut in_flight_max = Vec::new();
        let mut step = 0;
        let mut active_now = 4;
        while let Some((k, w)) = s.next_window(active_now, 7) {
            for p in w.clone() {
                seen[p] += 1;
            }
            in_flight_max.push((active_now, k));
            step += 1;
            active_now = match step {
                10 => 1,
                30 => 3,
                _ => active_now,
            };
        }
        assert!(seen.iter().all(|&n| n == 1), "every page exactly once");
        // While one stream was active, one range was sent at a time: the
        // next began only when the one before was done (no going back).
        let single: Vec<usize> = in_flight_max
            .iter()
            .filter(|(a, _)| *a == 1)
            .map(|(_, k)| *k)
            .collect();
        assert_eq!(single.len(), 20);
        assert!(single.windows(2).all(|p| p[0] <= p[1]), "{single:?}");
        assert_eq!(single[0], single[11], "range 0 ran alone: {single:?}");
    }

    #[test]
    fn the_turn_skips_a_range_that_is_not_ready_and_waits_only_when_none_is() {
        let mut s = RangeSchedule::new(vec![0..4, 4..8, 8..12]);
        let busy = |k: usize| k != 1;
        assert_eq!(s.next_window_preferring(3, 2, busy), Some((0, 0..2)));
        // Range 1 is next in turn but busy: range 2 goes first.
        assert_eq!(s.next_window_preferring(3, 2, busy), Some((2, 8..10)));
        assert_eq!(s.next_window_preferring(3, 2, busy), Some((0, 2..4)));
        // Nothing ready: the plain turn (range 1, after range 0).
        assert_eq!(s.next_window_preferring(3, 2, |_| false), Some((1, 4..6)));
        // Range 0 is done; range 2 is ready, then busy range 1 is all that is left.
        assert_eq!(s.next_window_preferring(3, 2, busy), Some((2, 10..12)));
        assert_eq!(s.next_window_preferring(3, 2, busy), Some((1, 6..8)));
        assert_eq!(s.next_window_preferring(3, 2, busy), None);
    }

    #[test]
    fn zero_active_means_one_and_empty_ranges_are_skipped() {
        let mut s = RangeSchedule::new(vec![0..0, 0..3]);
        assert_eq!(drain(&mut s, 0, 2), vec![(1, 0), (1, 2)]);
        assert!(s.next_window(4, 2).is_none());
    }
}
