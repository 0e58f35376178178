//! The `repr(C)` payloads as they lie in the file. Private to the module:
//! the API speaks the owned types of `records.rs`, and `codec.rs` converts.
//!
//! Enums are `u8` codes (0 = invalid or absent), booleans and presence
//! flags are `u8` 0/1, texts are [`RawText`]. Every byte is a named field
//! (the `IntoBytes` derive rejects implicit padding), sizes are pinned by
//! `const` asserts, and each payload is a whole number of 8-byte words.

use core::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::records::ENCODING_KINDS;
use super::seqlock::{SeqlockPayload, Seqlocked, TextSpan};
use super::text::{
    RawText, ADDRESS_LEN_MAX, ERROR_LEN_MAX, NODE_ID_LEN_MAX, PATH_LEN_MAX, SUMMARY_LEN_MAX,
    VM_ID_LEN_MAX,
};

/// Node record: empty when `node_id` is empty.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawNode {
    pub(crate) node_id: RawText<NODE_ID_LEN_MAX>,
    pub(crate) reserved: [u8; 6],
}
const _: () = assert!(size_of::<RawNode>() == 72);
impl SeqlockPayload for RawNode {
    const TEXT_SPANS: &'static [TextSpan] = &[TextSpan {
        offset: offset_of!(RawNode, node_id),
        cap: NODE_ID_LEN_MAX,
    }];
}

/// Peer record: empty when `peer_id` is empty.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawPeer {
    pub(crate) peer_id: RawText<NODE_ID_LEN_MAX>,
    pub(crate) data_address: RawText<ADDRESS_LEN_MAX>,
    /// `LinkMode` code, 0 = none.
    pub(crate) mode: u8,
    pub(crate) reserved: [u8; 3],
}
const _: () = assert!(size_of::<RawPeer>() == 200);
impl SeqlockPayload for RawPeer {
    const TEXT_SPANS: &'static [TextSpan] = &[
        TextSpan {
            offset: offset_of!(RawPeer, peer_id),
            cap: NODE_ID_LEN_MAX,
        },
        TextSpan {
            offset: offset_of!(RawPeer, data_address),
            cap: ADDRESS_LEN_MAX,
        },
    ];
}

/// Job spec record: empty when `job_id` is 0.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawJobSpec {
    pub(crate) job_id: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) pacing_bytes_per_s: u64,
    pub(crate) key_id: u64,
    pub(crate) key: [u8; 32],
    pub(crate) spec_version: u32,
    pub(crate) downtime_ms: u32,
    pub(crate) max_rounds: u32,
    pub(crate) streams: u16,
    /// `JobRole` code.
    pub(crate) role: u8,
    /// `RequestedState` code.
    pub(crate) requested: u8,
    /// `CompressionTier` code.
    pub(crate) compression: u8,
    /// 0 = off, 1 = on.
    pub(crate) codec: u8,
    pub(crate) vm_id: RawText<VM_ID_LEN_MAX>,
    pub(crate) memory_path: RawText<PATH_LEN_MAX>,
    pub(crate) address: RawText<ADDRESS_LEN_MAX>,
    /// Process to stop for the switch-over; 0 = none.
    pub(crate) pause_pid: u32,
    /// `LinkMode` code when the job started, 0 = unknown.
    pub(crate) link_mode: u8,
    /// Which settings follow the bandwidth prediction: bit 0 pacing, bit 1
    /// streams (`AUTO_PACING`, `AUTO_STREAMS`); other bits 0.
    pub(crate) auto_flags: u8,
    /// Streams carrying data, 0 = all opened.
    pub(crate) streams_active: u16,
    /// The other host's id (may be empty).
    pub(crate) peer_id: RawText<NODE_ID_LEN_MAX>,
    pub(crate) reserved_tail: [u8; 6],
    /// The predicted lower bound of the link's throughput, bytes per
    /// second; 0 = none.
    pub(crate) predicted_floor_bytes_per_s: u64,
}
const _: () = assert!(size_of::<RawJobSpec>() == 624);
/// `RawJobSpec::auto_flags`: the pacing follows the prediction.
pub(crate) const AUTO_PACING: u8 = 1;
/// `RawJobSpec::auto_flags`: the live stream count follows the prediction.
pub(crate) const AUTO_STREAMS: u8 = 2;
impl SeqlockPayload for RawJobSpec {
    const TEXT_SPANS: &'static [TextSpan] = &[
        TextSpan {
            offset: offset_of!(RawJobSpec, vm_id),
            cap: VM_ID_LEN_MAX,
        },
        TextSpan {
            offset: offset_of!(RawJobSpec, memory_path),
            cap: PATH_LEN_MAX,
        },
        TextSpan {
            offset: offset_of!(RawJobSpec, address),
            cap: ADDRESS_LEN_MAX,
        },
        TextSpan {
            offset: offset_of!(RawJobSpec, peer_id),
            cap: NODE_ID_LEN_MAX,
        },
    ];
}

