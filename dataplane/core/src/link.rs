//! The interface between the pinned data-plane stages and a transport.
//!
//! # Design
//! A transport (io_uring TCP today; DPDK and RDMA later) runs one thread
//! that owns every connection of a migration. It meets the other stages
//! only through these bounded, lock-free queues (crossbeam `ArrayQueue`,
//! used single-producer/single-consumer: each queue has exactly one writer
//! thread and one reader thread, named on the field) and relaxed or
//! release/acquire atomics:
//!
//! ```text
//! source:      engine ──tx[s]: sealed frames──► transport ──TCP──►
//!              engine ◄──events: VerifyResult/Abort/fatal── transport
//! destination: ──TCP──► transport ──frames: received frames──► decoder
//!              transport ◄──written_through[s] (Release/Acquire)── decoder
//!              transport ◄──outbound: VerifyResult/Abort── decoder
//!              transport ◄──committed, goodbye (Release/Acquire)── decoder
//! ```
//!
//! Frame bytes live in [`BufferPool`] buffers; a [`BufferId`] moves with its
//! frame and is owned by exactly one stage at a time (the queue hand-off is
//! the ownership transfer), returning to the pool when acknowledged (source)
//! or written (destination).

use crate::doorbell::Doorbell;
use crate::stream_tx::InFlight;
use crossbeam::queue::ArrayQueue;
use dwcp_hugepages::{BufferId, BufferPool};
use dwcp_shared::control::{Abort, VerifyResult};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Capacity of the source's event queue.
pub const EVENTS_MAX: usize = 64;
/// Capacity of the destination's outbound control queue.
pub const OUTBOUND_MAX: usize = 16;

/// Something the source transport tells the engine.
#[derive(Debug)]
pub enum SourceEvent {
    /// The destination's verdict, from stream 0.
    Verified(VerifyResult),
    /// The destination aborted the migration.
    Aborted(Abort),
}

/// A frame received whole by the destination transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// The stream it arrived on.
    pub stream_id: u16,
    /// The buffer holding header, body and tag.
    pub buffer: BufferId,
    /// Its length.
    pub len: u32,
}

/// A control message the destination's decoder asks the transport to send on stream 0.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// The verdict on the migrated image.
    Verified(VerifyResult),
    /// An abort naming the cause.
    Abort(Abort),
}

/// Cumulative counters of one side's transport (Relaxed: read for progress only).
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Bytes written to sockets, retransmissions included.
    pub bytes_written: AtomicU64,
    /// Bytes read from sockets.
    pub bytes_read: AtomicU64,
    /// Frame bytes the peer acknowledged (source) or frames bytes received whole (destination).
    pub bytes_acked: AtomicU64,
    /// Connections re-established after a break.
    pub reconnects: AtomicU64,
}

/// The first fatal error of a migration, and the flag every loop polls.
#[derive(Debug, Default)]
pub struct FatalSlot {
    raised: AtomicBool,
    message: Mutex<Option<String>>,
}

