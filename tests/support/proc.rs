//! A child process that is killed on drop, with deadline-bounded waits.
//!
//! stdout and stderr go to files in the test's temp dir (no pipe can fill up
//! and block the child); a failure message always carries the stderr tail.

use crate::summary::Summary;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running child process; SIGCONT + SIGKILL + reap on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    command_line: String,
    child: Option<Child>,
    pid: u32,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

/// A process that exited.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The name it was spawned with.
    pub name: String,
    /// Its command line.
    pub command_line: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// All of its stdout.
    pub stdout: String,
    /// All of its stderr.
    pub stderr: String,
    /// How long the wait for it took.
    pub waited: Duration,
}

impl Proc {
    /// Spawns `command` as `name`, its output going to files in `log_dir`.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Proc {
        let stdout_path = log_dir.join(format!("{name}.stdout"));
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let open = |p: &Path| {
            std::fs::File::create(p)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()))
        };
        command
            .stdin(Stdio::null())
            .stdout(open(&stdout_path))
            .stderr(open(&stderr_path));
        let command_line = format!("{command:?}");
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name}: {command_line}: {e}"));
        tracing::debug!(name, pid = child.id(), %command_line, "spawned");
        Proc {
            name: name.to_owned(),
            command_line,
            pid: child.id(),
            child: Some(child),
            stdout_path,
            stderr_path,
        }
    }

    /// The name it was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// A description for failure messages: name, pid, command and stderr tail.
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}): {}\n--- stderr tail ---\n{}\n--- stdout tail ---\n{}",
            self.name,
            self.pid,
            self.command_line,
            tail(&self.stderr(), 25),
            tail(&self.stdout(), 5)
        )
    }

    /// Its exit status if it has exited (reaping it), else None.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child
            .try_wait()
            .unwrap_or_else(|e| panic!("waitpid {}: {e}", self.name))
    }

    /// True while it has not exited.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Sends `signal` (a libc constant).
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid).expect("pids fit pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the child is
        // not reaped yet (or the call fails harmlessly with ESRCH).
        unsafe { libc::kill(pid, signal) };
    }

    /// The scheduler state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...).
    pub fn state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// utime + stime of the whole process (all threads), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .unwrap_or_else(|e| panic!("cannot read /proc/{}/stat: {e}", self.pid));
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("stat has the command in parentheses")
            .1
            .split_whitespace()
            .collect();
        // After the command: state is field 3, utime 14, stime 15 (1-based).
        let field = |n: usize| -> u64 {
            fields[n - 3]
                .parse()
                .unwrap_or_else(|e| panic!("stat field {n} of {}: {e}", self.name))
        };
        field(14) + field(15)
    }

    /// Waits until it exits, at most `timeout`; on timeout kills it and
    /// panics with its stderr tail.
    pub fn wait(&mut self, timeout: Duration) -> Finished {
        let mut all = wait_all(&mut [self], timeout);
        all.pop().expect("one process, one result")
    }

    fn finish(&mut self, status: ExitStatus, waited: Duration) -> Finished {
        self.child = None;
        Finished {
            name: self.name.clone(),
            command_line: self.command_line.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            waited,
        }
    }

    /// Kills it (SIGCONT first, in case it is stopped, then SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                self.signal(libc::SIGCONT);
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a migration's two processes under one deadline; returns
/// `(source, destination)`.
pub fn wait_pair(
    source: &mut Proc,
    destination: &mut Proc,
    timeout: Duration,
) -> (Finished, Finished) {
    let mut done = wait_all(&mut [source, destination], timeout);
    let destination = done.pop().expect("wait_all returns one result per process");
    let source = done.pop().expect("wait_all returns one result per process");
    (source, destination)
}

/// Waits for every process to exit, with one deadline for all of them.
/// On timeout kills the ones still running and panics describing each.
pub fn wait_all(procs: &mut [&mut Proc], timeout: Duration) -> Vec<Finished> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut done: Vec<Option<Finished>> = vec![None; procs.len()];
    loop {
        for (slot, proc) in done.iter_mut().zip(procs.iter_mut()) {
            if slot.is_none() {
                if let Some(status) = proc.try_status() {
                    *slot = Some(proc.finish(status, start.elapsed()));
                }
            }
        }
        if done.iter().all(Option::is_some) {
            return done.into_iter().flatten().collect();
        }
        if Instant::now() >= deadline {
            let mut message = format!("timed out after {timeout:?} waiting for processes:\n");
            for (slot, proc) in done.iter().zip(procs.iter()) {
                match slot {
                    Some(f) => message.push_str(&format!(
                        "\n== {} exited ({}) ==\n{}\n",
                        f.name,
                        f.status,
                        tail(&f.stderr, 15)
                    )),
                    None => {
                        message.push_str(&format!("\n== still running: {} ==\n", proc.describe()))
                    }
                }
            }
            for proc in procs.iter_mut() {
                proc.kill();
            }
            panic!("{message}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Finished {
    /// Its exit code (None if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The JSON summary of its last stdout line; panics with context if absent.
    pub fn summary(&self) -> Summary {
        Summary::from_stdout(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: no JSON summary on the last stdout line ({e})\n{}",
                self.name,
                self.describe()
            )
        })
    }

    /// stdout and stderr together, for message checks.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// A description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{} exited with {} after {:?}: {}\n--- stderr tail ---\n{}\n--- stdout tail ---\n{}",
            self.name,
            self.status,
            self.waited,
            self.command_line,
            tail(&self.stderr, 25),
            tail(&self.stdout, 3)
        )
    }

    /// Panics unless it exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit code {code}\n{}",
            self.describe()
        );
        self
    }
}
