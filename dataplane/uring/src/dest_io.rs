//! The destination's transport thread: reads frames from M streams into pool
//! buffers for the decoder, and sends acknowledgements and the verdict.
//!
//! # Design
//! Each connection reads one frame at a time: a `RECV` of the 24-byte
//! header, then a `READ_FIXED` of the body straight into a pool buffer (the
//! header is copied in front of it so the decoder gets the whole frame).
//! The body's read asks for the next frame's header too, which lands after
//! the body in the same buffer and is copied out: when frames queue in the
//! socket, one read per frame takes the body and the next header, halving
//! the operations (and passes) a frame costs.
//! A complete frame's seq must be the stream's next ([`StreamRecvState`],
//! kept across connections), then it is queued to the decoder. When the pool
//! or the decoder queue is full the connection simply stops reading, which
//! is TCP back-pressure to the source.
//!
//! Acknowledgements carry the decoder's `written_through[s]` and go out
//! whenever it advanced and the connection has no send in flight, which
//! batches acks naturally under load. Verdicts and aborts from the decoder
//! go out on stream 0; the verdict is kept and sent again if stream 0 is
//! re-established before the source's `Commit` arrived. The guest is the
//! destination's with the source's `Commit` (the decoder raises
//! `link.committed`), acked like any frame; the transport ends when the
//! source's `Goodbye` says it has that ack (`link.goodbye`), and until then
//! acks again on a re-established stream 0 (a close alone cannot tell the
//! source's end from a break that lost the ack). Before `Commit`, a close
//! of stream 0 is a broken stream whatever was sent, because
//! only `Commit` says the source read the verdict: the stream is retired
//! and the destination waits for it to come back (until the peer time-out,
//! or [`COMMIT_WAIT_MAX`] after an ok verdict, after which it fails and the
//! image is not reported migrated). Counting a close after the verdict's
//! write as the end let a destination report a verified image while its
//! source, which never read the verdict, resumed the guest.
//!
//! Connections are accepted and handshaken by a blocking acceptor thread.
//! A stream that rejoins is handled in two steps so that the resume point is
//! exact: [`Control::Join`] retires the old connection (frames it had not
//! delivered whole are dropped) and answers the stream's
//! `accepted_through`; after the handshake, [`Control::Attach`] hands over
//! the new socket.

use crate::fault::{io_cause, protocol, StreamFault};
use crate::ring::{BellRead, Ring, RingError, COMPLETIONS_PER_PASS_MAX};
use crate::user_data::{pack, unpack, Op};
use crossbeam::channel::{Receiver, Sender};
use dwcp_dataplane_core::backoff::{IdleAction, IdleBackoff};
use dwcp_dataplane_core::link::{DestinationLink, Outbound, ReceivedFrame};
use dwcp_dataplane_core::seal::FrameSealer;
use dwcp_dataplane_core::stream_rx::StreamRecvState;
use dwcp_dataplane_core::worker_meter::{IdleClock, WorkerMeter};
use dwcp_hugepages::BufferId;
use dwcp_shared::control::{Abort, AbortCode, Ack};
use dwcp_shared::limits::FRAME_HEADER_LEN;
use dwcp_shared::{FrameHeader, FrameKind};
use io_uring::{opcode, types};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest control frame the destination sends.
pub const SEND_BUFFER_LEN: usize = 1024;
/// How long after the end (`Commit`, or a failed verdict) the destination
/// waits for its last write or the source's close.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// How long after an ok verdict was first sent the destination waits for
/// the source's `Commit` while some stream stays connected (the source's
/// default `--verify-timeout-ms` bounds its own wait the same way).
pub const COMMIT_WAIT_MAX: Duration = Duration::from_secs(60);

/// What one pass of [`DestinationTransport::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportStep {
    /// The loop is over: how the migration ended (`None`: a fatal error).
    Ended(Option<DestinationEnd>),
    /// Something moved (or the fatal flag was raised): pass again at once.
    Worked,
    /// Nothing to do: back off.
    Idle,
}

/// How the destination transport ended a migration that reached its end
/// (the source's `Commit`, or a failed verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationEnd {
    /// The source said `Goodbye` after our ack of its `Commit`: the normal end.
    Goodbye,
    /// A failed verdict was written (no `Commit` follows one).
    VerdictWritten,
    /// [`CLOSE_GRACE`] passed first: the source may not have our last
    /// message (the ack of `Commit`, or the failed verdict).
    CloseGrace,
}

