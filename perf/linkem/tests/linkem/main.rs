//! End-to-end tests of `dwcp-linkem`: the real binary, two namespaces, kernel
//! TCP and UDP through the emulator. They need root and `ip`; without them
//! each test prints `SKIPPED: ...` and passes. Tests take a global lock so
//! that only one emulator runs at a time on the 2-core machine.
//!
//! Reproduce one: `cargo test -p dwcp-linkem --test linkem -- t20 --nocapture`.

mod support;
mod t10_rtt;
mod t20_throughput;
mod t30_loss;
mod t40_cleanup;
mod t50_errors;
