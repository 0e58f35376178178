//! Shared set-up for a benchmark session: scratch directory, key, memory file,
//! and the migration runner. Everything is removed when it drops.

use crate::dwcp_run::{self, Pinning, Runner};
use crate::memfile::MemFile;
use crate::scratch::TempDir;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where memory files go.
const SHM: &str = "/dev/shm";

/// A ready benchmark session.
#[derive(Debug)]
pub struct Bench {
    // Field order: children's files and the memory file go before the directory.
    pub runner: Runner,
    pub memory: MemFile,
    _scratch: TempDir,
}

impl Bench {
    /// Creates the key, the `size`-byte memory file and the runner.
    pub fn new(
        bin_dir: &Path,
        size: u64,
        seed: u64,
        child_timeout: Duration,
        pinning: Option<Pinning>,
    ) -> Result<Self> {
        let binary = bin_dir.join("dwcp-dataplane");
        if !binary.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p dwcp-dataplane` or pass --bin-dir",
                binary.display()
            );
        }
        let scratch = TempDir::new()?;
        let key_file = scratch.path().join("key");
        dwcp_run::keygen(&binary, &key_file, scratch.path())?;
        eprintln!("dwcp-perf: writing {size} random bytes to {SHM} ...");
        let memory = MemFile::create(Path::new(SHM), size, seed)?;
        let runner = Runner {
            binary,
            key_file,
            log_dir: scratch.path().to_path_buf(),
            shm_dir: PathBuf::from(SHM),
            child_timeout,
            pinning,
        };
        Ok(Self {
            runner,
            memory,
            _scratch: scratch,
        })
    }
}
