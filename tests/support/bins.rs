//! Where the binaries under test are, building them once if they are missing.
//!
//! `DWCP_BIN_DIR` names a folder holding `dwcp-dataplane` and
//! `dwcp-guest-sim`; without it they are taken from `<target>/release`
//! (`CARGO_TARGET_DIR` or `<workspace>/target`) and built there with
//! `cargo build --release` when missing. The build runs once per test
//! process (a `OnceLock`) and under an exclusive `flock` on a file in the
//! target folder, so parallel test processes do not race either.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const BINARIES: [&str; 4] = [
    "dwcp-dataplane",
    "dwcp-guest-sim",
    "dwcp-controlplane",
    "dwcpctl",
];

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("the tests package sits inside the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The folder the binaries are taken from.
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("DWCP_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("release"),
    }
}

fn missing(dir: &Path) -> Vec<&'static str> {
    BINARIES
        .iter()
        .copied()
        .filter(|name| !dir.join(name).is_file())
        .collect()
}

fn ensure_built() -> &'static Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = bin_dir();
        if missing(&dir).is_empty() {
            return Ok(dir);
        }
        if std::env::var_os("DWCP_BIN_DIR").is_some() {
            return Err(format!(
                "DWCP_BIN_DIR={} lacks {:?}; build them or unset DWCP_BIN_DIR",
                dir.display(),
                missing(&dir)
            ));
        }
        build(&dir).map(|()| dir)
    })
}

fn build(dir: &Path) -> Result<(), String> {
    let target = target_dir();
    std::fs::create_dir_all(&target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let lock_path = target.join("dwcp-tests-build.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a file descriptor this function owns; the lock is
    // released when `lock` is closed at the end of the function.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "cannot lock {}: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if missing(dir).is_empty() {
        return Ok(()); // another test process built them while we waited
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "dwcp-tests: {:?} missing in {}: building them (cargo build --release)",
        missing(dir),
        dir.display()
    );
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "-p",
            "dwcp-dataplane",
            "-p",
            "dwcp-guest-sim",
            "-p",
            "dwcp-controlplane",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "cargo build --release failed ({}):\n{}",
            output.status,
            crate::proc::tail(&stderr, 40)
        ));
    }
    if !missing(dir).is_empty() {
        return Err(format!(
            "cargo build --release succeeded but {:?} are still missing in {}",
            missing(dir),
            dir.display()
        ));
    }
    Ok(())
}

fn binary(name: &str) -> PathBuf {
    match ensure_built() {
        Ok(dir) => dir.join(name),
        Err(message) => panic!("cannot find the binaries under test: {message}"),
    }
}

/// `dwcp-dataplane`.
pub fn dataplane() -> PathBuf {
    binary("dwcp-dataplane")
}

/// `dwcp-guest-sim`.
pub fn guest_sim() -> PathBuf {
    binary("dwcp-guest-sim")
}

/// `dwcp-controlplane`.
pub fn controlplane() -> PathBuf {
    binary("dwcp-controlplane")
}

/// `dwcpctl`.
pub fn dwcpctl() -> PathBuf {
    binary("dwcpctl")
}
