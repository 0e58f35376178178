//! The control plane's core: what the API, the peer link and the supervisor
//! loop do, over the shared-memory tables.
//!
//! # Design
//! The tables are the state. Every migration this host takes part in is a
//! job spec (written here) and a status record (written by the data
//! plane); nothing else needs to survive a restart, so a restarted control
//! plane re-attaches and shows every migration, its progress and its
//! result. What lives only in this process is derived or advisory: the
//! mode detectors and the bandwidth predictors (they refill from link
//! samples within a window), the set of results already reported to peers,
//! and whether the data plane's heartbeat is stale (then every unfinished
//! job is shown failed). Which of a job's settings follow the prediction is
//! in its spec, so it survives a restart.
//!
//! Lock order: `tables` before `state`; neither is held across an `.await`.

use super::error::ServiceError;
use super::view::{self, migration_view, parse_migration_id};
use crate::api_types::{
    DataPlaneStatus, Health, LinkModeName, Migration, NodeStatus, PeerStatus, StartMigration,
    UpdateMigration, WorkerStatus,
};
use crate::config::{pacing_bytes_per_s, ControlPlaneConfig};
use crate::mode::{LinkMode as DetectedMode, LinkObservation, ModeDetector};
use crate::peer::{PeerClient, PeerRequest, PeerResponse};
use crate::predict::online::{LinkForecast, OnlinePredictor, TimedSample};
use crate::predict::online_rules::{steer, SteeredJob, Steering};
use dwcp_shared::tables::{
    CompressionTier, JobRole, JobSpec, JobStatus, LinkMode, LinkSample, NodeInfo, PeerEntry,
    RequestedState, Tables, JOBS_MAX, LINKS_MAX, PEERS_MAX, WORKERS_MAX,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a destination waits for its data plane to listen.
pub const PREPARE_LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Streams for a migration over an internet link when not configured.
pub const INTERNET_STREAMS: u16 = 8;
/// Streams for a migration over a hybrid link when not configured.
pub const HYBRID_STREAMS: u16 = 4;
/// How long to wait before re-sending a result the destination did not take.
pub const REPORT_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Largest guest memory file accepted (the tables' limits aside): 16 TiB.
pub const MEMORY_BYTES_MAX: u64 = 16 << 40;

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn table_mode(mode: DetectedMode) -> LinkMode {
    match mode {
        DetectedMode::Datacenter => LinkMode::Datacenter,
        DetectedMode::Internet => LinkMode::Internet,
        DetectedMode::Hybrid => LinkMode::Hybrid,
    }
}

/// One job as read from the tables.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Its slot.
    pub slot: usize,
    /// The control plane's spec.
    pub spec: JobSpec,
    /// The data plane's status, once it took the job.
    pub status: Option<JobStatus>,
}

impl JobRecord {
    fn is_final(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.job_id == self.spec.job_id && s.state.is_final())
    }
}

/// Per-peer link knowledge.
#[derive(Debug)]
struct PeerLink {
    detector: ModeDetector,
    last: Option<LinkSample>,
}

/// A peer link as the API and the metrics show it.
#[derive(Debug, Clone)]
pub struct PeerLinkView {
    /// The peer's id.
    pub peer: String,
    /// The link's mode.
    pub mode: LinkModeName,
    /// The last link sample.
    pub last: Option<LinkSample>,
    /// The bandwidth forecast.
    pub forecast: Option<LinkForecast>,
}

#[derive(Debug, Default)]
struct State {
    links: HashMap<String, PeerLink>,
    /// One bandwidth predictor per configured peer.
    predictors: HashMap<String, OnlinePredictor>,
    /// When the prediction last changed a job's stream count (job id →
    /// Unix ms).
    streams_changed: HashMap<u64, u64>,
    /// Link samples already fed to a detector (slot → sample time).
    seen_samples: HashMap<usize, u64>,
    /// Source jobs whose result was sent to the destination's control plane.
    reported: HashSet<u64>,
    /// When each unreported result was last tried.
    report_tried: HashMap<u64, Instant>,
    /// Next port to try for a receive job.
    next_port: u16,
    /// Why the data plane is considered dead, if it is.
    dataplane_problem: Option<String>,
    /// The tables' generation when last attached (logged on change only).
    attached_generation: Option<u64>,
}

/// The control plane.
#[derive(Debug)]
pub struct ControlPlane {
    config: ControlPlaneConfig,
    tables: Mutex<Option<Tables>>,
    state: Mutex<State>,
    peers: PeerClient,
    started: Instant,
}

