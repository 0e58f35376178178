//! Two DWCP hosts, each a real data plane (`dwcp-dataplane serve`) and a
//! real control plane (`dwcp-controlplane run`) with its own tables,
//! configuration and mTLS certificate, in two network namespaces when the
//! test runs as root and on loopback otherwise.

use crate::bins;
use crate::net::free_port;
use crate::netns::{NetnsPair, ADDR_A, ADDR_B};
use crate::proc::{Finished, Proc};
use crate::tempdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a control plane may take to answer `/health` after start.
pub const HEALTHY_DEADLINE: Duration = Duration::from_secs(30);

/// A command run inside `netns` (if any).
pub fn command_in(binary: &Path, netns: Option<&str>) -> Command {
    crate::scenario::command(binary, netns)
}

/// Runs `scripts/gen-certs.sh --out DIR ids...`.
pub fn gen_certs(dir: &Path, ids: &[&str]) {
    let script = bins::workspace_root().join("scripts/gen-certs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--out")
        .arg(dir)
        .args(ids)
        .output()
        .expect("run gen-certs.sh");
    assert!(
        out.status.success(),
        "gen-certs.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One host's addresses and files.
#[derive(Debug)]
pub struct Host {
    /// Its id (`host-a`, `host-b`).
    pub id: String,
    /// Its namespace, if any.
    pub netns: Option<String>,
    /// Its address as the other host sees it.
    pub address: String,
    /// The tables file.
    pub tables: PathBuf,
    /// The control plane's configuration.
    pub config: PathBuf,
    /// `http://127.0.0.1:PORT` (inside its namespace).
    pub api: String,
    /// Where its logs go.
    pub log_dir: PathBuf,
    /// The data plane process.
    pub dataplane: Option<Proc>,
    /// The control plane process.
    pub controlplane: Option<Proc>,
    restarts: u32,
}

/// Settings shared by both hosts' configurations.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Extra TOML appended to each configuration's `[migration]` section.
    pub migration_toml: String,
    /// `node.dataplane_heartbeat_timeout_ms`.
    pub heartbeat_timeout_ms: u64,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            migration_toml: String::new(),
            heartbeat_timeout_ms: 1000,
        }
    }
}

/// Two hosts that know each other.
#[derive(Debug)]
pub struct HostPair {
    /// The source host.
    pub a: Host,
    /// The destination host.
    pub b: Host,
    /// The namespaces, when used (dropped last).
    pub netns: Option<NetnsPair>,
    /// The certificates folder.
    pub certs: PathBuf,
}

fn write_config(
    dir: &TempDir,
    me: &Host,
    other: &Host,
    ports: (u16, u16, u16, u16),
    certs: &Path,
    options: &HostOptions,
) {
    let (api_port, peer_port, other_peer_port, data_port) = ports;
    let host = me.address.as_str();
    let text = format!(
        r#"[node]
id = "{id}"
tables = "{tables}"
dataplane_heartbeat_timeout_ms = {hb}

[api]
listen = "127.0.0.1:{api_port}"

[peer]
listen = "{host}:{peer_port}"
ca = "{certs}/ca.pem"
cert = "{certs}/{id}.pem"
key = "{certs}/{id}.key"

[[peers]]
id = "{other_id}"
control = "{other_host}:{other_peer_port}"

[receive]
data_host = "{host}"
port_min = {data_port}
port_max = {data_port}
memory_dir = "{memory_dir}"

[migration]
{extra}
"#,
        id = me.id,
        tables = me.tables.display(),
        hb = options.heartbeat_timeout_ms,
        certs = certs.display(),
        other_id = other.id,
        other_host = other.address,
        memory_dir = dir.path().display(),
        extra = options.migration_toml,
    );
    std::fs::write(&me.config, text).expect("write the configuration");
}

impl Host {
    fn new(dir: &TempDir, id: &str, address: &str, netns: Option<String>) -> Host {
        Host {
            id: id.to_owned(),
            netns,
            address: address.to_owned(),
            tables: PathBuf::from(format!(
                "/dev/shm/dwcpt-{}-{}-{id}.tables",
                std::process::id(),
                dir.path()
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            )),
            config: dir.join(&format!("{id}.toml")),
            api: String::new(),
            log_dir: dir.path().to_path_buf(),
            dataplane: None,
            controlplane: None,
            restarts: 0,
        }
    }

