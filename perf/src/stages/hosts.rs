//! Two DWCP hosts on loopback for the API-call histograms: per host a
//! `dwcp-dataplane serve --tables PATH` and a `dwcp-controlplane run
//! --config FILE`, with a demo PKI from scripts/gen-certs.sh, as
//! tests/support/hosts.rs starts them without network namespaces.

use crate::child::{Exit, Guarded};
use crate::dwcp_run::describe;
use crate::listen::free_port;
use crate::scratch::{RemoveOnDrop, TempDir};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a data plane may take to create its tables file.
pub const TABLES_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a control plane may take to answer `GET /health` with 200.
pub const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);
/// Each HTTP call gives up after this long.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Host ids.
pub const HOST_IDS: [&str; 2] = ["host-a", "host-b"];
/// Where memory and tables files go.
const SHM: &str = "/dev/shm";

/// One host: its processes, files and API address.
#[derive(Debug)]
pub struct ApiHost {
    /// `host-a` or `host-b`.
    pub id: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub api: String,
    // Field order: the processes stop before their tables file goes.
    controlplane: Option<Guarded>,
    dataplane: Option<Guarded>,
    tables: RemoveOnDrop,
    config: PathBuf,
}

/// Both hosts, running and healthy.
#[derive(Debug)]
pub struct HostPair {
    /// The source host.
    pub a: ApiHost,
    /// The destination host.
    pub b: ApiHost,
    /// Every command line started.
    pub commands: Vec<String>,
    /// The destination's `[receive].memory_dir` (dropped after the hosts).
    _memory_dir: TempDir,
}

impl Drop for ApiHost {
    fn drop(&mut self) {
        // Control plane first: it must not see its data plane die.
        if let Some(mut cp) = self.controlplane.take() {
            cp.kill();
        }
        if let Some(mut dp) = self.dataplane.take() {
            dp.kill();
        }
    }
}

/// A ureq agent for the API: no proxy, statuses returned, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

impl HostPair {
    /// Generates certificates with `repo_root`/scripts/gen-certs.sh, writes
    /// both configurations into `dir`, starts both hosts from `bin_dir`.
    pub fn start(bin_dir: &Path, repo_root: &Path, dir: &Path) -> Result<Self> {
        let dataplane = bin_dir.join("dwcp-dataplane");
        let controlplane = bin_dir.join("dwcp-controlplane");
        for binary in [&dataplane, &controlplane] {
            if !binary.is_file() {
                bail!(
                    "{} not found (cargo build --release -p dwcp-dataplane -p dwcp-controlplane)",
                    binary.display()
                );
            }
        }
        let mut commands = Vec::new();
        let certs = dir.join("certs");
        let mut gen = Command::new("bash");
        gen.arg(repo_root.join("scripts/gen-certs.sh"))
            .arg("--out")
            .arg(&certs)
            .args(HOST_IDS);
        commands.push(describe(&gen));
        let mut gen = Guarded::spawn("gen-certs", gen, dir)?;
        match gen.wait(Duration::from_secs(60))? {
            Exit::Exited(s) if s.success() => {}
            Exit::Exited(s) => bail!("gen-certs.sh exited {s}: {}", gen.stderr_tail(400)),
            Exit::TimedOut => bail!("gen-certs.sh timed out"),
        }
        let memory_dir = TempDir::new_in(Path::new(SHM), "api-dst")?;
        let ports: Vec<[u16; 3]> = (0..2)
            .map(|_| Ok([free_port()?, free_port()?, free_port()?]))
            .collect::<std::io::Result<_>>()
            .context("finding free ports")?;
        let mut hosts = Vec::new();
        for (me, other) in [(0usize, 1usize), (1, 0)] {
            let [api, peer, data] = ports[me];
            let id = HOST_IDS[me];
            let tables = RemoveOnDrop::unique_in(Path::new(SHM), &format!("{id}.tables"));
            let config = dir.join(format!("{id}.toml"));
            let text = format!(
                r#"[node]
id = "{id}"
tables = "{tables}"
dataplane_heartbeat_timeout_ms = 2000

[api]
listen = "127.0.0.1:{api}"

[peer]
listen = "127.0.0.1:{peer}"
ca = "{certs}/ca.pem"
cert = "{certs}/{id}.pem"
key = "{certs}/{id}.key"

[[peers]]
id = "{other_id}"
control = "127.0.0.1:{other_peer}"

[receive]
data_host = "127.0.0.1"
port_min = {data}
port_max = {data}
memory_dir = "{memory_dir}"
"#,
                tables = tables.path().display(),
                certs = certs.display(),
                other_id = HOST_IDS[other],
                other_peer = ports[other][1],
                memory_dir = memory_dir.path().display(),
            );
            std::fs::write(&config, text)
                .with_context(|| format!("writing {}", config.display()))?;
            hosts.push(ApiHost {
                id,
                api: format!("http://127.0.0.1:{api}"),
                controlplane: None,
                dataplane: None,
                tables,
                config,
            });
        }
        for host in &mut hosts {
            host.start(&dataplane, &controlplane, dir, &mut commands)?;
        }
        let b = hosts.pop().context("two hosts")?;
        let a = hosts.pop().context("two hosts")?;
        Ok(Self {
            a,
            b,
            commands,
            _memory_dir: memory_dir,
        })
    }
}

impl ApiHost {
    fn start(
        &mut self,
        dataplane: &Path,
        controlplane: &Path,
        log_dir: &Path,
        commands: &mut Vec<String>,
    ) -> Result<()> {
        let mut serve = Command::new(dataplane);
        serve
            .arg("serve")
            .arg("--tables")
            .arg(self.tables.path())
            .args(["--node-id", self.id]);
        commands.push(describe(&serve));
        let mut dp = Guarded::spawn(&format!("{}-dataplane", self.id), serve, log_dir)?;
        let deadline = Instant::now() + TABLES_TIMEOUT;
        while !self.tables.path().exists() {
            crate::interrupt::check()?;
            if let Some(status) = dp.try_status() {
                bail!(
                    "{}'s data plane exited ({status}): {}",
                    self.id,
                    dp.stderr_tail(400)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}'s data plane did not create its tables within {TABLES_TIMEOUT:?}",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.dataplane = Some(dp);

        let mut run = Command::new(controlplane);
        run.arg("run").arg("--config").arg(&self.config);
        commands.push(describe(&run));
        let cp = Guarded::spawn(&format!("{}-controlplane", self.id), run, log_dir)?;
        let cp = self.controlplane.insert(cp);
        let agent = agent();
        let url = format!("{}/health", self.api);
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        loop {
            crate::interrupt::check()?;
            if let Ok(response) = agent.get(&url).call() {
                if response.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if let Some(status) = cp.try_status() {
                bail!(
                    "{}'s control plane exited ({status}): {}",
                    self.id,
                    cp.stderr_tail(400)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}'s control plane did not answer GET /health with 200 within {HEALTHY_TIMEOUT:?}: {}",
                    self.id,
                    cp.stderr_tail(400)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
