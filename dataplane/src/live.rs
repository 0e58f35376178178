//! Settings of a running migration that the control plane may change while
//! it runs: pacing rate, compression tier, how many streams carry data,
//! hold, cancellation, and the predicted bandwidth floor of the switch-over.
//!
//! # Design
//! The serve loop (`serve`) writes, the engine reads. Every change bumps
//! `version` after storing the new values (`Release`); the engine loads
//! `version` (`Acquire`) once per frame it seals and in every wait loop,
//! and applies the values only when it moved, so the per-page path pays
//! nothing and a change takes effect within one frame: well under the
//! 100 ms the control plane promises (a frame carries at most 64 pages,
//! 256 KiB: 21 ms at 100 Mbit/s, the slowest link DWCP is tuned for).
//!
//! The predicted floor is the exception: it does not move `version` (the
//! engine has nothing to re-apply per frame); the engine reads it once per
//! pre-copy round, when the switch-over policy decides.

use crate::progress::Progress;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// The codec's ladder of levels as the control plane names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveTier {
    /// The datacenter ladder.
    Datacenter,
    /// The internet ladder.
    Internet,
    /// No zstd: the codec's level 0 (zero-page detection, other pages sent
    /// as literals).
    Off,
}

impl LiveTier {
    fn code(self) -> u8 {
        match self {
            Self::Datacenter => 1,
            Self::Internet => 2,
            Self::Off => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Datacenter),
            2 => Some(Self::Internet),
            3 => Some(Self::Off),
            _ => None,
        }
    }
}

/// A snapshot of the live settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// Pacing rate, bytes per second (0 = unpaced); `None` = as configured.
    pub pacing_bytes_per_s: Option<u64>,
    /// Compression tier; `None` = as the migration was configured.
    pub tier: Option<LiveTier>,
    /// An operator asked to stop.
    pub cancelled: bool,
    /// An operator asked to hold sending (the guest keeps running).
    pub held: bool,
    /// How many of the opened streams carry data (0 = all); `None` = as
    /// the migration was configured (all).
    pub streams_active: Option<u16>,
}

/// `pacing_bytes_per_s` before the first [`LiveControl::set_pacing`].
const PACING_UNSET: u64 = u64::MAX;
/// `streams_active` before the first [`LiveControl::set_streams_active`].
const STREAMS_UNSET: u16 = u16::MAX;

/// Live settings shared between the serve loop and one migration.
#[derive(Debug)]
pub struct LiveControl {
    version: AtomicU64,
    pacing_bytes_per_s: AtomicU64,
    tier: AtomicU8,
    cancelled: AtomicBool,
    held: AtomicBool,
    streams_active: AtomicU16,
    /// Bytes per second, 0 = none.
    predicted_floor_bytes_per_s: AtomicU64,
}

impl Default for LiveControl {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveControl {
    /// Settings as configured at start: version 0, nothing changed.
    pub fn new() -> Self {
        Self {
            version: AtomicU64::new(0),
            pacing_bytes_per_s: AtomicU64::new(PACING_UNSET),
            tier: AtomicU8::new(0),
            cancelled: AtomicBool::new(false),
            held: AtomicBool::new(false),
            streams_active: AtomicU16::new(STREAMS_UNSET),
            predicted_floor_bytes_per_s: AtomicU64::new(0),
        }
    }

    /// The change counter; moves on every setter call.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current values.
    pub fn settings(&self) -> LiveSettings {
        LiveSettings {
            pacing_bytes_per_s: Some(self.pacing_bytes_per_s.load(Ordering::Relaxed))
                .filter(|&rate| rate != PACING_UNSET),
            tier: LiveTier::from_code(self.tier.load(Ordering::Relaxed)),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            streams_active: Some(self.streams_active.load(Ordering::Relaxed))
                .filter(|&n| n != STREAMS_UNSET),
        }
    }

    /// Sets the pacing rate (0 = unpaced).
    pub fn set_pacing(&self, bytes_per_s: u64) {
        self.pacing_bytes_per_s
            .store(bytes_per_s.min(PACING_UNSET - 1), Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Sets the compression tier.
    pub fn set_tier(&self, tier: LiveTier) {
        self.tier.store(tier.code(), Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Holds (`true`) or resumes sending. A held source sends nothing and
    /// waits; pre-copy resumes where it stopped.
    pub fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Sets how many of the opened streams carry data (0: all of them).
    pub fn set_streams_active(&self, streams: u16) {
        self.streams_active
            .store(streams.min(STREAMS_UNSET - 1), Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Sets the control plane's predicted lower bound of the link's
    /// bandwidth (0: none). Does not move [`version`](Self::version).
    pub fn set_predicted_floor(&self, bytes_per_s: u64) {
        self.predicted_floor_bytes_per_s
            .store(bytes_per_s, Ordering::Relaxed);
    }

    /// The predicted floor, bytes per second; `None` when there is none.
    pub fn predicted_floor(&self) -> Option<u64> {
        Some(self.predicted_floor_bytes_per_s.load(Ordering::Relaxed)).filter(|&f| f > 0)
    }

    /// Asks the migration to stop; it fails with `MigrationError::Cancelled`.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// What a supervisor of a migration (the serve loop) shares with it. The
/// plain CLI passes [`MigrationHandles::default`] and ignores them.
#[derive(Debug, Clone, Default)]
pub struct MigrationHandles {
    /// Settings the supervisor may change while the migration runs.
    pub live: Arc<LiveControl>,
    /// Counters the migration publishes.
    pub progress: Arc<Progress>,
    /// Duplicates (`try_clone`) of the migration's TCP sockets, made once at
    /// set-up, so that the supervisor can sample `TCP_INFO` once a second.
    pub sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl MigrationHandles {
    /// Keeps a duplicate of `socket` for link samples; a failure to
    /// duplicate only costs the samples.
    pub fn share_socket(&self, socket: &TcpStream) {
        match socket.try_clone() {
            Ok(copy) => self
                .sockets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(copy),
            Err(err) => tracing::debug!(%err, "cannot duplicate a socket for link samples"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setter_moves_the_version_and_is_visible() {
        let live = LiveControl::new();
        assert_eq!(live.version(), 0);
        assert_eq!(
            live.settings(),
            LiveSettings {
                pacing_bytes_per_s: None,
                tier: None,
                cancelled: false,
                held: false,
                streams_active: None,
            }
        );
        live.set_pacing(12_500_000);
        live.set_tier(LiveTier::Internet);
        live.set_streams_active(3);
        assert_eq!(live.version(), 3);
        let s = live.settings();
        assert_eq!(s.pacing_bytes_per_s, Some(12_500_000));
        assert_eq!(s.tier, Some(LiveTier::Internet));
        assert_eq!(s.streams_active, Some(3));
        live.set_streams_active(0);
        assert_eq!(
            live.settings().streams_active,
            Some(0),
            "0 = all, still set"
        );
        assert!(!live.is_cancelled());
        live.cancel();
        assert_eq!(live.version(), 5);
        assert!(live.is_cancelled() && live.settings().cancelled);
    }

    #[test]
    fn the_predicted_floor_is_read_without_moving_the_version() {
        let live = LiveControl::new();
        assert_eq!(live.predicted_floor(), None);
        live.set_predicted_floor(6_250_000);
        assert_eq!(live.predicted_floor(), Some(6_250_000));
        assert_eq!(live.version(), 0, "no per-frame re-apply for the floor");
        live.set_predicted_floor(0);
        assert_eq!(live.predicted_floor(), None, "0 = none");
    }
}
