//! Shared-memory tables between the DWCP data plane and control plane.
//!
//! # Design
//!
//! One file (in `/dev/shm` or on a 2 MiB hugetlbfs mount, mode 0600) holds
//! a header and six fixed-size tables ([`layout`] has the offsets). The data
//! plane creates it, or re-attaches after a restart, with
//! [`Tables::create_or_attach`]; the control plane attaches with
//! [`Tables::attach`]. Both map it `MAP_SHARED` and neither process ever
//! blocks on the other: the data plane polls the control plane's records at
//! its own pace.
//!
//! | table | slots | writer |
//! |-------|-------|--------|
//! | node ([`NodeInfo`]) | 1 | control plane |
//! | peers ([`PeerEntry`]) | [`PEERS_MAX`] | control plane |
//! | job specs ([`JobSpec`]) | [`JOBS_MAX`] | control plane |
//! | job statuses ([`JobStatus`], same slot as the spec) | [`JOBS_MAX`] | data plane |
//! | workers ([`WorkerCounters`]) | [`WORKERS_MAX`] | data plane |
//! | link samples ([`LinkSample`], one per destination address) | [`LINKS_MAX`] | data plane |
//!
//! Header fields: `generation` (data plane, +1 per create or re-attach),
//! `dataplane_pid` and `dataplane_heartbeat_unix_ms` (data plane, at least
//! 10 times a second), `controlplane_heartbeat_unix_ms` (control plane).
//! They are atomics; heartbeats use `Release` stores and `Acquire` loads.
//!
//! Each record has exactly one writer *process* and is guarded by its own
//! seqlock (`seqlock.rs` explains the `Acquire`/`Release` pairs), so readers
//! always get one writer's complete record or `TablesError::Torn`, never a
//! mix. Inside a process, writes take `&self` and two threads writing the
//! same record are serialised by the seqlock's compare-exchange (a short
//! spin, no `Mutex`), so [`Tables`] is `Send + Sync` and can be shared in an
//! `Arc`. Two *processes* writing the same record break the protocol.
//!
//! A zeroed record is never valid: every record has a marker field (an id,
//! a role or a timestamp) whose zero means "empty slot". Everything read is
//! validated ([`TablesError::Field`]), and a file that is not a table of
//! this build is refused before it is mapped, so a corrupt, truncated or
//! foreign file is a typed error, never undefined behaviour or a panic.
//! `unsafe` is confined to `region.rs`.
//!
//! The format and protocol are documented in `docs/tables.md`.

mod codec;
mod error;
mod file;
pub mod layout;
mod raw;
mod records;
#[allow(unsafe_code)] // building `&AtomicU64` over the mapping; nowhere else
mod region;
mod seqlock;
mod text;

#[cfg(test)]
mod tables_test;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use self::codec::Ctx;
use self::file::Origin;
use self::layout::{
    Owner, Table, CONTROLPLANE_HEARTBEAT_OFFSET, DATAPLANE_HEARTBEAT_OFFSET, DATAPLANE_PID_OFFSET,
    GENERATION_OFFSET,
};
use self::raw::{RawJobSpec, RawJobStatus, RawLink, RawNode, RawPeer, RawWorker};
use self::region::SharedRegion;
use self::seqlock::SeqlockPayload;

pub use self::error::TablesError;
pub use self::file::TABLES_FILE_MODE;
pub use self::layout::{
    HEADER_LEN, JOBS_MAX, LINKS_MAX, NODE_RECORDS, PEERS_MAX, TABLES_FILE_LEN,
    TABLES_LAYOUT_VERSION, TABLES_MAGIC, WORKERS_MAX,
};
pub use self::records::{
    CompressionTier, JobRole, JobSpec, JobState, JobStatus, LinkMode, LinkSample, NodeInfo,
    PeerEntry, RequestedState, WorkerCounters, WorkerRole, ENCODING_KINDS, LOSS_PPM_MAX,
};
pub use self::seqlock::{SEQLOCK_RETRIES_MAX, SEQLOCK_YIELD_EVERY, WRITER_SLEEP_RETRIES_MAX};
pub use self::text::{
    ADDRESS_LEN_MAX, ERROR_LEN_MAX, NODE_ID_LEN_MAX, PATH_LEN_MAX, SUMMARY_LEN_MAX, VM_ID_LEN_MAX,
};

