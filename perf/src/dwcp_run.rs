//! One real migration: a `dwcp-dataplane receive` + `migrate` pair over loopback.

use crate::child::{Exit, Guarded};
use crate::listen;
use crate::scratch::RemoveOnDrop;
use crate::summary::SourceSummary;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::Serialize;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the receiver may take to LISTEN.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The receiver gives up if no source connects within this long, ms.
const ACCEPT_TIMEOUT_MS: u64 = 30_000;
/// After the source exits, how long the receiver may take to exit.
const RECEIVER_GRACE: Duration = Duration::from_secs(10);

/// Page protection on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// AES-256-GCM with a pre-shared key.
    Aead,
    /// `--insecure-plaintext`.
    Plain,
}

impl Mode {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Aead => "aead",
            Mode::Plain => "plain",
        }
    }
}

/// Cores for the four busy threads of a loopback pair.
///
/// On machines with 4+ cores `dwcp-dataplane` pins by default each role's
/// compute thread to the last core and its transport thread to the one
/// before: on loopback both processes would then share the same two cores.
/// `split` gives each of the four threads its own core instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pinning {
    pub source_engine: usize,
    pub source_transport: usize,
    pub destination_decoder: usize,
    pub destination_transport: usize,
}

impl Pinning {
    /// Four distinct cores, the highest of `core_ids` (the ids this process
    /// may run on, from its affinity mask, in increasing order), or `None`
    /// with fewer than 4.
    pub fn split(core_ids: &[usize]) -> Option<Self> {
        match core_ids {
            [.., d_transport, d_decoder, s_transport, s_engine] => Some(Self {
                source_engine: *s_engine,
                source_transport: *s_transport,
                destination_decoder: *d_decoder,
                destination_transport: *d_transport,
            }),
            _ => None,
        }
    }

