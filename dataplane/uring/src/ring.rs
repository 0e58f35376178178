//! The io_uring instance of a transport thread, with the frame pool registered.

use dwcp_dataplane_core::doorbell::Doorbell;
use dwcp_hugepages::{BufferId, BufferPool};
use io_uring::{cqueue, squeue, types, IoUring};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Submission queue entries per ring.
pub const RING_ENTRIES: u32 = 256;
/// Completions handled per pass before the loop looks at its queues again.
pub const COMPLETIONS_PER_PASS_MAX: usize = 256;

/// Ring set-up failures.
#[derive(Debug, Error)]
pub enum RingError {
    /// io_uring_setup failed.
    #[error("cannot create an io_uring of {entries} entries (is io_uring disabled by kernel.io_uring_disabled or a seccomp policy?)")]
    Setup {
        /// Entries asked for.
        entries: u32,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// Registering the frame pool failed.
    #[error(
        "cannot register {bytes} bytes of frame buffers with io_uring (RLIMIT_MEMLOCK too low?)"
    )]
    Register {
        /// Bytes asked for.
        bytes: usize,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// Submitting to the kernel failed.
    #[error("io_uring submit failed")]
    Submit(#[source] std::io::Error),
}

/// An io_uring whose fixed buffers are the frame pool.
pub struct Ring {
    ring: IoUring,
    pool: Arc<BufferPool>,
    queued: usize,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// Creates the ring and registers every buffer of `pool`.
    pub fn new(pool: Arc<BufferPool>) -> Result<Self, RingError> {
        let ring = IoUring::new(RING_ENTRIES).map_err(|cause| RingError::Setup {
            entries: RING_ENTRIES,
            cause,
        })?;
        let iovecs = pool.registration_iovecs();
        // SAFETY: the iovecs cover the pool's region, which `pool` (an Arc
        // kept in this struct) keeps mapped for as long as the ring exists;
        // fields drop in declaration order, so the ring (and its
        // registration) goes before the pool.
        unsafe { ring.submitter().register_buffers(&iovecs) }.map_err(|cause| {
            RingError::Register {
                bytes: pool.buffer_len() * pool.buffer_count() as usize,
                cause,
            }
        })?;
        Ok(Self {
            ring,
            pool,
            queued: 0,
        })
    }

    /// The registered pool.
    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    /// Pointer and registered index of `buffer` at `offset`.
    pub fn fixed(&self, buffer: BufferId, offset: usize) -> (*mut u8, u16) {
        assert!(offset < self.pool.buffer_len(), "offset inside the buffer");
        // SAFETY: offset < buffer_len, so the pointer stays inside the buffer.
        let ptr = unsafe { self.pool.buffer_ptr(buffer).add(offset) };
        (ptr, self.pool.registered_index(buffer))
    }

    /// Queues an entry.
    ///
    /// # Safety
    /// Every buffer the entry points at must stay valid, and must not be
    /// touched by anyone else, until its completion has been reaped.
    pub unsafe fn push(&mut self, entry: squeue::Entry) -> Result<(), RingError> {
        loop {
            // SAFETY: forwarded from the caller's contract.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                self.queued += 1;
                return Ok(());
            }
            self.submit()?;
        }
    }

    /// Submits everything queued (one syscall for the batch).
    pub fn submit(&mut self) -> Result<(), RingError> {
        if self.queued > 0 {
            self.ring.submit().map_err(RingError::Submit)?;
            self.queued = 0;
        }
        Ok(())
    }

    /// An idle loop's sleeping phase: announces the sleep on `bell` (the
    /// doorbell whose eventfd this ring reads), then waits up to `timeout`
    /// for a completion unless `has_work`, checked after the announcement
    /// so that no ring before it is missed, says work is already there.
    pub fn sleep_on(
        &mut self,
        bell: &Doorbell,
        timeout: Duration,
        has_work: impl FnOnce() -> bool,
    ) -> Result<(), RingError> {
        bell.set_sleeping(true);
        let waited = if has_work() {
            Ok(())
        } else {
            self.submit_and_wait(timeout)
        };
        bell.set_sleeping(false);
        waited
    }

    /// Submits and waits up to `timeout` for at least one completion.
    pub fn submit_and_wait(&mut self, timeout: Duration) -> Result<(), RingError> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(err) => return Err(RingError::Submit(err)),
        }
        self.queued = 0;
        Ok(())
    }

    /// Moves up to `out.len()` completions into `out`; returns how many.
    pub fn reap(&mut self, out: &mut [(u64, i32)]) -> usize {
        let mut count = 0;
        for entry in self.ring.completion().take(out.len()) {
            let entry: cqueue::Entry = entry;
            out[count] = (entry.user_data(), entry.result());
            count += 1;
        }
        count
    }
}

/// A standing read of a doorbell eventfd, so that waiting on the ring also
/// waits for the bell.
#[derive(Debug)]
pub struct BellRead {
    fd: std::os::fd::RawFd,
    /// Dropped only when no read is in flight (see `Drop`).
    buf: std::mem::ManuallyDrop<Box<[u8; 8]>>,
    armed: bool,
}

impl Drop for BellRead {
    fn drop(&mut self) {
        if self.armed {
            // io_uring tears down in-flight reads asynchronously after the
            // ring is closed: leak these 8 bytes rather than free memory the
            // kernel may still write into.
            return;
        }
        // SAFETY: not armed, so no read targets the buffer; dropped once, here.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.buf) };
    }
}

impl BellRead {
    /// A read of `fd` (the doorbell's eventfd), not yet queued.
    pub fn new(fd: std::os::fd::RawFd) -> Self {
        Self {
            fd,
            buf: std::mem::ManuallyDrop::new(Box::new([0u8; 8])),
            armed: false,
        }
    }

    /// Queues the read unless one is in flight; its completion carries `user_data`.
    pub fn arm(&mut self, ring: &mut Ring, user_data: u64) -> Result<(), RingError> {
        if self.armed {
            return Ok(());
        }
        let entry = io_uring::opcode::Read::new(types::Fd(self.fd), self.buf.as_mut_ptr(), 8)
            .build()
            .user_data(user_data);
        // SAFETY: `buf` is boxed and owned by this struct, which the transport
        // keeps until its ring is gone (fields drop after the ring's
        // completions are reaped in shutdown, or the process exits).
        unsafe { ring.push(entry)? };
        self.armed = true;
        Ok(())
    }

    /// The read completed (the bell rang, or the fd failed).
    pub fn completed(&mut self) {
        self.armed = false;
    }
}
