//! A destination image on hugetlbfs mounted with 1 GiB pages: the receiver
//! sizes and checks it in units of the mount's page size (not 2 MiB), a
//! 1 GiB guest arrives byte for byte, a size that is not a multiple of
//! 1 GiB is refused naming the page size, and too few free 1 GiB pages is
//! refused as "not enough space".
//!
//! Needs root and a kernel that can reserve one 1 GiB page (contiguous
//! memory); skips with a message otherwise, and gives the page back.

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, skip, wait_pair, Guest,
    GuestOptions, Migrate, Receive, TempDir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const POOL: &str = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
const DEADLINE: Duration = Duration::from_secs(120);
const GIB: u64 = 1 << 30;

fn read_count(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("{POOL}/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One free 1 GiB page for the test and a hugetlbfs mount of that page
/// size; undone on drop (unmount, pool size restored).
struct OneGigPage {
    mount: PathBuf,
    restore_pool_to: Option<u64>,
}

impl OneGigPage {
    fn reserve(dir: &TempDir) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root (hugepage pool and mount)".into());
        }
        let total = read_count("nr_hugepages")
            .ok_or_else(|| format!("{POOL} is absent: this kernel has no 1 GiB hugepages"))?;
        let mut restore_pool_to = None;
        if read_count("free_hugepages").unwrap_or(0) == 0 {
            std::fs::write(format!("{POOL}/nr_hugepages"), (total + 1).to_string())
                .map_err(|e| format!("cannot grow the 1 GiB pool: {e}"))?;
            restore_pool_to = Some(total);
        }
        let mut page = Self {
            mount: dir.join("huge1g"),
            restore_pool_to,
        };
        if read_count("free_hugepages").unwrap_or(0) == 0 {
            return Err("the kernel could not reserve a 1 GiB page (memory too fragmented)".into());
        }
        std::fs::create_dir_all(&page.mount).map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "hugetlbfs", "-o", "pagesize=1G", "nodev"])
            .arg(&page.mount)
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if !status.success() {
            page.mount = PathBuf::new();
            return Err(format!(
                "mount -t hugetlbfs -o pagesize=1G failed: {status}"
            ));
        }
        Ok(page)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mount.join(name)
    }
}

impl Drop for OneGigPage {
    fn drop(&mut self) {
        if !self.mount.as_os_str().is_empty() {
            let _ = std::fs::read_dir(&self.mount).map(|entries| {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            });
            let _ = Command::new("umount").arg(&self.mount).status();
        }
        if let Some(total) = self.restore_pool_to {
            let _ = std::fs::write(format!("{POOL}/nr_hugepages"), total.to_string());
        }
    }
}

fn sparse_file(dir: &TempDir, name: &str, bytes: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(bytes))
        .expect("sparse source file");
    path
}

fn refused(dir: &TempDir, label: &str, source: &Path, dest: &Path, needles: &[&str]) {
    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, dest)
        .arg("--insecure-plaintext")
        .start(dir, &format!("{label}-receiver"));
    let mut migrator = Migrate::new(source, &format!("127.0.0.1:{port}"))
        .arg("--insecure-plaintext")
        .spawn(dir, &format!("{label}-migrator"));
    let (src, dst) = wait_pair(&mut migrator, &mut receiver, DEADLINE);
    // A memory problem is the operator's input: exit 2 (1 would do too).
    assert!(matches!(dst.code(), Some(1 | 2)), "{}", dst.describe());
    let summary = dst.summary();
    assert!(!summary.verified(), "{summary}");
    for needle in needles {
        assert!(
            summary.error_lower().contains(&needle.to_lowercase()),
            "{label}: the error names {needle:?}: {summary}"
        );
    }
    assert_ne!(src.code(), Some(0), "{}", src.describe());
    assert!(
        !dest.exists(),
        "the receiver left {} behind",
        dest.display()
    );
}

#[test]
fn t62_destination_on_1g_hugetlbfs() {
    init_logging();
    let dir = TempDir::new("t62");
    let page = match OneGigPage::reserve(&dir) {
        Ok(page) => page,
        Err(reason) => return skip("t62_destination_on_1g_hugetlbfs", &reason),
    };

    tracing::info!("a 512 MiB guest cannot live in 1 GiB pages");
    let half = sparse_file(&dir, "half.ram", GIB / 2);
    refused(
        &dir,
        "granule",
        &half,
        &page.path("half.ram"),
        &["1073741824-byte pages"],
    );

    tracing::info!("a 2 GiB guest needs two free 1 GiB pages; there is one");
    let two = sparse_file(&dir, "two.ram", 2 * GIB);
    refused(
        &dir,
        "space",
        &two,
        &page.path("two.ram"),
        &["not enough space"],
    );
    drop(std::fs::remove_file(&two));

    tracing::info!("a running 1 GiB guest migrates into the 1 GiB page");
    let guest = Guest::start(&dir, "guest", &GuestOptions::new("1G", "8M"));
    let dest = page.path("dest.ram");
    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, &dest)
        .arg("--insecure-plaintext")
        .start(&dir, "receiver");
    let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
        .arg("--insecure-plaintext")
        .pause(&guest)
        .spawn(&dir, "migrator");
    let (src, dst) = wait_pair(&mut migrator, &mut receiver, DEADLINE);
    assert_verified_pair(&src, &dst);
    assert_same_bytes(
        &guest.memory,
        &dest,
        "the 1 GiB hugetlbfs image equals the paused source",
    );
}
