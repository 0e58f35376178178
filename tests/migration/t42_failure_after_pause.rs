//! A failure after the guest was paused must resume it: the source tampers
//! with `Final` (sent while the guest is stopped, before any verdict), the
//! destination rejects it and aborts, and the source reports the failure,
//! with the downtime it caused, and sends SIGCONT so the guest runs on.
//!
//! An unchanging guest makes the frame count the same in every run; a clean
//! run counts the frames (every frame is acknowledged, so `latency_us.frames`
//! is the number sealed, `Goodbye` aside, which is never acknowledged): the
//! last one is `Commit` (sent after the verdict), the one before it `Final`.

use dwcp_tests::{assert_failed_with, init_logging, unchanging_guest, LoopbackMigration, TempDir};

#[test]
fn t42_failure_after_pause_resumes_the_guest() {
    init_logging();
    let dir = TempDir::new("t42-after-pause");
    let key = dwcp_tests::keygen(&dir, "psk");
    let mut guest = unchanging_guest(&dir, "32M");

    let frames = {
        tracing::info!("a clean run counts the frames; its success leaves the guest paused");
        LoopbackMigration::new(&guest, &key)
            .pause()
            .deterministic()
            .run_clean(&dir, &dir.join("clean.ram"))
            .0["latency_us"]["frames"]
            .as_u64()
            .expect("latency_us.frames")
    };

    let (source, destination) = {
        tracing::info!(
            frames,
            "tamper with the last frame before Commit, Final, sent while the guest is paused"
        );
        let last = (frames - 1).to_string();
        LoopbackMigration::new(&guest, &key)
            .pause()
            .deterministic()
            .source_args(&["--fault-tamper-frame", &last])
            .run(&dir, &dir.join("dest.ram"))
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
