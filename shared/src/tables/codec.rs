//! Conversions between the owned records (`records.rs`) and their payloads
//! in the file (`raw.rs`).
//!
//! The rules of a valid record live in one place, the `decode_*` functions:
//! a reader applies them to what it copied out of the file, and a writer
//! applies them to what it is about to store (`encode_*` builds the payload,
//! then decodes it), so the two sides cannot disagree. A decode returns
//! `Ok(None)` for an empty slot (its marker field is 0 or empty) and never
//! looks at the other fields of an empty slot.

use zerocopy::FromZeros;

use super::error::TablesError;
use super::raw::{
    RawJobSpec, RawJobStatus, RawLink, RawNode, RawPeer, RawWorker, AUTO_PACING, AUTO_STREAMS,
};
use super::records::{
    CompressionTier, JobRole, JobSpec, JobState, JobStatus, LinkMode, LinkSample, NodeInfo,
    PeerEntry, RequestedState, WorkerCounters, WorkerRole, LOSS_PPM_MAX,
};
use super::text::{check_address, RawText, TextFault};

/// Where a record is, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// The table's name.
    pub(crate) table: &'static str,
    /// The slot.
    pub(crate) slot: usize,
}

impl Ctx {
    fn field(self, field: &'static str, reason: impl Into<String>) -> TablesError {
        TablesError::Field {
            table: self.table,
            slot: self.slot,
            field,
            reason: reason.into(),
        }
    }

    /// Writer side: a text value into its field.
    fn text_in<const N: usize>(
        self,
        field: &'static str,
        value: &str,
    ) -> Result<RawText<N>, TablesError> {
        RawText::encode(value).map_err(|fault| match fault {
            TextFault::TooLong { len, max } => TablesError::TooLong { field, len, max },
            other => self.field(field, other.to_string()),
        })
    }

    /// Reader side: a text field into a `String`.
    fn text_out<const N: usize>(
        self,
        field: &'static str,
        raw: &RawText<N>,
    ) -> Result<String, TablesError> {
        raw.decode()
            .map_err(|fault| self.field(field, fault.to_string()))
    }

    /// A text that must not be empty.
    fn nonempty_text<const N: usize>(
        self,
        field: &'static str,
        raw: &RawText<N>,
    ) -> Result<String, TablesError> {
        let text = self.text_out(field, raw)?;
        if text.is_empty() {
            return Err(self.field(field, "must not be empty"));
        }
        Ok(text)
    }

    /// A text that must be a `host:port` / `[v6]:port` address.
    fn address<const N: usize>(
        self,
        field: &'static str,
        raw: &RawText<N>,
    ) -> Result<String, TablesError> {
        let text = self.text_out(field, raw)?;
        check_address(&text).map_err(|reason| self.field(field, format!("{reason}: {text:?}")))?;
        Ok(text)
    }

    /// An optional text stored as a presence flag plus a text field.
    fn optional_text<const N: usize>(
        self,
        field: &'static str,
        present: u8,
        raw: &RawText<N>,
    ) -> Result<Option<String>, TablesError> {
        if self.flag(field, present)? {
            return self.text_out(field, raw).map(Some);
        }
        if raw.declared_len() != 0 {
            return Err(self.field(field, "text present but its presence flag is 0"));
        }
        Ok(None)
    }

    /// A 0/1 byte.
    fn flag(self, field: &'static str, value: u8) -> Result<bool, TablesError> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.field(field, format!("flag is {other}, must be 0 or 1"))),
        }
    }

    /// An enum code; 0 and unknown codes are errors.
    fn code<E>(
        self,
        field: &'static str,
        code: u8,
        from_code: fn(u8) -> Option<E>,
    ) -> Result<E, TablesError> {
        from_code(code).ok_or_else(|| self.field(field, format!("unknown code {code}")))
    }

    /// A value that must not be 0.
    fn nonzero<T: PartialEq + Default>(
        self,
        field: &'static str,
        value: T,
    ) -> Result<T, TablesError> {
        if value == T::default() {
            return Err(self.field(field, "must be nonzero"));
        }
        Ok(value)
    }

    /// Reader side: the live stream count is at most the opened count (any
    /// count up to `STREAMS_MAX` when the opened count is automatic).
    fn streams_active(self, streams: u16, active: u16) -> Result<u16, TablesError> {
        let most = if streams == 0 {
            crate::limits::STREAMS_MAX
        } else {
            streams
        };
        if active > most {
            return Err(self.field(
                "streams_active",
                format!("{active} is more than the {most} streams opened"),
            ));
        }
        Ok(active)
    }

    /// Writer side: the decode of a freshly encoded record must be a record,
    /// not an empty slot.
    fn written<T>(
        self,
        marker: &'static str,
        decoded: Result<Option<T>, TablesError>,
    ) -> Result<(), TablesError> {
        match decoded? {
            Some(_) => Ok(()),
            None => Err(self.field(
                marker,
                "empty (this value marks an empty slot; write None to clear)",
            )),
        }
    }
}

