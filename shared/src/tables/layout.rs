//! The file layout: header, table order, counts, offsets and lengths, all
//! fixed at compile time, and the check of a file's header against them.
//!
//! ```text
//! offset      len      content
//!      0      4096     header (RawHeader)
//!   4096   1 x   128   node          (control plane writes)
//!   4224  32 x   256   peers         (control plane writes)
//!  12416  32 x   640   job specs     (control plane writes)
//!  32896  32 x 17152   job statuses  (data plane writes)
//! 581760  16 x    64   workers       (data plane writes)
//! 582784  32 x   192   link samples  (data plane writes)
//! 588928  ..           zero up to TABLES_FILE_LEN (2 MiB)
//! ```
//!
//! The file is 2 MiB, one 2 MiB huge page, so the same layout works on
//! tmpfs (`/dev/shm`, where untouched pages cost nothing) and on a 2 MiB
//! hugetlbfs mount (whose files must be a whole number of huge pages).

use core::mem::offset_of;
use std::path::Path;

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::error::TablesError;
use super::raw::{RawJobSpec, RawJobStatus, RawLink, RawNode, RawPeer, RawWorker};
use super::seqlock::Seqlocked;

/// First 8 bytes of every tables file: `DWCPTBL1` read as a little-endian u64.
pub const TABLES_MAGIC: u64 = u64::from_le_bytes(*b"DWCPTBL1");
/// The layout version this build writes and the only one it reads.
///
/// 2: the job spec gained `auto_flags` (@541, was reserved) and
/// `predicted_floor_bytes_per_s` (@616); its record length is unchanged.
pub const TABLES_LAYOUT_VERSION: u32 = 2;
/// Length of the header: one 4 KiB page.
pub const HEADER_LEN: usize = 4096;

/// Records in the node table.
pub const NODE_RECORDS: usize = 1;
/// Slots in the peer table.
pub const PEERS_MAX: usize = 32;
/// Slots in the job spec table, and in the job status table (the same index
/// is the same job).
pub const JOBS_MAX: usize = 32;
/// Slots in the worker table.
pub const WORKERS_MAX: usize = 16;
/// Slots in the link sample table (one per destination data address).
pub const LINKS_MAX: usize = 32;
const _: () = assert!(LINKS_MAX == PEERS_MAX, "a link sample per peer slot");
// Payload integers are stored in native order, which the layout defines as
// little-endian; a big-endian build would misread every file.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "the tables layout is little-endian"
);

/// The file length is a multiple of this (a 2 MiB huge page).
pub const TABLES_FILE_ALIGN: usize = 2 << 20;

/// Offset of the node table.
pub const NODE_OFFSET: usize = HEADER_LEN;
/// Offset of the peer table.
pub const PEERS_OFFSET: usize = NODE_OFFSET + NODE_RECORDS * Seqlocked::<RawNode>::STRIDE;
/// Offset of the job spec table.
pub const JOB_SPECS_OFFSET: usize = PEERS_OFFSET + PEERS_MAX * Seqlocked::<RawPeer>::STRIDE;
/// Offset of the job status table.
pub const JOB_STATUSES_OFFSET: usize =
    JOB_SPECS_OFFSET + JOBS_MAX * Seqlocked::<RawJobSpec>::STRIDE;
/// Offset of the worker table.
pub const WORKERS_OFFSET: usize =
    JOB_STATUSES_OFFSET + JOBS_MAX * Seqlocked::<RawJobStatus>::STRIDE;
/// Offset of the link sample table.
pub const LINKS_OFFSET: usize = WORKERS_OFFSET + WORKERS_MAX * Seqlocked::<RawWorker>::STRIDE;
/// End of the last table.
const LAYOUT_END: usize = LINKS_OFFSET + LINKS_MAX * Seqlocked::<RawLink>::STRIDE;
/// Length of every tables file.
pub const TABLES_FILE_LEN: usize = LAYOUT_END.next_multiple_of(TABLES_FILE_ALIGN);

