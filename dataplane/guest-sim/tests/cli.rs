//! Process-level tests: run the built binary on a memory file under /dev/shm.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_dwcp-guest-sim");
const PAGE: usize = 4096;

/// A unique directory under /dev/shm (the temp dir where there is none),
/// removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir = base.join(format!(
            "dwcp-guest-sim-test-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Kills the child if a test fails before it exited.
struct Guest(Child);

impl Guest {
    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid fits i32")
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.0.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "guest did not exit in {timeout:?}"
            );
            sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_for_content(path: &Path, want: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if fs::read_to_string(path).is_ok_and(|s| s == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not become {want:?} in {timeout:?}",
            path.display()
        );
        sleep(Duration::from_millis(5));
    }
}

fn changed_pages(a: &[u8], b: &[u8]) -> usize {
    a.chunks(PAGE)
        .zip(b.chunks(PAGE))
        .filter(|(x, y)| x != y)
        .count()
}

fn json_field(json: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    let at = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + key.len();
    json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("bad {name} in {json}"))
}

/// All threads of `pid` in state 'T' (stopped), as the migration source checks.
fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).all(|t| {
        fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|c| c == 'T')
        })
    })
}

#[test]
fn dirties_pauses_resumes_and_exits_with_stats() {
    let dir = TempDir::new();
    let (mem, ready, state, stats) = (
        dir.path("guest.ram"),
        dir.path("ready"),
        dir.path("state"),
        dir.path("stats.json"),
    );
    let rate = 4u64 << 20; // 1024 pages/s
    let child = Command::new(BIN)
        .args(["--memory".as_ref(), mem.as_os_str()])
        .args(["--size", "16M", "--dirty-rate", "4MiB/s", "--seed", "7"])
        .args(["--ready-file".as_ref(), ready.as_os_str()])
        .args(["--state-file".as_ref(), state.as_os_str()])
        .args(["--stats-file".as_ref(), stats.as_os_str()])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn guest-sim");
    let mut guest = Guest(child);

    wait_for_content(&ready, "ready\n", Duration::from_secs(60));
    wait_for_content(&state, "running\n", Duration::from_secs(5));
    assert_eq!(fs::metadata(&mem).expect("memory file").len(), 16 << 20);

    // Running: content changes at about the set rate.
    let t_a0 = Instant::now();
    let a = fs::read(&mem).expect("read memory");
    let t_a1 = Instant::now();
    sleep(Duration::from_millis(500));
    let t_b0 = Instant::now();
    let b = fs::read(&mem).expect("read memory");
    let t_b1 = Instant::now();
    let changed = changed_pages(&a, &b);
    let most = rate as f64 / PAGE as f64 * (t_b1 - t_a0).as_secs_f64() * 1.2 + 20.0;
    let least = rate as f64 / PAGE as f64 * (t_b0 - t_a1).as_secs_f64() * 0.5;
    assert!(
        (least..=most).contains(&(changed as f64)),
        "{changed} pages changed, expected {least:.0}..={most:.0}"
    );

    // SIGUSR1: paused, nothing changes.
    guest.signal(libc::SIGUSR1);
    wait_for_content(&state, "paused\n", Duration::from_secs(5));
    let p1 = fs::read(&mem).expect("read memory");
    sleep(Duration::from_millis(300));
    let p2 = fs::read(&mem).expect("read memory");
    assert_eq!(changed_pages(&p1, &p2), 0, "memory changed while paused");

    // SIGUSR2: resumed.
    guest.signal(libc::SIGUSR2);
    wait_for_content(&state, "running\n", Duration::from_secs(5));
    sleep(Duration::from_millis(300));
    let r = fs::read(&mem).expect("read memory");
    assert!(
        changed_pages(&p2, &r) > 50,
        "memory did not change after resume"
    );

    // SIGSTOP needs no cooperation: every thread stops, nothing changes.
    guest.signal(libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !all_threads_stopped(guest.pid()) {
        assert!(Instant::now() < deadline, "threads not stopped");
        sleep(Duration::from_millis(5));
    }
    let s1 = fs::read(&mem).expect("read memory");
    sleep(Duration::from_millis(200));
    let s2 = fs::read(&mem).expect("read memory");
    assert_eq!(changed_pages(&s1, &s2), 0, "memory changed while stopped");
    guest.signal(libc::SIGCONT);
    sleep(Duration::from_millis(300));
    let s3 = fs::read(&mem).expect("read memory");
    assert!(
        changed_pages(&s2, &s3) > 50,
        "memory did not change after SIGCONT"
    );

    // SIGTERM: exit 0 with stats.
    guest.signal(libc::SIGTERM);
    let status = guest.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    let json = fs::read_to_string(&stats).expect("stats file");
    let pages = json_field(&json, "pages_dirtied");
    assert!(pages > 500, "{json}");
    assert_eq!(json_field(&json, "bytes_dirtied"), pages * PAGE as u64);
    assert_eq!(json_field(&json, "memory_bytes"), 16 << 20);
    let elapsed_ms = json_field(&json, "elapsed_ms");
    assert!(elapsed_ms >= 1000, "{json}");
    // Never faster than the rate (plus the 20 ms burst).
    assert!(
        pages as f64 <= rate as f64 / PAGE as f64 * (elapsed_ms as f64 / 1000.0 + 0.05),
        "{json}"
    );
    // The memory file stays for the migration source.
    assert_eq!(fs::metadata(&mem).expect("memory file").len(), 16 << 20);
}

fn run_to_end(dir: &TempDir, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--memory".as_ref(), dir.path("guest.ram").as_os_str()])
        .args(args)
        .output()
        .expect("run guest-sim")
}

#[test]
fn invalid_flag_values_exit_2_naming_the_flag() {
    let dir = TempDir::new();
    for (args, flag, value) in [
        (&["--size", "12Q"][..], "--size", "12Q"),
        (
            &["--size", "16M", "--dirty-rate=-5M"][..],
            "--dirty-rate",
            "-5M",
        ),
        (&["--size", "5000"][..], "--size", "5000"),
        (
            &["--size", "16M", "--hotset-fraction", "2"][..],
            "--hotset-fraction",
            "2",
        ),
        (
            &["--size", "16M", "--pattern", "zigzag"][..],
            "--pattern",
            "zigzag",
        ),
    ] {
        let out = run_to_end(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.path("guest.ram").exists(), "no file for invalid flags");

    // An existing file of another size is kept unless the fill recreates it.
    fs::write(dir.path("guest.ram"), vec![1u8; 8192]).expect("write memory file");
    let out = run_to_end(
        &dir,
        &["--size", "16K", "--fill", "keep", "--duration", "0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--size"), "{stderr}");
    let out = run_to_end(
        &dir,
        &["--size", "16K", "--fill", "zero", "--duration", "0"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(dir.path("guest.ram")).expect("read"),
        vec![0u8; 16384]
    );
}

#[test]
fn replay_ends_at_the_to_image_then_idles() {
    let dir = TempDir::new();
    let size = 1 << 20;
    let from: Vec<u8> = (0..size)
        .map(|i| u8::try_from(i / PAGE % 7).expect("below 7"))
        .collect();
    let mut to = from.clone();
    for p in [3usize, 50, 51, 200, 255] {
        to[p * PAGE + 9] ^= 0x5A;
    }
    fs::write(dir.path("from"), &from).expect("write from");
    fs::write(dir.path("to"), &to).expect("write to");
    let (mem, ready, stats) = (dir.path("guest.ram"), dir.path("ready"), dir.path("stats"));
    let child = Command::new(BIN)
        .args(["--memory".as_ref(), mem.as_os_str()])
        .args(["--size", "1M", "--replay-secs", "0.5"])
        .args(["--replay-from".as_ref(), dir.path("from").as_os_str()])
        .args(["--replay-to".as_ref(), dir.path("to").as_os_str()])
        .args(["--ready-file".as_ref(), ready.as_os_str()])
        .args(["--stats-file".as_ref(), stats.as_os_str()])
        .spawn()
        .expect("spawn guest-sim");
    let mut guest = Guest(child);
    wait_for_content(&ready, "ready\n", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read(&mem).expect("read memory") != to {
        assert!(
            Instant::now() < deadline,
            "memory never reached the to image"
        );
        sleep(Duration::from_millis(20));
    }
    guest.signal(libc::SIGTERM);
    assert_eq!(guest.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let json = fs::read_to_string(&stats).expect("stats file");
    assert_eq!(json_field(&json, "pages_dirtied"), 5, "{json}");
}
