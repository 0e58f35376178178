//! Cooperative pause/resume and stop via signals.
//!
//! SIGUSR1 asks the dirty loop to pause, SIGUSR2 to resume, SIGTERM and
//! SIGINT to stop (exit 0 after writing stats). The handlers only store to
//! lock-free atomics, which is async-signal-safe; the loop polls them.
//!
//! SIGSTOP/SIGCONT need nothing from us: the kernel stops every thread.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dirtier::Control;

static PAUSE: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomic stores here: no allocation, locks or logging.
    match sig {
        libc::SIGUSR1 => PAUSE.store(true, Ordering::SeqCst),
        libc::SIGUSR2 => PAUSE.store(false, Ordering::SeqCst),
        libc::SIGTERM | libc::SIGINT => STOP.store(true, Ordering::SeqCst),
        _ => {}
    }
}

/// Installs the handlers for SIGUSR1, SIGUSR2, SIGTERM and SIGINT. Call it
/// first thing: until then SIGUSR1/2 would kill the process.
pub fn install() -> io::Result<()> {
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `sigaction` is a plain C struct for which all-zero bytes is
        // a valid value (no handler, no flags, empty mask).
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa.sa_mask` is a valid, writable sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: `sa` is fully initialised and outlives the call; the old
        // action pointer may be null. The handler is an `extern "C"` function
        // that only performs lock-free atomic stores, which are
        // async-signal-safe, and it lives for the whole program.
        let rc = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The [`Control`] the signal handlers drive.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignalControl;

impl Control for SignalControl {
    fn stop_requested(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }

    fn pause_requested(&self) -> bool {
        PAUSE.load(Ordering::SeqCst)
    }
}
