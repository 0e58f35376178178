//! `dwcp-perf stages`: the operators' latency profile. See
//! docs/latency-profiling.md.
//!
//! Per scenario (loopback at 100% load, loopback at 50% of that run's
//! rate, one emulated WAN profile unpaced) it runs `--runs` migrations with
//! `--stage-log` and merges their per-stage HdrHistograms; it times
//! control-plane API calls against a host pair on loopback; it records one
//! more loopback migration with `perf` for a flamegraph. Output folder:
//! one `.hlog` per scenario and `api.hlog`, a PNG percentile plot of each,
//! `flamegraph.svg`, `summary.json` and `tables.md` (also printed).

mod api;
mod flame;
mod hlog;
mod hosts;
mod linkem;
mod output;
mod plot;
mod rtt;
mod scenario;
mod steal;

use crate::bench::Bench;
use crate::cli::StagesArgs;
use crate::dwcp_run::{Placement, Spec};
use crate::memfile::MemFile;
use crate::report::{unix_now, utc_timestamp};
use anyhow::{Context, Result};
use output::{ApiSection, Flamegraph, Machine, Rtts, Settings, Summary, Target};
use scenario::{RunRecord, Scenario, Status};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Round trips of the ping-pong over the emulated link.
pub const WAN_RTT_ROUNDS: u32 = 20;
/// The API migrations move at most this much memory.
pub const API_MEMORY_MAX: u64 = 32 << 20;
/// When set (run.sh sets it if dwcp-linkem does not build), the WAN
/// scenario is skipped with its value as the reason.
pub const WAN_SKIP_ENV: &str = "DWCP_PERF_WAN_SKIP";
/// Default parent of the output folder.
pub const OUT_PARENT: &str = "perf/out";

/// Runs everything; `Ok(true)` when the target passed and nothing failed.
pub fn run(args: &StagesArgs) -> Result<bool> {
    let started_utc = utc_timestamp(unix_now());
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(OUT_PARENT).join(started_utc.replace([':', '-'], "")));
    let result = run_into(args, &out_dir, started_utc);
    if result.is_err() {
        // An interrupted or failed run leaves no empty folder (remove_dir
        // removes only an empty one).
        let _ = std::fs::remove_dir(&out_dir);
    }
    result
}

