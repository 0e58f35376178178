//! The processes of a migration: guest stand-in, receiver, migrator, keygen.

use crate::bins;
use crate::net::wait_listening;
use crate::proc::{Finished, Proc};
use crate::tempdir::TempDir;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a guest may take to fill its memory and report ready.
pub const GUEST_READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a receiver may take to start listening.
pub const LISTEN_DEADLINE: Duration = Duration::from_secs(30);
/// Receivers give up on their own if no source ever connects (a safety net;
/// every wait in the tests has its own, shorter deadline).
pub const RECEIVER_ACCEPT_TIMEOUT_MS: &str = "90000";

/// `binary` as a command, run inside `netns` when given.
pub fn command(binary: impl AsRef<std::ffi::OsStr>, netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.arg("netns").arg("exec").arg(ns).arg(binary);
            c
        }
        None => Command::new(binary),
    }
}

/// Writes a new key file with `dwcp-dataplane keygen`.
pub fn keygen(dir: &TempDir, name: &str) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = command(bins::dataplane(), None);
    cmd.arg("keygen").arg("--out").arg(&out);
    Proc::spawn(&format!("keygen-{name}"), cmd, dir.path())
        .wait(Duration::from_secs(10))
        .assert_code(0);
    assert!(out.is_file(), "keygen did not write {}", out.display());
    out
}

/// Settings of a guest stand-in.
#[derive(Debug, Clone)]
pub struct GuestOptions {
    /// `--size`.
    pub size: String,
    /// `--dirty-rate` (ignored in replay mode).
    pub dirty_rate: Option<String>,
    /// Any further arguments.
    pub extra: Vec<OsString>,
}

impl GuestOptions {
    /// `size` of memory dirtied at `dirty_rate`.
    pub fn new(size: &str, dirty_rate: &str) -> Self {
        Self {
            size: size.into(),
            dirty_rate: Some(dirty_rate.into()),
            extra: Vec::new(),
        }
    }

    /// `size` of memory replaying the change from one image to another.
    pub fn replay(size: &str, from: &Path, to: &Path, secs: &str) -> Self {
        let mut extra: Vec<OsString> = vec!["--replay-from".into(), from.into()];
        extra.extend(["--replay-to".into(), to.into()]);
        extra.extend(["--replay-secs".into(), secs.into()]);
        Self {
            size: size.into(),
            dirty_rate: None,
            extra,
        }
    }

    /// Adds arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.extra.extend(args.iter().map(OsString::from));
        self
    }
}

/// A running `dwcp-guest-sim`.
#[derive(Debug)]
pub struct Guest {
    /// The process.
    pub proc: Proc,
    /// Its memory file.
    pub memory: PathBuf,
    /// Its `--state-file`.
    pub state_file: PathBuf,
    /// Its `--stats-file`.
    pub stats_file: PathBuf,
}

