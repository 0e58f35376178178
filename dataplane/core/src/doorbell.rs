//! Waking a sleeping stage when there is work for it.
//!
//! # Design
//! A stage that finds no work backs off ([`crate::backoff`]) and, in its
//! sleeping phase, sleeps through its [`Doorbell`]. A producer that has just
//! published work (a queue push, an atomic store) calls [`Doorbell::ring`],
//! which costs one load when the consumer is awake and one wake-up (futex
//! `unpark`, or an eventfd write for an io_uring thread) only when it sleeps.
//! Under load nobody sleeps, so the hot path makes no syscall.
//!
//! Ordering (Dekker): the sleeper stores `sleeping = true`, issues a SeqCst
//! fence, then re-checks for work; the producer publishes, issues a SeqCst
//! fence, then loads `sleeping`. At least one of them sees the other, so a
//! wake-up is never lost. Even if one were, every sleep is bounded by the
//! back-off's cap, so the doorbell only ever saves latency; correctness never
//! depends on it.
//!
//! Two kinds of sleeper: a plain thread parks ([`Doorbell::sleep`]); an
//! io_uring thread keeps a read of the doorbell's eventfd in its ring and
//! waits on the ring, so one wait covers both I/O completions and the bell
//! ([`Doorbell::eventfd`], [`Doorbell::set_sleeping`]).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Duration;

/// How a sleeper is woken.
#[derive(Debug)]
enum Wake {
    /// The thread that sleeps, registered on its first sleep.
    Park(OnceLock<Thread>),
    /// An eventfd the sleeper's io_uring reads.
    EventFd(OwnedFd),
}

/// One consumer's doorbell; any number of producers may ring it.
#[derive(Debug)]
pub struct Doorbell {
    sleeping: AtomicBool,
    wake: Wake,
}

impl Doorbell {
    /// A doorbell for a thread that parks.
    pub fn parking() -> Self {
        Self {
            sleeping: AtomicBool::new(false),
            wake: Wake::Park(OnceLock::new()),
        }
    }

    /// A doorbell backed by a non-blocking eventfd, for an io_uring thread.
    pub fn with_eventfd() -> std::io::Result<Self> {
        // SAFETY: eventfd(2) has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            sleeping: AtomicBool::new(false),
            wake: Wake::EventFd(owned),
        })
    }

    /// The eventfd to keep a read on, if this is an eventfd doorbell.
    pub fn eventfd(&self) -> Option<RawFd> {
        match &self.wake {
            Wake::EventFd(fd) => Some(fd.as_raw_fd()),
            Wake::Park(_) => None,
        }
    }

    /// Producer side: call after publishing work.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if !self.sleeping.load(Ordering::Relaxed) {
            return;
        }
        match &self.wake {
            Wake::Park(thread) => {
                if let Some(thread) = thread.get() {
                    thread.unpark();
                }
            }
            Wake::EventFd(fd) => {
                let one = 1u64.to_ne_bytes();
                // SAFETY: writes 8 bytes from a live stack array to an fd we
                // own. A full counter (EAGAIN) already means "awake soon".
                let _ = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
            }
        }
    }

    /// Sleeper side (eventfd kind): mark sleeping before re-checking for work
    /// and waiting on the ring, and clear it after.
    pub fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::Relaxed);
        if sleeping {
            fence(Ordering::SeqCst);
        }
    }

    /// Sleeper side (parking kind): sleeps up to `timeout` unless `has_work`
    /// (checked after announcing the sleep) already says there is work.
    pub fn sleep(&self, timeout: Duration, has_work: impl FnOnce() -> bool) {
        if let Wake::Park(thread) = &self.wake {
            thread.get_or_init(std::thread::current);
        }
        self.set_sleeping(true);
        if !has_work() {
            match &self.wake {
                Wake::Park(_) => std::thread::park_timeout(timeout),
                Wake::EventFd(_) => std::thread::sleep(timeout),
            }
        }
        self.set_sleeping(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn ring_wakes_a_parked_sleeper_long_before_its_timeout() {
        let bell = Arc::new(Doorbell::parking());
        let work = Arc::new(AtomicU64::new(0));
        let (b, w) = (Arc::clone(&bell), Arc::clone(&work));
        let sleeper = std::thread::spawn(move || {
            let start = Instant::now();
            while w.load(Ordering::Acquire) == 0 {
                b.sleep(Duration::from_secs(10), || w.load(Ordering::Acquire) != 0);
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        work.store(1, Ordering::Release);
        bell.ring();
        let waited = sleeper.join().expect("sleeper thread");
        assert!(
            waited < Duration::from_secs(5),
            "woken by the bell, not the 10 s timeout: {waited:?}"
        );
    }

    #[test]
    fn eventfd_bell_is_readable_only_after_a_ring_while_sleeping() {
        let bell = Doorbell::with_eventfd().expect("eventfd");
        let fd = bell.eventfd().expect("eventfd kind");
        let mut value = [0u8; 8];
        // SAFETY: reads into a live 8-byte array from an fd the bell owns.
        let read = |buf: &mut [u8; 8]| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 8) };
        bell.ring();
        assert_eq!(read(&mut value), -1, "an awake consumer is not signalled");
        bell.set_sleeping(true);
        bell.ring();
        assert_eq!(read(&mut value), 8);
        assert_eq!(u64::from_ne_bytes(value), 1);
    }
}