impl DestinationEnd {
    /// The summary's name of it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Goodbye => "goodbye",
            Self::VerdictWritten => "verdict_written",
            Self::CloseGrace => "close_grace",
        }
    }
}

/// Messages from the acceptor thread.
#[derive(Debug)]
pub enum Control {
    /// A connection for this stream is handshaking: retire the old one and
    /// answer where the stream resumes.
    Join(u16, Sender<u64>),
    /// The handshake completed: this is the stream's connection now.
    Attach(u16, TcpStream),
}

/// Settings of the destination transport.
#[derive(Debug, Clone, Copy)]
pub struct DestinationTransportConfig {
    /// Fail if no stream is connected for this long before the verdict.
    pub peer_timeout: Duration,
}

enum ReadState {
    Header {
        got: usize,
    },
    NeedBuffer(FrameHeader),
    Body {
        buffer: BufferId,
        got: usize,
        total: usize,
    },
    /// A whole frame for the decoder's queue; `carried` bytes of the next
    /// frame's header, read with its body, wait in the connection's
    /// `header` (a whole one was checked when read).
    NeedQueue {
        frame: ReceivedFrame,
        carried: usize,
    },
}

impl ReadState {
    /// The state after a frame was queued, with `carried` bytes of the next
    /// header in `header`.
    fn after_frame(header: &[u8; FRAME_HEADER_LEN], carried: usize) -> Self {
        if carried == FRAME_HEADER_LEN {
            ReadState::NeedBuffer(FrameHeader::decode(header).expect("checked when it was read"))
        } else {
            ReadState::Header { got: carried }
        }
    }
}

struct Connection {
    socket: TcpStream,
    generation: u32,
    read: ReadState,
    reading: bool,
    header: [u8; FRAME_HEADER_LEN],
    sending: bool,
    /// Length of the control frame being sent.
    sending_len: u32,
    send_buf: Box<[u8]>,
    closed_by_peer: bool,
    /// The kind of the last whole frame read (its header, not yet
    /// authenticated: only to tell the source's close after `Goodbye` from
    /// a break in the logs; the end itself waits for the decoder).
    last_frame_kind: Option<FrameKind>,
    /// The send in flight is the verdict.
    sending_verdict: bool,
}

impl Connection {
    fn busy(&self) -> bool {
        self.reading || self.sending
    }
}

struct Stream {
    id: u16,
    frames: StreamRecvState,
    sealer: FrameSealer,
    reply_seq: u64,
    /// The seq of the last ack queued on the current connection.
    acked: u64,
    connection: Option<Connection>,
    /// A frame read whole and accepted (its seq counts toward the resume
    /// point) whose connection was retired before the decoder queue took it.
    accepted_unqueued: Option<ReceivedFrame>,
    /// True once any connection was attached (the next one is a reconnect).
    attached_before: bool,
}

/// The destination transport; [`DestinationTransport::run`] is the thread body.
pub struct DestinationTransport {
    link: Arc<DestinationLink>,
    ring: Ring,
    streams: Vec<Stream>,
    retired: Vec<Connection>,
    control: Receiver<Control>,
    config: DestinationTransportConfig,
    next_generation: u32,
    pending_outbound: Option<Outbound>,
    verdict: Option<Outbound>,
    verdict_sent_at: Option<Instant>,
    /// When an ok verdict was first queued (the `Commit` wait starts).
    ok_verdict_at: Option<Instant>,
    /// When the migration ended: the decoder took `Commit`, or a failed
    /// verdict was queued (no `Commit` follows one).
    ended_at: Option<Instant>,
    /// The verdict's write completed on stream 0's current connection.
    verdict_written: bool,
    last_connected: Instant,
    completions: Box<[(u64, i32)]>,
    /// Frames handed to the decoder.
    frames_received: u64,
    /// Keeps a read of the decoder-to-transport doorbell in the ring.
    bell: BellRead,
}

