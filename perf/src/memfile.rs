//! The source "guest memory": a /dev/shm file of seeded ChaCha bytes
//! (incompressible, no zero pages), removed on drop.

use crate::interrupt;
use crate::scratch::RemoveOnDrop;
use anyhow::{bail, Context, Result};
use memmap2::{Mmap, MmapOptions};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::File;
use std::io::Write;
use std::path::Path;

const CHUNK: usize = 1 << 20;
/// Guest page size; the memory size must be a multiple.
pub const PAGE: u64 = 4096;

/// The memory file and a populated read-only mapping of it.
#[derive(Debug)]
pub struct MemFile {
    // Field order: the mapping is dropped before the file is removed.
    map: Mmap,
    file: RemoveOnDrop,
    size: u64,
}

impl MemFile {
    /// Creates `size` random bytes from `seed` in a unique file under `dir`.
    pub fn create(dir: &Path, size: u64, seed: u64) -> Result<Self> {
        if size == 0 || !size.is_multiple_of(PAGE) {
            bail!("memory size {size} must be a positive multiple of {PAGE}");
        }
        let guard = RemoveOnDrop::unique_in(dir, "src.mem");
        let mut file = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(guard.path())
            .with_context(|| format!("creating {}", guard.path().display()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut buf = vec![0u8; CHUNK];
        let mut left = size;
        while left > 0 {
            interrupt::check()?;
            let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            rng.fill_bytes(&mut buf[..n]);
            file.write_all(&buf[..n]).with_context(|| {
                format!("writing {} (is /dev/shm full?)", guard.path().display())
            })?;
            left -= n as u64;
        }
        file.flush()?;
        // SAFETY: the file is private to this process (unique name, created
        // with create_new) and nothing truncates or writes it while mapped;
        // the migrate child only reads it.
        let map = unsafe { MmapOptions::new().populate().map(&file) }
            .with_context(|| format!("mapping {}", guard.path().display()))?;
        Ok(Self {
            map,
            file: guard,
            size,
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