/// Job status record: empty when `job_id` is 0.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawJobStatus {
    pub(crate) job_id: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) pages_done: u64,
    pub(crate) pages_remaining: u64,
    pub(crate) bytes_on_wire: u64,
    pub(crate) pages_by_kind: [u64; ENCODING_KINDS],
    pub(crate) bytes_by_kind: [u64; ENCODING_KINDS],
    pub(crate) dirty_bytes_per_s: u64,
    pub(crate) throughput_bytes_per_s: u64,
    pub(crate) pacing_bytes_per_s: u64,
    pub(crate) started_unix_ms: u64,
    pub(crate) updated_unix_ms: u64,
    pub(crate) finished_unix_ms: u64,
    pub(crate) downtime_ms: u64,
    pub(crate) applied_spec_version: u32,
    pub(crate) round: u32,
    pub(crate) streams_active: u16,
    /// `JobState` code.
    pub(crate) state: u8,
    /// `CompressionTier` code.
    pub(crate) compression: u8,
    /// 0 = `error` is `None`, 1 = `Some`.
    pub(crate) error_present: u8,
    /// 0 = `summary_json` is `None`, 1 = `Some`.
    pub(crate) summary_present: u8,
    pub(crate) streams_connected: u16,
    pub(crate) error: RawText<ERROR_LEN_MAX>,
    pub(crate) summary_json: RawText<SUMMARY_LEN_MAX>,
    pub(crate) reserved_tail: [u8; 4],
}
const _: () = assert!(size_of::<RawJobStatus>() == 17096);
impl SeqlockPayload for RawJobStatus {
    const TEXT_SPANS: &'static [TextSpan] = &[
        TextSpan {
            offset: offset_of!(RawJobStatus, error),
            cap: ERROR_LEN_MAX,
        },
        TextSpan {
            offset: offset_of!(RawJobStatus, summary_json),
            cap: SUMMARY_LEN_MAX,
        },
    ];
}

/// Worker record: empty when `role` is 0.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawWorker {
    pub(crate) job_id: u64,
    pub(crate) busy_ns: u64,
    pub(crate) idle_ns: u64,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    pub(crate) core: u16,
    /// `WorkerRole` code, 0 = empty slot.
    pub(crate) role: u8,
    /// 0 = `core` is `None`, 1 = `Some`.
    pub(crate) core_present: u8,
    pub(crate) reserved: [u8; 4],
}
const _: () = assert!(size_of::<RawWorker>() == 48);
impl SeqlockPayload for RawWorker {
    const TEXT_SPANS: &'static [TextSpan] = &[];
}

/// Link sample record: empty when `sample_unix_ms` is 0.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct RawLink {
    pub(crate) sample_unix_ms: u64,
    pub(crate) throughput_bytes_per_s: u64,
    pub(crate) segments_out: u64,
    pub(crate) retransmits: u64,
    pub(crate) rtt_us: u32,
    pub(crate) rtt_var_us: u32,
    pub(crate) loss_ppm: u32,
    pub(crate) peer_address: RawText<ADDRESS_LEN_MAX>,
    pub(crate) reserved: [u8; 2],
}
const _: () = assert!(size_of::<RawLink>() == 176);
impl SeqlockPayload for RawLink {
    const TEXT_SPANS: &'static [TextSpan] = &[TextSpan {
        offset: offset_of!(RawLink, peer_address),
        cap: ADDRESS_LEN_MAX,
    }];
}

// Record strides (seq + payload, rounded up to 64 bytes).
const _: () = assert!(Seqlocked::<RawNode>::STRIDE == 128);
const _: () = assert!(Seqlocked::<RawPeer>::STRIDE == 256);
const _: () = assert!(Seqlocked::<RawJobSpec>::STRIDE == 640);
const _: () = assert!(Seqlocked::<RawJobStatus>::STRIDE == 17152);
const _: () = assert!(Seqlocked::<RawWorker>::STRIDE == 64);
const _: () = assert!(Seqlocked::<RawLink>::STRIDE == 192);
const _: () = assert!(Seqlocked::<RawNode>::PAYLOAD_OFFSET == 8);
const _: () = assert!(Seqlocked::<RawJobStatus>::PAYLOAD_OFFSET == 8);
// Field offsets that docs/tables.md states.
const _: () = assert!(offset_of!(RawJobSpec, role) == 78);
const _: () = assert!(offset_of!(RawJobSpec, vm_id) == 82);
const _: () = assert!(offset_of!(RawJobSpec, auto_flags) == 541);
const _: () = assert!(offset_of!(RawJobSpec, predicted_floor_bytes_per_s) == 616);
const _: () = assert!(offset_of!(RawJobStatus, state) == 186);
const _: () = assert!(offset_of!(RawJobStatus, error) == 192);
const _: () = assert!(offset_of!(RawJobStatus, summary_json) == 706);