const _: () = assert!(NODE_OFFSET == 4096 && PEERS_OFFSET == 4224);
const _: () = assert!(JOB_SPECS_OFFSET == 12416 && JOB_STATUSES_OFFSET == 32896);
const _: () = assert!(WORKERS_OFFSET == 581_760 && LINKS_OFFSET == 582_784);
const _: () = assert!(LAYOUT_END == 588_928 && TABLES_FILE_LEN == 2 << 20);

/// Which process writes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The control plane.
    ControlPlane,
    /// The data plane.
    DataPlane,
}

/// The tables, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Node,
    Peers,
    JobSpecs,
    JobStatuses,
    Workers,
    Links,
}

/// Number of tables.
pub(crate) const TABLE_COUNT: usize = 6;

impl Table {
    /// Every table, in file order.
    pub(crate) const ALL: [Table; TABLE_COUNT] = [
        Table::Node,
        Table::Peers,
        Table::JobSpecs,
        Table::JobStatuses,
        Table::Workers,
        Table::Links,
    ];

    /// The name used in errors.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Table::Node => "node",
            Table::Peers => "peers",
            Table::JobSpecs => "job_specs",
            Table::JobStatuses => "job_statuses",
            Table::Workers => "workers",
            Table::Links => "links",
        }
    }

    /// Header field names for `TablesError::Layout`: offset, count, record_len.
    const fn field_names(self) -> [&'static str; 3] {
        match self {
            Table::Node => ["node.offset", "node.count", "node.record_len"],
            Table::Peers => ["peers.offset", "peers.count", "peers.record_len"],
            Table::JobSpecs => [
                "job_specs.offset",
                "job_specs.count",
                "job_specs.record_len",
            ],
            Table::JobStatuses => [
                "job_statuses.offset",
                "job_statuses.count",
                "job_statuses.record_len",
            ],
            Table::Workers => ["workers.offset", "workers.count", "workers.record_len"],
            Table::Links => ["links.offset", "links.count", "links.record_len"],
        }
    }

    /// Who writes the table.
    pub(crate) const fn owner(self) -> Owner {
        match self {
            Table::Node | Table::Peers | Table::JobSpecs => Owner::ControlPlane,
            Table::JobStatuses | Table::Workers | Table::Links => Owner::DataPlane,
        }
    }

    /// Number of records.
    pub(crate) const fn count(self) -> usize {
        match self {
            Table::Node => NODE_RECORDS,
            Table::Peers => PEERS_MAX,
            Table::JobSpecs | Table::JobStatuses => JOBS_MAX,
            Table::Workers => WORKERS_MAX,
            Table::Links => LINKS_MAX,
        }
    }

    /// Bytes per record (the seqlock counter included).
    pub(crate) const fn record_len(self) -> usize {
        match self {
            Table::Node => Seqlocked::<RawNode>::STRIDE,
            Table::Peers => Seqlocked::<RawPeer>::STRIDE,
            Table::JobSpecs => Seqlocked::<RawJobSpec>::STRIDE,
            Table::JobStatuses => Seqlocked::<RawJobStatus>::STRIDE,
            Table::Workers => Seqlocked::<RawWorker>::STRIDE,
            Table::Links => Seqlocked::<RawLink>::STRIDE,
        }
    }

    /// Offset of the first record.
    pub(crate) const fn offset(self) -> usize {
        match self {
            Table::Node => NODE_OFFSET,
            Table::Peers => PEERS_OFFSET,
            Table::JobSpecs => JOB_SPECS_OFFSET,
            Table::JobStatuses => JOB_STATUSES_OFFSET,
            Table::Workers => WORKERS_OFFSET,
            Table::Links => LINKS_OFFSET,
        }
    }

    /// Offset of record `slot`, or `TablesError::Slot`.
    pub(crate) fn record_offset(self, slot: usize) -> Result<usize, TablesError> {
        if slot >= self.count() {
            return Err(TablesError::Slot {
                table: self.name(),
                slot,
                max: self.count(),
            });
        }
        Ok(self.offset() + slot * self.record_len())
    }
}

/// One entry of the header's table directory.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct RawTableDesc {
    offset: u64,
    count: u32,
    record_len: u32,
}

