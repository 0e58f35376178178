//! A peer whose certificate comes from another CA is refused: the migration
//! is not started, the API names the peer, and the refusing control plane
//! logs the refusal.

use dwcp_tests::hosts::gen_certs;
use dwcp_tests::{init_logging, HostOptions, HostPair, TempDir};
use std::time::{Duration, Instant};

#[test]
fn c40_peer_with_a_certificate_from_another_ca_is_refused() {
    init_logging();
    let dir = TempDir::new("c40");
    let mut hosts = HostPair::start(&dir, &HostOptions::default());
    tracing::info!(
        "re-issue host-a's certificate from a different CA and restart its control plane"
    );
    let rogue = dir.join("rogue-certs");
    gen_certs(&rogue, &["host-a"]);
    for file in ["ca.pem", "host-a.pem", "host-a.key"] {
        std::fs::copy(rogue.join(file), hosts.certs.join(format!("rogue-{file}"))).expect("copy");
    }
    let config = std::fs::read_to_string(&hosts.a.config).expect("config");
    let config = config
        .replace("/ca.pem", "/rogue-ca.pem")
        .replace("/host-a.pem", "/rogue-host-a.pem")
        .replace("/host-a.key", "/rogue-host-a.key");
    std::fs::write(&hosts.a.config, config).expect("config");
    if let Some(mut cp) = hosts.a.controlplane.take() {
        cp.kill();
    }
    hosts.a.start_controlplane();

    let memory = dir.join("small.ram");
    std::fs::write(&memory, vec![1u8; 4096 * 4]).expect("memory");
    let body = format!(
        r#"{{"vm_id":"v","memory_file":"{}","destination":"host-b"}}"#,
        memory.display()
    );
    let (code, text) = hosts.a.http("POST", "/v1/migrations", Some(&body));
    assert_eq!(code, 502, "{text}");
    assert!(text.contains("host-b"), "names the peer: {text}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = hosts.b.controlplane.as_ref().expect("b").stderr();
        if log.contains("refused control-plane peer") {
            break;
        }
        assert!(Instant::now() < deadline, "host-b logs the refusal:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, listed) = hosts.b.http("GET", "/v1/migrations", None);
    assert!(
        listed.contains("\"migrations\":[]"),
        "nothing prepared on host-b: {listed}"
    );
}
