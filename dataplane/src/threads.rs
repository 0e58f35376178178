//! Named, optionally pinned worker threads.
//!
//! Every data-plane thread has a [`ThreadRole`]; the role names the thread
//! (visible in `top -H` and `perf`) and picks its core from the
//! configuration. Pinning uses `core_affinity`; a core that does not exist
//! is a configuration error caught by validation, and a failed pin is
//! logged (the thread still runs, unpinned).

use std::thread::JoinHandle;

/// What a data-plane thread does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRole {
    /// Source: scans, packs and seals pages.
    Engine,
    /// Either side: drives io_uring.
    Transport,
    /// Destination: opens frames and writes pages.
    Decoder,
}

impl ThreadRole {
    /// The thread's name.
    pub fn name(self) -> &'static str {
        match self {
            ThreadRole::Engine => "dwcp-engine",
            ThreadRole::Transport => "dwcp-transport",
            ThreadRole::Decoder => "dwcp-decoder",
        }
    }
}

/// Spawns `body` as a thread of `role`, pinned to `core` when given.
pub fn spawn<T: Send + 'static>(
    role: ThreadRole,
    core: Option<usize>,
    body: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(role.name().into())
        .spawn(move || {
            if let Some(id) = core {
                if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                    tracing::warn!(
                        role = role.name(),
                        core = id,
                        "could not pin thread; running unpinned"
                    );
                }
            }
            body()
        })
}

/// Number of cores this process may run on.
pub fn available_cores() -> usize {
    core_affinity::get_core_ids().map_or(1, |ids| ids.len().max(1))
}