impl FatalSlot {
    /// Records `message` if it is the first, and raises the flag (Release).
    /// Cold path only: it takes a lock.
    pub fn raise(&self, message: String) {
        let mut slot = self
            .message
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(message);
        }
        self.raised.store(true, Ordering::Release);
    }

    /// True once any stage failed (Acquire).
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// The first message raised.
    pub fn message(&self) -> Option<String> {
        self.message
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// What the source engine and the source transport share.
#[derive(Debug)]
pub struct SourceLink {
    /// Frame buffers.
    pub pool: Arc<BufferPool>,
    /// Per stream, sealed frames in seq order. Writer: engine. Reader: transport.
    pub tx: Vec<ArrayQueue<InFlight<BufferId>>>,
    /// Writer: transport. Reader: engine.
    pub events: ArrayQueue<SourceEvent>,
    /// Transport counters.
    pub counters: TransportCounters,
    /// Per stream, frame bytes the peer acknowledged (their sum is
    /// `counters.bytes_acked`). Writer: transport. Reader: engine.
    pub acked_by_stream: Vec<AtomicU64>,
    /// The first fatal error; any stage raises, every stage polls.
    pub fatal: FatalSlot,
    /// Stream 0's seq of the source's `Commit`, 0 until the engine is about
    /// to queue it. Writer: engine (Release, before queueing). Reader: transport.
    pub commit_seq: AtomicU64,
    /// Set once an `Ack` frame on stream 0 covered `commit_seq`: the
    /// destination took the guest. A resume point does not count: the
    /// destination's transport accepts a frame before its decoder
    /// authenticates and takes it. Writer: transport (Release). Reader:
    /// engine.
    pub commit_acked: AtomicBool,
    /// Stream 0's seq of the source's `Goodbye`, 0 until the engine is about
    /// to queue it. Writer: engine (Release). Reader: transport (a stream 0
    /// that breaks before `Goodbye` was written is re-established to carry it).
    pub goodbye_seq: AtomicU64,
    /// Stream 0's highest seq written whole to a socket. Writer: transport
    /// (Release). Reader: engine (its last frame, `Abort` or `Goodbye`, is
    /// out before it returns and the transport closes).
    pub stream0_written_seq: AtomicU64,
    /// Set by the source's main thread once the engine returned; the transport then closes.
    pub finished: AtomicBool,
    /// Rung by the transport when it frees buffers or posts an event.
    pub engine_bell: Doorbell,
    /// Rung by the engine when it queues frames (eventfd: the transport waits on io_uring).
    pub transport_bell: Doorbell,
}

impl SourceLink {
    /// A link for `streams` streams with `inflight_frames` per stream.
    pub fn new(
        pool: Arc<BufferPool>,
        streams: u16,
        inflight_frames: usize,
    ) -> std::io::Result<Self> {
        assert!(streams >= 1, "at least one stream");
        Ok(Self {
            pool,
            tx: (0..streams)
                .map(|_| ArrayQueue::new(inflight_frames))
                .collect(),
            events: ArrayQueue::new(EVENTS_MAX),
            counters: TransportCounters::default(),
            acked_by_stream: (0..streams).map(|_| AtomicU64::new(0)).collect(),
            fatal: FatalSlot::default(),
            commit_seq: AtomicU64::new(0),
            commit_acked: AtomicBool::new(false),
            goodbye_seq: AtomicU64::new(0),
            stream0_written_seq: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            engine_bell: Doorbell::parking(),
            transport_bell: Doorbell::with_eventfd()?,
        })
    }

    /// Counts `bytes` of `stream`'s frames as acknowledged (the transport,
    /// on an ack or a resume point).
    pub fn acknowledged(&self, stream: usize, bytes: u64) {
        self.acked_by_stream[stream].fetch_add(bytes, Ordering::Relaxed);
        self.counters
            .bytes_acked
            .fetch_add(bytes, Ordering::Relaxed);
    }
}

/// What the destination transport and decoder share.
#[derive(Debug)]
pub struct DestinationLink {
    /// Frame buffers.
    pub pool: Arc<BufferPool>,
    /// Frames in arrival order per stream. Writer: transport. Reader: decoder.
    pub frames: ArrayQueue<ReceivedFrame>,
    /// Per stream, highest seq written to guest memory. Writer: decoder (Release). Reader: transport (Acquire).
    pub written_through: Vec<AtomicU64>,
    /// Writer: the decoder (verdict, aborts) and, for its own protocol
    /// errors, the transport itself; the main thread for set-up failures.
    /// Reader: transport.
    pub outbound: ArrayQueue<Outbound>,
    /// Transport counters.
    pub counters: TransportCounters,
    /// The first fatal error.
    pub fatal: FatalSlot,
    /// Set by the decoder once it took the source's `Commit` (Release): the
    /// guest is the destination's; the transport then ends when stream 0
    /// closes. Reader: transport (Acquire).
    pub committed: AtomicBool,
    /// Set by the decoder once it took the source's `Goodbye` after
    /// `Commit` (Release): the source has our ack of `Commit`, and the
    /// transport ends. Reader: transport (Acquire).
    pub goodbye: AtomicBool,
    /// Set by the transport once the migration ended and the source closed.
    pub finished: AtomicBool,
    /// Rung by the transport when it queues frames.
    pub decoder_bell: Doorbell,
    /// Rung by the decoder when it wrote frames or queued a control message
    /// (eventfd: the transport waits on io_uring).
    pub transport_bell: Doorbell,
}

impl DestinationLink {
    /// A link for `streams` streams and a frame queue of `frames_max`.
    pub fn new(pool: Arc<BufferPool>, streams: u16, frames_max: usize) -> std::io::Result<Self> {
        Ok(Self {
            pool,
            frames: ArrayQueue::new(frames_max),
            written_through: (0..streams).map(|_| AtomicU64::new(0)).collect(),
            outbound: ArrayQueue::new(OUTBOUND_MAX),
            counters: TransportCounters::default(),
            fatal: FatalSlot::default(),
            committed: AtomicBool::new(false),
            goodbye: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            decoder_bell: Doorbell::parking(),
            transport_bell: Doorbell::with_eventfd()?,
        })
    }
}
