//! Test helpers: serialising tests that read or change the host's hugepage
//! pool, and an opt-in, self-restoring hugepage reservation.

use std::sync::{Mutex, MutexGuard};

const NR_2M_PATH: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const OPT_IN_ENV: &str = "DWCP_TEST_HUGEPAGES";

static HUGEPAGE_STATE: Mutex<()> = Mutex::new(());

/// Held by every test whose assertions depend on how many hugepages are free,
/// so the opt-in reservation tests cannot change the count under them.
pub(crate) fn hugepage_state_lock() -> MutexGuard<'static, ()> {
    HUGEPAGE_STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Extra 2 MiB pages reserved for one test; the old count is restored on drop
/// (also when the test panics).
pub(crate) struct HugepageReservation {
    old: u64,
}

impl HugepageReservation {
    /// Reserves `extra` more 2 MiB pages if running as root with
    /// `DWCP_TEST_HUGEPAGES=1`; `None` (test skipped) otherwise or if the
    /// kernel could not reserve them all.
    pub(crate) fn opt_in(extra: u64) -> Option<HugepageReservation> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if !root || std::env::var(OPT_IN_ENV).as_deref() != Ok("1") {
            eprintln!("skipping hugepage reservation test: needs root and {OPT_IN_ENV}=1");
            return None;
        }
        let old = read_nr();
        let reservation = HugepageReservation { old };
        write_nr(old + extra);
        let got = read_nr();
        if got < old + extra {
            eprintln!(
                "skipping: kernel reserved {got} of {} 2 MiB pages",
                old + extra
            );
            return None; // drop restores
        }
        Some(reservation)
    }
}

impl Drop for HugepageReservation {
    fn drop(&mut self) {
        write_nr(self.old);
        let now = read_nr();
        if now != self.old {
            eprintln!(
                "WARNING: could not restore {NR_2M_PATH} to {} (now {now})",
                self.old
            );
        }
    }
}

fn read_nr() -> u64 {
    std::fs::read_to_string(NR_2M_PATH)
        .expect("read nr_hugepages")
        .trim()
        .parse()
        .expect("nr_hugepages is a number")
}

fn write_nr(pages: u64) {
    std::fs::write(NR_2M_PATH, pages.to_string()).expect("write nr_hugepages as root");
}