impl std::fmt::Debug for DestinationTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationTransport")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl DestinationTransport {
    /// Builds the transport; `sealers` seal destination→source frames, one per stream.
    pub fn new(
        link: Arc<DestinationLink>,
        sealers: Vec<FrameSealer>,
        control: Receiver<Control>,
        config: DestinationTransportConfig,
    ) -> Result<Self, RingError> {
        assert_eq!(
            sealers.len(),
            link.written_through.len(),
            "one sealer per stream"
        );
        let ring = Ring::new(Arc::clone(&link.pool))?;
        let streams = sealers
            .into_iter()
            .enumerate()
            .map(|(index, sealer)| {
                let id = u16::try_from(index).expect("stream count bounded by STREAMS_MAX");
                Stream {
                    id,
                    frames: StreamRecvState::new(id),
                    sealer,
                    reply_seq: 0,
                    acked: 0,
                    connection: None,
                    accepted_unqueued: None,
                    attached_before: false,
                }
            })
            .collect();
        Ok(Self {
            ring,
            streams,
            retired: Vec::new(),
            control,
            config,
            next_generation: 1,
            pending_outbound: None,
            verdict: None,
            verdict_sent_at: None,
            ok_verdict_at: None,
            ended_at: None,
            verdict_written: false,
            last_connected: Instant::now(),
            completions: vec![(0u64, 0i32); COMPLETIONS_PER_PASS_MAX].into_boxed_slice(),
            frames_received: 0,
            bell: BellRead::new(
                link.transport_bell
                    .eventfd()
                    .expect("the destination link's transport bell is an eventfd"),
            ),
            link,
        })
    }

    /// Runs until the migration's end (the source's `Commit`, or a failed
    /// verdict) went out, or a fatal error; returns how it ended (`None`:
    /// a fatal error). Busy and idle time go to `meter`, as do the frames
    /// and bytes received.
    pub fn run(mut self, meter: &WorkerMeter) -> Option<DestinationEnd> {
        let mut backoff = IdleBackoff::new();
        let mut clock = IdleClock::start(meter, Instant::now());
        let end = loop {
            let now = Instant::now();
            match self.step(now) {
                TransportStep::Ended(end) => break end,
                TransportStep::Worked => {
                    backoff.reset();
                    clock.busy_from(now);
                    self.report(meter);
                    continue;
                }
                TransportStep::Idle => {}
            }
            clock.idle_from(now);
            match backoff.next_action() {
                IdleAction::Spin => std::hint::spin_loop(),
                IdleAction::Yield => std::thread::yield_now(),
                IdleAction::Sleep(timeout) => self.sleep(timeout),
            }
        };
        self.finish(meter);
        clock.stop(Instant::now());
        end
    }

    /// One pass of the loop: ends the migration, does what I/O is ready,
    /// or finds nothing to do. A pass that raises the fatal flag counts as
    /// work, so that the next one ends.
    pub fn step(&mut self, now: Instant) -> TransportStep {
        if self.link.fatal.is_raised() {
            self.flush_abort();
            return TransportStep::Ended(None);
        }
        if let Some(end) = self.end(now) {
            self.link.finished.store(true, Ordering::Release);
            return TransportStep::Ended(Some(end));
        }
        if let Err(message) = self.check_peer(now) {
            self.link.fatal.raise(message);
            return TransportStep::Worked;
        }
        let mut worked = self.handle_control();
        worked |= self.advance_reads();
        worked |= self.queue_replies();
        if let Err(err) = self.queue_reads().and_then(|()| self.ring.submit()) {
            self.link.fatal.raise(err.to_string());
            return TransportStep::Worked;
        }
        worked |= self.reap() > 0;
        if worked {
            TransportStep::Worked
        } else {
            TransportStep::Idle
        }
    }

    /// The idle loop's sleeping phase: waits on the ring (I/O completions
    /// and the transport's doorbell) for at most `timeout`, unless work
    /// that needs no I/O is already there.
    pub fn sleep(&mut self, timeout: Duration) {
        let (link, pending, streams) = (&self.link, &self.pending_outbound, &self.streams);
        let waited = self.ring.sleep_on(&link.transport_bell, timeout, || {
            has_local_work(link, pending.is_some(), streams)
        });
        if let Err(err) = waited {
            self.link.fatal.raise(err.to_string());
        }
    }

    /// Puts the frames and bytes received so far on `meter`.
    pub fn report(&self, meter: &WorkerMeter) {
        meter.set_counts(
            self.frames_received,
            self.link.counters.bytes_read.load(Ordering::Relaxed),
        );
    }

    /// Closes every connection after the loop ended, and reports to `meter`.
    pub fn finish(mut self, meter: &WorkerMeter) {
        self.shutdown();
        self.report(meter);
    }

    /// Whether, and how, the migration has ended for the transport.
    fn end(&mut self, now: Instant) -> Option<DestinationEnd> {
        if self.ended_at.is_none() && self.link.committed.load(Ordering::Acquire) {
            self.ended_at = Some(now);
        }
        let ended_at = self.ended_at?;
        if self.source_has_the_end() {
            Some(if self.link.committed.load(Ordering::Acquire) {
                DestinationEnd::Goodbye
            } else {
                DestinationEnd::VerdictWritten
            })
        } else if now.saturating_duration_since(ended_at) > CLOSE_GRACE {
            Some(DestinationEnd::CloseGrace)
        } else {
            None
        }
    }

    /// The source has the migration's end: it said `Goodbye` after our ack
    /// of its `Commit` (it sends it only once that ack arrived), or our
    /// failed verdict went out whole (we close with a FIN and nothing
    /// unread, so the kernel still delivers it). Until then a broken stream
    /// 0 is waited for (up to [`CLOSE_GRACE`]) and the ack of `Commit`, or
    /// the verdict, sent again on it.
    fn source_has_the_end(&self) -> bool {
        if self.link.committed.load(Ordering::Acquire) {
            self.link.goodbye.load(Ordering::Acquire)
        } else {
            self.ended_at.is_some() && self.verdict_written
        }
    }

    fn check_peer(&mut self, now: Instant) -> Result<(), String> {
        if self.ended_at.is_some() {
            // The end is bounded by `CLOSE_GRACE` alone.
            return Ok(());
        }
        let committed = self.link.committed.load(Ordering::Acquire);
        if let Some(since) = self.ok_verdict_at.filter(|_| !committed) {
            if now.saturating_duration_since(since) > COMMIT_WAIT_MAX {
                return Err(format!(
                    "the source did not commit the hand-over within {COMMIT_WAIT_MAX:?} of the verdict"
                ));
            }
        }
        if self.streams.iter().any(|s| s.connection.is_some()) {
            self.last_connected = now;
            return Ok(());
        }
        if now.saturating_duration_since(self.last_connected) > self.config.peer_timeout {
            return Err(format!(
                "the source went away: no stream connected for {:?} and the migration is not complete",
                self.config.peer_timeout
            ));
        }
        Ok(())
    }

    fn handle_control(&mut self) -> bool {
        let mut worked = false;
        while let Ok(message) = self.control.try_recv() {
            worked = true;
            match message {
                Control::Join(stream_id, reply) => {
                    self.retire(stream_id);
                    let Some(stream) = self.streams.get(usize::from(stream_id)) else {
                        continue;
                    };
                    let _ = reply.send(stream.frames.accepted_through());
                }
                Control::Attach(stream_id, socket) => {
                    self.retire(stream_id);
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    let Some(stream) = self.streams.get_mut(usize::from(stream_id)) else {
                        continue;
                    };
                    stream.acked = 0;
                    if stream.attached_before {
                        self.link
                            .counters
                            .reconnects
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    stream.attached_before = true;
                    stream.connection = Some(Connection {
                        socket,
                        generation,
                        read: ReadState::Header { got: 0 },
                        reading: false,
                        header: [0u8; FRAME_HEADER_LEN],
                        sending: false,
                        sending_len: 0,
                        send_buf: vec![0u8; SEND_BUFFER_LEN].into_boxed_slice(),
                        closed_by_peer: false,
                        last_frame_kind: None,
                        sending_verdict: false,
                    });
                    let committed = self.link.committed.load(Ordering::Acquire);
                    if stream_id == 0
                        && self.verdict_sent_at.is_some()
                        && !committed
                        && self.pending_outbound.is_none()
                    {
                        // The verdict may have died with the old connection: send it again.
                        self.pending_outbound = self.verdict.clone();
                        self.verdict_sent_at = None;
                    }
                }
            }
        }
        worked
    }

    fn retire(&mut self, stream_id: u16) {
        let Some(stream) = self.streams.get_mut(usize::from(stream_id)) else {
            return;
        };
        let Some(mut connection) = stream.connection.take() else {
            return;
        };
        // What was written on it may not have arrived: a failed verdict's end
        // waits for its write on the next connection.
        if stream_id == 0 {
            self.verdict_written = false;
        }
        let _ = connection.socket.shutdown(Shutdown::Both);
        match connection.read {
            // A frame read only in part is dropped: the source resends it.
            // With a read in flight the buffer is returned when it completes.
            ReadState::Body { buffer, .. } if !connection.reading => {
                self.link.pool.put(buffer);
                connection.read = ReadState::Header { got: 0 };
            }
            ReadState::Body { .. } => {}
            // A whole, accepted frame still goes to the decoder: the resume
            // point already counts it, so the source will not resend it.
            ReadState::NeedQueue { frame, .. } => {
                debug_assert!(
                    stream.accepted_unqueued.is_none(),
                    "no read while an accepted frame waits"
                );
                stream.accepted_unqueued = Some(frame);
                connection.read = ReadState::Header { got: 0 };
            }
            ReadState::Header { .. } | ReadState::NeedBuffer(_) => {
                connection.read = ReadState::Header { got: 0 }
            }
        }
        if connection.busy() {
            self.retired.push(connection);
        }
    }

    /// Moves connections along states that need no I/O: getting a buffer, queueing a frame.
    fn advance_reads(&mut self) -> bool {
        let mut worked = false;
        for stream in &mut self.streams {
            if let Some(frame) = stream.accepted_unqueued {
                if self.link.frames.push(frame).is_ok() {
                    self.frames_received += 1;
                    stream.accepted_unqueued = None;
                    self.link.decoder_bell.ring();
                    worked = true;
                }
            }
        }
        for stream in &mut self.streams {
            let Some(connection) = stream.connection.as_mut() else {
                continue;
            };
            match connection.read {
                ReadState::NeedBuffer(header) => {
                    if let Some(buffer) = self.link.pool.get() {
                        // SAFETY: `buffer` was just taken from the pool, so this thread owns it.
                        let bytes = unsafe { self.link.pool.slice_mut(buffer) };
                        bytes[..FRAME_HEADER_LEN].copy_from_slice(&connection.header);
                        let total = FRAME_HEADER_LEN + header.body_len as usize;
                        connection.read = ReadState::Body {
                            buffer,
                            got: FRAME_HEADER_LEN,
                            total,
                        };
                        worked = true;
                    }
                }
                ReadState::NeedQueue { frame, carried } => {
                    if stream.accepted_unqueued.is_none() && self.link.frames.push(frame).is_ok() {
                        self.frames_received += 1;
                        self.link.decoder_bell.ring();
                        self.link
                            .counters
                            .bytes_acked
                            .fetch_add(u64::from(frame.len), Ordering::Relaxed);
                        connection.read = ReadState::after_frame(&connection.header, carried);
                        worked = true;
                    }
                }
                ReadState::Header { .. } | ReadState::Body { .. } => {}
            }
        }
        worked
    }

    fn queue_reads(&mut self) -> Result<(), RingError> {
        self.bell.arm(&mut self.ring, pack(0, 0, Op::Bell))?;
        for stream in &mut self.streams {
            let Some(connection) = stream.connection.as_mut() else {
                continue;
            };
            // Nothing more is read on a stream while a frame a retired
            // connection accepted waits for the decoder's queue: a second
            // such frame (this connection retired in turn) would have
            // nowhere to wait.
            if connection.reading || connection.closed_by_peer || stream.accepted_unqueued.is_some()
            {
                continue;
            }
            let fd = types::Fd(connection.socket.as_raw_fd());
            let user_data = pack(connection.generation, stream.id, Op::Read);
            let entry = match connection.read {
                ReadState::Header { got } => {
                    let spare = &mut connection.header[got..];
                    let len = u32::try_from(spare.len()).expect("header is 24 bytes");
                    opcode::Recv::new(fd, spare.as_mut_ptr(), len)
                        .build()
                        .user_data(user_data)
                }
                ReadState::Body { buffer, got, total } => {
                    let (ptr, index) = self.ring.fixed(buffer, got);
                    // The next frame's header too, where the buffer has room.
                    let lookahead = FRAME_HEADER_LEN.min(self.link.pool.buffer_len() - total);
                    let len = u32::try_from(total + lookahead - got)
                        .expect("frames are bounded by FRAME_LEN_MAX");
                    opcode::ReadFixed::new(fd, ptr, len, index)
                        .build()
                        .user_data(user_data)
                }
                ReadState::NeedBuffer(_) | ReadState::NeedQueue { .. } => continue,
            };
            // SAFETY: the header array lives in the connection and the body
            // buffer is owned by it (taken from the pool, not yet queued);
            // both are kept, in `streams` or `retired`, until the read completes.
            unsafe { self.ring.push(entry)? };
            connection.reading = true;
        }
        Ok(())
    }

    fn queue_replies(&mut self) -> bool {
        let mut worked = false;
        if self.pending_outbound.is_none() {
            self.pending_outbound = self.link.outbound.pop();
        }
        for index in 0..self.streams.len() {
            let stream = &mut self.streams[index];
            let Some(connection) = stream.connection.as_mut() else {
                continue;
            };
            if connection.sending || connection.closed_by_peer {
                continue;
            }
            let plaintext_len;
            let kind;
            let mut is_verdict = false;
            let body = &mut connection.send_buf[FRAME_HEADER_LEN..];
            if index == 0 && self.pending_outbound.is_some() {
                let outbound = self.pending_outbound.take().expect("checked");
                (kind, plaintext_len) = match &outbound {
                    Outbound::Verified(result) => (FrameKind::VerifyResult, result.encode(body)),
                    Outbound::Abort(abort) => (FrameKind::Abort, abort.encode(body)),
                };
                if let Outbound::Verified(result) = &outbound {
                    is_verdict = true;
                    let now = Instant::now();
                    if result.ok {
                        self.ok_verdict_at.get_or_insert(now);
                    } else {
                        self.ended_at.get_or_insert(now);
                    }
                    self.verdict = Some(outbound);
                }
            } else {
                let written = self.link.written_through[index].load(Ordering::Acquire);
                if written <= stream.acked {
                    continue;
                }
                stream.acked = written;
                kind = FrameKind::Ack;
                plaintext_len = Ack {
                    written_through_seq: written,
                }
                .encode(body);
            }
            let plaintext_len = match plaintext_len {
                Ok(len) => len,
                Err(err) => {
                    self.link
                        .fatal
                        .raise(format!("cannot encode a {kind:?} frame: {err}"));
                    return worked;
                }
            };
            stream.reply_seq += 1;
            let len = match stream.sealer.seal(
                kind,
                stream.reply_seq,
                &mut connection.send_buf,
                plaintext_len,
            ) {
                Ok(len) => len,
                Err(err) => {
                    self.link.fatal.raise(err.to_string());
                    return worked;
                }
            };
            let fd = types::Fd(connection.socket.as_raw_fd());
            let entry = opcode::Send::new(
                fd,
                connection.send_buf.as_ptr(),
                u32::try_from(len).expect("below 1 KiB"),
            )
            .flags(libc::MSG_WAITALL)
            .build()
            .user_data(pack(connection.generation, stream.id, Op::Write));
            // SAFETY: `send_buf` belongs to the connection, which is kept
            // until the send completes; it is not written while `sending`.
            if let Err(err) = unsafe { self.ring.push(entry) } {
                self.link.fatal.raise(err.to_string());
                return worked;
            }
            connection.sending = true;
            connection.sending_len = u32::try_from(len).expect("below SEND_BUFFER_LEN");
            connection.sending_verdict = is_verdict;
            if is_verdict {
                self.verdict_sent_at = Some(Instant::now());
                self.verdict_written = false;
            }
            worked = true;
        }
        worked
    }

    fn reap(&mut self) -> usize {
        let count = self.ring.reap(&mut self.completions);
        for index in 0..count {
            let (user_data, result) = self.completions[index];
            let Some((generation, stream_id, op)) = unpack(user_data) else {
                self.link.fatal.raise(format!(
                    "io_uring returned an unknown completion tag {user_data:#x}"
                ));
                continue;
            };
            if op == Op::Bell {
                self.bell.completed();
                continue;
            }
            self.handle_completion(generation, stream_id, op, result);
        }
        let pool = &self.link.pool;
        self.retired.retain(|c| {
            if c.busy() {
                return true;
            }
            if let ReadState::Body { buffer, .. } = c.read {
                pool.put(buffer);
            }
            false
        });
        count
    }

    fn handle_completion(&mut self, generation: u32, stream_id: u16, op: Op, result: i32) {
        let Some(stream) = self.streams.get_mut(usize::from(stream_id)) else {
            return;
        };
        let Some(connection) = stream
            .connection
            .as_mut()
            .filter(|c| c.generation == generation)
        else {
            if let Some(old) = self.retired.iter_mut().find(|c| c.generation == generation) {
                match op {
                    Op::Bell => {}
                    Op::Write => old.sending = false,
                    Op::Read => {
                        old.reading = false;
                        if let ReadState::Body { buffer, .. } = old.read {
                            self.link.pool.put(buffer);
                            old.read = ReadState::Header { got: 0 };
                        }
                    }
                }
            }
            return;
        };
        let outcome = match op {
            Op::Bell => Ok(()),
            Op::Write => {
                connection.sending = false;
                match u32::try_from(result) {
                    Err(_) => Err(io_cause("send", result)),
                    // MSG_WAITALL makes a short send mean the connection failed mid-frame.
                    Ok(sent) if sent < connection.sending_len => Err(StreamFault::Broken(format!(
                        "short send: {sent} of {} bytes",
                        connection.sending_len
                    ))),
                    Ok(_) => {
                        if stream_id == 0 && connection.sending_verdict {
                            self.verdict_written = true;
                        }
                        Ok(())
                    }
                }
            }
            Op::Read => {
                connection.reading = false;
                handle_read(
                    &self.link,
                    stream_id,
                    &mut stream.frames,
                    connection,
                    result,
                )
            }
        };
        match outcome {
            Ok(()) => {}
            Err(StreamFault::Local(cause)) => self.link.fatal.raise(cause),
            Err(StreamFault::Protocol(cause)) => {
                let message =
                    format!("protocol error from the source on stream {stream_id}: {cause}");
                // Tell the source why before failing; the run loop flushes it.
                let _ = self
                    .link
                    .outbound
                    .push(Outbound::Abort(Abort::new(AbortCode::Protocol, &message)));
                self.link.fatal.raise(message);
            }
            Err(StreamFault::Broken(cause)) => {
                let committed = self.link.committed.load(Ordering::Acquire);
                let ended = self.ended_at.is_some() || committed;
                let after_goodbye = self.streams[0]
                    .connection
                    .as_ref()
                    .is_some_and(|c| c.last_frame_kind == Some(FrameKind::Goodbye));
                if ended && stream_id == 0 && (self.source_has_the_end() || after_goodbye) {
                    // The source's end: kept, so that `is_finished` sees it.
                    if let Some(c) = self.streams[0].connection.as_mut() {
                        c.closed_by_peer = true;
                    }
                    return;
                }
                if committed && stream_id == 0 {
                    // No `Goodbye`: the source may not have our ack of
                    // `Commit`. Wait for it to re-establish stream 0, and ack
                    // again there.
                    tracing::warn!(
                        cause,
                        "stream 0 closed after the source's commit and before its goodbye; waiting for the source to re-establish it"
                    );
                } else if ended && stream_id != 0 {
                    // The source closes every stream once it has the ack of `Commit`.
                    tracing::debug!(stream_id, cause, "stream closed after the end");
                } else if stream_id == 0 && self.verdict_sent_at.is_some() {
                    // Only `Commit` says the source read the verdict: wait for
                    // stream 0 to come back and send the verdict again.
                    tracing::warn!(
                        cause,
                        "stream 0 closed after the verdict and before the source's commit; waiting for the source to re-establish it"
                    );
                } else {
                    tracing::warn!(
                        stream_id,
                        cause,
                        "stream broke; waiting for the source to re-establish it"
                    );
                }
                self.retire(stream_id);
            }
        }
    }

    fn flush_abort(&mut self) {
        // Best effort: give an abort queued by the decoder a moment to reach the source.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            let queued = self.pending_outbound.is_some() || !self.link.outbound.is_empty();
            let sending = self.streams[0]
                .connection
                .as_ref()
                .is_some_and(|c| c.sending);
            if !queued && !sending {
                break;
            }
            self.queue_replies();
            if self
                .ring
                .submit_and_wait(Duration::from_millis(10))
                .is_err()
            {
                break;
            }
            self.reap();
        }
    }

    fn shutdown(&mut self) {
        for index in 0..self.streams.len() {
            let id = self.streams[index].id;
            self.retire(id);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.retired.is_empty() && Instant::now() < deadline {
            if self
                .ring
                .submit_and_wait(Duration::from_millis(10))
                .is_err()
            {
                break;
            }
            self.reap();
        }
        if !self.retired.is_empty() {
            // Leak rather than free memory the kernel may still write into.
            std::mem::forget(std::mem::take(&mut self.retired));
        }
    }
}

