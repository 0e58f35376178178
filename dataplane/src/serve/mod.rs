//! `dwcp-dataplane serve`: the long-running data plane. It takes its jobs
//! from the shared-memory tables the control plane writes
//! (`dwcp_shared::tables`), runs each migration on its own threads, and
//! publishes heartbeat, per-job status and link samples back.
//!
//! # Design
//! One loop on one thread, never on the page path: every
//! [`SERVE_TICK`] it beats the heartbeat, reads the job specs, starts new
//! jobs, applies changed live settings (pacing, tier, hold, cancel: they
//! reach the engine within one frame), writes each running job's status,
//! and once a second samples the links. The migrations themselves run on
//! their own pinned threads exactly as `migrate`/`receive` do, so the data
//! plane keeps moving pages whatever the control plane does: if it dies,
//! the specs stay in the tables; if it restarts, it re-attaches and reads
//! the status records.
//!
//! A spec whose status record (same job id) is not final but that no thread
//! runs was left by an earlier incarnation of this process: the migration
//! died with it, and the loop marks it failed, never completed.

pub mod job;
pub mod link_sample;
pub mod workers;

use crate::progress::{COMPUTE_WORKER, TRANSPORT_WORKER};
use dwcp_dataplane_core::worker_meter::{WorkerSnapshot, WorkerState};
use dwcp_shared::tables::{
    JobRole, JobSpec, JobState, JobStatus, LinkSample, RequestedState, Tables, TablesError,
    JOBS_MAX, LINKS_MAX, WORKERS_MAX,
};
use job::RunningJob;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use workers::JobWorkers;

/// How often the loop runs: the bound on how late a spec change is seen.
pub const SERVE_TICK: Duration = Duration::from_millis(10);
/// How often status records are rewritten while nothing changes.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(100);
/// How often link samples are taken.
pub const LINK_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
const _: () = assert!(SERVE_TICK.as_millis() * 5 <= STATUS_INTERVAL.as_millis());

/// Settings of `dwcp-dataplane serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The tables file.
    pub tables: PathBuf,
    /// Replace an existing file that is not a valid table.
    pub replace_invalid: bool,
}

/// Why the serve loop could not run.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The tables could not be created or attached.
    #[error("cannot use the tables at {path}")]
    Tables {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: TablesError,
    },
    /// Writing a record failed (a bug or a corrupted file).
    #[error("cannot write to the tables")]
    Write(#[source] TablesError),
}

/// Milliseconds since the Unix epoch (never 0).
pub fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    crate::millis(since).max(1)
}

/// The serve loop's state.
#[derive(Debug)]
pub struct Server {
    tables: Tables,
    jobs: HashMap<usize, RunningJob>,
    /// Slots whose spec failed to decode, so the warning is logged once.
    bad_slots: [bool; JOBS_MAX],
    last_status: Instant,
    last_links: Instant,
    /// When the loop started, and its time spent in `tick` (the rest it sleeps).
    started: Instant,
    busy: Duration,
    /// Worker slots written with a record (the rest are empty).
    worker_slots_used: usize,
    /// Whether "workers left out of the table" was logged.
    workers_overflow_logged: bool,
}

impl Server {
    /// Creates or re-attaches to the tables.
    pub fn open(config: &ServeConfig) -> Result<Self, ServeError> {
        let tables =
            Tables::create_or_attach(&config.tables, std::process::id(), config.replace_invalid)
                .map_err(|cause| ServeError::Tables {
                    path: config.tables.clone(),
                    cause,
                })?;
        tracing::info!(
            tables = %config.tables.display(),
            generation = tables.generation(),
            "data plane serving"
        );
        let now = Instant::now();
        Ok(Self {
            tables,
            jobs: HashMap::new(),
            bad_slots: [false; JOBS_MAX],
            last_status: now,
            last_links: now,
            started: now,
            busy: Duration::ZERO,
            worker_slots_used: 0,
            workers_overflow_logged: false,
        })
    }

