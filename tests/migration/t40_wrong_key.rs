//! Mismatched security settings are refused at the handshake, on both
//! sides, with a message that names the cause, and leave nothing behind.

use dwcp_tests::{
    assert_failed_with, free_port, init_logging, wait_pair, Finished, Migrate, Receive, TempDir,
};
use std::path::Path;
use std::time::Duration;

/// Failure cases end at the handshake: far below a migration's deadline.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(30);

/// A 16 MiB source memory file with some non-zero content (nothing writes it).
fn source_memory(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.join("source.ram");
    let mut bytes = vec![0u8; 16 << 20];
    for (i, b) in bytes.iter_mut().enumerate().step_by(4096) {
        *b = u8::try_from(i / 4096 % 251).expect("below 251") + 1;
    }
    std::fs::write(&path, &bytes).expect("write the source memory");
    path
}

/// Runs one migration attempt; returns (source, destination).
fn attempt(
    dir: &TempDir,
    name: &str,
    source: &Path,
    dest_memory: &Path,
    receive: impl FnOnce(Receive) -> Receive,
    migrate: impl FnOnce(Migrate) -> Migrate,
) -> (Finished, Finished) {
    let port = free_port();
    let mut receiver = receive(Receive::new("127.0.0.1", port, dest_memory))
        .start(dir, &format!("{name}-receiver"));
    let mut migrator = migrate(Migrate::new(source, &format!("127.0.0.1:{port}")))
        .arg("--connect-timeout-ms")
        .arg("5000")
        .spawn(dir, &format!("{name}-migrator"));
    wait_pair(&mut migrator, &mut receiver, REFUSAL_DEADLINE)
}

fn assert_destination_refused(destination: &Finished, needles_any: &[&str], dest_memory: &Path) {
    assert_ne!(
        destination.code(),
        Some(0),
        "the destination must not succeed\n{}",
        destination.describe()
    );
    let summary = destination.summary();
    tracing::info!(destination = %summary, "destination summary");
    assert!(!summary.verified(), "{summary}");
    let error = summary.error_lower();
    assert!(
        needles_any.iter().any(|n| error.contains(n)),
        "destination error mentions none of {needles_any:?}: {:?}\n{}",
        summary.error(),
        destination.describe()
    );
    assert!(
        !dest_memory.exists(),
        "the receiver created {} and left it behind after a refused migration",
        dest_memory.display()
    );
}

#[test]
fn t40_wrong_key_is_refused_on_both_sides() {
    init_logging();
    let dir = TempDir::new("t40-key");
    let source = source_memory(&dir);
    let dest_memory = dir.join("dest.ram");
    let (key_a, key_b) = {
        tracing::info!("two different keys from keygen");
        (
            dwcp_tests::keygen(&dir, "a.key"),
            dwcp_tests::keygen(&dir, "b.key"),
        )
    };

    let (src, dst) = {
        tracing::info!("destination holds key a, source key b: the handshake must fail");
        attempt(
            &dir,
            "wrong-key",
            &source,
            &dest_memory,
            |r| r.key(&key_a),
            |m| m.key(&key_b),
        )
    };

    {
        tracing::info!("source: exit 1, not verified, the error names the key");
        let s = assert_failed_with(&src, &["key"]);
        tracing::info!(source = %s, "source summary");
    }

    {
        tracing::info!("destination: non-zero, names the key, and removed the file it created");
        assert_destination_refused(&dst, &["key"], &dest_memory);
    }
}

#[test]
fn t40_wrong_key_plaintext_against_encrypted_is_refused() {
    init_logging();
    let dir = TempDir::new("t40-mode");
    let source = source_memory(&dir);
    let dest_memory = dir.join("dest.ram");
    let key = dwcp_tests::keygen(&dir, "psk");

    {
        tracing::info!("source --insecure-plaintext, destination --key-file: no silent downgrade");
        let (src, dst) = attempt(
            &dir,
            "plain-to-enc",
            &source,
            &dest_memory,
            |r| r.key(&key),
            |m| m.arg("--insecure-plaintext"),
        );
        assert_refused_mode(&src, "source");
        assert_destination_refused(&dst, &["plaintext", "mode", "encrypt"], &dest_memory);
    }

    {
        tracing::info!(
            "and the other way round: source --key-file, destination --insecure-plaintext"
        );
        let (src, dst) = attempt(
            &dir,
            "enc-to-plain",
            &source,
            &dest_memory,
            |r| r.arg("--insecure-plaintext"),
            |m| m.key(&key),
        );
        assert_refused_mode(&src, "source");
        assert_destination_refused(&dst, &["plaintext", "mode", "encrypt"], &dest_memory);
    }
}

fn assert_refused_mode(finished: &Finished, side: &str) {
    assert_eq!(
        finished.code(),
        Some(1),
        "{side}: expected exit 1\n{}",
        finished.describe()
    );
    let summary = finished.summary();
    tracing::info!(%summary, "{side} summary");
    assert!(!summary.verified(), "{summary}");
    let error = summary.error_lower();
    assert!(
        error.contains("plaintext") || error.contains("mode"),
        "{side}'s error mentions neither plaintext nor mode: {:?}\n{}",
        summary.error(),
        finished.describe()
    );
}
