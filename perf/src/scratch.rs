//! Scratch space removed on drop: a private temp directory, and files on /dev/shm.

use anyhow::{Context, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call: `dwcp-perf-<pid>-<nanos>-<seq>-<what>`.
pub fn unique_name(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("dwcp-perf-{}-{nanos:09}-{seq}-{what}", std::process::id())
}

/// A directory (mode 0700) removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates one under the system temp directory.
    pub fn new() -> Result<Self> {
        Self::new_in(&std::env::temp_dir(), "tmp")
    }

    /// Creates one under `parent` (e.g. /dev/shm), its name ending in `what`.
    pub fn new_in(parent: &Path, what: &str) -> Result<Self> {
        let path = parent.join(unique_name(what));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A path (file) removed on drop if it exists.
#[derive(Debug)]
pub struct RemoveOnDrop {
    path: PathBuf,
}

impl RemoveOnDrop {
    /// A fresh unique path in `dir` (nothing is created).
    pub fn unique_in(dir: &Path, what: &str) -> Self {
        Self {
            path: dir.join(unique_name(what)),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
