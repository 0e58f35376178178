//! Waiting for a receiver to listen, and picking a free port, shared with
//! `dwcp-wan-bench` (crate `dwcp-perf-support`).

pub use dwcp_perf_support::listen::*;
