//! Control-plane API latency: timed HTTP calls against the source host of a
//! [`HostPair`], one histogram per kind of call, µs from sending the request
//! to having read the whole answer (one keep-alive connection, as `dwcpctl`
//! and scrapers use it).

use super::hlog::{self, NamedHistograms, Percentiles};
use super::hosts::{agent, HostPair, HOST_IDS};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// `GET /health`.
pub const GET_HEALTH: &str = "get_health";
/// `GET /v1/node`.
pub const GET_NODE: &str = "get_node";
/// `GET /v1/migrations`.
pub const GET_MIGRATIONS: &str = "get_migrations";
/// `GET /metrics`.
pub const GET_METRICS: &str = "get_metrics";
/// `POST /v1/migrations` (start one).
pub const POST_MIGRATION: &str = "post_migration";
/// `GET /v1/migrations/{id}` while it runs, until it is final.
pub const GET_MIGRATION: &str = "get_migration";
/// Every kind, in report order.
pub const CALLS: [&str; 6] = [
    GET_HEALTH,
    GET_NODE,
    GET_MIGRATIONS,
    GET_METRICS,
    POST_MIGRATION,
    GET_MIGRATION,
];
/// A migration started through the API should take about this long (it is
/// paced to it), so that `GET /v1/migrations/{id}` sees it running.
pub const MIGRATION_TARGET: Duration = Duration::from_millis(500);
/// Pause between two polls of a running migration.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// A migration started through the API must be final within this long.
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Final states of a migration.
const FINAL_STATES: [&str; 3] = ["completed", "failed", "cancelled"];

/// One migration started through the API.
#[derive(Debug, Clone, Serialize)]
pub struct ApiMigration {
    /// Its id, if the POST answered one.
    pub id: Option<String>,
    /// `pacing_mbps` requested.
    pub pacing_mbps: u64,
    /// Distinct states seen while polling, in order.
    pub states: Vec<String>,
    /// `GET /v1/migrations/{id}` calls made.
    pub polls: u32,
    /// POST to final state, ms.
    pub elapsed_ms: f64,
    /// Why it does not count, if it does not.
    pub error: Option<String>,
}

/// What the API part measured.
#[derive(Debug, Clone, Serialize)]
pub struct ApiReport {
    /// Percentiles per call kind, µs.
    pub calls: BTreeMap<String, Percentiles>,
    /// Calls answered with an unexpected status or not at all.
    pub errors: Vec<String>,
    /// The migrations started through the API.
    pub migrations: Vec<ApiMigration>,
    /// The histograms (written to the .hlog).
    #[serde(skip)]
    pub histograms: NamedHistograms,
}

impl ApiReport {
    /// True if every call was answered as expected and every migration completed.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.migrations.iter().all(|m| m.error.is_none())
    }
}

/// Times `calls` rounds of the four GETs, then starts `migrations`
/// migrations of `memory` (`memory_bytes`) to host-b, polling each.
pub fn run(
    pair: &HostPair,
    calls: u32,
    migrations: u32,
    memory: &Path,
    memory_bytes: u64,
) -> Result<ApiReport> {
    let mut report = ApiReport {
        calls: BTreeMap::new(),
        errors: Vec::new(),
        migrations: Vec::new(),
        histograms: NamedHistograms::new(),
    };
    for name in CALLS {
        report.histograms.entry(name);
    }
    let agent = agent();
    let api = &pair.a.api;
    for _ in 0..calls {
        crate::interrupt::check()?;
        for (name, path) in [
            (GET_HEALTH, "/health"),
            (GET_NODE, "/v1/node"),
            (GET_MIGRATIONS, "/v1/migrations"),
            (GET_METRICS, "/metrics"),
        ] {
            timed_get(&agent, &mut report, name, &format!("{api}{path}"));
        }
    }
    let pacing_mbps = pacing_for(memory_bytes, MIGRATION_TARGET);
    for i in 0..migrations {
        crate::interrupt::check()?;
        let migration = migrate(&agent, &mut report, pair, i, memory, pacing_mbps)?;
        report.migrations.push(migration);
    }
    report.calls = CALLS
        .iter()
        .filter_map(|name| {
            report
                .histograms
                .get(name)
                .map(|h| ((*name).to_owned(), Percentiles::of(h)))
        })
        .collect();
    Ok(report)
}

/// Mbit/s that moves `bytes` in `target` (at least 1).
pub fn pacing_for(bytes: u64, target: Duration) -> u64 {
    let ms = u64::try_from(target.as_millis()).unwrap_or(u64::MAX).max(1);
    // bytes * 8 bits / (ms * 1000) = Mbit/s
    (bytes.saturating_mul(8) / ms.saturating_mul(1000)).max(1)
}

/// One GET, timed; returns the body if the status was 200.
fn timed_get(agent: &ureq::Agent, report: &mut ApiReport, name: &str, url: &str) -> Option<String> {
    let start = Instant::now();
    let answer = agent
        .get(url)
        .call()
        .and_then(|mut r| Ok((r.status().as_u16(), r.body_mut().read_to_string()?)));
    finish(report, name, url, start, answer, 200)
}