fn run_into(args: &StagesArgs, out_dir: &Path, started_utc: String) -> Result<bool> {
    let started = SystemTime::now();
    let font = plot::init_font(args.font.as_deref());
    if let Err(why) = &font {
        eprintln!("dwcp-perf: warning: plots without text: {why}");
    }
    let pinning = crate::pinning(args.pin);
    let bench = Bench::new(
        &args.bin_dir,
        args.size,
        args.seed,
        Duration::from_secs(args.child_timeout_s),
        pinning,
    )?;
    // After the set-up: a tool failure there leaves no empty folder behind.
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let scratch = bench.runner.log_dir.clone();
    let machine = Machine::collect(crate::pin_label(args.pin));
    let spec = |rate_limit_mbps| Spec {
        mode: args.mode,
        streams: args.streams,
        rate_limit_mbps,
    };
    let mut rtts = Rtts::default();
    let mut warnings = Vec::new();

    // Loopback: RTT, then per run unpaced (100%) and paced at half its rate (50%).
    match rtt::measure(loopback_ends(), args.rtt_rounds) {
        Ok(r) => rtts.loopback = Some(r),
        Err(e) => rtts.errors.push(format!("loopback RTT: {e:#}")),
    }
    let (s50, s100) = loopback(&bench, args, &spec, &scratch)?;

    let (wan, linkem_ready) = wan(&bench, args, &spec, &scratch, &mut rtts, &mut warnings)?;
    let api = api_part(args, &bench, &scratch)?;
    let (flamegraph, flame_warning) = flamegraph(args, &bench, out_dir, &scratch, &spec)?;
    warnings.extend(flame_warning);
    drop(bench);

    let mut scenarios = vec![s50, s100, wan];
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let elapsed = started.elapsed().unwrap_or_default();
    for s in &mut scenarios {
        if s.histograms.is_empty() {
            continue;
        }
        let series: Vec<(String, &hdrhistogram::Histogram<u64>)> = s
            .histograms
            .iter()
            .map(|(n, h)| (n.to_owned(), h))
            .collect();
        let (hlog_name, png_name) = (format!("{}.hlog", s.name), format!("{}.png", s.name));
        let comment = format!("DWCP page path stage latencies, microseconds: {}", s.name);
        match hlog::write(
            &out_dir.join(&hlog_name),
            &s.histograms,
            &comment,
            started,
            elapsed,
        ) {
            Ok(()) => s.hlog = Some(hlog_name.clone()),
            Err(e) => failures.push(format!("{e:#}")),
        }
        let title = format!("{}: {}", s.name, s.description);
        match plot::draw(&out_dir.join(&png_name), &title, &series) {
            Ok(()) => s.plot = Some(png_name.clone()),
            Err(e) => failures.push(format!("{e:#}")),
        }
        files.extend(s.hlog.clone().into_iter().chain(s.plot.clone()));
    }
    let api = write_api(api, out_dir, started, elapsed, &mut files, &mut failures);
    if flamegraph.file.is_some() {
        files.push("flamegraph.svg".into());
    }
    let target = Target::judge(
        scenarios
            .iter()
            .find(|s| s.name == output::TARGET_SCENARIO && s.runs_ok > 0)
            .and_then(|s| s.stages.get(output::TARGET_STAGE))
            .map(|p| p.p99),
        rtts.loopback.as_ref().map(|r| r.p50_us),
    );
    let mut machine = machine;
    machine.loadavg_end = crate::report::loadavg();
    files.extend(["summary.json".to_string(), "tables.md".to_string()]);
    let mut summary = Summary {
        tool: "dwcp-perf stages",
        started_utc,
        finished_utc: utc_timestamp(unix_now()),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        out_dir: out_dir.display().to_string(),
        machine,
        settings: Settings {
            size_bytes: args.size,
            runs: usize::from(args.runs),
            mode: args.mode.name(),
            streams: args.streams,
            wan_profile: args.wan_profile.clone(),
            api_calls: args.api_calls,
            api_migrations: args.api_migrations,
            api_memory_bytes: api_memory_bytes(args.size),
            seed: args.seed,
            child_timeout_s: args.child_timeout_s,
        },
        rtt: rtts,
        target,
        scenarios,
        api,
        flamegraph,
        linkem: linkem_ready,
        plot_font: font.ok().map(|p| p.display().to_string()),
        files,
        warnings: warnings.clone(),
        ok: false,
    };
    summary.ok = summary.compute_ok() && failures.is_empty();
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    let summary_path = out_dir.join("summary.json");
    std::fs::write(&summary_path, json)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    let tables = output::tables(&summary);
    let tables_path = out_dir.join("tables.md");
    std::fs::write(&tables_path, &tables)
        .with_context(|| format!("writing {}", tables_path.display()))?;
    println!("{tables}");
    for w in &warnings {
        eprintln!("dwcp-perf: warning: {w}");
    }
    eprintln!("dwcp-perf: wrote {}", out_dir.display());
    if !failures.is_empty() {
        anyhow::bail!("could not write every output: {}", failures.join("; "));
    }
    if !summary.ok {
        eprintln!(
            "dwcp-perf: the target was {} or a part failed (see the tables); exit status 3",
            summary.target.verdict.label()
        );
    }
    Ok(summary.ok)
}

fn loopback_ends() -> rtt::Ends<'static> {
    rtt::Ends {
        server: IpAddr::V4(Ipv4Addr::LOCALHOST),
        server_netns: None,
        client_netns: None,
    }
}

fn api_memory_bytes(size: u64) -> u64 {
    size.min(API_MEMORY_MAX)
}

