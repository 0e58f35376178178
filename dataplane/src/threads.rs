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
    /// Either side: the transport and the engine (source) or the decoder
    /// (destination) on one thread, both pinned to one core.
    Worker,
}

impl ThreadRole {
    /// The thread's name.
    pub fn name(self) -> &'static str {
        match self {
            ThreadRole::Engine => "dwcp-engine",
            ThreadRole::Transport => "dwcp-transport",
            ThreadRole::Decoder => "dwcp-decoder",
            ThreadRole::Worker => "dwcp-worker",
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

/// The ids of the cores this process may run on (its affinity mask, so a
/// cpuset such as 4-7 gives [4, 5, 6, 7]), in increasing order.
pub fn available_core_ids() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// Fewest cores on which threads are pinned by default.
pub const AUTO_PIN_CORES_MIN: usize = 4;

/// The cores a role's compute thread and transport thread run on when the
/// operator named none: on machines with at least [`AUTO_PIN_CORES_MIN`]
/// cores, the last core for the compute thread (engine or decoder) and the
/// one before it for the transport, so the two never share a core and the
/// low cores stay with the system and the guest. With fewer cores both
/// stay unpinned: on a 2-core machine running both ends (tests, the demo)
/// pinning forces the two processes' busiest threads onto the same cores.
pub fn default_cores(core_ids: &[usize]) -> (Option<usize>, Option<usize>) {
    match core_ids {
        [.., transport, compute] if core_ids.len() >= AUTO_PIN_CORES_MIN => {
            (Some(*compute), Some(*transport))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_only_on_machines_with_enough_cores() {
        assert_eq!(default_cores(&[0, 1]), (None, None));
        assert_eq!(default_cores(&[0, 1, 2]), (None, None));
        assert_eq!(default_cores(&[0, 1, 2, 3]), (Some(3), Some(2)));
        assert_eq!(
            default_cores(&[4, 5, 6, 7]),
            (Some(7), Some(6)),
            "a cpuset keeps its own ids"
        );
    }
}