/// Records the call's time and checks its status.
fn finish(
    report: &mut ApiReport,
    name: &str,
    url: &str,
    start: Instant,
    answer: Result<(u16, String), ureq::Error>,
    expected: u16,
) -> Option<String> {
    let elapsed = start.elapsed();
    match answer {
        Ok((status, body)) if status == expected => {
            hlog::record(report.histograms.entry(name), elapsed);
            Some(body)
        }
        Ok((status, body)) => {
            report
                .errors
                .push(format!("{name} {url}: status {status}: {body:.300}"));
            None
        }
        Err(e) => {
            report.errors.push(format!("{name} {url}: {e}"));
            None
        }
    }
}

fn migrate(
    agent: &ureq::Agent,
    report: &mut ApiReport,
    pair: &HostPair,
    index: u32,
    memory: &Path,
    pacing_mbps: u64,
) -> Result<ApiMigration> {
    let body = serde_json::json!({
        "vm_id": format!("perf-{}-{index}", std::process::id()),
        "memory_file": memory,
        "destination": HOST_IDS[1],
        "streams": 1,
        "pacing_mbps": pacing_mbps,
    })
    .to_string();
    let api = &pair.a.api;
    let url = format!("{api}/v1/migrations");
    let start = Instant::now();
    let answer = agent
        .post(&url)
        .header("content-type", "application/json")
        .send(body.as_str())
        .and_then(|mut r| Ok((r.status().as_u16(), r.body_mut().read_to_string()?)));
    let mut migration = ApiMigration {
        id: None,
        pacing_mbps,
        states: Vec::new(),
        polls: 0,
        elapsed_ms: 0.0,
        error: None,
    };
    let Some(created) = finish(report, POST_MIGRATION, &url, start, answer, 201) else {
        migration.error = Some("POST /v1/migrations failed (see errors)".into());
        return Ok(migration);
    };
    let created: serde_json::Value =
        serde_json::from_str(&created).context("POST /v1/migrations answered no JSON")?;
    let Some(id) = created
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
    else {
        migration.error = Some(format!("POST answered no id: {created}"));
        return Ok(migration);
    };
    migration.id = Some(id.clone());
    let url = format!("{api}/v1/migrations/{id}");
    loop {
        crate::interrupt::check()?;
        migration.polls += 1;
        let Some(body) = timed_get(agent, report, GET_MIGRATION, &url) else {
            migration.error = Some("GET /v1/migrations/{id} failed (see errors)".into());
            break;
        };
        let view: serde_json::Value =
            serde_json::from_str(&body).context("GET /v1/migrations/{id} answered no JSON")?;
        let state = view
            .get("state")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned();
        if migration.states.last() != Some(&state) {
            migration.states.push(state.clone());
        }
        if FINAL_STATES.contains(&state.as_str()) {
            if state != "completed" {
                migration.error = Some(format!(
                    "ended {state}: {}",
                    view.get("error").unwrap_or(&serde_json::Value::Null)
                ));
            }
            break;
        }
        if start.elapsed() > MIGRATION_TIMEOUT {
            migration.error = Some(format!("not final after {MIGRATION_TIMEOUT:?}"));
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    migration.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    // The destination's receive job ends a little after the source's job
    // (its status is written every 100 ms) and holds the receive port until
    // then: wait for it (untimed) before the next POST needs the port.
    let destination = format!("{}/v1/migrations/{id}", pair.b.api);
    if let Err(e) = wait_final(agent, &destination) {
        migration.error.get_or_insert(format!("destination: {e:#}"));
    }
    Ok(migration)
}

/// Polls `url` (a migration) until its state is final.
fn wait_final(agent: &ureq::Agent, url: &str) -> Result<()> {
    let deadline = Instant::now() + MIGRATION_TIMEOUT;
    loop {
        crate::interrupt::check()?;
        let (status, body) = agent
            .get(url)
            .call()
            .and_then(|mut r| Ok((r.status().as_u16(), r.body_mut().read_to_string()?)))
            .with_context(|| format!("GET {url}"))?;
        let state = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_owned));
        match state {
            Some(state) if status == 200 && FINAL_STATES.contains(&state.as_str()) => return Ok(()),
            _ if Instant::now() >= deadline => {
                anyhow::bail!(
                    "GET {url}: not final after {MIGRATION_TIMEOUT:?}: {status} {body:.200}"
                )
            }
            _ => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_moves_the_bytes_in_the_target_time() {
        // 32 MiB in 500 ms = 536.87 Mbit/s
        assert_eq!(pacing_for(32 << 20, Duration::from_millis(500)), 536);
        assert_eq!(pacing_for(1, Duration::from_millis(500)), 1);
        assert_eq!(
            pacing_for(1 << 20, Duration::ZERO),
            8388,
            "0 ms counts as 1 ms"
        );
    }
}