/// Node: encode.
pub(crate) fn encode_node(ctx: Ctx, node: &NodeInfo) -> Result<RawNode, TablesError> {
    let mut raw = RawNode::new_zeroed();
    raw.node_id = ctx.text_in("node_id", &node.node_id)?;
    ctx.written("node_id", decode_node(ctx, &raw))?;
    Ok(raw)
}

/// Node: decode; `None` when `node_id` is empty.
pub(crate) fn decode_node(ctx: Ctx, raw: &RawNode) -> Result<Option<NodeInfo>, TablesError> {
    let node_id = ctx.text_out("node_id", &raw.node_id)?;
    if node_id.is_empty() {
        return Ok(None);
    }
    Ok(Some(NodeInfo { node_id }))
}

/// Peer: encode.
pub(crate) fn encode_peer(ctx: Ctx, peer: &PeerEntry) -> Result<RawPeer, TablesError> {
    let mut raw = RawPeer::new_zeroed();
    raw.peer_id = ctx.text_in("peer_id", &peer.peer_id)?;
    raw.data_address = ctx.text_in("data_address", &peer.data_address)?;
    raw.mode = peer.mode.map_or(0, LinkMode::code);
    ctx.written("peer_id", decode_peer(ctx, &raw))?;
    Ok(raw)
}

/// Peer: decode; `None` when `peer_id` is empty.
pub(crate) fn decode_peer(ctx: Ctx, raw: &RawPeer) -> Result<Option<PeerEntry>, TablesError> {
    let peer_id = ctx.text_out("peer_id", &raw.peer_id)?;
    if peer_id.is_empty() {
        return Ok(None);
    }
    let data_address = ctx.address("data_address", &raw.data_address)?;
    let mode = match raw.mode {
        0 => None,
        code => Some(ctx.code("mode", code, LinkMode::from_code)?),
    };
    Ok(Some(PeerEntry {
        peer_id,
        data_address,
        mode,
    }))
}

/// Job spec: encode.
pub(crate) fn encode_job_spec(ctx: Ctx, spec: &JobSpec) -> Result<RawJobSpec, TablesError> {
    let mut raw = RawJobSpec::new_zeroed();
    raw.job_id = spec.job_id;
    raw.memory_bytes = spec.memory_bytes;
    raw.pacing_bytes_per_s = spec.pacing_bytes_per_s;
    raw.key_id = spec.key_id;
    raw.key = spec.key;
    raw.spec_version = spec.spec_version;
    raw.downtime_ms = spec.downtime_ms;
    raw.max_rounds = spec.max_rounds;
    raw.streams = spec.streams;
    raw.streams_active = spec.streams_active;
    raw.role = spec.role.code();
    raw.requested = spec.requested.code();
    raw.compression = spec.compression.code();
    raw.codec = u8::from(spec.codec);
    raw.vm_id = ctx.text_in("vm_id", &spec.vm_id)?;
    raw.memory_path = ctx.text_in("memory_path", &spec.memory_path)?;
    raw.address = ctx.text_in("address", &spec.address)?;
    raw.pause_pid = spec.pause_pid;
    raw.link_mode = spec.link_mode.map_or(0, LinkMode::code);
    raw.peer_id = ctx.text_in("peer_id", &spec.peer_id)?;
    raw.auto_flags = if spec.pacing_follows_prediction {
        AUTO_PACING
    } else {
        0
    } | if spec.streams_follow_prediction {
        AUTO_STREAMS
    } else {
        0
    };
    raw.predicted_floor_bytes_per_s = spec.predicted_floor_bytes_per_s;
    ctx.written("job_id", decode_job_spec(ctx, &raw))?;
    Ok(raw)
}

