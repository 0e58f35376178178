//! A failure after the guest was paused must resume it: the source tampers
//! with its very last frame (`Final`, sent while the guest is stopped), the
//! destination rejects it and aborts, and the source reports the failure,
//! with the downtime it caused, and sends SIGCONT so the guest runs on.
//!
//! An unchanging guest makes the frame count the same in every run; a clean
//! run counts the frames (every frame is acknowledged, so `latency_us.frames`
//! is the number sealed), so the last one is `Final`.

use dwcp_tests::{
    assert_failed_with, assert_verified_pair, free_port, init_logging, wait_pair, Finished, Guest,
    GuestOptions, Migrate, Receive, TempDir, MIGRATION_DEADLINE,
};
use std::path::Path;

fn migrate(
    dir: &TempDir,
    guest: &Guest,
    key: &Path,
    dest: &Path,
    extra: &[&str],
) -> (Finished, Finished) {
    let port = free_port();
    let mut receiver = Receive::new("127.0.0.1", port, dest)
        .key(key)
        .start(dir, "receiver");
    let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
        .key(key)
        .pause(guest)
        .args(&["--streams", "1", "--frame-pages-min", "64"])
        .args(extra)
        .spawn(dir, "migrator");
    wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
}

#[test]
fn t42_failure_after_pause_resumes_the_guest() {
    init_logging();
    let dir = TempDir::new("t42-after-pause");
    let key = dwcp_tests::keygen(&dir, "psk");
    let mut guest = {
        tracing::info!("an unchanging 32 MiB guest: the same frames in every run");
        Guest::start(
            &dir,
            "guest",
            &GuestOptions::new("32M", "0").args(&["--fill", "random"]),
        )
    };

    let frames = {
        tracing::info!("a clean run counts the frames; its success leaves the guest paused");
        let (source, destination) = migrate(&dir, &guest, &key, &dir.join("clean.ram"), &[]);
        let (s, _) = assert_verified_pair(&source, &destination);
        guest.assert_stopped("after a verified migration");
        guest.proc.signal(libc::SIGCONT);
        s.0["latency_us"]["frames"]
            .as_u64()
            .expect("latency_us.frames")
    };

    let (source, destination) = {
        tracing::info!(
            frames,
            "tamper with the last frame, Final, sent while the guest is paused"
        );
        let last = frames.to_string();
        migrate(
            &dir,
            &guest,
            &key,
            &dir.join("dest.ram"),
            &["--fault-tamper-frame", &last],
        )
    };

    {
        tracing::info!("both sides fail naming the cause; the guest was paused, then resumed");
        let s = assert_failed_with(&source, &["authentication"]);
        assert_failed_with(&destination, &["authentication"]);
        assert!(
            !s.0["downtime_ms"].is_null(),
            "the guest was paused, so there was downtime: {s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        guest.assert_running("after a migration that failed after the pause");
        guest.finish();
    }
}
