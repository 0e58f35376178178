//! Running the real `dwcp-linkem` binary and its probe helpers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dwcp-linkem");
/// How long the emulator may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a process may take to exit after SIGTERM or its own end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Nice value of the probe helpers: the tests measure the link, so the
/// endpoints should not wait behind other work on a shared machine (the
/// emulator itself runs at -20).
pub const HELPER_NICE: &str = "-5";

/// Emulators run one at a time: two would share the 2 cores and skew the
/// timing and rate bounds.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Holds the machine for one test; also the root and `ip` check.
pub fn exclusive(test: &str) -> Option<MutexGuard<'static, ()>> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED {test}: needs root");
        return None;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        println!("SKIPPED {test}: needs `ip` (iproute2)");
        return None;
    }
    Some(
        EXCLUSIVE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

/// Namespace names unique to this process and test.
pub fn namespaces(tag: &str) -> (String, String) {
    let pid = std::process::id();
    (format!("lkt-{pid}-{tag}-a"), format!("lkt-{pid}-{tag}-b"))
}

/// True when `ip netns list` shows `name`.
pub fn namespace_listed(name: &str) -> bool {
    let output = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

/// A child whose stdout lines arrive on a channel.
#[derive(Debug)]
pub struct Process {
    child: Child,
    lines: Receiver<String>,
    what: String,
}

impl Process {
    /// Starts `command` with stdout piped.
    pub fn spawn(mut command: Command, what: &str) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            lines,
            what: what.to_owned(),
        }
    }

    /// Runs `BIN args...` inside namespace `ns`, at nice `HELPER_NICE`.
    pub fn in_namespace(ns: &str, args: &[&str]) -> Process {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns, "nice", "-n", HELPER_NICE, BIN])
            .args(args);
        Process::spawn(command, &format!("{} in {ns}", args[0]))
    }

    /// The next stdout line parsed as JSON, within `timeout`.
    pub fn next_json(&mut self, timeout: Duration) -> Value {
        let line = self
            .lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("{}: no output line within {timeout:?}", self.what));
        serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("{}: {line:?}: {error}", self.what))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM unless it has already exited.
    pub fn terminate(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill takes plain integers; the pid is our own child, not
        // yet reaped (checked just above), so it cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }

    /// Waits for the exit, killing the process after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{}: still running after {timeout:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Process {
    /// Waits up to `EXIT_TIMEOUT`, then kills; never panics.
    fn wait_quietly(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    return self.child.wait().ok();
                }
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate();
        let _ = self.wait_quietly();
    }
}

/// The port `Emulator::udp_echo` listens on in B.
pub const UDP_ECHO_PORT: u16 = 7007;

/// A running emulator and its ready line.
#[derive(Debug)]
pub struct Emulator {
    /// The process.
    pub process: Process,
    /// The parsed ready line.
    pub ready: Value,
    /// Namespace A.
    pub ns_a: String,
    /// Namespace B.
    pub ns_b: String,
    /// Set by a clean `stop`: nothing left to clean up.
    stopped: bool,
}

impl Emulator {
    /// Starts `run` with unique namespaces for `tag` plus `args`, and waits
    /// for the ready line.
    pub fn start(tag: &str, args: &[&str]) -> Emulator {
        let (ns_a, ns_b) = namespaces(tag);
        let mut command = Command::new(BIN);
        command
            .args(["run", "--ns-a", &ns_a, "--ns-b", &ns_b])
            .args(args);
        let mut process = Process::spawn(command, "dwcp-linkem run");
        let ready = process.next_json(READY_TIMEOUT);
        assert_eq!(ready["ready"], true, "ready line: {ready}");
        Emulator {
            process,
            ready,
            ns_a,
            ns_b,
            stopped: false,
        }
    }

    /// Address of B as a string.
    pub fn addr_b(&self) -> String {
        self.ready["addr_b"].as_str().expect("addr_b").to_owned()
    }

    /// Starts a UDP echo server in B on `UDP_ECHO_PORT`, once it is ready.
    pub fn udp_echo(&self) -> Process {
        let listen = format!("0.0.0.0:{UDP_ECHO_PORT}");
        let mut echo = Process::in_namespace(&self.ns_b, &["udp-echo", "--listen", &listen]);
        echo.next_json(Duration::from_secs(10));
        echo
    }

    /// Runs `udp-probe` in A against B's echo server with `args` (count,
    /// interval, ...), and returns its result line.
    pub fn udp_probe(&self, args: &[&str], timeout: Duration) -> Value {
        let target = format!("{}:{UDP_ECHO_PORT}", self.addr_b());
        let mut command = vec!["udp-probe", "--target", &target];
        command.extend_from_slice(args);
        Process::in_namespace(&self.ns_a, &command).next_json(timeout)
    }

    /// SIGTERM, wait, check exit status 0, return the exit line.
    pub fn stop(mut self) -> Value {
        self.process.terminate();
        let status = self.process.wait(EXIT_TIMEOUT);
        assert!(status.success(), "emulator exit status {status}");
        let exit = self.process.next_json(Duration::from_secs(1));
        assert_eq!(exit["exit"], true, "exit line: {exit}");
        assert_eq!(exit["reason"], "signal");
        self.stopped = true;
        exit
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // A clean stop left nothing. Otherwise (a failed test) stop the
        // process, and remove what a killed run would have left.
        if self.stopped {
            return;
        }
        self.process.terminate();
        let _ = self.process.wait_quietly();
        for ns in [&self.ns_a, &self.ns_b] {
            if namespace_listed(ns) {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
}

/// Reads a number from a JSON value.
pub fn number(value: &Value, path: &[&str]) -> f64 {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current
        .as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {value}"))
}