/// True if the decoder left work that needs no I/O completion: a reply
/// to send (`pending`: one is taken already), a free buffer or queue slot
/// a waiting connection of `streams` can take.
fn has_local_work(link: &DestinationLink, pending: bool, streams: &[Stream]) -> bool {
    if !link.outbound.is_empty() || pending {
        return true;
    }
    streams.iter().any(|stream| {
        if stream.accepted_unqueued.is_some() && !link.frames.is_full() {
            return true;
        }
        let Some(connection) = stream.connection.as_ref() else {
            return false;
        };
        let written = link.written_through[usize::from(stream.id)].load(Ordering::Acquire);
        (written > stream.acked && !connection.sending)
            || matches!(connection.read, ReadState::NeedBuffer(_)) && link.pool.available() > 0
            || matches!(connection.read, ReadState::NeedQueue { .. }) && !link.frames.is_full()
    })
}

/// `header`, decoded, if it is well formed and for stream `stream_id`.
fn checked_header(
    header: &[u8; FRAME_HEADER_LEN],
    stream_id: u16,
) -> Result<FrameHeader, StreamFault> {
    let header = FrameHeader::decode(header)
        .map_err(|e| protocol(format!("malformed frame header: {e}")))?;
    if header.stream_id != stream_id {
        return Err(protocol(format!(
            "a frame for stream {} arrived on this stream",
            header.stream_id
        )));
    }
    Ok(header)
}

