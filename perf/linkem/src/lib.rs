//! `dwcp-linkem`: a user-space WAN link emulator for DWCP tests and
//! benchmarks.
//!
//! This kernel has no netem, fq or cake, so delay, jitter, loss and rate are
//! emulated in user space: the `dwcp-linkem` binary puts one TUN device in
//! each of two network namespaces and forwards IP packets between them
//! through this crate's model. TCP stays the kernels' own, end to end.
//!
//! # Layout
//! - [`model`]: the pure per-direction link model (`LinkDirection`), which
//!   takes `now` and a seed and does no I/O;
//! - [`trace`]: bandwidth-trace parsing (hsdpa rate steps, mahimahi delivery
//!   opportunities);
//! - [`profile`]: the named profiles and how command-line overrides and
//!   rate scaling resolve into two `DirectionConfig`s;
//! - [`ring`]: the preallocated FIFO packet buffer the forwarder holds
//!   packets in until their delivery time.
//!
//! The I/O shell (TUN devices, namespaces, the poll loop, signals, probes)
//! lives in the binary; see `docs/linkem.md`.
#![warn(missing_docs)]

pub mod model;
pub mod profile;
pub mod ring;
pub mod trace;

pub use model::{DirectionConfig, DropCause, LinkDirection, Verdict};
