//! A frame modified in transit fails authentication: the destination aborts
//! naming the cause, the source reports it, nothing is verified.

use dwcp_tests::{
    assert_failed_with, free_port, init_logging, wait_pair, Guest, GuestOptions, Migrate, Receive,
    TempDir, MIGRATION_DEADLINE,
};

#[test]
fn t41_tamper_fails_authentication() {
    tamper_fails_authentication("t41-tamper", &[], &[]);
}

/// The same with the source's engine and transport on one thread: the
/// destination's abort is read in the engine's waits and ends it.
#[test]
fn t41_tamper_fails_authentication_from_a_one_core_source() {
    let core = dwcp_tests::first_allowed_core().to_string();
    tamper_fails_authentication(
        "t41-tamper-one-core-source",
        &["--engine-core", &core, "--transport-core", &core],
        &[],
    );
}

/// The same with the destination's transport and decoder on one thread:
/// the decoder's abort still reaches the source and ends both loops.
#[test]
fn t41_tamper_fails_authentication_on_a_one_core_destination() {
    let core = dwcp_tests::first_allowed_core().to_string();
    tamper_fails_authentication(
        "t41-tamper-one-core",
        &[],
        &["--decoder-core", &core, "--transport-core", &core],
    );
}

fn tamper_fails_authentication(label: &str, source_args: &[&str], receiver_args: &[&str]) {
    init_logging();
    let dir = TempDir::new(label);
    let key = dwcp_tests::keygen(&dir, "psk");
    let dest_memory = dir.join("dest.ram");
    let mut guest = {
        tracing::info!("a 64 MiB guest dirtying 16 MiB/s");
        Guest::start(&dir, "guest", &GuestOptions::new("64M", "16M"))
    };

    let (source, destination) = {
        tracing::info!("the source flips a bit in its 5th sealed frame");
        let port = free_port();
        let mut receiver = Receive::new("127.0.0.1", port, &dest_memory)
            .key(&key)
            .args(receiver_args)
            .start(&dir, "receiver");
        let mut migrator = Migrate::new(&guest.memory, &format!("127.0.0.1:{port}"))
            .key(&key)
            .pause(&guest)
            .args(&["--fault-tamper-frame", "5"])
            .args(source_args)
            .spawn(&dir, "migrator");
        wait_pair(&mut migrator, &mut receiver, MIGRATION_DEADLINE)
    };

    {
        tracing::info!("source: exit 1, not verified, the error says authentication");
        let s = assert_failed_with(&source, &["authentication"]);
        assert_eq!(s.digest(), None, "no digest for a failed migration: {s}");
        let shared = if source_args.is_empty() {
            "own"
        } else {
            "shared"
        };
        assert_eq!(s.str("transport_thread"), Some(shared), "{s}");
    }

    {
        tracing::info!("destination: exit 1, not verified, names the cause, removed its file");
        let d = assert_failed_with(&destination, &["authentication"]);
        assert_eq!(
            destination.stderr.contains("one thread runs both"),
            !receiver_args.is_empty(),
            "one worker thread exactly when both are pinned to one core: {}",
            destination.stderr
        );
        tracing::info!(destination = %d, "destination summary");
        assert!(
            !dest_memory.exists(),
            "the destination left its incomplete memory file behind"
        );
    }

    {
        tracing::info!(
            "the guest is not left stopped: the failure came before or was undone after the pause"
        );
        guest.assert_running("after a failed migration");
        guest.finish();
    }
}
