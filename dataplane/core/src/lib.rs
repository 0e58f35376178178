//! Sans-IO core of the DWCP data plane.
//!
//! # Design
//! Everything here is pure: no sockets, no threads, no clock reads. Callers
//! pass `now` (an [`std::time::Instant`]) and bytes in, and get decisions and
//! bytes out. The I/O shells (`dwcp-uring` today; DPDK and RDMA later) and the
//! pinned worker threads in `dwcp-dataplane` drive these types. Keeping the
//! protocol logic here lets it be tested without a network and reused by
//! every transport.
//!
//! Modules, in the order a migration uses them:
//! - [`keys`]: pre-shared key loading, key proofs, session secret and
//!   per-stream frame keys.
//! - [`handshake`]: client and server handshake state machines.
//! - [`seal`]: sealing and opening frames (AES-256-GCM, or an xxh3-128
//!   checksum in explicit plaintext mode).
//! - [`scan`]: per-page hashing and the dirty-page scan of pre-copy rounds.
//! - [`stream_tx`], [`stream_rx`]: per-stream sequence, acknowledgement and
//!   resume bookkeeping.
//! - [`pacer`]: a byte token bucket for rate-limited sending.
//! - [`page_stages`]: latency histograms of each stage of the page path.
//! - [`switchover`]: when to stop pre-copy and pause the guest.
//! - [`throughput`]: a windowed throughput estimate from acknowledged bytes.
//! - [`level_control`]: the adaptive compression level, stepped by
//!   back-pressure from the transport.
//! - [`link`]: the queues and counters between the pinned stages and the
//!   transport thread, the one interface every transport implements.
//! - [`doorbell`]: waking a sleeping stage when work is published.
//! - [`backoff`]: the idle back-off of polling loops.
//! - [`worker_meter`]: busy and idle time of each worker thread.
#![warn(missing_docs)]

pub mod backoff;
pub mod doorbell;
pub mod frame_size;
pub mod handshake;
pub mod keys;
pub mod level_control;
pub mod link;
pub mod pacer;
pub mod page_stages;
pub mod scan;
pub mod seal;
pub mod stream_rx;
#[cfg(test)]
mod stream_sim_test;
pub mod stream_tx;
pub mod switchover;
pub mod throughput;
pub mod worker_meter;