impl ControlPlane {
    /// A control plane for `config`; the tables are attached by
    /// [`ControlPlane::tick`] as soon as the data plane created them.
    pub fn new(config: ControlPlaneConfig, peers: PeerClient) -> Self {
        let mut fallback_logged = false;
        let predictors = config
            .peers
            .iter()
            .map(|p| {
                let (predictor, warning) =
                    OnlinePredictor::select(config.prediction.model.as_deref());
                if let (Some(warning), false) = (warning, fallback_logged) {
                    tracing::warn!("{warning}");
                    fallback_logged = true;
                }
                (p.id.clone(), predictor)
            })
            .collect();
        let state = State {
            predictors,
            links: config
                .peers
                .iter()
                .map(|p| {
                    (
                        p.id.clone(),
                        PeerLink {
                            detector: ModeDetector::new(config.mode.clone()),
                            last: None,
                        },
                    )
                })
                .collect(),
            next_port: config.receive.port_min,
            ..State::default()
        };
        Self {
            config,
            tables: Mutex::new(None),
            state: Mutex::new(state),
            peers,
            started: Instant::now(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ControlPlaneConfig {
        &self.config
    }

    /// Attaches to the tables if not attached yet; writes node and peers.
    fn attach(&self) -> Result<(), ServiceError> {
        let mut tables = lock(&self.tables);
        if tables.is_some() {
            return Ok(());
        }
        let path: &Path = &self.config.node.tables;
        let attached = Tables::attach(path).map_err(|e| {
            ServiceError::Unavailable(format!(
                "the data plane's tables at {} are not usable: {e}",
                path.display()
            ))
        })?;
        attached.write_node(&NodeInfo {
            node_id: self.config.node.id.clone(),
        })?;
        for slot in 0..PEERS_MAX {
            let entry = self.config.peers.get(slot).map(|p| PeerEntry {
                peer_id: p.id.clone(),
                data_address: p.control.clone(),
                mode: None,
            });
            attached.write_peer(slot, entry.as_ref())?;
        }
        let generation = attached.generation();
        let mut state = lock(&self.state);
        if state.attached_generation != Some(generation) {
            state.attached_generation = Some(generation);
            tracing::info!(
                tables = %path.display(),
                generation,
                dataplane_pid = attached.dataplane_pid(),
                "attached to the data plane's tables"
            );
        }
        *tables = Some(attached);
        Ok(())
    }

    fn with_tables<R>(
        &self,
        f: impl FnOnce(&Tables) -> Result<R, ServiceError>,
    ) -> Result<R, ServiceError> {
        self.attach()?;
        let tables = lock(&self.tables);
        f(tables.as_ref().expect("attached above"))
    }

    /// Every job in the tables.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, ServiceError> {
        self.with_tables(|tables| Ok(read_jobs(tables)))
    }

    fn find(&self, id: &str) -> Result<JobRecord, ServiceError> {
        let job_id = parse_migration_id(id).ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "migration id {id:?} is not 16 hex digits (see GET /v1/migrations)"
            ))
        })?;
        self.jobs()?
            .into_iter()
            .find(|j| j.spec.job_id == job_id)
            .ok_or_else(|| ServiceError::NotFound(id.to_owned()))
    }

    fn view(&self, job: &JobRecord) -> Migration {
        let state = lock(&self.state);
        let forecast = state
            .predictors
            .get(&job.spec.peer_id)
            .and_then(OnlinePredictor::forecast);
        migration_view(
            &job.spec,
            job.status.as_ref(),
            state.dataplane_problem.as_deref(),
            forecast,
        )
    }

    /// `GET /v1/migrations`: newest first.
    pub fn list(&self) -> Result<Vec<Migration>, ServiceError> {
        let mut jobs = self.jobs()?;
        jobs.sort_by_key(|j| {
            std::cmp::Reverse(j.status.as_ref().map_or(u64::MAX, |s| s.started_unix_ms))
        });
        Ok(jobs.iter().map(|j| self.view(j)).collect())
    }

    /// `GET /v1/migrations/{id}`.
    pub fn show(&self, id: &str) -> Result<Migration, ServiceError> {
        let job = self.find(id)?;
        Ok(self.view(&job))
    }

    /// A slot for a new job: an empty one, else the one whose job finished
    /// longest ago.
    fn free_slot(&self, jobs: &[JobRecord]) -> Result<usize, ServiceError> {
        let used: HashSet<usize> = jobs.iter().map(|j| j.slot).collect();
        if let Some(slot) = (0..JOBS_MAX).find(|s| !used.contains(s)) {
            return Ok(slot);
        }
        jobs.iter()
            .filter(|j| j.is_final())
            .min_by_key(|j| j.status.as_ref().map_or(0, |s| s.finished_unix_ms))
            .map(|j| j.slot)
            .ok_or_else(|| {
                ServiceError::Unavailable(format!(
                    "all {JOBS_MAX} job slots hold running migrations; wait for one to finish"
                ))
            })
    }

    fn check_dataplane(&self) -> Result<(), ServiceError> {
        let status = self.dataplane_status();
        if status.healthy {
            Ok(())
        } else {
            Err(ServiceError::Unavailable(format!(
                "the data plane is not healthy: {}",
                status.problem.unwrap_or_default()
            )))
        }
    }

    /// Why the data plane is considered dead, if it is.
    pub fn dataplane_problem(&self) -> Option<String> {
        lock(&self.state).dataplane_problem.clone()
    }

    /// The mode of the link to `peer`, if measured.
    pub fn peer_mode(&self, peer: &str) -> Option<DetectedMode> {
        lock(&self.state)
            .links
            .get(peer)
            .and_then(|l| l.detector.mode())
    }

    /// `POST /v1/migrations`: prepares the destination through its control
    /// plane, then writes the send job for the data plane.
    pub async fn start_migration(
        &self,
        request: StartMigration,
    ) -> Result<Migration, ServiceError> {
        check_vm_id(&request.vm_id)?;
        let peer = self
            .config
            .peer(&request.destination)
            .ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "destination {:?} is not a configured peer (configured: {})",
                    request.destination,
                    self.config
                        .peers
                        .iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .clone();
        let memory_bytes = check_memory_file(Path::new(&request.memory_file))?;
        if let Some(streams) = request.streams {
            if streams == 0 || streams > dwcp_shared::limits::STREAMS_MAX {
                return Err(ServiceError::BadRequest(format!(
                    "streams = {streams} is out of range (allowed 1..={})",
                    dwcp_shared::limits::STREAMS_MAX
                )));
            }
        }
        if let Some(most) = request.streams_max {
            let least = request.streams.unwrap_or(1);
            if most < least || most > dwcp_shared::limits::STREAMS_MAX {
                return Err(ServiceError::BadRequest(format!(
                    "streams_max = {most} is out of range (allowed {least}..={}: at least streams)",
                    dwcp_shared::limits::STREAMS_MAX
                )));
            }
        }
        if let Some(downtime) = request.downtime_ms {
            if downtime == 0 || downtime > 60_000 {
                return Err(ServiceError::BadRequest(format!(
                    "downtime_ms = {downtime} is out of range (allowed 1..=60000)"
                )));
            }
        }
        check_pacing(request.pacing_mbps)?;
        if let Some(pid) = request.pause_pid {
            if pid == 0 || i32::try_from(pid).is_err() {
                return Err(ServiceError::BadRequest(format!(
                    "pause_pid = {pid} is not a process id (allowed 1..={})",
                    i32::MAX
                )));
            }
        }
        self.check_dataplane()?;

        let mode = self.peer_mode(&peer.id);
        let defaults = &self.config.migration;
        let streams_active = request.streams.unwrap_or(match (defaults.streams, mode) {
            (n, _) if n > 0 => n,
            (_, Some(DetectedMode::Internet)) => INTERNET_STREAMS,
            (_, Some(DetectedMode::Hybrid)) => HYBRID_STREAMS,
            _ => 0,
        });
        // Streams to open; the data plane derives the count when it is 0.
        let streams = request.streams_max.unwrap_or(streams_active);
        let compression = request
            .compression_tier
            .map(view::table_tier)
            .unwrap_or(match mode {
                Some(DetectedMode::Internet | DetectedMode::Hybrid) => CompressionTier::Internet,
                _ => CompressionTier::Datacenter,
            });
        let job_id = loop {
            let id: u64 = rand::random();
            if id != 0 {
                break id;
            }
        };
        let key: [u8; 32] = rand::random();
        let key_id: u64 = rand::random::<u64>().max(1);
        let span = tracing::info_span!("migration", id = %view::migration_id(job_id), vm = %request.vm_id, to = %peer.id);
        let _entered = span.enter();
        tracing::info!(memory_bytes, streams, ?mode, "preparing the destination");
        let prepare = PeerRequest::PrepareReceive {
            migration_id: job_id,
            vm_id: request.vm_id.clone(),
            memory_bytes,
            key_id,
            key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
            streams,
            codec: defaults.codec,
        };
        drop(_entered);
        let response = self
            .peers
            .request(&peer.control, &peer.id, &prepare)
            .await
            .map_err(|e| ServiceError::Peer {
                peer: peer.id.clone(),
                message: e.to_string(),
            })?;
        let data_address = match response {
            PeerResponse::Prepared { data_address } => data_address,
            PeerResponse::Error { message } => {
                return Err(ServiceError::Peer {
                    peer: peer.id.clone(),
                    message,
                })
            }
            other => {
                return Err(ServiceError::Peer {
                    peer: peer.id.clone(),
                    message: format!("unexpected answer {other:?} to PrepareReceive"),
                })
            }
        };
        let spec = JobSpec {
            job_id,
            spec_version: 1,
            role: JobRole::Send,
            requested: RequestedState::Run,
            vm_id: request.vm_id.clone(),
            peer_id: peer.id.clone(),
            memory_path: request.memory_file.clone(),
            address: data_address,
            memory_bytes: 0,
            streams,
            streams_active: if streams_active == streams {
                0
            } else {
                streams_active
            },
            pacing_bytes_per_s: pacing_bytes_per_s(
                request.pacing_mbps.unwrap_or(defaults.pacing_mbps),
            ),
            compression,
            codec: defaults.codec,
            downtime_ms: u32::try_from(request.downtime_ms.unwrap_or(defaults.downtime_ms))
                .expect("checked: at most 60000"),
            max_rounds: defaults.max_rounds,
            key_id,
            key,
            pause_pid: request.pause_pid.unwrap_or(0),
            link_mode: mode.map(table_mode),
            // What the operator did not fix follows the link's prediction.
            pacing_follows_prediction: request.pacing_mbps.is_none() && defaults.pacing_mbps == 0,
            streams_follow_prediction: request.streams.is_none() && defaults.streams == 0,
            predicted_floor_bytes_per_s: 0,
        };
        let record = self.with_tables(|tables| {
            let jobs = read_jobs(tables);
            let slot = self.free_slot(&jobs)?;
            tables.write_job_status(slot, None)?;
            tables.write_job_spec(slot, Some(&spec))?;
            Ok(JobRecord {
                slot,
                spec: spec.clone(),
                status: None,
            })
        })?;
        span.in_scope(
            || tracing::info!(slot = record.slot, address = %spec.address, "migration started"),
        );
        Ok(self.view(&record))
    }

    /// Rewrites a job's spec with `change` applied and its version bumped.
    /// The spec is read afresh under the tables lock: the API and the
    /// supervisor both rewrite specs, and each change must apply to the
    /// other's (else both would write the same next version and the data
    /// plane would skip the second).
    fn rewrite(
        &self,
        job: &JobRecord,
        change: impl FnOnce(&mut JobSpec),
    ) -> Result<JobRecord, ServiceError> {
        let spec = self.with_tables(|tables| {
            let mut spec = tables
                .read_job_spec(job.slot)?
                .filter(|s| s.job_id == job.spec.job_id)
                .ok_or_else(|| ServiceError::NotFound(view::migration_id(job.spec.job_id)))?;
            change(&mut spec);
            spec.spec_version = spec.spec_version.wrapping_add(1).max(1);
            tables.write_job_spec(job.slot, Some(&spec))?;
            Ok(spec)
        })?;
        Ok(JobRecord {
            slot: job.slot,
            spec,
            status: job.status.clone(),
        })
    }

    /// `POST /v1/migrations/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<Migration, ServiceError> {
        let job = self.find(id)?;
        if job.is_final() {
            return Err(ServiceError::Conflict(format!(
                "migration {id} is already {:?}",
                view::api_state(job.status.as_ref())
            )));
        }
        let job = self.rewrite(&job, |spec| spec.requested = RequestedState::Cancel)?;
        tracing::info!(id, "cancel requested");
        if let Some(peer) = self.config.peer(&job.spec.peer_id) {
            let request = PeerRequest::Cancel {
                migration_id: job.spec.job_id,
            };
            if let Err(err) = self.peers.request(&peer.control, &peer.id, &request).await {
                tracing::warn!(id, peer = %peer.id, error = %err, "could not tell the peer about the cancel");
            }
        }
        Ok(self.view(&job))
    }

    /// Cancels the job `job_id` if it runs here (a peer asked).
    pub fn cancel_by_peer(&self, job_id: u64) -> Result<(), ServiceError> {
        let id = view::migration_id(job_id);
        let job = self.find(&id)?;
        if !job.is_final() {
            self.rewrite(&job, |spec| spec.requested = RequestedState::Cancel)?;
        }
        Ok(())
    }

    /// `PATCH /v1/migrations/{id}`.
    pub fn update(&self, id: &str, update: UpdateMigration) -> Result<Migration, ServiceError> {
        let job = self.find(id)?;
        if job.is_final() {
            return Err(ServiceError::Conflict(format!(
                "migration {id} is over; nothing to change"
            )));
        }
        if job.spec.role != JobRole::Send {
            return Err(ServiceError::Conflict(format!(
                "migration {id} is received here; change it on the source host"
            )));
        }
        if let Some(streams) = update.streams {
            let connected = match job.spec.streams {
                0 => job.status.as_ref().map_or(0, |s| s.streams_connected),
                opened => opened,
            };
            if connected == 0 {
                return Err(ServiceError::Conflict(format!(
                    "streams = {streams}: the migration has not opened its streams yet; try again once it runs"
                )));
            }
            if streams == 0 || streams > connected {
                return Err(ServiceError::Conflict(format!(
                    "streams = {streams} is out of range: the migration opened {connected} streams, so 1..={connected} can carry data (start it with streams_max to open more)"
                )));
            }
        }
        if update.held == Some(true) {
            use dwcp_shared::tables::JobState;
            if let Some(state @ (JobState::Paused | JobState::Verifying)) =
                job.status.as_ref().map(|s| s.state)
            {
                return Err(ServiceError::Conflict(format!(
                    "migration {id} is {state:?}: the guest is paused for the final round, and holding now would only lengthen its downtime"
                )));
            }
        }
        check_pacing(update.pacing_mbps)?;
        let job = self.rewrite(&job, |spec| {
            // An operator's value is final: the prediction stops changing it.
            if let Some(mbps) = update.pacing_mbps {
                spec.pacing_bytes_per_s = pacing_bytes_per_s(mbps);
                spec.pacing_follows_prediction = false;
            }
            if let Some(tier) = update.compression_tier {
                spec.compression = view::table_tier(tier);
            }
            if let Some(streams) = update.streams {
                spec.streams_active = streams;
                spec.streams_follow_prediction = false;
            }
            if let Some(held) = update.held {
                spec.requested = if held {
                    RequestedState::Pause
                } else {
                    RequestedState::Run
                };
            }
        })?;
        // The answer shows what was asked; GET shows what the data plane
        // applied (within 100 ms).
        let mut migration = self.view(&job);
        if let Some(mbps) = update.pacing_mbps {
            migration.pacing_mbps = mbps;
        }
        if let Some(tier) = update.compression_tier {
            migration.compression_tier = tier;
        }
        if let Some(streams) = update.streams {
            migration.streams = streams;
        }
        if let Some(held) = update.held {
            migration.held = held;
        }
        Ok(migration)
    }

    /// Destination side of `PrepareReceive`: writes a receive job and waits
    /// until the data plane listens. Returns the address the source dials.
    pub async fn prepare_receive(
        &self,
        peer_id: &str,
        request: PeerRequest,
    ) -> Result<String, ServiceError> {
        let PeerRequest::PrepareReceive {
            migration_id,
            vm_id,
            memory_bytes,
            key_id,
            key_hex,
            streams,
            codec,
        } = request
        else {
            return Err(ServiceError::BadRequest("not a PrepareReceive".into()));
        };
        check_vm_id(&vm_id)?;
        if memory_bytes == 0 || memory_bytes % 4096 != 0 || memory_bytes > MEMORY_BYTES_MAX {
            return Err(ServiceError::BadRequest(format!(
                "memory_bytes = {memory_bytes} must be a non-zero multiple of 4096 up to {MEMORY_BYTES_MAX}"
            )));
        }
        let key = decode_key(&key_hex)?;
        self.check_dataplane()?;
        let memory_path = self.config.receive.memory_dir.join(format!("{vm_id}.ram"));
        let (slot, address) = self.with_tables(|tables| {
            let jobs = read_jobs(tables);
            if jobs.iter().any(|j| j.spec.job_id == migration_id) {
                return Err(ServiceError::Conflict(format!(
                    "migration {} is already known here",
                    view::migration_id(migration_id)
                )));
            }
            let busy: HashSet<&str> = jobs
                .iter()
                .filter(|j| !j.is_final() && j.spec.role == JobRole::Receive)
                .map(|j| j.spec.address.as_str())
                .collect();
            let address = self.next_receive_address(&busy)?;
            let slot = self.free_slot(&jobs)?;
            let spec = JobSpec {
                job_id: migration_id,
                spec_version: 1,
                role: JobRole::Receive,
                requested: RequestedState::Run,
                vm_id: vm_id.clone(),
                peer_id: peer_id.to_owned(),
                memory_path: memory_path.display().to_string(),
                address: address.clone(),
                memory_bytes,
                streams,
                streams_active: 0,
                pacing_bytes_per_s: 0,
                compression: CompressionTier::Datacenter,
                codec,
                downtime_ms: 1,
                max_rounds: 1,
                key_id,
                key,
                pause_pid: 0,
                link_mode: self.peer_mode(peer_id).map(table_mode),
                pacing_follows_prediction: false,
                streams_follow_prediction: false,
                predicted_floor_bytes_per_s: 0,
            };
            tables.write_job_status(slot, None)?;
            tables.write_job_spec(slot, Some(&spec))?;
            Ok((slot, address))
        })?;
        tracing::info!(id = %view::migration_id(migration_id), vm = %vm_id, from = peer_id, %address, "receiving");
        let deadline = Instant::now() + PREPARE_LISTEN_TIMEOUT;
        loop {
            let status = self.with_tables(|t| Ok(t.read_job_status(slot)?))?;
            if let Some(status) = status.filter(|s| s.job_id == migration_id) {
                use dwcp_shared::tables::JobState;
                match status.state {
                    JobState::Listening | JobState::Running => return Ok(address),
                    state if state.is_final() => {
                        return Err(ServiceError::Unavailable(format!(
                            "the data plane could not receive: {}",
                            status.error.unwrap_or_else(|| format!("{state:?}"))
                        )))
                    }
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(ServiceError::Unavailable(format!(
                    "the data plane did not start listening within {} ms",
                    PREPARE_LISTEN_TIMEOUT.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn next_receive_address(&self, busy: &HashSet<&str>) -> Result<String, ServiceError> {
        let receive = &self.config.receive;
        let mut state = lock(&self.state);
        for _ in 0..receive.port_count() {
            let port = state.next_port;
            state.next_port = if port >= receive.port_max {
                receive.port_min
            } else {
                port + 1
            };
            let address = if receive.data_host.contains(':') {
                format!("[{}]:{port}", receive.data_host)
            } else {
                format!("{}:{port}", receive.data_host)
            };
            if !busy.contains(address.as_str()) {
                return Ok(address);
            }
        }
        Err(ServiceError::Unavailable(format!(
            "every receive port {}..={} is in use",
            receive.port_min, receive.port_max
        )))
    }

    /// The data plane's health from its heartbeat.
    pub fn dataplane_status(&self) -> DataPlaneStatus {
        if let Err(err) = self.attach() {
            return DataPlaneStatus {
                healthy: false,
                pid: 0,
                generation: 0,
                heartbeat_age_ms: None,
                problem: Some(err.to_string()),
            };
        }
        let tables = lock(&self.tables);
        let tables = tables.as_ref().expect("attached");
        let beat = tables.dataplane_heartbeat_unix_ms();
        let age = unix_ms().saturating_sub(beat);
        let timeout = self.config.node.dataplane_heartbeat_timeout_ms;
        let healthy = beat > 0 && age <= timeout;
        DataPlaneStatus {
            healthy,
            pid: tables.dataplane_pid(),
            generation: tables.generation(),
            heartbeat_age_ms: (beat > 0).then_some(age),
            problem: (!healthy)
                .then(|| format!("no data plane heartbeat for {age} ms (time-out {timeout} ms)")),
        }
    }

    /// `GET /v1/node`.
    pub fn node_status(&self) -> NodeStatus {
        let dataplane = self.dataplane_status();
        let migrations_active = self
            .jobs()
            .map(|jobs| jobs.iter().filter(|j| !j.is_final()).count())
            .unwrap_or(0);
        let now_ms = unix_ms();
        let state = lock(&self.state);
        let peers = self
            .config
            .peers
            .iter()
            .map(|p| {
                let link = state.links.get(&p.id);
                let last = link.and_then(|l| l.last.as_ref());
                let forecast = state.predictors.get(&p.id).and_then(|p| p.forecast());
                PeerStatus {
                    id: p.id.clone(),
                    control_address: p.control.clone(),
                    mode: view::mode_name(link.and_then(|l| l.detector.mode()).map(table_mode)),
                    rtt_ms: last.map(|s| f64::from(s.rtt_us) / 1000.0),
                    throughput_mbps: last.map(|s| view::mbps(s.throughput_bytes_per_s)),
                    loss_percent: last.map(|s| f64::from(s.loss_ppm) / 10_000.0),
                    prediction: forecast.map(|f| view::link_prediction(f, now_ms)),
                }
            })
            .collect();
        NodeStatus {
            node_id: self.config.node.id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.started.elapsed().as_secs(),
            dataplane,
            peers,
            migrations_active: u32::try_from(migrations_active).unwrap_or(u32::MAX),
            workers: self.workers(),
        }
    }

    /// The data plane's worker records (empty when its tables are not there).
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.with_tables(|tables| {
            Ok((0..WORKERS_MAX)
                .filter_map(|slot| tables.read_worker(slot).ok().flatten())
                .map(|w| view::worker_view(&w))
                .collect())
        })
        .unwrap_or_default()
    }

    /// `GET /health`.
    pub fn health(&self) -> Health {
        let dataplane = self.dataplane_status();
        let mut components = BTreeMap::new();
        components.insert("controlplane".to_owned(), "ok".to_owned());
        components.insert(
            "dataplane".to_owned(),
            dataplane.problem.clone().unwrap_or_else(|| "ok".to_owned()),
        );
        Health {
            status: if dataplane.healthy { "ok" } else { "unhealthy" }.to_owned(),
            components,
        }
    }

    /// Every configured peer's link: mode, last sample, forecast.
    pub fn peer_links(&self) -> Vec<PeerLinkView> {
        let state = lock(&self.state);
        self.config
            .peers
            .iter()
            .map(|p| {
                let link = state.links.get(&p.id);
                PeerLinkView {
                    peer: p.id.clone(),
                    mode: view::mode_name(link.and_then(|l| l.detector.mode()).map(table_mode)),
                    last: link.and_then(|l| l.last.clone()),
                    forecast: state
                        .predictors
                        .get(&p.id)
                        .and_then(|p| p.forecast().cloned()),
                }
            })
            .collect()
    }

    /// One supervisor pass: heartbeat, data plane liveness, link samples
    /// into the mode detectors. Returns source jobs whose final result has
    /// not been reported to the destination yet.
    pub fn tick(&self) -> Vec<JobRecord> {
        let dataplane = self.dataplane_status();
        {
            let mut state = lock(&self.state);
            if dataplane.healthy != state.dataplane_problem.is_none() {
                match &dataplane.problem {
                    Some(problem) => tracing::error!(
                        problem,
                        "data plane unhealthy; its running migrations are reported failed"
                    ),
                    None => tracing::info!("data plane healthy"),
                }
            }
            state.dataplane_problem = dataplane.problem.clone();
        }
        if !dataplane.healthy {
            // A restarted data plane may have replaced the file: map it afresh.
            *lock(&self.tables) = None;
        }
        let Ok(()) = self.attach() else {
            return Vec::new();
        };
        let samples: Vec<(usize, LinkSample)> = {
            let tables = lock(&self.tables);
            let tables = tables.as_ref().expect("attached");
            tables.beat_controlplane(unix_ms());
            (0..LINKS_MAX)
                .filter_map(|slot| Some((slot, tables.read_link_sample(slot).ok().flatten()?)))
                .collect()
        };
        let jobs = self.jobs().unwrap_or_default();
        self.feed_samples(&samples, &jobs);
        self.steer_jobs(&jobs);
        let mut state = lock(&self.state);
        let now = Instant::now();
        let due: Vec<JobRecord> = jobs
            .into_iter()
            .filter(|j| j.spec.role == JobRole::Send && j.is_final())
            .filter(|j| !state.reported.contains(&j.spec.job_id))
            .filter(|j| {
                state
                    .report_tried
                    .get(&j.spec.job_id)
                    .is_none_or(|t| now.duration_since(*t) >= REPORT_RETRY_INTERVAL)
            })
            .collect();
        for job in &due {
            state.report_tried.insert(job.spec.job_id, now);
        }
        due
    }

    /// Feeds new link samples to the peers' mode detectors and bandwidth
    /// predictors.
    fn feed_samples(&self, samples: &[(usize, LinkSample)], jobs: &[JobRecord]) {
        let now = Instant::now();
        let now_ms = unix_ms();
        let mut state = lock(&self.state);
        for (slot, sample) in samples {
            if state.seen_samples.get(slot) == Some(&sample.sample_unix_ms) {
                continue;
            }
            state.seen_samples.insert(*slot, sample.sample_unix_ms);
            // A sample names the data address a send job dials; the job names the peer.
            let Some(job) = jobs
                .iter()
                .find(|j| j.spec.role == JobRole::Send && j.spec.address == sample.peer_address)
            else {
                continue;
            };
            let peer = job.spec.peer_id.clone();
            // A migration's throughput shows the link's capacity only when
            // nothing else limits it: not when the operator paced it (the
            // prediction paces above what it predicts), not before it sends,
            // not while it is held (the rate then stands still).
            let paced = !job.spec.pacing_follows_prediction
                && job
                    .status
                    .as_ref()
                    .map_or(job.spec.pacing_bytes_per_s, |s| s.pacing_bytes_per_s)
                    > 0;
            let held = job.spec.requested == RequestedState::Pause;
            let sending = sample.throughput_bytes_per_s > 0 && !held;
            let bandwidth_mbps = if paced || !sending {
                f64::NAN
            } else {
                view::mbps(sample.throughput_bytes_per_s)
            };
            if let (Some(predictor), true) = (state.predictors.get_mut(&peer), sending) {
                predictor.offer(TimedSample {
                    unix_ms: sample.sample_unix_ms,
                    throughput_mbps: view::mbps(sample.throughput_bytes_per_s),
                    rtt_ms: f64::from(sample.rtt_us) / 1000.0,
                    jitter_ms: f64::from(sample.rtt_var_us) / 1000.0,
                    loss_percent: f64::from(sample.loss_ppm) / 10_000.0,
                    measures_link: !paced,
                });
            }
            let Some(link) = state.links.get_mut(&peer) else {
                continue;
            };
            let observation = LinkObservation {
                rtt_ms: f64::from(sample.rtt_us) / 1000.0,
                bandwidth_mbps,
                loss_percent: f64::from(sample.loss_ppm) / 10_000.0,
            };
            link.last = Some(sample.clone());
            if let Some(change) = link.detector.observe(now, observation) {
                tracing::info!(peer, from = ?change.from, to = ?change.to, reason = %change.reason, "link mode changed");
            }
        }
        for predictor in state.predictors.values_mut() {
            predictor.settle(now_ms);
        }
    }

    /// Applies the links' forecasts to the running source jobs: the
    /// switch-over floor, and pacing and stream count where they follow
    /// the prediction (`predict::online_rules::steer`).
    fn steer_jobs(&self, jobs: &[JobRecord]) {
        use dwcp_shared::tables::JobState;
        let now_ms = unix_ms();
        let changes: Vec<(&JobRecord, Steering)> = {
            let mut state = lock(&self.state);
            state
                .streams_changed
                .retain(|id, _| jobs.iter().any(|j| j.spec.job_id == *id));
            jobs.iter()
                .filter(|j| j.spec.role == JobRole::Send)
                .filter(|j| j.spec.requested == RequestedState::Run)
                .filter_map(|job| {
                    let status = job.status.as_ref()?;
                    (status.state == JobState::Running).then_some(())?;
                    let peer = &job.spec.peer_id;
                    let mode = state.links.get(peer).and_then(|l| l.detector.mode());
                    let steered = SteeredJob {
                        pacing_follows_prediction: job.spec.pacing_follows_prediction,
                        streams_follow_prediction: job.spec.streams_follow_prediction,
                        pacing_bytes_per_s: job.spec.pacing_bytes_per_s,
                        streams_active: status.streams_active,
                        streams_connected: status.streams_connected,
                        floor_bytes_per_s: job.spec.predicted_floor_bytes_per_s,
                        shared_path: matches!(
                            mode,
                            Some(DetectedMode::Internet | DetectedMode::Hybrid)
                        ),
                        streams_changed_unix_ms: state
                            .streams_changed
                            .get(&job.spec.job_id)
                            .copied(),
                    };
                    let forecast = state.predictors.get(peer).and_then(|p| p.forecast());
                    let steering = steer(&steered, forecast, now_ms);
                    (!steering.is_empty()).then_some((job, steering))
                })
                .collect()
        };
        for (job, steering) in changes {
            let id = view::migration_id(job.spec.job_id);
            let rewritten = self.rewrite(job, |spec| {
                if let Some(floor) = steering.floor_bytes_per_s {
                    spec.predicted_floor_bytes_per_s = floor;
                }
                // The operator may have fixed a value since the jobs were read.
                if let (Some(pacing), true) =
                    (steering.pacing_bytes_per_s, spec.pacing_follows_prediction)
                {
                    spec.pacing_bytes_per_s = pacing;
                }
                if let (Some(streams), true) =
                    (steering.streams_active, spec.streams_follow_prediction)
                {
                    spec.streams_active = streams;
                }
            });
            match rewritten {
                Ok(_) => {
                    if let Some(streams) = steering.streams_active {
                        lock(&self.state)
                            .streams_changed
                            .insert(job.spec.job_id, now_ms);
                        tracing::info!(id, streams, "the prediction set the stream count");
                    }
                    if let Some(pacing) = steering.pacing_bytes_per_s {
                        tracing::info!(
                            id,
                            pacing_mbps = view::mbps(pacing),
                            "the prediction set the pacing"
                        );
                    }
                    if let Some(floor) = steering.floor_bytes_per_s {
                        tracing::debug!(id, floor_mbps = view::mbps(floor), "switch-over floor");
                    }
                }
                Err(err) => tracing::warn!(id, error = %err, "could not apply the prediction"),
            }
        }
    }

    /// Sends a final source job's result to the destination's control plane.
    pub async fn report(&self, job: &JobRecord) {
        let Some(peer) = self.config.peer(&job.spec.peer_id) else {
            lock(&self.state).reported.insert(job.spec.job_id);
            return;
        };
        let migration = self.view(job);
        let request = PeerRequest::Report {
            migration_id: job.spec.job_id,
            completed: migration.state == crate::api_types::MigrationState::Completed,
            summary: migration.summary.unwrap_or(serde_json::Value::Null),
        };
        match self.peers.request(&peer.control, &peer.id, &request).await {
            Ok(_) => {
                let mut state = lock(&self.state);
                state.reported.insert(job.spec.job_id);
                state.report_tried.remove(&job.spec.job_id);
            }
            Err(err) => {
                tracing::warn!(peer = %peer.id, error = %err, "could not report a result; will retry");
            }
        }
    }
}

/// Every job in `tables`; an unreadable record is logged and skipped.
fn read_jobs(tables: &Tables) -> Vec<JobRecord> {
    (0..JOBS_MAX)
        .filter_map(|slot| {
            let spec = tables.read_job_spec(slot).unwrap_or_else(|err| {
                tracing::warn!(slot, error = %err, "skipping an unreadable job spec");
                None
            })?;
            let status = tables
                .read_job_status(slot)
                .unwrap_or_else(|err| {
                    tracing::warn!(slot, error = %err, "unreadable job status");
                    None
                })
                .filter(|s| s.job_id == spec.job_id);
            Some(JobRecord { slot, spec, status })
        })
        .collect()
}

fn check_vm_id(vm_id: &str) -> Result<(), ServiceError> {
    if crate::config::is_valid_id(vm_id) {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "vm_id {vm_id:?} must be 1..=64 characters of [A-Za-z0-9._-]"
        )))
    }
}

fn check_pacing(mbps: Option<u64>) -> Result<(), ServiceError> {
    match mbps {
        Some(m) if m > 100_000 => Err(ServiceError::BadRequest(format!(
            "pacing_mbps = {m} is out of range (allowed 0 = unpaced, or 1..=100000 Mbit/s)"
        ))),
        _ => Ok(()),
    }
}

/// The size of a usable guest memory file.
fn check_memory_file(path: &Path) -> Result<u64, ServiceError> {
    if !path.is_absolute() {
        return Err(ServiceError::BadRequest(format!(
            "memory_file {} must be an absolute path",
            path.display()
        )));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| ServiceError::BadRequest(format!("memory_file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(ServiceError::BadRequest(format!(
            "memory_file {} is not a regular file",
            path.display()
        )));
    }
    let len = meta.len();
    if len == 0 || len % 4096 != 0 || len > MEMORY_BYTES_MAX {
        return Err(ServiceError::BadRequest(format!(
            "memory_file {} is {len} bytes; it must be a non-zero multiple of 4096 up to {MEMORY_BYTES_MAX}",
            path.display()
        )));
    }
    Ok(len)
}

fn decode_key(hex: &str) -> Result<[u8; 32], ServiceError> {
    let bad = || ServiceError::BadRequest("key_hex must be 64 hex digits".into());
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(key)
}