/// The two loopback scenarios: (50%, 100%).
fn loopback(
    bench: &Bench,
    args: &StagesArgs,
    spec: &dyn Fn(Option<u64>) -> Spec,
    scratch: &Path,
) -> Result<(Scenario, Scenario)> {
    let mut s100 = Scenario::new("loopback-100", "loopback, 100% load (unpaced)");
    let mut s50 = Scenario::new(
        "loopback-50",
        "loopback, 50% load (paced at half the unpaced run's wire rate)",
    );
    let runs = usize::from(args.runs);
    let placement = Placement::default();
    for run in 1..=runs {
        let log = scratch.join(format!("loopback-100-{run}.hlog"));
        let (full, h) = scenario::measure(bench, run, spec(None), &placement, &log)?;
        let rate = full.achieved_mbps.filter(|_| full.error.is_none());
        let full_text = scenario::describe(&full);
        s100.add(full, h);
        let half_text = match rate {
            Some(rate) => {
                let log = scratch.join(format!("loopback-50-{run}.hlog"));
                let rate = crate::latency::half_rate(rate);
                let (half, h) = scenario::measure(bench, run, spec(Some(rate)), &placement, &log)?;
                let text = scenario::describe(&half);
                s50.add(half, h);
                text
            }
            None => {
                s50.add(not_run(run, "skipped: the unpaced run failed"), None);
                "skipped (the unpaced run failed)".into()
            }
        };
        eprintln!("dwcp-perf: loopback run {run}/{runs}: 100% {full_text}; 50% {half_text}");
    }
    s100.finish();
    s50.finish();
    Ok((s50, s100))
}

fn not_run(run: usize, why: &str) -> RunRecord {
    RunRecord {
        run,
        rate_limit_mbps: None,
        achieved_mbps: None,
        frames: None,
        error: Some(why.into()),
        wall_ms: 0.0,
        steal_ms: None,
        commands: Vec::new(),
        summary: None,
    }
}