/// Job spec: decode; `None` when `job_id` is 0.
pub(crate) fn decode_job_spec(ctx: Ctx, raw: &RawJobSpec) -> Result<Option<JobSpec>, TablesError> {
    if raw.job_id == 0 {
        return Ok(None);
    }
    let role = ctx.code("role", raw.role, JobRole::from_code)?;
    if role == JobRole::Send && raw.memory_bytes != 0 {
        return Err(ctx.field("memory_bytes", "must be 0 for a Send job"));
    }
    if raw.auto_flags & !(AUTO_PACING | AUTO_STREAMS) != 0 {
        return Err(ctx.field(
            "auto_flags",
            format!("unknown bits in {:#04x}", raw.auto_flags),
        ));
    }
    Ok(Some(JobSpec {
        job_id: raw.job_id,
        spec_version: ctx.nonzero("spec_version", raw.spec_version)?,
        role,
        requested: ctx.code("requested", raw.requested, RequestedState::from_code)?,
        vm_id: ctx.nonempty_text("vm_id", &raw.vm_id)?,
        memory_path: ctx.nonempty_text("memory_path", &raw.memory_path)?,
        address: ctx.address("address", &raw.address)?,
        memory_bytes: raw.memory_bytes,
        streams: raw.streams,
        streams_active: ctx.streams_active(raw.streams, raw.streams_active)?,
        pacing_bytes_per_s: raw.pacing_bytes_per_s,
        compression: ctx.code("compression", raw.compression, CompressionTier::from_code)?,
        codec: ctx.flag("codec", raw.codec)?,
        downtime_ms: ctx.nonzero("downtime_ms", raw.downtime_ms)?,
        max_rounds: ctx.nonzero("max_rounds", raw.max_rounds)?,
        key_id: ctx.nonzero("key_id", raw.key_id)?,
        key: raw.key,
        pause_pid: raw.pause_pid,
        link_mode: match raw.link_mode {
            0 => None,
            code => Some(ctx.code("link_mode", code, LinkMode::from_code)?),
        },
        peer_id: ctx.text_out("peer_id", &raw.peer_id)?,
        pacing_follows_prediction: raw.auto_flags & AUTO_PACING != 0,
        streams_follow_prediction: raw.auto_flags & AUTO_STREAMS != 0,
        predicted_floor_bytes_per_s: raw.predicted_floor_bytes_per_s,
    }))
}

/// Job status: encode.
pub(crate) fn encode_job_status(ctx: Ctx, status: &JobStatus) -> Result<RawJobStatus, TablesError> {
    let mut raw = RawJobStatus::new_zeroed();
    raw.job_id = status.job_id;
    raw.memory_bytes = status.memory_bytes;
    raw.pages_done = status.pages_done;
    raw.pages_remaining = status.pages_remaining;
    raw.bytes_on_wire = status.bytes_on_wire;
    raw.pages_by_kind = status.pages_by_kind;
    raw.bytes_by_kind = status.bytes_by_kind;
    raw.dirty_bytes_per_s = status.dirty_bytes_per_s;
    raw.throughput_bytes_per_s = status.throughput_bytes_per_s;
    raw.pacing_bytes_per_s = status.pacing_bytes_per_s;
    raw.started_unix_ms = status.started_unix_ms;
    raw.updated_unix_ms = status.updated_unix_ms;
    raw.finished_unix_ms = status.finished_unix_ms;
    raw.downtime_ms = status.downtime_ms;
    raw.applied_spec_version = status.applied_spec_version;
    raw.round = status.round;
    raw.streams_active = status.streams_active;
    raw.streams_connected = status.streams_connected;
    raw.state = status.state.code();
    raw.compression = status.compression.code();
    if let Some(error) = &status.error {
        raw.error_present = 1;
        raw.error = ctx.text_in("error", error)?;
    }
    if let Some(summary) = &status.summary_json {
        raw.summary_present = 1;
        raw.summary_json = ctx.text_in("summary_json", summary)?;
    }
    ctx.written("job_id", decode_job_status(ctx, &raw))?;
    Ok(raw)
}