fn handle_read(
    link: &DestinationLink,
    stream_id: u16,
    frames: &mut StreamRecvState,
    connection: &mut Connection,
    result: i32,
) -> Result<(), StreamFault> {
    let read = usize::try_from(result).map_err(|_| io_cause("read", result))?;
    if read == 0 {
        connection.closed_by_peer = true;
        return Err(StreamFault::Broken(
            "the source closed the connection".into(),
        ));
    }
    link.counters
        .bytes_read
        .fetch_add(read as u64, Ordering::Relaxed);
    match &mut connection.read {
        ReadState::Header { got } => {
            *got += read;
            if *got == FRAME_HEADER_LEN {
                let header = checked_header(&connection.header, stream_id)?;
                connection.read = ReadState::NeedBuffer(header);
            }
        }
        ReadState::Body { buffer, got, total } => {
            *got += read;
            if *got >= *total {
                let header = FrameHeader::decode(&connection.header)
                    .expect("decoded when the header arrived");
                frames.accept(header.seq).map_err(protocol)?;
                connection.last_frame_kind = Some(header.kind);
                // The read's lookahead: the start of the next frame's header.
                let carried = *got - *total;
                // SAFETY: the connection owns `buffer` (taken from the pool,
                // not yet queued) and no read into it is in flight.
                let bytes = unsafe { link.pool.slice(*buffer) };
                connection.header[..carried].copy_from_slice(&bytes[*total..*got]);
                if carried == FRAME_HEADER_LEN {
                    checked_header(&connection.header, stream_id)?;
                }
                let frame = ReceivedFrame {
                    stream_id,
                    buffer: *buffer,
                    len: u32::try_from(*total).expect("frames are bounded by FRAME_LEN_MAX"),
                };
                connection.read = ReadState::NeedQueue { frame, carried };
            }
        }
        ReadState::NeedBuffer(_) | ReadState::NeedQueue { .. } => {
            unreachable!("no read is issued in these states")
        }
    }
    Ok(())
}