/// The WAN scenario and dwcp-linkem's ready line.
fn wan(
    bench: &Bench,
    args: &StagesArgs,
    spec: &dyn Fn(Option<u64>) -> Spec,
    scratch: &Path,
    rtts: &mut Rtts,
    warnings: &mut Vec<String>,
) -> Result<(Scenario, Option<serde_json::Value>)> {
    let profile = args.wan_profile.as_str();
    let name = format!("wan-{profile}");
    let description = format!("emulated WAN `{profile}` (dwcp-linkem), unpaced");
    if profile == "none" {
        eprintln!("dwcp-perf: WAN scenario SKIPPED (--wan-profile none)");
        return Ok((
            Scenario::skipped("wan", "emulated WAN", "--wan-profile none"),
            None,
        ));
    }
    if let Some(reason) = std::env::var(WAN_SKIP_ENV).ok().filter(|r| !r.is_empty()) {
        eprintln!("dwcp-perf: WAN scenario SKIPPED: {reason}");
        return Ok((Scenario::skipped(&name, &description, &reason), None));
    }
    let binary = args
        .linkem_bin
        .clone()
        .unwrap_or_else(|| args.bin_dir.join("dwcp-linkem"));
    if let Some(reason) = linkem::unavailable(&binary) {
        eprintln!("dwcp-perf: WAN scenario SKIPPED: {reason}");
        return Ok((Scenario::skipped(&name, &description, &reason), None));
    }
    let mut scenario = Scenario::new(&name, &description);
    let pid = std::process::id();
    // dwcp-linkem takes namespace names of at most 15 characters.
    let (ns_a, ns_b) = (format!("dwperf{pid}a"), format!("dwperf{pid}b"));
    let mut link = match linkem::Linkem::start(&binary, profile, (&ns_a, &ns_b), scratch) {
        Ok(link) => link,
        Err(e) => {
            crate::interrupt::check()?;
            scenario.fail(format!("dwcp-linkem did not start: {e:#}"));
            scenario.finish();
            eprintln!(
                "dwcp-perf: WAN scenario ERROR: {}",
                scenario.reason.as_deref().unwrap_or("")
            );
            return Ok((scenario, None));
        }
    };
    eprintln!(
        "dwcp-perf: WAN link up: {} ({} Mbit/s, RTT {} us, scale {})",
        link.command,
        link.ready.rate_bps / 1_000_000,
        link.ready.rtt_us,
        link.ready.scale
    );
    rtts.wan_configured_us = Some(link.ready.rtt_us);
    let ends = rtt::Ends {
        server: link.ready.addr_b,
        server_netns: Some(&link.ready.ns_b),
        client_netns: Some(&link.ready.ns_a),
    };
    match rtt::measure(ends, WAN_RTT_ROUNDS) {
        Ok(r) => rtts.wan = Some(r),
        Err(e) => rtts.errors.push(format!("WAN RTT: {e:#}")),
    }
    let placement = Placement {
        host: link.ready.addr_b,
        receiver_prefix: linkem::Linkem::exec_in(&link.ready.ns_b),
        source_prefix: linkem::Linkem::exec_in(&link.ready.ns_a),
        stage_log: None,
    };
    let runs = usize::from(args.runs);
    for run in 1..=runs {
        if !link.running() {
            scenario.fail("dwcp-linkem exited during the runs".into());
            break;
        }
        let log = scratch.join(format!("{name}-{run}.hlog"));
        let (record, h) = scenario::measure(bench, run, spec(None), &placement, &log)?;
        eprintln!(
            "dwcp-perf: WAN run {run}/{runs}: {}",
            scenario::describe(&record)
        );
        scenario.add(record, h);
    }
    if let Some(problem) = link.stop() {
        warnings.push(problem);
    }
    let ready = link.ready_json.clone();
    for run in &mut scenario.runs {
        run.commands.insert(0, link.command.clone());
    }
    scenario.finish();
    Ok((scenario, Some(ready)))
}

/// The API-call part (two hosts on loopback).
fn api_part(
    args: &StagesArgs,
    bench: &Bench,
    scratch: &Path,
) -> Result<(ApiSection, Option<hlog::NamedHistograms>)> {
    if args.api_calls == 0 && args.api_migrations == 0 {
        return Ok((
            ApiSection::skipped("--api-calls 0 --api-migrations 0"),
            None,
        ));
    }
    let dir = scratch.join("api");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = api_memory_bytes(bench.memory.size());
    let memory = MemFile::create(Path::new("/dev/shm"), bytes, api_seed(args))?;
    let mut section = ApiSection::skipped("");
    section.status = Status::Ok;
    section.reason = None;
    let pair = match hosts::HostPair::start(&args.bin_dir, &repo_root(), &dir) {
        Ok(pair) => pair,
        Err(e) => {
            crate::interrupt::check()?;
            section.status = Status::Error;
            section.reason = Some(format!("the host pair did not start: {e:#}"));
            eprintln!(
                "dwcp-perf: API part ERROR: {}",
                section.reason.as_deref().unwrap_or("")
            );
            return Ok((section, None));
        }
    };
    section.commands = pair.commands.clone();
    eprintln!(
        "dwcp-perf: API: host pair up ({} and {}); {} rounds of GETs, {} migrations",
        pair.a.api, pair.b.api, args.api_calls, args.api_migrations
    );
    let report = api::run(
        &pair,
        args.api_calls,
        args.api_migrations,
        memory.path(),
        bytes,
    )?;
    drop(pair);
    if !report.ok() {
        section.status = Status::Error;
        section.reason = Some(format!(
            "{} failed calls, {} failed migrations",
            report.errors.len(),
            report
                .migrations
                .iter()
                .filter(|m| m.error.is_some())
                .count()
        ));
    }
    section.calls = report.calls.clone();
    section.errors = report.errors.clone();
    section.migrations = report.migrations.clone();
    Ok((section, Some(report.histograms)))
}

