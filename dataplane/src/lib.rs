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
pub mod progress;
pub mod session;
pub mod source;
pub mod summary;
pub mod threads;

/// Bytes of one frame buffer: the largest frame, rounded up to whole pages.
pub const FRAME_BUFFER_LEN: usize = dwcp_shared::limits::FRAME_LEN_MAX.div_ceil(4096) * 4096;