/// A mapped tables file.
///
/// Method groups, in call order:
/// 1. Open: [`create_or_attach`](Self::create_or_attach) (data plane) or
///    [`attach`](Self::attach) (control plane).
/// 2. Liveness: [`generation`](Self::generation),
///    [`dataplane_pid`](Self::dataplane_pid), the heartbeats and `beat_*`.
/// 3. Records: `write_*` by the owner of the table, `read_*` by anyone;
///    `write_*(slot, None)` clears a slot.
///
/// Dropping it unmaps the file; the file stays (the data plane's restart
/// re-attaches to it). Removing the file is the caller's decision.
#[derive(Debug)]
pub struct Tables {
    /// The mapping; the file descriptor is closed once it is mapped.
    region: SharedRegion,
    /// The path it was opened at.
    path: PathBuf,
}

impl Tables {
    /// Data plane: create the file (mode 0600, `O_NOFOLLOW`) or re-attach
    /// to a valid existing one.
    ///
    /// On re-attach it makes the file mode 0600, resets every data-plane
    /// record whose seqlock was left odd (a writer died mid-write), stores
    /// `pid` and increments `generation`; a new file starts at generation 1.
    /// Control-plane records are kept. An existing file that is not a valid
    /// table of this build (`TablesError::is_invalid_file`: wrong magic,
    /// version, length or layout) is an error and is left alone, unless
    /// `replace_invalid`, in which case a new file atomically replaces it.
    pub fn create_or_attach(
        path: &Path,
        pid: u32,
        replace_invalid: bool,
    ) -> Result<Tables, TablesError> {
        let (region, origin) = file::create_or_attach(path, pid, replace_invalid)?;
        let tables = Tables {
            region,
            path: path.to_owned(),
        };
        if origin == Origin::Existing {
            tables.reset_torn(Owner::DataPlane);
            tables
                .region
                .word32(DATAPLANE_PID_OFFSET)
                .store(pid, Ordering::Release);
            tables
                .region
                .word(GENERATION_OFFSET)
                .fetch_add(1, Ordering::AcqRel);
        }
        Ok(tables)
    }

    /// Control plane: attach to an existing file and check its header.
    /// Resets every control-plane record whose seqlock was left odd.
    pub fn attach(path: &Path) -> Result<Tables, TablesError> {
        let region = file::attach_existing(path)?;
        let tables = Tables {
            region,
            path: path.to_owned(),
        };
        tables.reset_torn(Owner::ControlPlane);
        Ok(tables)
    }

    /// Resets the odd-seq records of every table `owner` writes.
    fn reset_torn(&self, owner: Owner) {
        for table in Table::ALL.into_iter().filter(|t| t.owner() == owner) {
            for slot in 0..table.count() {
                let offset = table.record_offset(slot).expect("slot below count");
                match table {
                    Table::Node => seqlock::reset_if_torn::<RawNode>(&self.region, offset),
                    Table::Peers => seqlock::reset_if_torn::<RawPeer>(&self.region, offset),
                    Table::JobSpecs => seqlock::reset_if_torn::<RawJobSpec>(&self.region, offset),
                    Table::JobStatuses => {
                        seqlock::reset_if_torn::<RawJobStatus>(&self.region, offset)
                    }
                    Table::Workers => seqlock::reset_if_torn::<RawWorker>(&self.region, offset),
                    Table::Links => seqlock::reset_if_torn::<RawLink>(&self.region, offset),
                };
            }
        }
    }

    /// The path the file was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times a data plane created or re-attached to this file.
    pub fn generation(&self) -> u64 {
        self.region.word(GENERATION_OFFSET).load(Ordering::Acquire)
    }

    /// Process id of the data plane that last created or re-attached.
    pub fn dataplane_pid(&self) -> u32 {
        self.region
            .word32(DATAPLANE_PID_OFFSET)
            .load(Ordering::Acquire)
    }

    /// The data plane's last heartbeat (Unix ms; 0 = none yet).
    pub fn dataplane_heartbeat_unix_ms(&self) -> u64 {
        self.region
            .word(DATAPLANE_HEARTBEAT_OFFSET)
            .load(Ordering::Acquire)
    }

    /// Data plane: record a heartbeat (at least 10 times a second).
    pub fn beat_dataplane(&self, unix_ms: u64) {
        self.region
            .word(DATAPLANE_HEARTBEAT_OFFSET)
            .store(unix_ms, Ordering::Release);
    }

    /// The control plane's last heartbeat (Unix ms; 0 = none yet).
    pub fn controlplane_heartbeat_unix_ms(&self) -> u64 {
        self.region
            .word(CONTROLPLANE_HEARTBEAT_OFFSET)
            .load(Ordering::Acquire)
    }

    /// Control plane: record a heartbeat.
    pub fn beat_controlplane(&self, unix_ms: u64) {
        self.region
            .word(CONTROLPLANE_HEARTBEAT_OFFSET)
            .store(unix_ms, Ordering::Release);
    }