/// The header page. The fields from `generation` on are live: they are
/// accessed as atomics at the offsets below, each group on its own cache
/// line by writer.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawHeader {
    magic: u64,
    layout_version: u32,
    header_len: u32,
    total_len: u64,
    table_count: u32,
    reserved0: u32,
    tables: [RawTableDesc; TABLE_COUNT],
    reserved1: [u8; 128],
    // Cache line written by the data plane (offset 256).
    generation: u64,
    dataplane_heartbeat_unix_ms: u64,
    dataplane_pid: u32,
    reserved2: [u8; 44],
    // Cache line written by the control plane (offset 320).
    controlplane_heartbeat_unix_ms: u64,
    reserved3: [u8; HEADER_LEN - 328],
}
const _: () = assert!(size_of::<RawHeader>() == HEADER_LEN);

/// Offset of `magic` (a u64).
pub(crate) const MAGIC_OFFSET: usize = offset_of!(RawHeader, magic);
/// Offset of `generation` (an `AtomicU64`, written by the data plane).
pub(crate) const GENERATION_OFFSET: usize = offset_of!(RawHeader, generation);
/// Offset of `dataplane_heartbeat_unix_ms` (an `AtomicU64`).
pub(crate) const DATAPLANE_HEARTBEAT_OFFSET: usize =
    offset_of!(RawHeader, dataplane_heartbeat_unix_ms);
/// Offset of `dataplane_pid` (an `AtomicU32`).
pub(crate) const DATAPLANE_PID_OFFSET: usize = offset_of!(RawHeader, dataplane_pid);
/// Offset of `controlplane_heartbeat_unix_ms` (an `AtomicU64`, written by
/// the control plane).
pub(crate) const CONTROLPLANE_HEARTBEAT_OFFSET: usize =
    offset_of!(RawHeader, controlplane_heartbeat_unix_ms);
const _: () = assert!(MAGIC_OFFSET == 0);
const _: () = assert!(GENERATION_OFFSET == 256 && DATAPLANE_HEARTBEAT_OFFSET == 264);
const _: () = assert!(DATAPLANE_PID_OFFSET == 272 && CONTROLPLANE_HEARTBEAT_OFFSET == 320);
/// Where `layout_version` is, for the header check of a short file.
const VERSION_END: usize = offset_of!(RawHeader, layout_version) + 4;

/// Converts a compile-time length or offset to the u64 stored in the file.
fn to_u64(n: usize) -> u64 {
    u64::try_from(n).expect("layout sizes fit in u64")
}

/// Converts a compile-time count or record length to the u32 stored in the file.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("layout counts and record lengths fit in u32")
}

impl RawHeader {
    /// The header of a fresh file of this build: generation 1, `pid`, no
    /// heartbeats yet.
    pub(crate) fn fresh(pid: u32) -> Self {
        let mut header = Self::new_zeroed();
        header.magic = TABLES_MAGIC;
        header.layout_version = TABLES_LAYOUT_VERSION;
        header.header_len = to_u32(HEADER_LEN);
        header.total_len = to_u64(TABLES_FILE_LEN);
        header.table_count = to_u32(TABLE_COUNT);
        for (desc, table) in header.tables.iter_mut().zip(Table::ALL) {
            desc.offset = to_u64(table.offset());
            desc.count = to_u32(table.count());
            desc.record_len = to_u32(table.record_len());
        }
        header.generation = 1;
        header.dataplane_pid = pid;
        header
    }
}