fn api_seed(args: &StagesArgs) -> u64 {
    args.seed.wrapping_add(1)
}

/// The repository root: the working directory when it holds
/// scripts/gen-certs.sh (run.sh runs from there), else where this crate
/// was built from.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("scripts/gen-certs.sh").is_file() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or(cwd, Path::to_path_buf)
}

/// Writes api.hlog and api.png.
fn write_api(
    (mut section, histograms): (ApiSection, Option<hlog::NamedHistograms>),
    out_dir: &Path,
    started: SystemTime,
    elapsed: Duration,
    files: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> ApiSection {
    let Some(histograms) = histograms else {
        return section;
    };
    let comment = "DWCP control-plane API call latencies, microseconds";
    match hlog::write(
        &out_dir.join("api.hlog"),
        &histograms,
        comment,
        started,
        elapsed,
    ) {
        Ok(()) => section.hlog = Some("api.hlog".into()),
        Err(e) => failures.push(format!("{e:#}")),
    }
    let series: Vec<(String, &hdrhistogram::Histogram<u64>)> =
        histograms.iter().map(|(n, h)| (n.to_owned(), h)).collect();
    match plot::draw(
        &out_dir.join("api.png"),
        "control-plane API calls (request to whole answer read)",
        &series,
    ) {
        Ok(()) => section.plot = Some("api.png".into()),
        Err(e) => failures.push(format!("{e:#}")),
    }
    files.extend(section.hlog.clone().into_iter().chain(section.plot.clone()));
    section
}

/// One more unpaced loopback migration with `perf record` on both ends.
fn flamegraph(
    args: &StagesArgs,
    bench: &Bench,
    out_dir: &Path,
    scratch: &Path,
    spec: &dyn Fn(Option<u64>) -> Spec,
) -> Result<(Flamegraph, Option<String>)> {
    let skipped = |reason: String| Flamegraph {
        status: "skipped",
        file: None,
        reason: Some(reason),
        commands: Vec::new(),
    };
    if args.no_flamegraph {
        return Ok((skipped("--no-flamegraph".into()), None));
    }
    if let flame::Availability::Unavailable(reason) = flame::probe(scratch) {
        eprintln!("dwcp-perf: flamegraph skipped: {reason}");
        return Ok((skipped(reason), None));
    }
    let (source, destination) = (
        scratch.join("source.perf.data"),
        scratch.join("destination.perf.data"),
    );
    let placement = Placement {
        receiver_prefix: flame::record_prefix(&destination),
        source_prefix: flame::record_prefix(&source),
        ..Placement::default()
    };
    eprintln!("dwcp-perf: recording one more loopback migration with perf for the flamegraph");
    let (outcome, mut commands) =
        bench
            .runner
            .run_placed(bench.memory.path(), spec(None), &placement)?;
    let failed = |reason: String, commands: Vec<String>| {
        let warning = format!("flamegraph failed: {reason}");
        (
            Flamegraph {
                status: "failed",
                file: None,
                reason: Some(reason),
                commands,
            },
            Some(warning),
        )
    };
    if let Some(error) = outcome.error {
        return Ok(failed(
            format!("the profiled migration failed: {error}"),
            commands,
        ));
    }
    let svg = out_dir.join("flamegraph.svg");
    let rendered = flame::render(
        &[
            ("source", source.as_path()),
            ("destination", destination.as_path()),
        ],
        &svg,
        scratch,
    );
    let _ = std::fs::remove_file(&source);
    let _ = std::fs::remove_file(&destination);
    match rendered {
        Ok(more) => {
            commands.extend(more);
            Ok((
                Flamegraph {
                    status: "written",
                    file: Some("flamegraph.svg".into()),
                    reason: None,
                    commands,
                },
                None,
            ))
        }
        Err(e) => {
            crate::interrupt::check()?;
            Ok(failed(format!("{e:#}"), commands))
        }
    }
}
