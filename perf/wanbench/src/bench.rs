//! One run: for each profile, each guest, each contender, a fresh emulated
//! link, a timed transfer, the emulator's counters and a byte-for-byte check.

use crate::cli::RunArgs;
use crate::dwcp::{self, DwcpRun, DwcpSettings, Pause, StreamPolicy};
use crate::files::{self, Comparison, Scratch};
use crate::guest::{Guest, GuestKind, GuestSpec};
use crate::linkem::{Link, Ready};
use crate::peers::{self, Contender, PeerRun};
use crate::report::ProfileResult;
use crate::row::{DwcpDetails, Row, Status};
use crate::snapshots::{self, Images};
use crate::transfer::{self, TransferOutcome, TransferSpec};
use crate::units::GIB;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Shortest transfer time limit.
pub const LIMIT_MIN: Duration = Duration::from_secs(120);
/// Fixed part of the default limit, s.
const LIMIT_BASE_S: f64 = 60.0;
/// Multiple of the ideal time (image at the link rate) in the default limit.
const LIMIT_FACTOR: f64 = 6.0;
/// How long the replay's pause hook waits for the replay beyond its length.
const REPLAY_PAUSE_SLACK: Duration = Duration::from_secs(60);

/// The binaries a run uses.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `dwcp-dataplane`.
    pub dataplane: PathBuf,
    /// `dwcp-guest-sim`.
    pub guest_sim: PathBuf,
    /// `dwcp-linkem`.
    pub linkem: PathBuf,
    /// This tool (its `tcp-send` / `tcp-recv`).
    pub bench: PathBuf,
}

