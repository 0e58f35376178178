//! Allocating the destination image on a helper thread, while the
//! handshakes go on.
//!
//! # Design
//! Reserving the image (`PendingMemory::allocate`: `posix_fallocate`, which
//! allocates and zeroes every page) takes about 0.4 s per GiB here, more on
//! a busy host (it also populated the mapping until 2026-11-21: 1 s per GiB). It used to start only
//! after stream 0's handshake and the transport's start; the source's first
//! frames then waited for it and its window stalled. Now it starts as soon
//! as stream 0 is admitted (its ClientHello names the size), on its own
//! thread, and overlaps the rest of stream 0's handshake, the other
//! streams' handshakes and the first frames' trip; the decoder starts when
//! it is done ([`ImageAllocation::wait`]).

use crate::error::MigrationError;
use crate::guest_memory::{DestinationMemory, MemoryError, PendingMemory};
use std::thread::JoinHandle;

/// The destination image being allocated.
#[derive(Debug)]
pub struct ImageAllocation {
    thread: JoinHandle<Option<Result<DestinationMemory, MemoryError>>>,
}

impl ImageAllocation {
    /// Starts allocating `pending` on a new thread. If no thread can be
    /// started, gives `pending` back with the cause.
    pub fn start(pending: PendingMemory) -> Result<Self, (PendingMemory, std::io::Error)> {
        // The image goes over a channel so that a failed spawn still has it.
        let (hand_over, handed) = std::sync::mpsc::sync_channel::<PendingMemory>(1);
        let spawned = std::thread::Builder::new()
            .name("dwcp-allocate".into())
            .spawn(move || handed.recv().ok().map(PendingMemory::allocate));
        match spawned {
            Ok(thread) => {
                if let Err(returned) = hand_over.send(pending) {
                    // The thread cannot have ended without receiving: it has no other exit.
                    return Err((
                        returned.0,
                        std::io::Error::other("the allocation thread ended early"),
                    ));
                }
                Ok(Self { thread })
            }
            Err(cause) => Err((pending, cause)),
        }
    }

    /// Waits for the allocation; the image, or why it failed (a failed
    /// allocation has already removed a file it created).
    pub fn wait(self) -> Result<DestinationMemory, MigrationError> {
        match self.thread.join() {
            Ok(Some(allocated)) => allocated.map_err(MigrationError::from),
            Ok(None) => Err(MigrationError::Failed(
                "the allocation thread received no image".into(),
            )),
            Err(_) => Err(MigrationError::Failed(
                "the allocation thread panicked".into(),
            )),
        }
    }

    /// Waits for the allocation and removes the file if this migration
    /// created it (the handshake failed after the image was admitted).
    pub fn discard(self) {
        if let Ok(memory) = self.wait() {
            memory.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("dwcp-allocation-{}-{name}", std::process::id()))
    }

    #[test]
    fn allocates_on_a_thread_and_discards_what_it_created() {
        let path = scratch("ok");
        let pending = PendingMemory::open(&path, 64 * 4096).expect("open");
        let allocation = ImageAllocation::start(pending).expect("a thread starts");
        let mut memory = allocation.wait().expect("allocated");
        assert_eq!(memory.len(), 64 * 4096);
        memory.page_mut(3)[0] = 7;
        assert_eq!(memory.pages(3, 1)[0], 7);
        memory.discard();
        assert!(!path.exists(), "the created file is removed");

        let pending = PendingMemory::open(&path, 4096).expect("open again");
        ImageAllocation::start(pending)
            .expect("a thread starts")
            .discard();
        assert!(
            !path.exists(),
            "discard waits for the allocation, then removes"
        );
    }
}