    /// Each end on cores of its own, as on two hosts: [`Self::split`] with
    /// 4+ cores; with 2 or 3, one core per end (the source's engine and
    /// transport on the highest, the destination's decoder and transport on
    /// the next), so the two ends never wait for each other's threads;
    /// `None` with 1.
    pub fn hosts(core_ids: &[usize]) -> Option<Self> {
        match core_ids {
            [_, _, _, _, ..] => Self::split(core_ids),
            [.., destination, source] => Some(Self {
                source_engine: *source,
                source_transport: *source,
                destination_decoder: *destination,
                destination_transport: *destination,
            }),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub mode: Mode,
    pub streams: u16,
    pub rate_limit_mbps: Option<u64>,
}

/// Where and how the two processes of one migration run, beyond [`Spec`].
#[derive(Debug, Clone)]
pub struct Placement {
    /// The address the receiver listens on and the source dials.
    pub host: IpAddr,
    /// Argument vector put before the receiver's binary (`ip netns exec B`,
    /// `perf record ... --`); empty: run it directly.
    pub receiver_prefix: Vec<OsString>,
    /// The same for the source.
    pub source_prefix: Vec<OsString>,
    /// `migrate --stage-log FILE`.
    pub stage_log: Option<PathBuf>,
}

impl Default for Placement {
    /// Both processes directly on loopback, no stage log.
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            receiver_prefix: Vec::new(),
            source_prefix: Vec::new(),
            stage_log: None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The source's summary, if it printed one.
    pub summary: Option<SourceSummary>,
    /// Why this run does not count, if it does not.
    pub error: Option<String>,
    /// Receiver start to both processes gone, ms (includes process start-up).
    pub wall_ms: f64,
}

/// Runs migrations with fixed binaries, key and scratch space.
#[derive(Debug)]
pub struct Runner {
    /// `dwcp-dataplane`.
    pub binary: PathBuf,
    /// Key file for `Mode::Aead`.
    pub key_file: PathBuf,
    /// Where child stdout/stderr go.
    pub log_dir: PathBuf,
    /// Where the destination's memory file goes (/dev/shm).
    pub shm_dir: PathBuf,
    /// Each child is killed after this long.
    pub child_timeout: Duration,
    /// Explicit cores, or `None` to leave it to dwcp-dataplane.
    pub pinning: Option<Pinning>,
}

impl Runner {
    /// Migrates `memory` once per `spec`. Errors only for tool failures
    /// (interrupt, cannot spawn); a failed migration is an `Outcome` with `error`.
    pub fn run(&self, memory: &Path, spec: Spec) -> Result<Outcome> {
        self.run_placed(memory, spec, &Placement::default())
            .map(|(outcome, _)| outcome)
    }

    /// [`Runner::run`] placed as `placement` says; also returns the two
    /// command lines it ran (receiver, source), for the record.
    pub fn run_placed(
        &self,
        memory: &Path,
        spec: Spec,
        placement: &Placement,
    ) -> Result<(Outcome, Vec<String>)> {
        let start = Instant::now();
        let destination = RemoveOnDrop::unique_in(&self.shm_dir, "dst.mem");
        provision(destination.path(), memory)?;
        let port = listen::free_port().context("finding a free port")?;
        let tag = format!("{}-{}s", spec.mode.name(), spec.streams);
        let address = std::net::SocketAddr::new(placement.host, port).to_string();

        let mut receive = prefixed(&placement.receiver_prefix, &self.binary);
        receive
            .arg("receive")
            .args(["--listen", &address])
            .arg("--memory")
            .arg(destination.path())
            .args(["--accept-timeout-ms", &ACCEPT_TIMEOUT_MS.to_string()])
            .arg("--no-progress");
        if let Some(pin) = self.pinning {
            receive
                .args(["--decoder-core", &pin.destination_decoder.to_string()])
                .args(["--transport-core", &pin.destination_transport.to_string()]);
        }
        self.protection(&mut receive, spec.mode);
        let mut commands = vec![describe(&receive)];
        let mut receiver =
            Guarded::spawn(&format!("receive-{tag}-{port}"), receive, &self.log_dir)?;

        if let Err(e) = wait_listening(&mut receiver, port) {
            return Ok((self.failed(start, None, format!("{e:#}")), commands));
        }

        let mut migrate = prefixed(&placement.source_prefix, &self.binary);
        migrate
            .arg("migrate")
            .arg("--memory")
            .arg(memory)
            .args(["--to", &address])
            .args(["--streams", &spec.streams.to_string()])
            .arg("--no-progress");
        if let Some(pin) = self.pinning {
            migrate
                .args(["--engine-core", &pin.source_engine.to_string()])
                .args(["--transport-core", &pin.source_transport.to_string()]);
        }
        if let Some(rate) = spec.rate_limit_mbps {
            migrate.args(["--rate-limit-mbps", &rate.to_string()]);
        }
        if let Some(log) = &placement.stage_log {
            migrate.arg("--stage-log").arg(log);
        }
        self.protection(&mut migrate, spec.mode);
        commands.push(describe(&migrate));
        let mut source = Guarded::spawn(&format!("migrate-{tag}-{port}"), migrate, &self.log_dir)?;

        let source_exit = source.wait(self.child_timeout)?;
        // The receiver has its own deadline: whatever is left of the child
        // timeout, at least a short grace after the source is gone.
        let receiver_limit = self.child_timeout.max(start.elapsed() + RECEIVER_GRACE);
        let receiver_exit = receiver.wait(receiver_limit)?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;

        let summary = SourceSummary::from_stdout(&source.stdout()).ok();
        let mut problems = Vec::new();
        match source_exit {
            Exit::TimedOut => problems.push(format!(
                "migrate killed after {}s (timeout)",
                self.child_timeout.as_secs()
            )),
            Exit::Exited(status) if !status.success() => problems.push(format!(
                "migrate exited {status}: {}",
                source.stderr_tail(400)
            )),
            Exit::Exited(_) => {}
        }
        match receiver_exit {
            Exit::TimedOut => problems.push("receive killed (timeout)".into()),
            Exit::Exited(status) if !status.success() => problems.push(format!(
                "receive exited {status}: {}",
                receiver.stderr_tail(400)
            )),
            Exit::Exited(_) => {}
        }
        match &summary {
            None => problems.push("migrate printed no JSON summary".into()),
            Some(s) => problems.extend(s.problem()),
        }
        problems.dedup();
        let error = (!problems.is_empty()).then(|| problems.join("; "));
        Ok((
            Outcome {
                summary,
                error,
                wall_ms,
            },
            commands,
        ))
    }

    fn protection(&self, command: &mut Command, mode: Mode) {
        match mode {
            Mode::Aead => command.arg("--key-file").arg(&self.key_file),
            Mode::Plain => command.arg("--insecure-plaintext"),
        };
    }

    fn failed(&self, start: Instant, summary: Option<SourceSummary>, error: String) -> Outcome {
        Outcome {
            summary,
            error: Some(error),
            wall_ms: start.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// `binary`, or `prefix[0] prefix[1..] binary` when there is a prefix.
fn prefixed(prefix: &[OsString], binary: &Path) -> Command {
    match prefix.split_first() {
        None => Command::new(binary),
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(binary);
            command
        }
    }
}

/// A command line as a shell would show it (arguments joined by spaces).
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until `receiver` listens on `port`.
fn wait_listening(receiver: &mut Guarded, port: u16) -> Result<()> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    loop {
        if listen::is_listening(receiver.pid(), port) {
            return Ok(());
        }
        crate::interrupt::check()?;
        if let Some(status) = receiver.try_status() {
            bail!(
                "{} exited ({status}) before listening on {port}: {}",
                receiver.name(),
                receiver.stderr_tail(400)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not listen on {port} within {LISTEN_TIMEOUT:?}",
                receiver.name()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Writes a fresh key with `dwcp-dataplane keygen`.
pub fn keygen(binary: &Path, out: &Path, log_dir: &Path) -> Result<()> {
    let mut command = Command::new(binary);
    command.arg("keygen").arg("--out").arg(out);
    let mut child = Guarded::spawn("keygen", command, log_dir)?;
    match child.wait(Duration::from_secs(30))? {
        Exit::Exited(status) if status.success() => Ok(()),
        Exit::Exited(status) => bail!("keygen exited {status}: {}", child.stderr_tail(400)),
        Exit::TimedOut => bail!("keygen timed out"),
    }
}

/// Pre-provisions the destination's memory file at the source's size, fully
/// allocated, as on a host whose guest memory is reserved ahead (hugepages,
/// or a pre-created tmpfs file). The receiver reuses a file of the right
/// size, so `transfer_ms` measures moving the pages, not the destination
/// kernel zeroing fresh memory (about 0.9 s per GiB on this machine), which
/// the plain-TCP peer never does either.
fn provision(destination: &Path, source: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let len = std::fs::metadata(source)
        .with_context(|| format!("stat {}", source.display()))?
        .len();
    let file = std::fs::File::create(destination)
        .with_context(|| format!("create {}", destination.display()))?;
    file.set_len(len)
        .with_context(|| format!("size {}", destination.display()))?;
    let signed = libc::off_t::try_from(len).context("memory size fits off_t")?;
    // SAFETY: plain syscall on an fd owned by `file`.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, signed) };
    anyhow::ensure!(
        rc == 0,
        "posix_fallocate {}: {}",
        destination.display(),
        std::io::Error::from_raw_os_error(rc)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_pinning_gives_each_end_its_own_cores() {
        assert_eq!(Pinning::hosts(&[0]), None);
        let two = Pinning::hosts(&[0, 1]).expect("2 cores");
        assert_eq!((two.source_engine, two.source_transport), (1, 1));
        assert_eq!((two.destination_decoder, two.destination_transport), (0, 0));
        let three = Pinning::hosts(&[4, 5, 6]).expect("3 cores");
        assert_eq!((three.source_engine, three.destination_decoder), (6, 5));
        assert_eq!(Pinning::hosts(&[0, 1, 2, 3]), Pinning::split(&[0, 1, 2, 3]));
    }

    #[test]
    fn split_pinning_uses_four_distinct_cores() {
        assert_eq!(Pinning::split(&[0, 1]), None);
        assert_eq!(Pinning::split(&[0, 1, 2]), None);
        let p = Pinning::split(&[0, 1, 2, 3]).expect("4 cores");
        let mut cores = [
            p.source_engine,
            p.source_transport,
            p.destination_decoder,
            p.destination_transport,
        ];
        cores.sort_unstable();
        assert_eq!(cores, [0, 1, 2, 3]);
        assert_eq!(
            Pinning::split(&(0..16).collect::<Vec<_>>()).map(|p| p.destination_transport),
            Some(12)
        );
        assert_eq!(
            Pinning::split(&[4, 5, 6, 7]).map(|p| p.source_engine),
            Some(7),
            "a cpuset keeps its own ids"
        );
    }
}