impl Bins {
    /// Finds them in `dir` (this tool: the running executable).
    pub fn find(dir: &Path) -> Result<Self> {
        let bins = Self {
            dataplane: dir.join("dwcp-dataplane"),
            guest_sim: dir.join("dwcp-guest-sim"),
            linkem: dir.join("dwcp-linkem"),
            bench: std::env::current_exe().context("locating this executable")?,
        };
        for bin in [&bins.dataplane, &bins.guest_sim, &bins.linkem] {
            if !bin.is_file() {
                bail!(
                    "{} is missing: build with `cargo build --release -p dwcp-dataplane -p dwcp-guest-sim -p dwcp-linkem` (perf/wan-bench.sh does)",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }
}

/// What a contender's check concluded.
#[derive(Debug, Default)]
struct Judged {
    failure: Option<String>,
    note: String,
    settings: Option<String>,
    dwcp: Option<DwcpDetails>,
    downtime_ms: Option<u64>,
}

/// The run's state.
#[derive(Debug)]
pub struct Bench {
    args: RunArgs,
    bins: Bins,
    scratch: Scratch,
    key: PathBuf,
    log_root: PathBuf,
    snapshots_dir: PathBuf,
    snapshots: Option<Result<Images, (Status, String)>>,
}

impl Bench {
    /// Sets up the scratch folder on /dev/shm and the DWCP key.
    pub fn new(args: RunArgs, bins: Bins, out: &Path) -> Result<Self> {
        let scratch = Scratch::new(Path::new("/dev/shm"))?;
        let key = scratch.join("psk");
        let status = Command::new(&bins.dataplane)
            .args(["keygen", "--out"])
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .status()
            .context("running dwcp-dataplane keygen")?;
        if !status.success() {
            bail!("dwcp-dataplane keygen failed ({status})");
        }
        tracing::debug!(scratch = %scratch.path().display(), "scratch folder");
        let snapshots_dir = args
            .snapshots_dir
            .clone()
            .unwrap_or_else(snapshots::default_dir);
        Ok(Self {
            args,
            bins,
            scratch,
            key,
            log_root: out.join("logs"),
            snapshots_dir,
            snapshots: None,
        })
    }

    /// The guests to run.
    pub fn guests(&self) -> Vec<GuestKind> {
        if self.args.guests.is_empty() {
            GuestKind::ALL.to_vec()
        } else {
            GuestKind::ALL
                .into_iter()
                .filter(|g| self.args.guests.contains(g))
                .collect()
        }
    }

    /// Runs every guest and contender on `profile`.
    pub fn run_profile(&mut self, profile: &str) -> Result<ProfileResult> {
        let log_dir = self.log_root.join(profile);
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let mut rows = Vec::new();
        let mut guests = Vec::new();
        let mut first_link: Option<(Ready, serde_json::Value)> = None;
        for kind in self.guests() {
            match self.guest_spec(kind) {
                Err((status, reason)) => {
                    let label = if status == Status::Skipped {
                        "SKIPPED"
                    } else {
                        "ERROR"
                    };
                    tracing::warn!(profile, guest = kind.name(), "{label}: {reason}");
                    guests.push((kind.name().to_owned(), format!("{label}: {reason}")));
                    let row = |c| Row::empty(kind, c, GIB, status, reason.clone());
                    rows.extend(self.policies().into_iter().map(|p| {
                        let mut r = row(Contender::Dwcp).with_variant(Some(p.to_string()));
                        r.settings = format!("stream policy {p}");
                        r
                    }));
                    if !self.args.no_peers {
                        rows.extend(Contender::PEERS.into_iter().map(row));
                    }
                }
                Ok(spec) => {
                    guests.push((kind.name().to_owned(), spec.describe()));
                    let ctx = GuestRun {
                        profile,
                        kind,
                        spec: &spec,
                        log_dir: &log_dir,
                    };
                    rows.extend(self.run_guest(&ctx, &mut first_link)?);
                }
            }
        }
        let targets = crate::targets::evaluate(profile, &rows);
        let (link_rate_bps, rtt_ms, loss, scale, link) = match first_link {
            Some((ready, json)) => (
                ready.rate_bps,
                ready.rtt_us as f64 / 1e3,
                ready.loss,
                ready.scale,
                Some(json),
            ),
            None => (0, 0.0, 0.0, 0.0, None),
        };
        Ok(ProfileResult {
            profile: profile.to_owned(),
            link,
            link_rate_bps,
            rtt_ms,
            loss,
            scale,
            guests,
            rows,
            targets,
        })
    }

    /// How to start `kind`, or the status and reason of its rows when it
    /// cannot run (snapshots absent: SKIPPED; failing to unpack: ERROR).
    fn guest_spec(&mut self, kind: GuestKind) -> Result<GuestSpec, (Status, String)> {
        Ok(match kind {
            GuestKind::Incompressible => GuestSpec::Dirtying {
                size: self.args.size,
                fill: "random",
                dirty_rate: self.args.incompressible_dirty_rate,
                pattern: "uniform",
            },
            GuestKind::Realistic => GuestSpec::Dirtying {
                size: self.args.size,
                fill: "realistic",
                dirty_rate: self.args.realistic_dirty_rate,
                pattern: "hotset",
            },
            GuestKind::Snapshots => {
                let images = self.images()?;
                GuestSpec::Replay {
                    from: images.t05s,
                    to: images.t30s,
                    secs: self.args.replay_secs,
                }
            }
        })
    }

    /// The unpacked snapshots (unpacked on first use), or why not.
    fn images(&mut self) -> Result<Images, (Status, String)> {
        if self.snapshots.is_none() {
            let result = match snapshots::absent_reason(&self.snapshots_dir) {
                Some(reason) => Err((Status::Skipped, reason)),
                None => {
                    tracing::info!(from = %self.snapshots_dir.display(), "unpacking the real guest snapshots (~3 GiB)");
                    let into = self.scratch.join("snapshots");
                    std::fs::create_dir_all(&self.log_root)
                        .map_err(anyhow::Error::from)
                        .and_then(|()| {
                            snapshots::unpack(&self.snapshots_dir, &into, &self.log_root)
                        })
                        .map_err(|e| (Status::Error, format!("cannot unpack the snapshots: {e:#}")))
                }
            };
            self.snapshots = Some(result);
        }
        self.snapshots
            .clone()
            .unwrap_or_else(|| Err((Status::Error, "not unpacked".into())))
    }

    fn limit(&self, image_bytes: u64, rate_bps: u64) -> Duration {
        if let Some(secs) = self.args.transfer_timeout_s {
            return Duration::from_secs(secs);
        }
        let ideal = image_bytes as f64 * 8.0 / rate_bps.max(1) as f64;
        Duration::from_secs_f64(LIMIT_BASE_S + LIMIT_FACTOR * ideal).max(LIMIT_MIN)
    }

    /// DWCP's stream policies, in order (default: bdp, control-plane).
    fn policies(&self) -> Vec<StreamPolicy> {
        if self.args.dwcp_streams.is_empty() {
            vec![StreamPolicy::Bdp, StreamPolicy::ControlPlane]
        } else {
            self.args.dwcp_streams.clone()
        }
    }

    /// DWCP once per stream policy, each on a freshly started guest; then,
    /// on the last guest stopped after its migration, the peers.
    fn run_guest(
        &mut self,
        ctx: &GuestRun<'_>,
        first_link: &mut Option<(Ready, serde_json::Value)>,
    ) -> Result<Vec<Row>> {
        let kind = ctx.kind;
        let image_bytes = match ctx.spec {
            GuestSpec::Dirtying { size, .. } => *size,
            GuestSpec::Replay { .. } => GIB,
        };
        let memory = self.scratch.join(&format!("{}-guest.ram", kind.name()));
        let older_copy = self.scratch.join(&format!("{}-older.ram", kind.name()));
        let policies = self.policies();
        let mut rows = Vec::new();
        for (i, policy) in policies.iter().enumerate() {
            let last = i + 1 == policies.len();
            // The peers run once, on the last policy's guest.
            let peers = last && !self.args.no_peers;
            let variant = Some(policy.to_string());
            tracing::info!(
                profile = ctx.profile,
                guest = kind.name(),
                "starting the guest: {}",
                ctx.spec.describe()
            );
            let mut guest = match Guest::start(
                &self.bins.guest_sim,
                ctx.spec,
                &memory,
                self.args.seed,
                ctx.log_dir,
                &format!("{}-guest-{i}", kind.name()),
            ) {
                Ok(guest) => guest,
                Err(e) => {
                    crate::interrupt::check()?;
                    let why = format!("guest: {e:#}");
                    files::remove(&memory);
                    rows.push(
                        Row::error(kind, Contender::Dwcp, image_bytes, why.clone())
                            .with_variant(variant),
                    );
                    if peers {
                        rows.extend(
                            Contender::PEERS
                                .into_iter()
                                .map(|c| Row::error(kind, c, image_bytes, why.clone())),
                        );
                    }
                    continue;
                }
            };
            if peers {
                if let GuestSpec::Dirtying { .. } = ctx.spec {
                    // rsync's older copy: this guest's memory before its migration.
                    files::copy_as_old(&memory, &older_copy)?;
                }
            }
            let pause = match ctx.spec {
                GuestSpec::Replay { secs, .. } => dwcp::replay_pause(
                    guest.pid(),
                    &guest.log_path(ctx.log_dir),
                    Duration::from_secs_f64(*secs) + REPLAY_PAUSE_SLACK,
                ),
                GuestSpec::Dirtying { .. } => Pause::Pid(guest.pid()),
            };
            rows.push(self.run_dwcp(ctx, &guest, image_bytes, &pause, *policy, first_link)?);
            if peers {
                rows.extend(self.run_peers(
                    ctx,
                    &mut guest,
                    image_bytes,
                    &older_copy,
                    first_link,
                )?);
            }
            guest.finish();
            files::remove(&memory);
        }
        files::remove(&older_copy);
        Ok(rows)
    }

    /// The peers on the (stopped) guest's static image.
    fn run_peers(
        &self,
        ctx: &GuestRun<'_>,
        guest: &mut Guest,
        image_bytes: u64,
        older_copy: &Path,
        first_link: &mut Option<(Ready, serde_json::Value)>,
    ) -> Result<Vec<Row>> {
        if let Err(e) = guest.freeze() {
            crate::interrupt::check()?;
            let why = format!("the guest could not be stopped for a static image: {e:#}");
            return Ok(Contender::PEERS
                .into_iter()
                .map(|c| Row::error(ctx.kind, c, image_bytes, why.clone()))
                .collect());
        }
        // The peers copy a static image; rsync updates an older copy.
        let (older, static_image) = match ctx.spec {
            GuestSpec::Replay { from, to, .. } => (from.clone(), to.clone()),
            GuestSpec::Dirtying { .. } => (older_copy.to_path_buf(), guest.memory().to_path_buf()),
        };
        let older_pages = files::differing_pages(&older, &static_image)?;
        let image = PeerImage {
            path: &static_image,
            bytes: image_bytes,
            older: &older,
            older_pages,
        };
        let mut rows = Vec::new();
        for contender in Contender::PEERS {
            rows.push(self.run_peer(ctx, contender, &image, first_link)?);
        }
        Ok(rows)
    }

    fn run_dwcp(
        &self,
        ctx: &GuestRun<'_>,
        guest: &Guest,
        image_bytes: u64,
        pause: &Pause,
        policy: StreamPolicy,
        first_link: &mut Option<(Ready, serde_json::Value)>,
    ) -> Result<Row> {
        let destination = self
            .scratch
            .join(&format!("{}-dwcp-dest.ram", ctx.kind.name()));
        let dataplane = self.bins.dataplane.clone();
        let key = self.key.clone();
        let expected_final = match ctx.spec {
            GuestSpec::Replay { to, .. } => Some(to.clone()),
            GuestSpec::Dirtying { .. } => None,
        };
        let name = format!("{}-dwcp-{policy}", ctx.kind.name());
        let row = self.measure(
            ctx,
            Row::error(ctx.kind, Contender::Dwcp, image_bytes, String::new())
                .with_variant(Some(policy.to_string())),
            first_link,
            |bench, ready| {
                let settings = DwcpSettings::for_link(ready, policy);
                DwcpRun {
                    dataplane: &dataplane,
                    ready,
                    memory: guest.memory(),
                    destination: &destination,
                    key: &key,
                    settings: &settings,
                    pause,
                    name: &name,
                    limit: bench.limit(image_bytes, ready.rate_bps),
                    extra_args: &bench.args.dwcp_args,
                }
                .spec()
            },
            |ready, outcome| {
                let settings = DwcpSettings::for_link(ready, policy);
                judge_dwcp(
                    outcome,
                    settings,
                    guest,
                    &destination,
                    expected_final.as_deref(),
                )
            },
        );
        files::remove(&destination);
        row
    }

    fn run_peer(
        &self,
        ctx: &GuestRun<'_>,
        contender: Contender,
        image: &PeerImage<'_>,
        first_link: &mut Option<(Ready, serde_json::Value)>,
    ) -> Result<Row> {
        let name = format!("{}-{}", ctx.kind.name(), contender.name());
        let module_dir = self.scratch.join(&format!("{name}-module"));
        let destination = match contender {
            Contender::Rsync => {
                std::fs::create_dir_all(&module_dir)?;
                let dest = module_dir.join(peers::RSYNC_FILE);
                files::copy_as_old(image.older, &dest)?;
                dest
            }
            _ => self.scratch.join(&format!("{name}-dest.ram")),
        };
        let config = self.scratch.join(&format!("{name}-rsyncd.conf"));
        if contender == Contender::Rsync {
            let log = ctx.log_dir.join(format!("{name}-rsyncd.log"));
            std::fs::write(&config, peers::rsyncd_conf(&module_dir, &log))?;
        }
        let bench_bin = self.bins.bench.clone();
        let row = self.measure(
            ctx,
            Row::error(ctx.kind, contender, image.bytes, String::new()),
            first_link,
            |bench, ready| {
                let run = PeerRun {
                    bench: &bench_bin,
                    ready,
                    image: image.path,
                    destination: &destination,
                    name: &name,
                    limit: bench.limit(image.bytes, ready.rate_bps),
                };
                match contender {
                    Contender::Tcp => run.tcp(),
                    Contender::ZstdTcp => run.zstd_tcp(),
                    _ => run.rsync(&config),
                }
            },
            |_, outcome| judge_peer(outcome, contender, image, &destination),
        );
        files::remove(&destination);
        files::remove(&config);
        let _ = std::fs::remove_dir_all(&module_dir);
        row
    }

    /// A fresh link, the transfer, the link's counters, the check.
    fn measure(
        &self,
        ctx: &GuestRun<'_>,
        mut row: Row,
        first_link: &mut Option<(Ready, serde_json::Value)>,
        build: impl FnOnce(&Self, &Ready) -> TransferSpec,
        judge: impl FnOnce(&Ready, &TransferOutcome) -> Result<Judged>,
    ) -> Result<Row> {
        let link_name = format!("{}-linkem", row.key().replace(['/', '@'], "-"));
        let link = match Link::start(
            &self.bins.linkem,
            ctx.profile,
            &self.args.linkem_args,
            ctx.log_dir,
            &link_name,
        ) {
            Ok(link) => link,
            Err(e) => {
                crate::interrupt::check()?;
                row.note = format!("link: {e:#}");
                log_row(ctx.profile, &row);
                return Ok(row);
            }
        };
        let ready = link.ready().clone();
        if first_link.is_none() {
            *first_link = Some((ready.clone(), link.ready_json().clone()));
        }
        let spec = build(self, &ready);
        let outcome = transfer::run(spec, ctx.log_dir)?;
        let traffic = link.stop();
        crate::interrupt::check()?;
        let judged = judge(&ready, &outcome)?;
        if let Some(settings) = judged.settings {
            row.settings = settings;
        }
        row.dwcp = judged.dwcp;
        row.downtime_ms = judged.downtime_ms;
        let mut notes: Vec<String> = Vec::new();
        let traffic = match traffic {
            Ok(t) => Some(t),
            Err(e) => {
                notes.push(format!("no emulator counters: {e:#}"));
                None
            }
        };
        row = row.with_traffic(traffic);
        match (outcome.failure, outcome.elapsed, judged.failure) {
            (None, Some(elapsed), None) => {
                row = row.measured(elapsed.as_secs_f64(), ready.rate_bps);
            }
            (Some(failure), _, _) | (None, _, Some(failure)) => notes.insert(0, failure),
            (None, None, None) => notes.insert(0, "no time measured".into()),
        }
        if !judged.note.is_empty() {
            notes.push(judged.note);
        }
        if let Some(t) = &row.traffic {
            notes.push(format!(
                "link drops {} loss / {} queue",
                t.a2b.dropped_loss, t.a2b.dropped_queue
            ));
        }
        row.note = notes.join("; ");
        log_row(ctx.profile, &row);
        Ok(row)
    }
}

/// One guest on one profile.
#[derive(Debug)]
struct GuestRun<'a> {
    profile: &'a str,
    kind: GuestKind,
    spec: &'a GuestSpec,
    log_dir: &'a Path,
}

/// The static image the peers copy, and the older copy rsync updates.
#[derive(Debug)]
struct PeerImage<'a> {
    path: &'a Path,
    bytes: u64,
    older: &'a Path,
    older_pages: u64,
}

fn log_row(profile: &str, row: &Row) {
    match row.status {
        Status::Ok => tracing::info!(
            profile,
            "{}: {:.1} s, goodput {:.3} of the link, wire {:.1} MiB{}",
            row.key(),
            row.time_s.unwrap_or(0.0),
            row.goodput_fraction.unwrap_or(0.0),
            row.wire_bytes.unwrap_or(0) as f64 / 1_048_576.0,
            row.downtime_ms
                .map_or_else(String::new, |d| format!(", downtime {d} ms")),
        ),
        _ => tracing::error!(profile, "{}: ERROR: {}", row.key(), row.note),
    }
}

fn comparison_failure(what: &str, comparison: Comparison) -> Option<String> {
    (comparison != Comparison::Identical).then(|| format!("{what}: {}", comparison.describe()))
}

fn judge_dwcp(
    outcome: &TransferOutcome,
    settings: DwcpSettings,
    guest: &Guest,
    destination: &Path,
    expected_final: Option<&Path>,
) -> Result<Judged> {
    let source = dwcp::parse_summary(&outcome.sender_stdout);
    let dest_summary = dwcp::parse_summary(&outcome.receiver_stdout);
    let mut failure = match &source {
        None => Some("the source printed no summary".to_owned()),
        Some(s) if !s.verified => Some(format!(
            "not verified: {}",
            s.error.as_deref().unwrap_or("no error given")
        )),
        Some(_) => None,
    };
    if failure.is_none() && outcome.failure.is_none() {
        if guest.state() != Some('T') {
            failure = Some("the guest is not stopped after a verified migration".into());
        } else {
            failure = comparison_failure(
                "destination vs paused source",
                files::compare(guest.memory(), destination)?,
            );
        }
        if let (None, Some(expected)) = (&failure, expected_final) {
            failure = comparison_failure(
                "destination vs t30s",
                files::compare(expected, destination)?,
            );
        }
    }
    let note = source.as_ref().map_or_else(String::new, |s| {
        format!(
            "{} rounds, {}, own total {:.1} s, {:.1} MiB on its sockets",
            s.rounds,
            s.switchover_reason.as_deref().unwrap_or("-"),
            s.total_ms as f64 / 1e3,
            s.bytes_on_wire as f64 / 1_048_576.0
        )
    });
    Ok(Judged {
        failure,
        note,
        settings: Some(settings.describe(source.as_ref().map(|s| s.streams))),
        downtime_ms: source.as_ref().and_then(|s| s.downtime_ms),
        dwcp: Some(DwcpDetails {
            settings,
            source,
            destination: dest_summary,
        }),
    })
}

fn judge_peer(
    outcome: &TransferOutcome,
    contender: Contender,
    image: &PeerImage<'_>,
    destination: &Path,
) -> Result<Judged> {
    let failure = if outcome.failure.is_none() {
        comparison_failure("copy vs image", files::compare(image.path, destination)?)
    } else {
        None
    };
    let note = match contender {
        Contender::ZstdTcp => tcp_send_bytes(&outcome.sender_stderr)
            .map(|b| {
                format!(
                    "compressed to {:.1} MiB ({:.2}x)",
                    b as f64 / 1_048_576.0,
                    image.bytes as f64 / b.max(1) as f64
                )
            })
            .unwrap_or_default(),
        Contender::Rsync => {
            let stats = peers::rsync_stats(&outcome.sender_stdout).map_or_else(
                String::new,
                |(literal, matched)| {
                    format!(
                        ", literal {:.1} MiB, matched {:.1} MiB",
                        literal as f64 / 1_048_576.0,
                        matched as f64 / 1_048_576.0
                    )
                },
            );
            format!(
                "older copy differs in {} pages ({:.1} MiB){stats}",
                image.older_pages,
                (image.older_pages * crate::units::PAGE) as f64 / 1_048_576.0
            )
        }
        _ => String::new(),
    };
    Ok(Judged {
        failure,
        note,
        ..Judged::default()
    })
}

/// The byte count of `tcp-send`'s JSON line on stderr.
fn tcp_send_bytes(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        (value.get("role")? == "tcp-send").then(|| value.get("bytes")?.as_u64())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_send_bytes_reads_the_report_line() {
        let stderr = "zstd: something\n{\"role\":\"tcp-send\",\"bytes\":1234,\"secs\":1.5}\n";
        assert_eq!(tcp_send_bytes(stderr), Some(1234));
        assert_eq!(tcp_send_bytes("{\"role\":\"tcp-recv\",\"bytes\":5}"), None);
        assert_eq!(tcp_send_bytes(""), None);
    }
}