    /// Starts `dwcp-dataplane serve`.
    pub fn start_dataplane(&mut self) {
        let mut cmd = command_in(&bins::dataplane(), self.netns.as_deref());
        cmd.arg("serve").arg("--tables").arg(&self.tables);
        let name = format!("{}-dataplane{}", self.id, self.restarts);
        self.restarts += 1;
        self.dataplane = Some(Proc::spawn(&name, cmd, &self.log_dir));
        let deadline = Instant::now() + HEALTHY_DEADLINE;
        while !self.tables.exists() {
            assert!(
                Instant::now() < deadline,
                "the data plane did not create {}: {}",
                self.tables.display(),
                self.dataplane
                    .as_ref()
                    .map(Proc::describe)
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `dwcp-controlplane run` and waits until `/health` answers 200.
    pub fn start_controlplane(&mut self) {
        let mut cmd = command_in(&bins::controlplane(), self.netns.as_deref());
        cmd.arg("run").arg("--config").arg(&self.config);
        let name = format!("{}-controlplane{}", self.id, self.restarts);
        self.restarts += 1;
        self.controlplane = Some(Proc::spawn(&name, cmd, &self.log_dir));
        let deadline = Instant::now() + HEALTHY_DEADLINE;
        loop {
            if self.ctl(&["status", "--json"]).code() == Some(0) {
                return;
            }
            let cp = self.controlplane.as_mut().expect("just started");
            assert!(
                cp.is_running() && Instant::now() < deadline,
                "the control plane of {} did not become healthy: {}",
                self.id,
                cp.describe()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `dwcpctl --api API args...` to completion (30 s deadline).
    pub fn ctl(&self, args: &[&str]) -> Finished {
        let mut cmd = command_in(&bins::dwcpctl(), self.netns.as_deref());
        cmd.arg("--api").arg(&self.api).args(args);
        Proc::spawn(&format!("{}-dwcpctl", self.id), cmd, &self.log_dir)
            .wait(Duration::from_secs(30))
    }

    /// Starts `dwcpctl --api API args...` without waiting.
    pub fn ctl_spawn(&self, name: &str, args: &[&str]) -> Proc {
        let mut cmd = command_in(&bins::dwcpctl(), self.netns.as_deref());
        cmd.arg("--api").arg(&self.api).args(args);
        Proc::spawn(name, cmd, &self.log_dir)
    }

    /// `GET path` on the API with curl: (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut cmd = command_in(Path::new("curl"), self.netns.as_deref());
        cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
        if let Some(body) = body {
            cmd.args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                body,
            ]);
        }
        cmd.arg(format!("{}{path}", self.api));
        let out = cmd.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }
}

impl HostPair {
    /// Two hosts with both processes running and healthy.
    pub fn start(dir: &TempDir, options: &HostOptions) -> HostPair {
        let netns = NetnsPair::create().ok();
        let (addr_a, addr_b) = if netns.is_some() {
            (ADDR_A, ADDR_B)
        } else {
            ("127.0.0.1", "127.0.0.1")
        };
        let mut a = Host::new(dir, "host-a", addr_a, netns.as_ref().map(|n| n.a.clone()));
        let mut b = Host::new(dir, "host-b", addr_b, netns.as_ref().map(|n| n.b.clone()));
        let certs = dir.join("certs");
        gen_certs(&certs, &["host-a", "host-b"]);
        let (api_a, peer_a, data_a) = (free_port(), free_port(), free_port());
        let (api_b, peer_b, data_b) = (free_port(), free_port(), free_port());
        a.api = format!("http://127.0.0.1:{api_a}");
        b.api = format!("http://127.0.0.1:{api_b}");
        write_config(
            dir,
            &a,
            &b,
            (api_a, peer_a, peer_b, data_a),
            &certs,
            options,
        );
        write_config(
            dir,
            &b,
            &a,
            (api_b, peer_b, peer_a, data_b),
            &certs,
            options,
        );
        for host in [&mut a, &mut b] {
            host.start_dataplane();
            host.start_controlplane();
        }
        HostPair { a, b, netns, certs }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut cp) = self.controlplane.take() {
            cp.kill();
        }
        if let Some(mut dp) = self.dataplane.take() {
            dp.kill();
        }
        let _ = std::fs::remove_file(&self.tables);
    }
}