    /// Copies a record out under its seqlock and decodes it.
    fn read_record<R: SeqlockPayload, T>(
        &self,
        table: Table,
        slot: usize,
        decode: fn(Ctx, &R) -> Result<Option<T>, TablesError>,
    ) -> Result<Option<T>, TablesError> {
        let offset = table.record_offset(slot)?;
        let ctx = Ctx {
            table: table.name(),
            slot,
        };
        let raw = seqlock::read::<R>(&self.region, offset, ctx.table, slot)?;
        decode(ctx, &raw)
    }

    /// Encodes (and validates) a record and stores it under its seqlock;
    /// `None` zeroes the whole record.
    fn write_record<R: SeqlockPayload, T>(
        &self,
        table: Table,
        slot: usize,
        value: Option<&T>,
        encode: fn(Ctx, &T) -> Result<R, TablesError>,
    ) -> Result<(), TablesError> {
        let offset = table.record_offset(slot)?;
        let ctx = Ctx {
            table: table.name(),
            slot,
        };
        match value {
            Some(value) => {
                let raw = encode(ctx, value)?;
                seqlock::write(&self.region, offset, &raw, false, ctx.table, slot)
            }
            None => seqlock::write(
                &self.region,
                offset,
                &R::new_zeroed(),
                true,
                ctx.table,
                slot,
            ),
        }
    }

    /// Control plane: set the node record.
    pub fn write_node(&self, node: &NodeInfo) -> Result<(), TablesError> {
        self.write_record(Table::Node, 0, Some(node), codec::encode_node)
    }

    /// The node record; `None` until the control plane wrote it.
    pub fn read_node(&self) -> Result<Option<NodeInfo>, TablesError> {
        self.read_record(Table::Node, 0, codec::decode_node)
    }

    /// Control plane: set (`Some`) or clear (`None`) peer `slot`.
    pub fn write_peer(&self, slot: usize, peer: Option<&PeerEntry>) -> Result<(), TablesError> {
        self.write_record(Table::Peers, slot, peer, codec::encode_peer)
    }

    /// Peer `slot`; `None` when empty.
    pub fn read_peer(&self, slot: usize) -> Result<Option<PeerEntry>, TablesError> {
        self.read_record(Table::Peers, slot, codec::decode_peer)
    }

    /// Control plane: set (`Some`) or clear (`None`) job spec `slot`.
    pub fn write_job_spec(&self, slot: usize, spec: Option<&JobSpec>) -> Result<(), TablesError> {
        self.write_record(Table::JobSpecs, slot, spec, codec::encode_job_spec)
    }

    /// Job spec `slot`; `None` when empty.
    pub fn read_job_spec(&self, slot: usize) -> Result<Option<JobSpec>, TablesError> {
        self.read_record(Table::JobSpecs, slot, codec::decode_job_spec)
    }

    /// Data plane: set (`Some`) or clear (`None`) job status `slot`.
    pub fn write_job_status(
        &self,
        slot: usize,
        status: Option<&JobStatus>,
    ) -> Result<(), TablesError> {
        self.write_record(Table::JobStatuses, slot, status, codec::encode_job_status)
    }

    /// Job status `slot`; `None` when empty.
    pub fn read_job_status(&self, slot: usize) -> Result<Option<JobStatus>, TablesError> {
        self.read_record(Table::JobStatuses, slot, codec::decode_job_status)
    }

    /// Data plane: set (`Some`) or clear (`None`) worker `slot`.
    pub fn write_worker(&self, slot: usize, w: Option<&WorkerCounters>) -> Result<(), TablesError> {
        self.write_record(Table::Workers, slot, w, codec::encode_worker)
    }

    /// Worker `slot`; `None` when empty.
    pub fn read_worker(&self, slot: usize) -> Result<Option<WorkerCounters>, TablesError> {
        self.read_record(Table::Workers, slot, codec::decode_worker)
    }

    /// Data plane: set (`Some`) or clear (`None`) link sample `slot`.
    pub fn write_link_sample(
        &self,
        slot: usize,
        s: Option<&LinkSample>,
    ) -> Result<(), TablesError> {
        self.write_record(Table::Links, slot, s, codec::encode_link)
    }

    /// Link sample `slot`; `None` when empty.
    pub fn read_link_sample(&self, slot: usize) -> Result<Option<LinkSample>, TablesError> {
        self.read_record(Table::Links, slot, codec::decode_link)
    }
}

/// `Tables` is shared between threads (and its readers and writers take
/// `&self`); this fails to compile if a field ever stops being `Send + Sync`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tables>();
};
