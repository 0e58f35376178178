//! The per-stream send window, counted in bytes.
//!
//! # Design
//! A stream may hold sealed frames that the destination has not yet
//! acknowledged (written to its image) up to a number of **bytes**, not of
//! frames: a compressed frame can be 1 % of a raw one, so a window of N
//! frames keeps anywhere from a few KB to N × 257 KiB in flight. The bytes
//! are what has to cover the link's bandwidth-delay product.
//!
//! The source transport asks [`ByteWindow::admits`] before moving a frame
//! from the engine's queue into the stream, adds it with
//! [`ByteWindow::add`], and releases it with [`ByteWindow::release`] when an
//! acknowledgement (or a reconnect's resume point) frees it. An empty window
//! admits any frame, however large, so a limit below one frame can slow a
//! stream down but never stall it.

/// Bytes of unacknowledged frames one stream holds, against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteWindow {
    limit: u64,
    held: u64,
}

impl ByteWindow {
    /// An empty window of `limit` bytes (at least 1).
    pub fn new(limit: u64) -> Self {
        assert!(limit > 0, "a send window holds at least one byte");
        Self { limit, held: 0 }
    }

    /// True if a frame of `len` bytes may enter now: the window is empty, or
    /// the frame fits in what is left.
    pub fn admits(&self, len: u32) -> bool {
        self.held == 0 || self.held.saturating_add(u64::from(len)) <= self.limit
    }

    /// True if some frame could still fit (the window is not full).
    pub fn has_room(&self) -> bool {
        self.held < self.limit
    }

    /// A frame of `len` bytes entered the window.
    pub fn add(&mut self, len: u32) {
        self.held += u64::from(len);
    }

    /// A frame of `len` bytes left the window (acknowledged or held by the
    /// peer at a resume point).
    pub fn release(&mut self, len: u32) {
        debug_assert!(
            u64::from(len) <= self.held,
            "released {len} bytes, only {} held",
            self.held
        );
        self.held = self.held.saturating_sub(u64::from(len));
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_not_frames() {
        // 100 KB: four 21 KB compressed frames fit, a fifth does not.
        let mut window = ByteWindow::new(100_000);
        for _ in 0..4 {
            assert!(window.admits(21_000));
            window.add(21_000);
        }
        assert_eq!(window.held(), 84_000);
        assert!(!window.admits(21_000), "84 000 + 21 000 > 100 000");
        assert!(window.admits(16_000), "a smaller frame still fits");
        assert!(window.has_room());
        window.add(16_000);
        assert!(!window.has_room(), "exactly full");
        assert!(!window.admits(1));
    }

    #[test]
    fn releases_reopen_the_window() {
        let mut window = ByteWindow::new(50_000);
        window.add(30_000);
        window.add(20_000);
        assert!(!window.admits(10_000));
        window.release(30_000);
        assert_eq!(window.held(), 20_000);
        assert!(window.admits(30_000));
        assert!(!window.admits(30_001));
        window.release(20_000);
        assert_eq!(window.held(), 0);
    }

    #[test]
    fn an_empty_window_admits_a_frame_larger_than_its_limit() {
        let mut window = ByteWindow::new(1_000);
        assert!(window.admits(263_216), "never stalls a stream");
        window.add(263_216);
        assert!(!window.admits(1), "but nothing joins it");
        window.release(263_216);
        assert!(window.admits(263_216));
        assert_eq!(window.limit(), 1_000);
    }

    #[test]
    #[should_panic(expected = "at least one byte")]
    fn a_zero_limit_is_refused() {
        let _ = ByteWindow::new(0);
    }
}
