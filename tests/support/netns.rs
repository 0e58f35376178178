//! Two network namespaces joined by a veth pair: 192.0.2.1/24 in `a`,
//! 192.0.2.2/24 in `b` (TEST-NET-1). Deleted on drop.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// Address of the `a` end.
pub const ADDR_A: &str = "192.0.2.1";
/// Address of the `b` end.
pub const ADDR_B: &str = "192.0.2.2";

/// Two namespaces and the veth between them.
#[derive(Debug)]
pub struct NetnsPair {
    /// Namespace holding 192.0.2.1.
    pub a: String,
    /// Namespace holding 192.0.2.2.
    pub b: String,
    created: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsPair {
    /// Creates the pair; Err says why it cannot (not root, no `ip`, ...).
    pub fn create() -> Result<NetnsPair, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut pair = NetnsPair {
            a: format!("dwcpt-a-{tag}"),
            b: format!("dwcpt-b-{tag}"),
            created: Vec::new(),
        };
        for ns in [pair.a.clone(), pair.b.clone()] {
            ip(&["netns", "add", &ns])?;
            pair.created.push(ns);
        }
        // Created straight inside the namespaces, so the short names cannot
        // collide with anything in the root namespace or another test's pair.
        ip(&[
            "link", "add", "v0", "netns", &pair.a, "type", "veth", "peer", "name", "v1", "netns",
            &pair.b,
        ])?;
        for (ns, dev, addr) in [(&pair.a, "v0", ADDR_A), (&pair.b, "v1", ADDR_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and with it the pair.
        for ns in self.created.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("warning: {e}");
            }
        }
    }
}
