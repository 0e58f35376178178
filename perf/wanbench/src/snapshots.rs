//! The real guest's memory snapshots (`shared/data/vm-memory`): found,
//! unpacked once per run with their own `unpack.sh`.

use crate::child::{describe, Proc};
use crate::units::GIB;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The environment variable naming the snapshots folder (as the tests read it).
pub const DIR_ENV: &str = "DWCP_VM_MEMORY_DIR";
/// How long unpacking (~3 GiB) may take.
pub const UNPACK_DEADLINE: Duration = Duration::from_secs(600);

/// The snapshots folder: `--snapshots-dir`, else `$DWCP_VM_MEMORY_DIR`,
/// else `../shared/data/vm-memory` next to the repository.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let relative =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/vm-memory");
            std::fs::canonicalize(&relative).unwrap_or(relative)
        }
    }
}

/// Why the snapshots cannot be used, or `None` when they can.
pub fn absent_reason(dir: &Path) -> Option<String> {
    if !dir.join("unpack.sh").is_file() {
        return Some(format!(
            "real guest snapshots absent ({} has no unpack.sh)",
            dir.display()
        ));
    }
    None
}

/// The two unpacked images the replay uses.
#[derive(Debug, Clone)]
pub struct Images {
    /// The guest 5 s after boot: where the replay starts, and the older
    /// copy rsync updates.
    pub t05s: PathBuf,
    /// 25 s later: where the replay ends, and the static image the peers copy.
    pub t30s: PathBuf,
}

/// Unpacks the snapshots of `dir` into `into` (`bash unpack.sh INTO`).
pub fn unpack(dir: &Path, into: &Path, log_dir: &Path) -> Result<Images> {
    std::fs::create_dir_all(into)?;
    let mut command = Command::new("bash");
    command.arg(dir.join("unpack.sh")).arg(into);
    let mut proc = Proc::spawn("unpack-snapshots", command, log_dir)?;
    match proc.wait_until(Instant::now() + UNPACK_DEADLINE)? {
        Some(status) if status.success() => {}
        Some(status) => bail!(
            "unpack.sh failed ({}): {}",
            describe(status),
            proc.stderr_tail(600)
        ),
        None => bail!("unpack.sh did not finish within {UNPACK_DEADLINE:?}"),
    }
    let images = Images {
        t05s: into.join("g1p_t05s.ram"),
        t30s: into.join("g1p_t30s.ram"),
    };
    for image in [&images.t05s, &images.t30s] {
        let len = std::fs::metadata(image).map(|m| m.len()).unwrap_or(0);
        if len != GIB {
            bail!(
                "{} is {len} bytes after unpack.sh, not 1 GiB",
                image.display()
            );
        }
    }
    Ok(images)
}
