//! Real guest memory: the guest stand-in replays the change between two
//! snapshots of a real 1 GiB Linux guest (t05s -> t30s) while it is
//! migrated; the destination must equal the paused source and the t30s image.
//!
//! Skips with a message when the snapshots, zstd or the disk space are missing.

use dwcp_tests::bins::workspace_root;
use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, skip, wait_pair, Guest,
    GuestOptions, Migrate, Proc, Receive, TempDir, MIGRATION_DEADLINE,
};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const GIB: u64 = 1 << 30;

fn snapshot_dir() -> PathBuf {
    match std::env::var_os("DWCP_VM_MEMORY_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared/data/vm-memory"),
    }
}

/// Bytes free to an unprivileged writer on the filesystem holding `path`.
fn free_bytes(path: &Path) -> Result<u64, String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is writable; both outlive the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    #[allow(clippy::useless_conversion)] // the field widths differ by target
    Ok(u64::from(st.f_bavail) * u64::from(st.f_frsize))
}

fn has_zstd() -> bool {
    Command::new("zstd")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn t70_real_snapshots_replayed_guest_migrates_to_t30s() {
    init_logging();
    let data = snapshot_dir();
    let images_base = std::env::temp_dir();
    {
        tracing::info!(data = %data.display(), "check for the snapshots, zstd and disk space");
        if !data.join("unpack.sh").is_file() {
            skip(
                "t70_real_snapshots",
                &format!("real guest snapshots not present at {}", data.display()),
            );
            return;
        }
        if !has_zstd() {
            skip(
                "t70_real_snapshots",
                "needs zstd to unpack the snapshots: zstd not installed",
            );
            return;
        }
        for (dir, need) in [
            (images_base.as_path(), 4 * GIB),
            (Path::new("/dev/shm"), 3 * GIB),
        ] {
            match free_bytes(dir) {
                Ok(free) if free >= need => {}
                Ok(free) => {
                    skip(
                        "t70_real_snapshots",
                        &format!(
                            "needs {} GiB free in {}, has {:.1} GiB",
                            need / GIB,
                            dir.display(),
                            free as f64 / GIB as f64
                        ),
                    );
                    return;
                }
                Err(e) => {
                    skip(
                        "t70_real_snapshots",
                        &format!("cannot check free space: {e}"),
                    );
                    return;
                }
            }
        }
    }

    let images = TempDir::new_in(&images_base, "t70-images");
    let dir = TempDir::new("t70-real");
    let (t05s, t30s) = {
        tracing::info!(into = %images.path().display(), "unpack the snapshots with their unpack.sh (~3 GiB)");
        let mut cmd = Command::new("bash");
        cmd.arg(data.join("unpack.sh")).arg(images.path());
        Proc::spawn("unpack", cmd, dir.path())
            .wait(Duration::from_secs(180))
            .assert_code(0);
        let (t05s, t30s) = (images.join("g1p_t05s.ram"), images.join("g1p_t30s.ram"));
        for image in [&t05s, &t30s] {
            let len = std::fs::metadata(image).map(|m| m.len()).unwrap_or(0);
            assert_eq!(len, GIB, "{} after unpack", image.display());
        }
        (t05s, t30s)
    };

    let guest = {
        tracing::info!("a 1 GiB guest starting at t05s and replaying the change to t30s over 3 s");
        Guest::start(
            &dir,
            "guest",
            &GuestOptions::replay("1G", &t05s, &t30s, "3"),
        )
    };

    let (source, destination) = {
        // The pause hook waits until the replay has reached t30s before it
        // stops the guest, so the switch-over point (and so the expected
        // image) does not depend on how fast this machine migrates; the
        // pre-copy rounds before it run against the live replay.
        tracing::info!("migrate it; the pause hook stops the guest once the replay has finished");
        let pid = guest.pid();
        let pause = format!(
            "i=0; until cmp -s '{mem}' '{t30}'; do i=$((i+1)); \
             [ $i -lt 600 ] || {{ echo 'replay did not reach t30s in 60 s' >&2; exit 1; }}; sleep 0.1; done; \
             kill -STOP {pid}; \
             until [ \"$(cut -d' ' -f3 /proc/{pid}/stat)\" = T ]; do sleep 0.005; done",
            mem = guest.memory.display(),
            t30 = t30s.display(),
        );
        let resume = format!("kill -CONT {pid}");
        let dest_memory = dir.join("dest.ram");
        let key = dwcp_tests::keygen(&dir, "psk");
        let port = free_port();
        let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
            .key(&key)
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .arg("--pause-cmd")
            .arg(pause)
            .arg("--resume-cmd")
            .arg(resume)
            .spawn(&dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
    };

    {
        tracing::info!("verified on both sides");
        let (s, d) = assert_verified_pair(&source, &destination);
        tracing::info!(source = %s, destination = %d, "summaries");
        assert_eq!(s.u64("memory_bytes"), GIB, "{s}");
        assert!(s.u64("rounds") >= 2, "{s}");
    }

    {
        tracing::info!("byte for byte: destination = paused source = t30s");
        guest.assert_stopped("after a verified migration");
        let dest_memory = dir.join("dest.ram");
        assert_same_bytes(&guest.memory, &dest_memory, "destination vs paused source");
        assert_same_bytes(&t30s, &dest_memory, "destination vs the t30s image");
        guest.finish();
    }
}
