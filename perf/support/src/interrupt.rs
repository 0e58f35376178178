//! Ctrl-C / SIGTERM / SIGHUP: set a flag that every wait loop polls, so a
//! tool unwinds normally and its guards stop what it started (children,
//! emulated links) and remove its files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thiserror::Error;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The signals [`install`] handles.
pub const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Why a tool stops.
#[derive(Debug, Error)]
pub enum InterruptError {
    /// A handled signal arrived.
    #[error("interrupted")]
    Interrupted,
    /// The handler could not be installed.
    #[error("sigaction({signal}) failed")]
    Install {
        /// The signal.
        signal: libc::c_int,
        /// The OS error.
        #[source]
        cause: std::io::Error,
    },
}

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for [`SIGNALS`]. No `SA_RESTART`, so blocking
/// reads return `EINTR` and their loops get to look at the flag.
pub fn install() -> Result<(), InterruptError> {
    for signal in SIGNALS {
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
            return Err(InterruptError::Install {
                signal,
                cause: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

/// True once a signal arrived.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Errors out if a signal arrived.
pub fn check() -> Result<(), InterruptError> {
    if requested() {
        return Err(InterruptError::Interrupted);
    }
    Ok(())
}

/// Sleeps `duration`, erroring out at once if a signal arrived before or during it.
pub fn sleep(duration: Duration) -> Result<(), InterruptError> {
    check()?;
    std::thread::sleep(duration);
    check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handled_signal_sets_the_flag_and_checks_fail() {
        install().expect("handlers install");
        assert!(!requested());
        check().expect("no signal yet");
        sleep(Duration::from_millis(1)).expect("no signal yet");
        // SAFETY: raise(3) on a signal whose handler only stores to an atomic.
        let rc = unsafe { libc::raise(libc::SIGHUP) };
        assert_eq!(rc, 0);
        assert!(requested(), "the handler ran instead of the default action");
        assert!(matches!(check(), Err(InterruptError::Interrupted)));
        assert!(matches!(
            sleep(Duration::from_secs(60)),
            Err(InterruptError::Interrupted)
        ));
        assert_eq!(
            InterruptError::Interrupted.to_string(),
            "interrupted",
            "callers report this text"
        );
    }
}