impl Guest {
    /// Starts a guest with memory `dir/<name>.ram` and waits until it is ready.
    pub fn start(dir: &TempDir, name: &str, options: &GuestOptions) -> Guest {
        let memory = dir.join(&format!("{name}.ram"));
        let ready = dir.join(&format!("{name}.ready"));
        let state_file = dir.join(&format!("{name}.state"));
        let stats_file = dir.join(&format!("{name}.stats.json"));
        let mut cmd = command(bins::guest_sim(), None);
        cmd.arg("--memory").arg(&memory);
        cmd.arg("--size").arg(&options.size);
        if let Some(rate) = &options.dirty_rate {
            cmd.arg("--dirty-rate").arg(rate);
        }
        cmd.args(&options.extra);
        cmd.arg("--ready-file").arg(&ready);
        cmd.arg("--state-file").arg(&state_file);
        cmd.arg("--stats-file").arg(&stats_file);
        let mut proc = Proc::spawn(name, cmd, dir.path());
        let deadline = Instant::now() + GUEST_READY_DEADLINE;
        while !ready.exists() {
            if let Some(status) = proc.try_status() {
                panic!(
                    "guest {name} exited ({status}) before it was ready\n{}",
                    proc.describe()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "guest {name} not ready within {GUEST_READY_DEADLINE:?}\n{}",
                    proc.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Guest {
            proc,
            memory,
            state_file,
            stats_file,
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Panics unless the guest process is stopped (state 'T').
    pub fn assert_stopped(&self, why: &str) {
        let state = self.proc.state();
        assert_eq!(
            state,
            Some('T'),
            "{why}: guest pid {} is in state {state:?}, not stopped\n{}",
            self.pid(),
            self.proc.describe()
        );
    }

    /// Panics unless the guest process is alive and not stopped.
    pub fn assert_running(&mut self, why: &str) {
        assert!(
            self.proc.is_running(),
            "{why}: guest exited\n{}",
            self.proc.describe()
        );
        let state = self.proc.state();
        assert!(
            matches!(state, Some('R' | 'S' | 'D')),
            "{why}: guest pid {} is in state {state:?}, expected running or sleeping\n{}",
            self.pid(),
            self.proc.describe()
        );
    }

    /// Resumes it if stopped, asks it to exit (SIGTERM) and checks it exits 0.
    pub fn finish(mut self) -> Finished {
        self.proc.signal(libc::SIGCONT);
        self.proc.signal(libc::SIGTERM);
        let finished = self.proc.wait(Duration::from_secs(20));
        finished.assert_code(0);
        finished
    }
}

/// A `dwcp-dataplane receive` to start.
#[derive(Debug, Clone)]
pub struct Receive {
    listen: String,
    port: u16,
    args: Vec<OsString>,
    netns: Option<String>,
}

impl Receive {
    /// Listen on `host:port`, writing `memory`.
    pub fn new(host: &str, port: u16, memory: &Path) -> Self {
        let listen = format!("{host}:{port}");
        let args: Vec<OsString> = vec![
            "receive".into(),
            "--listen".into(),
            listen.clone().into(),
            "--memory".into(),
            memory.into(),
            "--no-progress".into(),
            "--accept-timeout-ms".into(),
            RECEIVER_ACCEPT_TIMEOUT_MS.into(),
        ];
        Self {
            listen,
            port,
            args,
            netns: None,
        }
    }

    /// `--key-file`.
    pub fn key(self, key: &Path) -> Self {
        self.arg("--key-file").arg(key)
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    /// Runs it inside network namespace `ns`.
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// The address it listens on.
    pub fn addr(&self) -> &str {
        &self.listen
    }

    /// Spawns it without waiting for anything.
    pub fn spawn(self, dir: &TempDir, name: &str) -> Proc {
        let mut cmd = command(bins::dataplane(), self.netns.as_deref());
        cmd.args(&self.args);
        Proc::spawn(name, cmd, dir.path())
    }

    /// Spawns it and waits until it listens.
    pub fn start(self, dir: &TempDir, name: &str) -> Proc {
        let port = self.port;
        let mut proc = self.spawn(dir, name);
        wait_listening(&mut proc, port, LISTEN_DEADLINE);
        proc
    }
}

/// A `dwcp-dataplane migrate` to start.
#[derive(Debug, Clone)]
pub struct Migrate {
    args: Vec<OsString>,
    netns: Option<String>,
}

impl Migrate {
    /// Migrate `memory` to `to` (HOST:PORT).
    pub fn new(memory: &Path, to: &str) -> Self {
        Self {
            args: vec![
                "migrate".into(),
                "--memory".into(),
                memory.into(),
                "--to".into(),
                to.into(),
                "--no-progress".into(),
            ],
            netns: None,
        }
    }

    /// `--key-file`.
    pub fn key(self, key: &Path) -> Self {
        self.arg("--key-file").arg(key)
    }

    /// `--pause-pid`.
    pub fn pause(self, guest: &Guest) -> Self {
        self.arg("--pause-pid").arg(guest.pid().to_string())
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    /// Runs it inside network namespace `ns`.
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Spawns it.
    pub fn spawn(self, dir: &TempDir, name: &str) -> Proc {
        let mut cmd = command(bins::dataplane(), self.netns.as_deref());
        cmd.args(&self.args);
        Proc::spawn(name, cmd, dir.path())
    }

    /// Runs it to completion (bounded by `timeout`).
    pub fn run(self, dir: &TempDir, name: &str, timeout: Duration) -> Finished {
        self.spawn(dir, name).wait(timeout)
    }
}
