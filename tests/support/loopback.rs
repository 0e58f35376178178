//! One migration on loopback, `receive` and `migrate` started together: the
//! shape the fault tests share (a clean run that measures, then the same run
//! with a fault).

use crate::checks::assert_verified_pair;
use crate::net::free_port;
use crate::proc::{wait_pair, Finished};
use crate::scenario::{Guest, GuestOptions, Migrate, Receive};
use crate::summary::Summary;
use crate::tempdir::TempDir;
use crate::MIGRATION_DEADLINE;
use std::path::Path;

/// Starts an unchanging guest of random bytes: with one stream and full
/// frames (`LoopbackMigration::deterministic`) every run sends the same frames.
pub fn unchanging_guest(dir: &TempDir, size: &str) -> Guest {
    tracing::info!(
        size,
        "an unchanging guest of random bytes: the same frames in every run"
    );
    Guest::start(
        dir,
        "guest",
        &GuestOptions::new(size, "0").args(&["--fill", "random"]),
    )
}

/// The lowest core this process may run on (its affinity mask).
pub fn first_allowed_core() -> usize {
    // SAFETY: cpu_set_t is plain bits, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t and the size passed is its own.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        rc,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` is below CPU_SETSIZE, within `set`.
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .expect("this process may run on some core")
}

/// A loopback migration of a guest's memory, with the key given.
#[derive(Debug, Clone)]
pub struct LoopbackMigration<'a> {
    guest: &'a Guest,
    key: &'a Path,
    pause: bool,
    source_args: Vec<String>,
    receiver_args: Vec<String>,
}

impl<'a> LoopbackMigration<'a> {
    /// Migrates `guest`'s memory with `key`; the source does not pause it.
    pub fn new(guest: &'a Guest, key: &'a Path) -> Self {
        Self {
            guest,
            key,
            pause: false,
            source_args: Vec::new(),
            receiver_args: Vec::new(),
        }
    }

    /// The source pauses the guest for the final round (`--pause-pid`).
    pub fn pause(mut self) -> Self {
        self.pause = true;
        self
    }

    /// One stream and full frames (`--frame-pages-min 64`: frames otherwise
    /// follow the bytes in flight, which timing decides), so that an
    /// unchanging guest puts the same bytes on the wire in every run.
    pub fn deterministic(self) -> Self {
        self.source_args(&["--streams", "1", "--frame-pages-min", "64"])
    }

    /// The destination's transport and decoder pinned to one core, so that
    /// one thread runs both (`dwcp_dataplane::destination::inline`).
    pub fn one_core_destination(self) -> Self {
        let core = first_allowed_core().to_string();
        self.receiver_args(&["--decoder-core", &core, "--transport-core", &core])
    }

    /// The source's engine and transport pinned to one core, so that the
    /// engine's thread runs both (`dwcp_dataplane::source::inline`).
    pub fn one_core_source(self) -> Self {
        let core = first_allowed_core().to_string();
        self.source_args(&["--engine-core", &core, "--transport-core", &core])
    }

    /// Adds arguments of `migrate`.
    pub fn source_args(mut self, args: &[&str]) -> Self {
        self.source_args
            .extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Adds arguments of `receive`.
    pub fn receiver_args(mut self, args: &[&str]) -> Self {
        self.receiver_args
            .extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Runs it into `dest` as a reference: both ends must verify, the
    /// destination must end on the source's `Goodbye` (not after its close
    /// grace), and a paused guest must be left paused (it is then
    /// continued). Returns the source's summary.
    pub fn run_clean(&self, dir: &TempDir, dest: &Path) -> Summary {
        let (source, destination) = self.run(dir, dest);
        let (summary, destination) = assert_verified_pair(&source, &destination);
        assert_eq!(summary.u64("reconnects"), 0, "a clean run: {summary}");
        assert_eq!(
            destination.str("end"),
            Some("goodbye"),
            "the destination ends on the source's Goodbye: {destination}"
        );
        if self.pause {
            self.guest.assert_stopped("after a verified migration");
            self.guest.proc.signal(libc::SIGCONT);
        }
        summary
    }

    /// Runs it into `dest` and waits for both ends.
    pub fn run(&self, dir: &TempDir, dest: &Path) -> (Finished, Finished) {
        let port = free_port();
        let receiver_args: Vec<&str> = self.receiver_args.iter().map(String::as_str).collect();
        let mut receiver = Receive::new("127.0.0.1", port, dest)
            .key(self.key)
            .args(&receiver_args)
            .start(dir, "receiver");
        let mut migrator =
            Migrate::new(&self.guest.memory, &format!("127.0.0.1:{port}")).key(self.key);
        if self.pause {
            migrator = migrator.pause(self.guest);
        }
        let source_args: Vec<&str> = self.source_args.iter().map(String::as_str).collect();
        let mut migrator = migrator.args(&source_args).spawn(dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
    }
}
