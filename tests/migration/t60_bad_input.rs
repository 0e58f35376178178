//! Bad input fails fast with a message that names the problem: a missing
//! memory file, mismatched sizes, nobody listening, out-of-range flags and
//! an unusable key file.

use dwcp_tests::{
    assert_failed_with, free_port, init_logging, wait_pair, Finished, Migrate, Receive, TempDir,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn memory_file(dir: &TempDir, name: &str, bytes: u64) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create memory file");
    file.set_len(bytes).expect("size memory file");
    path
}

/// A port nothing listens on (it was free a moment ago).
fn dead_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn assert_output_mentions(finished: &Finished, needles_any: &[&str]) {
    let output = finished.output().to_lowercase();
    assert!(
        needles_any
            .iter()
            .any(|n| output.contains(&n.to_lowercase())),
        "{}'s output mentions none of {needles_any:?}\n{}",
        finished.name,
        finished.describe()
    );
}

#[test]
fn t60_bad_input_missing_memory_file() {
    init_logging();
    let dir = TempDir::new("t60-missing");
    let key = dwcp_tests::keygen(&dir, "psk");
    let missing = dir.join("no-such-guest.ram");
    tracing::info!("migrate a memory file that does not exist");
    let out = Migrate::new(&missing, &dead_address())
        .key(&key)
        .run(&dir, "migrator", DEADLINE);
    assert!(
        matches!(out.code(), Some(1 | 2)),
        "expected exit 1 or 2\n{}",
        out.describe()
    );
    assert_output_mentions(&out, &[&missing.display().to_string()]);
}

#[test]
fn t60_bad_input_size_mismatch() {
    init_logging();
    let dir = TempDir::new("t60-size");
    let key = dwcp_tests::keygen(&dir, "psk");
    let source = memory_file(&dir, "source.ram", 16 << 20);
    let dest_memory = dir.join("dest.ram");
    let (src, dst) = {
        tracing::info!("a 16 MiB source against a receiver that expects 32 MiB");
        let port = free_port();
        let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
            .key(&key)
            .args(&["--memory-size", &(32u64 << 20).to_string()])
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&source, &format!("127.0.0.1:{port}"))
            .key(&key)
            .spawn(&dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, DEADLINE)
    };
    {
        tracing::info!("both fail and say it is the size");
        assert_failed_with(&src, &["size"]);
        assert_ne!(dst.code(), Some(0), "{}", dst.describe());
        let d = dst.summary();
        assert!(!d.verified(), "{d}");
        assert!(d.error_lower().contains("size"), "{d}\n{}", dst.describe());
        assert!(
            !dest_memory.exists(),
            "the receiver left {} behind",
            dest_memory.display()
        );
    }
}

#[test]
fn t60_bad_input_nothing_listening() {
    init_logging();
    let dir = TempDir::new("t60-unreachable");
    let key = dwcp_tests::keygen(&dir, "psk");
    let source = memory_file(&dir, "source.ram", 4 << 20);
    let to = dead_address();
    tracing::info!(%to, "migrate to a port nothing listens on");
    let out = Migrate::new(&source, &to)
        .key(&key)
        .args(&["--connect-timeout-ms", "2000"])
        .run(&dir, "migrator", DEADLINE);
    assert_failed_with(&out, &["cannot connect"]);
}

#[test]
fn t60_bad_input_invalid_flag_values() {
    init_logging();
    let dir = TempDir::new("t60-flags");
    let key = dwcp_tests::keygen(&dir, "psk");
    let source = memory_file(&dir, "source.ram", 4 << 20);
    let to = dead_address();
    let cases: [(&str, &[&str], &str); 7] = [
        ("streams", &["--streams", "0"], "--streams"),
        ("downtime", &["--downtime-ms", "0"], "--downtime-ms"),
        ("to", &[], "--to"),
        ("inflight", &["--inflight-frames", "0"], "--inflight-frames"),
        (
            "level",
            &["--compression-level", "99"],
            "--compression-level",
        ),
        (
            "cache",
            &["--delta-cache-mib", "99999999"],
            "--delta-cache-mib",
        ),
        ("tier", &["--link-tier", "moon"], "--link-tier"),
    ];
    for (name, args, flag) in cases {
        tracing::info!(
            flag,
            ?args,
            "an out-of-range value is a usage error (exit 2) naming the flag"
        );
        let target = if name == "to" {
            "nohostport"
        } else {
            to.as_str()
        };
        let out = Migrate::new(&source, target).key(&key).args(args).run(
            &dir,
            &format!("migrator-{name}"),
            DEADLINE,
        );
        out.assert_code(2);
        assert!(
            out.stderr.contains(flag),
            "the message does not name {flag}\n{}",
            out.describe()
        );
    }
}

#[test]
fn t60_bad_input_short_key_file() {
    init_logging();
    let dir = TempDir::new("t60-key");
    let source = memory_file(&dir, "source.ram", 4 << 20);
    let short_key = dir.join("short.key");
    std::fs::write(&short_key, "00112233\n").expect("write key");
    let says_too_short = |out: &Finished| {
        let output = out.output().to_lowercase();
        assert!(
            output.contains("key")
                && (output.contains("too short") || output.contains("fewer than")),
            "the message does not say the key is too short\n{}",
            out.describe()
        );
    };

    {
        tracing::info!("a 4-byte key on the source is refused before connecting");
        let out = Migrate::new(&source, &dead_address())
            .key(&short_key)
            .run(&dir, "migrator", DEADLINE);
        assert!(matches!(out.code(), Some(1 | 2)), "{}", out.describe());
        assert!(!out.summary().verified());
        says_too_short(&out);
    }

    {
        tracing::info!("and on the receiver, before it listens");
        let dest_memory: &Path = &dir.join("dest.ram");
        let out = Receive::new("127.0.0.1", free_port(), dest_memory)
            .key(&short_key)
            .spawn(&dir, "receiver")
            .wait(DEADLINE);
        assert!(matches!(out.code(), Some(1 | 2)), "{}", out.describe());
        says_too_short(&out);
        assert!(!dest_memory.exists());
    }
}
