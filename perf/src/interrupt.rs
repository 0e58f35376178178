//! Ctrl-C / SIGTERM / SIGHUP handling, shared with `dwcp-wan-bench`
//! (crate `dwcp-perf-support`).

pub use dwcp_perf_support::interrupt::*;