    /// Runs until `stop` is set; then cancels running jobs and waits for them.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), ServeError> {
        while !stop.load(Ordering::Relaxed) {
            self.tick()?;
            std::thread::sleep(SERVE_TICK);
        }
        tracing::info!(jobs = self.jobs.len(), "stopping: cancelling running jobs");
        for job in self.jobs.values() {
            job.handles.live.cancel();
        }
        while !self.jobs.is_empty() {
            self.reap()?;
            self.tables.beat_dataplane(unix_ms());
            std::thread::sleep(SERVE_TICK);
        }
        Ok(())
    }

    /// One pass of the loop.
    pub fn tick(&mut self) -> Result<(), ServeError> {
        let tick_start = Instant::now();
        let result = self.tick_inner();
        self.busy += tick_start.elapsed();
        result
    }

    fn tick_inner(&mut self) -> Result<(), ServeError> {
        let now_ms = unix_ms();
        self.tables.beat_dataplane(now_ms);
        for slot in 0..JOBS_MAX {
            self.visit_slot(slot, now_ms)?;
        }
        self.reap()?;
        if self.last_status.elapsed() >= STATUS_INTERVAL {
            self.last_status = Instant::now();
            for (&slot, job) in &self.jobs {
                self.tables
                    .write_job_status(slot, Some(&job.status(now_ms)))
                    .map_err(ServeError::Write)?;
            }
            self.write_workers()?;
        }
        if self.last_links.elapsed() >= LINK_SAMPLE_INTERVAL {
            self.last_links = Instant::now();
            self.sample_links(now_ms)?;
        }
        Ok(())
    }

    fn read_spec(&mut self, slot: usize) -> Option<JobSpec> {
        match self.tables.read_job_spec(slot) {
            Ok(spec) => {
                self.bad_slots[slot] = false;
                spec
            }
            Err(err) => {
                if !std::mem::replace(&mut self.bad_slots[slot], true) {
                    tracing::warn!(slot, error = %err, "ignoring an unreadable job spec");
                }
                None
            }
        }
    }

    fn visit_slot(&mut self, slot: usize, now_ms: u64) -> Result<(), ServeError> {
        let spec = self.read_spec(slot);
        if let Some(job) = self.jobs.get_mut(&slot) {
            match &spec {
                Some(spec) if spec.job_id == job.job_id => job.apply(spec),
                _ => {
                    // The control plane withdrew or replaced the spec: stop.
                    if !job.handles.live.is_cancelled() {
                        tracing::warn!(slot, job_id = job.job_id, "job spec withdrawn; cancelling");
                        job.handles.live.cancel();
                    }
                }
            }
            return Ok(());
        }
        let Some(spec) = spec else {
            return Ok(());
        };
        let status = self.tables.read_job_status(slot).ok().flatten();
        match status {
            Some(status) if status.job_id == spec.job_id => {
                if !status.state.is_final() {
                    tracing::warn!(slot, job_id = spec.job_id, "a job of an earlier data plane process was left unfinished; marking it failed");
                    let failed = JobStatus {
                        state: JobState::Failed,
                        error: Some("the data plane restarted while the migration ran".into()),
                        finished_unix_ms: now_ms,
                        updated_unix_ms: now_ms,
                        ..status
                    };
                    self.write_status(slot, &failed)?;
                }
                Ok(())
            }
            _ => self.start(slot, &spec, now_ms),
        }
    }

    fn start(&mut self, slot: usize, spec: &JobSpec, now_ms: u64) -> Result<(), ServeError> {
        if spec.requested == RequestedState::Cancel {
            let cancelled = empty_status(spec, JobState::Cancelled, now_ms, None);
            return self.write_status(slot, &cancelled);
        }
        tracing::info!(
            slot,
            job_id = spec.job_id,
            role = ?spec.role,
            vm = %spec.vm_id,
            address = %spec.address,
            "starting job"
        );
        match RunningJob::start(spec, now_ms) {
            Ok(job) => {
                let status = job.status(now_ms);
                self.jobs.insert(slot, job);
                self.write_status(slot, &status)
            }
            Err(err) => {
                let failed = empty_status(
                    spec,
                    JobState::Failed,
                    now_ms,
                    Some(format!("cannot start the job's thread: {err}")),
                );
                self.write_status(slot, &failed)
            }
        }
    }

    /// Writes the final status of every job whose thread ended.
    fn reap(&mut self) -> Result<(), ServeError> {
        let done: Vec<usize> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.is_finished())
            .map(|(&slot, _)| slot)
            .collect();
        for slot in done {
            let mut job = self.jobs.remove(&slot).expect("listed above");
            let summary = job.join();
            let status = job.final_status(summary.as_ref(), unix_ms());
            tracing::info!(slot, job_id = job.job_id, state = ?status.state, "job finished");
            self.write_status(slot, &status)?;
        }
        Ok(())
    }

    fn write_status(&self, slot: usize, status: &JobStatus) -> Result<(), ServeError> {
        self.tables
            .write_job_status(slot, Some(status))
            .map_err(ServeError::Write)
    }

    /// Rewrites the worker table: this loop, then each running job's threads.
    fn write_workers(&mut self) -> Result<(), ServeError> {
        let elapsed = self.started.elapsed();
        let serve = WorkerSnapshot {
            busy_ns: nanos(self.busy),
            idle_ns: nanos(elapsed.saturating_sub(self.busy)),
            frames: 0,
            bytes: 0,
            core: None,
            state: WorkerState::Running,
        };
        let mut slots: Vec<usize> = self.jobs.keys().copied().collect();
        slots.sort_unstable();
        let jobs: Vec<JobWorkers> = slots
            .iter()
            .map(|slot| {
                let job = &self.jobs[slot];
                let workers = &job.handles.progress.workers;
                JobWorkers {
                    job_id: job.job_id,
                    role: job.role,
                    compute: workers[COMPUTE_WORKER].snapshot(),
                    transport: workers[TRANSPORT_WORKER].snapshot(),
                }
            })
            .collect();
        let (records, left_out) = workers::worker_records(&serve, &jobs);
        if left_out > 0 && !self.workers_overflow_logged {
            tracing::warn!(
                left_out,
                slots = WORKERS_MAX,
                "worker table full: some jobs' threads are not shown"
            );
        }
        self.workers_overflow_logged = left_out > 0;
        for (slot, record) in records.iter().enumerate() {
            self.tables
                .write_worker(slot, Some(record))
                .map_err(ServeError::Write)?;
        }
        for slot in records.len()..self.worker_slots_used {
            self.tables
                .write_worker(slot, None)
                .map_err(ServeError::Write)?;
        }
        self.worker_slots_used = records.len();
        Ok(())
    }

    /// One link sample per destination a send job is talking to.
    fn sample_links(&mut self, now_ms: u64) -> Result<(), ServeError> {
        let mut used = [false; LINKS_MAX];
        for job in self.jobs.values().filter(|j| j.role == JobRole::Send) {
            let samples: Vec<link_sample::SocketSample> = job
                .handles
                .sockets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter_map(link_sample::sample_socket)
                .collect();
            let Some(combined) = link_sample::combine(&samples) else {
                continue;
            };
            let slot = self.link_slot(&job.address, &used);
            let Some(slot) = slot else {
                continue;
            };
            used[slot] = true;
            let sample = LinkSample {
                peer_address: job.address.clone(),
                sample_unix_ms: now_ms,
                rtt_us: combined.rtt_us,
                rtt_var_us: combined.rtt_var_us,
                throughput_bytes_per_s: job
                    .handles
                    .progress
                    .throughput_bytes_per_s
                    .load(Ordering::Relaxed),
                segments_out: combined.segments_out,
                retransmits: combined.retransmits,
                loss_ppm: link_sample::loss_ppm(&combined),
            };
            self.tables
                .write_link_sample(slot, Some(&sample))
                .map_err(ServeError::Write)?;
        }
        Ok(())
    }

    /// The link slot that already holds `address`, else a free one.
    fn link_slot(&self, address: &str, used: &[bool; LINKS_MAX]) -> Option<usize> {
        let current: Vec<Option<LinkSample>> = (0..LINKS_MAX)
            .map(|slot| self.tables.read_link_sample(slot).ok().flatten())
            .collect();
        current
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.peer_address == address))
            .or_else(|| (0..LINKS_MAX).find(|&slot| current[slot].is_none() && !used[slot]))
    }
}

/// A status record for a job that never ran.
fn empty_status(spec: &JobSpec, state: JobState, now_ms: u64, error: Option<String>) -> JobStatus {
    JobStatus {
        job_id: spec.job_id,
        applied_spec_version: spec.spec_version,
        state,
        round: 0,
        memory_bytes: 0,
        pages_done: 0,
        pages_remaining: 0,
        bytes_on_wire: 0,
        pages_by_kind: [0; dwcp_shared::tables::ENCODING_KINDS],
        bytes_by_kind: [0; dwcp_shared::tables::ENCODING_KINDS],
        dirty_bytes_per_s: 0,
        throughput_bytes_per_s: 0,
        streams_active: 0,
        streams_connected: 0,
        pacing_bytes_per_s: spec.pacing_bytes_per_s,
        compression: spec.compression,
        started_unix_ms: now_ms,
        updated_unix_ms: now_ms,
        finished_unix_ms: now_ms,
        downtime_ms: 0,
        error,
        summary_json: None,
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
