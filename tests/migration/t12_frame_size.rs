//! Frames follow the queue: a migration the link can easily carry (paced
//! far below what loopback moves) has little in flight, so the engine cuts
//! its raw frames small (`dwcp_dataplane_core::frame_size`) and each page
//! waits for fewer others at every stage. Checked without the codec (one
//! lane, frames to any stream) and with it on its raw rung (a lane per
//! stream).

use dwcp_tests::{
    assert_same_bytes, assert_verified_pair, free_port, init_logging, wait_pair, Guest,
    GuestOptions, Migrate, Receive, TempDir, MIGRATION_DEADLINE,
};

const PAGES: u64 = 8 * 1024 * 1024 / 4096;
/// Pages in a full frame (`PAGES_PER_BATCH_MAX`).
const FULL_FRAME_PAGES: u64 = 64;

fn paced_migration_frames(label: &str, codec_args: &[&str]) -> u64 {
    let dir = TempDir::new(label);
    let key = dwcp_tests::keygen(&dir, "psk");
    let guest = Guest::start(
        &dir,
        "guest",
        &GuestOptions::new("8M", "0").args(&["--fill", "random"]),
    );
    let port = free_port();
    let dest_memory = dir.join("dest.ram");
    let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
        .key(&key)
        .start(&dir, "receiver");
    let mut args = vec!["--rate-limit-mbps", "64", "--streams", "2"];
    args.extend_from_slice(codec_args);
    let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
        .key(&key)
        .pause(&guest)
        .args(&args)
        .spawn(&dir, "migrator");
    let (source, destination) = wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE);
    let (s, _) = assert_verified_pair(&source, &destination);
    assert_same_bytes(&guest.memory, &dest_memory, "destination image");
    s.0["latency_us"]["frames"]
        .as_u64()
        .unwrap_or_else(|| panic!("latency_us.frames in {s}"))
}

#[test]
fn t12_an_idle_link_gets_small_frames() {
    init_logging();
    for (label, codec_args) in [
        ("t12-frames-no-codec", &["--codec", "off"][..]),
        ("t12-frames-raw-rung", &["--compression-level", "0"][..]),
    ] {
        let frames = paced_migration_frames(label, codec_args);
        let full_frames = PAGES / FULL_FRAME_PAGES;
        tracing::info!(
            label,
            frames,
            full_frames,
            "frames of a paced 8 MiB migration"
        );
        // Full frames would be 32 (plus a few control frames); frames of 8
        // pages 256. At least 128 frames means at most 4/7 of the pages went
        // in full frames (the old fixed size sent 36 frames here).
        assert!(
            frames >= 4 * full_frames,
            "{label}: {frames} frames for {PAGES} pages: the frames were not cut small \
             on a link paced far below its capacity"
        );
    }
}