/// Job status: decode; `None` when `job_id` is 0.
pub(crate) fn decode_job_status(
    ctx: Ctx,
    raw: &RawJobStatus,
) -> Result<Option<JobStatus>, TablesError> {
    if raw.job_id == 0 {
        return Ok(None);
    }
    Ok(Some(JobStatus {
        job_id: raw.job_id,
        applied_spec_version: raw.applied_spec_version,
        state: ctx.code("state", raw.state, JobState::from_code)?,
        round: raw.round,
        memory_bytes: raw.memory_bytes,
        pages_done: raw.pages_done,
        pages_remaining: raw.pages_remaining,
        bytes_on_wire: raw.bytes_on_wire,
        pages_by_kind: raw.pages_by_kind,
        bytes_by_kind: raw.bytes_by_kind,
        dirty_bytes_per_s: raw.dirty_bytes_per_s,
        throughput_bytes_per_s: raw.throughput_bytes_per_s,
        streams_active: raw.streams_active,
        streams_connected: raw.streams_connected,
        pacing_bytes_per_s: raw.pacing_bytes_per_s,
        compression: ctx.code("compression", raw.compression, CompressionTier::from_code)?,
        started_unix_ms: raw.started_unix_ms,
        updated_unix_ms: raw.updated_unix_ms,
        finished_unix_ms: raw.finished_unix_ms,
        downtime_ms: raw.downtime_ms,
        error: ctx.optional_text("error", raw.error_present, &raw.error)?,
        summary_json: ctx.optional_text("summary_json", raw.summary_present, &raw.summary_json)?,
    }))
}

/// Worker: encode.
pub(crate) fn encode_worker(ctx: Ctx, worker: &WorkerCounters) -> Result<RawWorker, TablesError> {
    let mut raw = RawWorker::new_zeroed();
    raw.role = worker.role.code();
    raw.core_present = u8::from(worker.core.is_some());
    raw.core = worker.core.unwrap_or(0);
    raw.job_id = worker.job_id;
    raw.busy_ns = worker.busy_ns;
    raw.idle_ns = worker.idle_ns;
    raw.frames = worker.frames;
    raw.bytes = worker.bytes;
    ctx.written("role", decode_worker(ctx, &raw))?;
    Ok(raw)
}

/// Worker: decode; `None` when the role code is 0.
pub(crate) fn decode_worker(
    ctx: Ctx,
    raw: &RawWorker,
) -> Result<Option<WorkerCounters>, TablesError> {
    if raw.role == 0 {
        return Ok(None);
    }
    let core = if ctx.flag("core", raw.core_present)? {
        Some(raw.core)
    } else if raw.core != 0 {
        return Err(ctx.field("core", "core set but its presence flag is 0"));
    } else {
        None
    };
    Ok(Some(WorkerCounters {
        role: ctx.code("role", raw.role, WorkerRole::from_code)?,
        core,
        job_id: raw.job_id,
        busy_ns: raw.busy_ns,
        idle_ns: raw.idle_ns,
        frames: raw.frames,
        bytes: raw.bytes,
    }))
}

/// Link sample: encode.
pub(crate) fn encode_link(ctx: Ctx, sample: &LinkSample) -> Result<RawLink, TablesError> {
    let mut raw = RawLink::new_zeroed();
    raw.sample_unix_ms = sample.sample_unix_ms;
    raw.throughput_bytes_per_s = sample.throughput_bytes_per_s;
    raw.segments_out = sample.segments_out;
    raw.retransmits = sample.retransmits;
    raw.rtt_us = sample.rtt_us;
    raw.rtt_var_us = sample.rtt_var_us;
    raw.loss_ppm = sample.loss_ppm;
    raw.peer_address = ctx.text_in("peer_address", &sample.peer_address)?;
    ctx.written("sample_unix_ms", decode_link(ctx, &raw))?;
    Ok(raw)
}

/// Link sample: decode; `None` when `sample_unix_ms` is 0.
pub(crate) fn decode_link(ctx: Ctx, raw: &RawLink) -> Result<Option<LinkSample>, TablesError> {
    if raw.sample_unix_ms == 0 {
        return Ok(None);
    }
    if raw.loss_ppm > LOSS_PPM_MAX {
        return Err(ctx.field(
            "loss_ppm",
            format!("{} exceeds {LOSS_PPM_MAX}", raw.loss_ppm),
        ));
    }
    Ok(Some(LinkSample {
        peer_address: ctx.address("peer_address", &raw.peer_address)?,
        sample_unix_ms: raw.sample_unix_ms,
        rtt_us: raw.rtt_us,
        rtt_var_us: raw.rtt_var_us,
        throughput_bytes_per_s: raw.throughput_bytes_per_s,
        segments_out: raw.segments_out,
        retransmits: raw.retransmits,
        loss_ppm: raw.loss_ppm,
    }))
}
