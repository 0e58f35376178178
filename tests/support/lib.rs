//! Support for the end-to-end tests: real release binaries run as separate
//! processes, on real sockets, with a guest stand-in writing to the memory
//! while it is migrated.
//!
//! Every wait has a deadline and fails with the process's stderr tail; every
//! process and temporary directory is cleaned up on drop, panics included.

pub mod bins;
pub mod checks;
pub mod compare;
pub mod hosts;
pub mod loopback;
pub mod net;
pub mod netns;
pub mod proc;
pub mod scenario;
pub mod summary;
pub mod tempdir;

pub use checks::{assert_failed_with, assert_verified_pair};
pub use compare::{assert_same_bytes, first_difference, nonzero_pages};
pub use hosts::{Host, HostOptions, HostPair};
pub use loopback::{first_allowed_core, unchanging_guest, LoopbackMigration};
pub use net::{free_port, wait_listening};
pub use netns::NetnsPair;
pub use proc::{wait_all, wait_pair, Finished, Proc};
pub use scenario::{keygen, Guest, GuestOptions, Migrate, Receive};
pub use summary::Summary;
pub use tempdir::TempDir;

use std::time::Duration;

/// Deadline for one whole migration (both processes).
pub const MIGRATION_DEADLINE: Duration = Duration::from_secs(60);

/// Sends test logs (`tracing::info!` phases) to the test's captured output.
/// `DWCP_TEST_LOG` sets the filter (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DWCP_TEST_LOG")
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_target(false)
        .try_init();
}

/// Prints a skip notice (to stderr, which `cargo test` shows with
/// `--nocapture`, and to the log) for a test whose environment lacks
/// something it needs; the test then returns and passes.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED: {test} {reason}");
    tracing::warn!("SKIPPED: {test} {reason}");
}
