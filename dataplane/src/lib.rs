//! The DWCP data plane: live migration of a VM's memory over multi-stream,
//! encrypted TCP driven by io_uring.
//!
//! # Design
//! A migration runs as pinned threads joined by bounded lock-free queues
//! (see [`dwcp_dataplane_core::link`]):
//!
//! ```text
//! source:      [engine: scan, hash, pack, seal] ──► [transport: io_uring TCP ×M]
//! destination: [transport: io_uring TCP ×M] ──► [decoder: open, write, hash]
//! ```
//!
//! The engine runs pre-copy rounds over the mapped guest memory file, asks
//! the [`switchover`](dwcp_dataplane_core::switchover) policy after each
//! round, pauses the guest through a [`hooks::PauseHook`], sends the final
//! set and waits for the destination's verdict. A migration is reported
//! complete only when the destination verified the whole image digest.
//!
//! Entry points: [`source::migrate`] and [`destination::receive`]; the
//! `dwcp-dataplane` binary is a thin CLI over them.
#![warn(missing_docs)]

pub mod config;
pub mod destination;
pub mod error;
pub mod guest_memory;
pub mod hooks;
pub mod live;
pub mod progress;
pub mod serve;
pub mod session;
pub mod source;
pub mod stage_log;
pub mod summary;
pub mod threads;

/// Bytes of one frame buffer: the largest frame, rounded up to whole pages.
pub const FRAME_BUFFER_LEN: usize = dwcp_shared::limits::FRAME_LEN_MAX.div_ceil(4096) * 4096;

/// Whole milliseconds of `duration`, saturating (a u64 of ms is 584 million years).
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `value` as u64, saturating: NaN and negatives give 0, values past
/// `u64::MAX` give `u64::MAX` (the semantics of `as`, named so the cast is
/// visible and allowed in one place).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn saturating_u64(value: f64) -> u64 {
    value as u64
}
