//! Ctrl-C / SIGTERM / SIGHUP: set a flag that every wait loop polls, so the
//! tool unwinds normally and its guards stop the emulator, kill the children
//! and remove the files.

use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `action` is zero-initialised (a valid `sigaction`: empty
        // mask, no flags) and then given a handler of the signature the
        // kernel calls for a handler without SA_SIGINFO; the handler only
        // stores to an atomic.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            bail!(
                "sigaction({signal}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// True once a signal arrived.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Errors out if a signal arrived.
pub fn check() -> Result<()> {
    if requested() {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps `duration`, erroring out at once if a signal arrived.
pub fn sleep(duration: std::time::Duration) -> Result<()> {
    check()?;
    std::thread::sleep(duration);
    check()
}
