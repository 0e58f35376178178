//! After SIGTERM no namespace it created and no TUN device is left; a
//! namespace that existed before is kept.

use std::process::Command;

use crate::support::{exclusive, namespace_listed, namespaces, Emulator};

fn device_in(ns: &str, dev: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", dev])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn tun_devices_of(pid: u32) -> Vec<String> {
    let output = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip -o link");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(&format!("lkm{pid}")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn t40_sigterm_removes_namespaces_and_devices() {
    let Some(_machine) = exclusive("t40_cleanup") else {
        return;
    };
    let emulator = Emulator::start("clean", &["--profile", "datacenter"]);
    let (ns_a, ns_b, pid) = (
        emulator.ns_a.clone(),
        emulator.ns_b.clone(),
        emulator.process.pid(),
    );
    assert!(namespace_listed(&ns_a) && namespace_listed(&ns_b));
    assert!(device_in(&ns_a, "linkem0") && device_in(&ns_b, "linkem0"));

    emulator.stop();
    assert!(!namespace_listed(&ns_a), "{ns_a} left behind");
    assert!(!namespace_listed(&ns_b), "{ns_b} left behind");
    assert_eq!(
        tun_devices_of(pid),
        Vec::<String>::new(),
        "TUN devices left behind"
    );
}

#[test]
fn t41_a_namespace_that_existed_before_is_kept_without_the_device() {
    let Some(_machine) = exclusive("t41_cleanup") else {
        return;
    };
    let (ns_a, _) = namespaces("keep");
    let added = Command::new("ip")
        .args(["netns", "add", &ns_a])
        .status()
        .expect("ip netns add");
    assert!(added.success());

    let emulator = Emulator::start("keep", &["--profile", "datacenter"]);
    let ns_b = emulator.ns_b.clone();
    emulator.stop();
    let kept = namespace_listed(&ns_a);
    let device_left = device_in(&ns_a, "linkem0");
    let _ = Command::new("ip").args(["netns", "del", &ns_a]).status();
    assert!(kept, "the pre-existing {ns_a} was deleted");
    assert!(!device_left, "the TUN device stayed in {ns_a}");
    assert!(!namespace_listed(&ns_b), "{ns_b} left behind");
}