/// Checks a file's header against the compiled layout.
///
/// `head` is the first `min(file_len, HEADER_LEN)` bytes of the file and
/// `file_len` its length. The checks run in an order that names the most
/// useful cause: a file of another program is `BadMagic` and one of another
/// build is `Version` whatever their length.
pub(crate) fn check_header(path: &Path, head: &[u8], file_len: u64) -> Result<(), TablesError> {
    let expected_len = to_u64(TABLES_FILE_LEN);
    let truncated = || TablesError::Truncated {
        path: path.to_owned(),
        len: file_len,
        expected: expected_len,
    };
    let magic_bytes: [u8; 8] = head
        .get(..8)
        .ok_or_else(truncated)?
        .try_into()
        .expect("8 bytes");
    let magic = u64::from_le_bytes(magic_bytes);
    if magic != TABLES_MAGIC {
        return Err(TablesError::BadMagic {
            path: path.to_owned(),
            found: magic,
        });
    }
    let version_bytes: [u8; 4] = head
        .get(VERSION_END - 4..VERSION_END)
        .ok_or_else(truncated)?
        .try_into()
        .expect("4 bytes");
    let version = u32::from_le_bytes(version_bytes);
    if version != TABLES_LAYOUT_VERSION {
        return Err(TablesError::Version {
            path: path.to_owned(),
            found: version,
            supported: TABLES_LAYOUT_VERSION,
        });
    }
    if file_len < expected_len {
        return Err(truncated());
    }
    let layout = |field: &'static str, found: u64, expected: u64| {
        if found == expected {
            Ok(())
        } else {
            Err(TablesError::Layout {
                path: path.to_owned(),
                field,
                found,
                expected,
            })
        }
    };
    layout("file_len", file_len, expected_len)?;
    let found = RawHeader::read_from_bytes(head).map_err(|_| truncated())?;
    let want = RawHeader::fresh(0);
    layout(
        "header_len",
        found.header_len.into(),
        want.header_len.into(),
    )?;
    layout("total_len", found.total_len, want.total_len)?;
    layout(
        "table_count",
        found.table_count.into(),
        want.table_count.into(),
    )?;
    for ((got, exp), table) in found.tables.iter().zip(&want.tables).zip(Table::ALL) {
        let [offset, count, record_len] = table.field_names();
        layout(offset, got.offset, exp.offset)?;
        layout(count, got.count.into(), exp.count.into())?;
        layout(record_len, got.record_len.into(), exp.record_len.into())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("/test/tables")
    }

    fn good() -> Vec<u8> {
        RawHeader::fresh(7).as_bytes().to_vec()
    }

    const LEN: u64 = TABLES_FILE_LEN as u64;

    #[test]
    fn fresh_header_passes() {
        check_header(path(), &good(), LEN).expect("fresh header is valid");
    }

    #[test]
    fn short_files_are_truncated_unless_magic_or_version_say_more() {
        let err = check_header(path(), &good()[..5], 5).expect_err("5 bytes");
        assert!(
            matches!(
                err,
                TablesError::Truncated {
                    len: 5,
                    expected: LEN,
                    ..
                }
            ),
            "{err}"
        );
        let err = check_header(path(), &good()[..10], 10).expect_err("10 bytes");
        assert!(
            matches!(err, TablesError::Truncated { len: 10, .. }),
            "{err}"
        );
        let err = check_header(path(), &good(), 8192).expect_err("8 KiB");
        assert!(
            matches!(err, TablesError::Truncated { len: 8192, .. }),
            "{err}"
        );
        let err = check_header(path(), b"NOTATABLE", 9).expect_err("other file");
        assert!(matches!(err, TablesError::BadMagic { .. }), "{err}");
    }

    #[test]
    fn every_directory_field_is_checked() {
        let fields = [
            ("header_len", 12usize),
            ("total_len", 16),
            ("table_count", 24),
            ("node.offset", 32),
            ("peers.count", 48 + 8),
            ("job_statuses.record_len", 32 + 3 * 16 + 12),
            ("links.offset", 32 + 5 * 16),
        ];
        for (field, at) in fields {
            let mut head = good();
            head[at] ^= 0x40;
            let err = check_header(path(), &head, LEN).expect_err(field);
            assert!(
                matches!(err, TablesError::Layout { field: f, .. } if f == field),
                "{field}: {err}"
            );
        }
        let err = check_header(path(), &good(), LEN + 4096).expect_err("long file");
        assert!(
            matches!(
                err,
                TablesError::Layout {
                    field: "file_len",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn live_fields_and_reserved_bytes_are_not_layout() {
        let mut head = good();
        head[GENERATION_OFFSET] = 9;
        head[CONTROLPLANE_HEARTBEAT_OFFSET + 3] = 1;
        check_header(path(), &head, LEN).expect("live fields change");
    }
}
