//! The two-namespace topology: one TUN device per namespace, addressed and
//! up, torn down on drop.
//!
//! # Design
//! The TUN devices are created in the caller's namespace (names `lkm<pid>a`
//! and `lkm<pid>b`, unique per process), moved with `ip link set .. netns`
//! (the descriptors stay valid) and renamed to `dev` inside. Namespace work
//! goes through `ip` (iproute2). Teardown, on drop and so on every error
//! path after the first step: close both descriptors (a non-persistent TUN
//! device disappears with its last descriptor, wherever it lives), then
//! `ip netns del` the namespaces this process created; namespaces that
//! existed before are left.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::tun::TunDevice;

/// Where `ip netns` keeps its namespace handles.
const NETNS_RUN_DIR: &str = "/run/netns";
/// Longest namespace name accepted (a file name under `/run/netns`).
pub const NETNS_NAME_LEN_MAX: usize = 64;

/// Where one end of the link lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Network namespace name.
    pub ns: String,
    /// Address on the TUN device.
    pub addr: Ipv4Addr,
    /// Prefix length of the address.
    pub prefix_len: u8,
}

/// Both ends plus the device settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Namespace A (the side that sends A to B).
    pub a: EndpointConfig,
    /// Namespace B.
    pub b: EndpointConfig,
    /// Name of the TUN device inside each namespace.
    pub dev: String,
    /// MTU of both TUN devices.
    pub mtu: u32,
}

/// The live topology.
#[derive(Debug)]
pub struct Topology {
    // Drop order matters: the TUN descriptors are closed (deleting the
    // devices) before the namespaces are deleted; `teardown` does it
    // explicitly.
    tun_a: Option<TunDevice>,
    tun_b: Option<TunDevice>,
    created_namespaces: Vec<String>,
    config: TopologyConfig,
}

/// Runs `ip` with `args`; the error names the command and quotes stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2): is it installed and on PATH?")?;
    if !output.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// True when `ip netns` knows a namespace called `name`.
pub fn namespace_exists(name: &str) -> bool {
    Path::new(NETNS_RUN_DIR).join(name).exists()
}

impl Topology {
    /// Builds the topology; on error everything done so far is undone.
    pub fn build(config: TopologyConfig) -> Result<Self> {
        for endpoint in [&config.a, &config.b] {
            check_name("namespace", &endpoint.ns, NETNS_NAME_LEN_MAX)?;
        }
        check_name("device", &config.dev, super::tun::IFNAME_LEN_MAX)?;
        if config.a.ns == config.b.ns {
            bail!("--ns-a and --ns-b must differ (both are {:?})", config.a.ns);
        }
        let mut topology = Topology {
            tun_a: None,
            tun_b: None,
            created_namespaces: Vec::new(),
            config,
        };
        topology
            .set_up()
            .context("setting up the namespaces and TUN devices")?;
        Ok(topology)
    }

    fn set_up(&mut self) -> Result<()> {
        let pid = std::process::id();
        for (endpoint, side) in [(self.config.a.clone(), 'a'), (self.config.b.clone(), 'b')] {
            if !namespace_exists(&endpoint.ns) {
                ip(&["netns", "add", &endpoint.ns])?;
                self.created_namespaces.push(endpoint.ns.clone());
            }
            let tun_name = format!("lkm{pid}{side}");
            let tun = TunDevice::create(&tun_name).with_context(|| {
                format!("cannot create TUN device {tun_name} (needs root and /dev/net/tun)")
            })?;
            match side {
                'a' => self.tun_a = Some(tun),
                _ => self.tun_b = Some(tun),
            }
            self.configure(&tun_name, &endpoint)?;
        }
        Ok(())
    }

    fn configure(&self, tun_name: &str, endpoint: &EndpointConfig) -> Result<()> {
        let ns = endpoint.ns.as_str();
        let dev = self.config.dev.as_str();
        ip(&["link", "set", tun_name, "netns", ns])?;
        ip(&["-n", ns, "link", "set", tun_name, "name", dev])?;
        disable_ipv6(ns, dev);
        let address = format!("{}/{}", endpoint.addr, endpoint.prefix_len);
        ip(&["-n", ns, "addr", "add", &address, "dev", dev])?;
        let mtu = self.config.mtu.to_string();
        ip(&["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// The TUN device in namespace A.
    pub fn tun_a(&self) -> &TunDevice {
        self.tun_a
            .as_ref()
            .expect("built topologies hold both devices")
    }

    /// The TUN device in namespace B.
    pub fn tun_b(&self) -> &TunDevice {
        self.tun_b
            .as_ref()
            .expect("built topologies hold both devices")
    }

    /// Its settings.
    pub fn config(&self) -> &TopologyConfig {
        &self.config
    }

    /// Deletes the devices and the namespaces this process created. Safe to
    /// call twice; returns the first failure after trying every step.
    pub fn teardown(&mut self) -> Result<()> {
        self.tun_a = None;
        self.tun_b = None;
        let mut first_error = None;
        for ns in std::mem::take(&mut self.created_namespaces) {
            if let Err(error) = ip(&["netns", "del", &ns]) {
                tracing::warn!(%ns, "cannot delete namespace: {error:#}");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Errors were logged by teardown; drop cannot report them further.
        let _ = self.teardown();
    }
}

fn check_name(what: &str, name: &str, len_max: usize) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= len_max
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
    if !valid {
        bail!("{what} name {name:?} must be 1..={len_max} characters of [A-Za-z0-9._-]");
    }
    Ok(())
}

/// Stops the kernel from sending IPv6 router solicitations and MLD reports
/// over the link, so that only the test's own traffic crosses it. Best
/// effort: a failure only costs a few stray packets.
fn disable_ipv6(ns: &str, dev: &str) {
    let setting = format!("net.ipv6.conf.{dev}.disable_ipv6=1");
    let result = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw", &setting])
        .output();
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => tracing::debug!(
            %ns,
            "cannot disable IPv6 on {dev}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => tracing::debug!(%ns, "cannot run sysctl: {error}"),
    }
}
