//! The source's transport thread: writes sealed frames on M streams, reads
//! the destination's acknowledgements and verdict, and re-establishes broken
//! streams.
//!
//! # Design
//! Per stream the thread keeps a [`StreamSendState`] (what is written, what
//! is acknowledged) and at most one connection. Each pass it:
//! 1. attaches connections the [`Reconnector`] re-established, rewinding the
//!    stream to the destination's resume point;
//! 2. moves sealed frames from the engine's queue into the stream while
//!    its in-flight window has room: a [`ByteWindow`] of bytes (sized by
//!    the caller from the bandwidth-delay product) and a cap on frames
//!    (the frame buffers);
//! 3. queues one `WRITE_FIXED` per idle connection and one `RECV` per
//!    connection not already reading, then submits the batch;
//! 4. handles completions: advances writes, parses control frames (acks
//!    release buffers back to the pool; the verdict goes to the engine).
//!
//! A broken connection (error, EOF, or the `cut` test hook) is shut down,
//! kept until its in-flight operations complete, and handed to the
//! reconnector; the stream's unacknowledged frames wait and are written
//! again after the resume point. If a stream cannot be re-established
//! within the reconnect timeout the migration fails.

use crate::byte_window::ByteWindow;
use crate::fault::{io_cause, local, protocol, StreamFault};
use crate::ring::{BellRead, Ring, RingError, COMPLETIONS_PER_PASS_MAX};
use crate::user_data::{pack, unpack, Op};
use crossbeam::channel::{Receiver, Sender};
use dwcp_dataplane_core::backoff::{IdleAction, IdleBackoff};
use dwcp_dataplane_core::link::{SourceEvent, SourceLink};
use dwcp_dataplane_core::page_stages::{PageStages, Stage};
use dwcp_dataplane_core::seal::FrameOpener;
use dwcp_dataplane_core::stream_rx::StreamRecvState;
use dwcp_dataplane_core::stream_tx::{InFlight, StreamSendState};
use dwcp_dataplane_core::worker_meter::{IdleClock, WorkerMeter};
use dwcp_hugepages::BufferId;
use dwcp_shared::control::{Abort, Ack, VerifyResult};
use dwcp_shared::limits::FRAME_HEADER_LEN;
use dwcp_shared::{FrameHeader, FrameKind};
use io_uring::{opcode, types};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest frame the destination sends (acks, verdicts, aborts).
pub const CONTROL_FRAME_LEN_MAX: usize = 1024;
/// Receive buffer per connection; holds several control frames.
pub const CONTROL_RECV_BUFFER_LEN: usize = 8 * CONTROL_FRAME_LEN_MAX;

/// Opens a connection for a stream and returns it with the resume point.
pub type ConnectFn = dyn Fn(u16) -> Result<(TcpStream, u64), String> + Send + Sync;

/// A re-established (or first established) stream, or why it could not be.
#[derive(Debug)]
pub enum Reconnected {
    /// Connected and handshaken; resume after this seq.
    Attached(u16, TcpStream, u64),
    /// A stream that started without a connection (its handshake was still
    /// running when the transfer began) has one now.
    Joined(u16, TcpStream),
    /// Gave up after the reconnect timeout, or the first handshake failed.
    Failed(u16, String),
}

/// Re-establishes broken streams on a helper thread, with exponential back-off.
#[derive(Debug)]
pub struct Reconnector {
    requests: Sender<u16>,
    results: Receiver<Reconnected>,
    /// For [`Self::joiner`].
    joins: Sender<Reconnected>,
}

/// First back-off between reconnect attempts.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest back-off between reconnect attempts.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Reconnector {
    /// Starts the helper thread; it gives up on a stream after `timeout`.
    pub fn spawn(connect: Arc<ConnectFn>, timeout: Duration) -> std::io::Result<Self> {
        let (requests, request_rx) = crossbeam::channel::unbounded::<u16>();
        let (result_tx, results) = crossbeam::channel::unbounded();
        let joins = result_tx.clone();
        std::thread::Builder::new().name("dwcp-reconnect".into()).spawn(move || {
            for stream_id in request_rx {
                let deadline = Instant::now() + timeout;
                let mut backoff = RECONNECT_BACKOFF_MIN;
                let outcome = loop {
                    match connect(stream_id) {
                        Ok((socket, resume)) => break Reconnected::Attached(stream_id, socket, resume),
                        Err(err) if Instant::now() >= deadline => {
                            break Reconnected::Failed(
                                stream_id,
                                format!("stream {stream_id} could not be re-established within {timeout:?}: {err}"),
                            )
                        }
                        Err(err) => {
                            // The last wait ends at the deadline, for one final attempt there.
                            let wait = backoff.min(deadline.saturating_duration_since(Instant::now()));
                            tracing::debug!(stream_id, %err, ?wait, "reconnect attempt failed");
                            std::thread::sleep(wait);
                            backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                        }
                    }
                };
                if result_tx.send(outcome).is_err() {
                    return;
                }
            }
        })?;
        Ok(Self {
            requests,
            results,
            joins,
        })
    }

    /// Where the first connections of the streams the transport starts
    /// without ([`SourceTransport::new`]) are delivered: send
    /// [`Reconnected::Joined`] once a stream is handshaken, or
    /// [`Reconnected::Failed`] (fatal for the migration) if it cannot be.
    pub fn joiner(&self) -> Sender<Reconnected> {
        self.joins.clone()
    }
}

/// Test hooks that break things on purpose.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceFaults {
    /// Shut this stream's socket down once it has written this many bytes.
    pub cut_stream_after: Option<(u16, u64)>,
}

/// What one pass of the source transport did ([`SourceTransport::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStep {
    /// The loop is over: the migration finished or a fatal error was raised.
    Ended,
    /// Something moved: pass again at once.
    Worked,
    /// Nothing to do: back off.
    Idle,
}

/// Settings of the source transport.
#[derive(Debug)]
pub struct SourceTransportConfig {
    /// Most frames in flight per stream (written or not, unacknowledged).
    pub inflight_frames: usize,
    /// Most bytes of frames in flight per stream (see [`ByteWindow`]).
    pub window_bytes: u64,
    /// Test hooks.
    pub faults: SourceFaults,
}

struct Connection {
    socket: TcpStream,
    generation: u32,
    writing: Option<(BufferId, u32, u32)>,
    reading: bool,
    recv_buf: Box<[u8]>,
    recv_len: usize,
    bytes_written: u64,
}

impl Connection {
    fn new(socket: TcpStream, generation: u32) -> Self {
        Self {
            socket,
            generation,
            writing: None,
            reading: false,
            recv_buf: vec![0u8; CONTROL_RECV_BUFFER_LEN].into_boxed_slice(),
            recv_len: 0,
            bytes_written: 0,
        }
    }

    fn busy(&self) -> bool {
        self.writing.is_some() || self.reading
    }
}

struct Stream {
    id: u16,
    send: StreamSendState<BufferId>,
    /// Bytes of the frames in `send`, against the stream's limit.
    window: ByteWindow,
    /// A frame taken from the engine's queue that the window did not admit
    /// yet (a queue cannot be peeked); it goes first.
    waiting: Option<InFlight<BufferId>>,
    replies: StreamRecvState,
    opener: FrameOpener,
    connection: Option<Connection>,
    reconnecting: bool,
}

/// The source transport; [`SourceTransport::run`] is the thread body.
pub struct SourceTransport {
    link: Arc<SourceLink>,
    ring: Ring,
    streams: Vec<Stream>,
    retired: Vec<Connection>,
    reconnector: Reconnector,
    faults: SourceFaults,
    next_generation: u32,
    completions: Box<[(u64, i32)]>,
    /// Ring wait, send, acknowledged and total latency per frame.
    /// Preallocated: recording never allocates.
    stages: PageStages,
    /// The clock read of the current pass.
    now: Instant,
    /// Frames written whole (retransmissions included).
    frames_written: u64,
    /// Keeps a read of the engine-to-transport doorbell in the ring.
    bell: BellRead,
}

impl std::fmt::Debug for SourceTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTransport")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl SourceTransport {
    /// Builds the transport over established connections (one per stream, in stream order).
    /// `connections[s]` is `None` for a stream whose handshake is still
    /// running: its frames wait until [`Reconnector::joiner`] delivers it.
    pub fn new(
        link: Arc<SourceLink>,
        connections: Vec<Option<TcpStream>>,
        openers: Vec<FrameOpener>,
        reconnector: Reconnector,
        config: SourceTransportConfig,
    ) -> Result<Self, RingError> {
        assert_eq!(
            connections.len(),
            link.tx.len(),
            "one connection per stream"
        );
        assert_eq!(openers.len(), link.tx.len(), "one opener per stream");
        let ring = Ring::new(Arc::clone(&link.pool))?;
        let mut next_generation = 1;
        let streams = connections
            .into_iter()
            .zip(openers)
            .enumerate()
            .map(|(index, (socket, opener))| {
                let id = u16::try_from(index).expect("stream count bounded by STREAMS_MAX");
                let generation = next_generation;
                next_generation += 1;
                Stream {
                    id,
                    send: StreamSendState::new(id, config.inflight_frames),
                    window: ByteWindow::new(config.window_bytes),
                    waiting: None,
                    replies: StreamRecvState::new(id),
                    opener,
                    // A stream still joining is not re-established if it breaks
                    // before its first connection: its joiner reports it.
                    reconnecting: socket.is_none(),
                    connection: socket.map(|socket| Connection::new(socket, generation)),
                }
            })
            .collect();
        Ok(Self {
            ring,
            streams,
            retired: Vec::new(),
            reconnector,
            faults: config.faults,
            next_generation,
            completions: vec![(0u64, 0i32); COMPLETIONS_PER_PASS_MAX].into_boxed_slice(),
            stages: PageStages::new(),
            now: Instant::now(),
            frames_written: 0,
            bell: BellRead::new(
                link.transport_bell
                    .eventfd()
                    .expect("the source link's transport bell is an eventfd"),
            ),
            link,
        })
    }

    /// Runs until the engine marks the migration finished or a fatal error
    /// is raised; returns the frames' ring wait, send, acknowledged and total
    /// latencies.
    /// Busy and idle time go to `meter`, as do the frames and bytes written.
    pub fn run(mut self, meter: &WorkerMeter) -> PageStages {
        let mut backoff = IdleBackoff::new();
        let mut clock = IdleClock::start(meter, Instant::now());
        loop {
            let now = Instant::now();
            match self.step(now) {
                SourceStep::Ended => break,
                SourceStep::Worked => {
                    backoff.reset();
                    clock.busy_from(now);
                    self.report(meter);
                }
                SourceStep::Idle => {
                    clock.idle_from(now);
                    match backoff.next_action() {
                        IdleAction::Spin => std::hint::spin_loop(),
                        IdleAction::Yield => std::thread::yield_now(),
                        IdleAction::Sleep(timeout) => self.sleep(timeout),
                    }
                }
            }
        }
        clock.stop(Instant::now());
        self.finish(meter)
    }

    /// One pass of the loop at `now`: attach re-established streams, take
    /// queued frames, queue and submit operations, handle completions.
    /// [`SourceStep::Ended`] once the engine marked the migration finished
    /// or a fatal error is raised (then [`SourceTransport::finish`]).
    pub fn step(&mut self, now: Instant) -> SourceStep {
        self.now = now;
        if self.link.fatal.is_raised() || self.link.finished.load(Ordering::Acquire) {
            return SourceStep::Ended;
        }
        let mut worked = self.attach_reconnected();
        worked |= self.pull_frames();
        if let Err(err) = self.queue_operations() {
            self.link.fatal.raise(err.to_string());
            return SourceStep::Ended;
        }
        worked |= self.reap() > 0;
        if worked {
            SourceStep::Worked
        } else {
            SourceStep::Idle
        }
    }

    /// Waits up to `timeout` for a completion or the transport's doorbell,
    /// unless queued frames are ready to write (an idle pass may not see
    /// a frame queued just after it looked). A failed wait raises the fatal
    /// flag.
    pub fn sleep(&mut self, timeout: Duration) {
        let (link, streams) = (&self.link, &self.streams);
        let waited = self.ring.sleep_on(&link.transport_bell, timeout, || {
            has_frames_to_write(link, streams)
        });
        if let Err(err) = waited {
            self.link.fatal.raise(err.to_string());
        }
    }

    /// Puts the frames and bytes written so far on `meter`.
    pub fn report(&self, meter: &WorkerMeter) {
        meter.set_counts(
            self.frames_written,
            self.link.counters.bytes_written.load(Ordering::Relaxed),
        );
    }

    /// Closes every connection after the loop ended (waiting, bounded, for
    /// the kernel's operations on them), reports to `meter`, and returns
    /// the frames' latencies.
    pub fn finish(mut self, meter: &WorkerMeter) -> PageStages {
        self.shutdown();
        self.report(meter);
        std::mem::take(&mut self.stages)
    }

    fn attach_reconnected(&mut self) -> bool {
        let mut worked = false;
        while let Ok(outcome) = self.reconnector.results.try_recv() {
            worked = true;
            match outcome {
                Reconnected::Failed(_, message) => self.link.fatal.raise(message),
                Reconnected::Joined(stream_id, socket) => {
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    let stream = &mut self.streams[usize::from(stream_id)];
                    if stream.connection.is_some() || !stream.reconnecting {
                        self.link
                            .fatal
                            .raise(format!("stream {stream_id} joined twice"));
                        continue;
                    }
                    tracing::debug!(stream_id, "stream joined");
                    stream.connection = Some(Connection::new(socket, generation));
                    stream.reconnecting = false;
                }
                Reconnected::Attached(stream_id, socket, resume) => {
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    let pool = Arc::clone(&self.link.pool);
                    let stream = &mut self.streams[usize::from(stream_id)];
                    let window = &mut stream.window;
                    let mut released = 0u64;
                    let resumed = stream.send.handle_resume(resume, |frame| {
                        window.release(frame.len);
                        released += u64::from(frame.len);
                        pool.put(frame.buffer);
                    });
                    // The peer holds these frames whole: for the engine's
                    // count of bytes in flight they are acknowledged.
                    self.link.acknowledged(usize::from(stream_id), released);
                    if released > 0 {
                        self.link.engine_bell.ring();
                    }
                    if let Err(err) = resumed {
                        self.link.fatal.raise(format!(
                            "destination resumed stream {stream_id} impossibly: {err}"
                        ));
                        continue;
                    }
                    tracing::info!(
                        stream_id,
                        resume_after_seq = resume,
                        "stream re-established"
                    );
                    self.link
                        .counters
                        .reconnects
                        .fetch_add(1, Ordering::Relaxed);
                    stream.connection = Some(Connection::new(socket, generation));
                    stream.reconnecting = false;
                }
            }
        }
        worked
    }

    fn pull_frames(&mut self) -> bool {
        let mut worked = false;
        for stream in &mut self.streams {
            let queue = &self.link.tx[usize::from(stream.id)];
            while stream.send.has_room() {
                let Some(mut frame) = stream.waiting.take().or_else(|| {
                    let popped = queue.pop();
                    if popped.is_some() {
                        // A queue slot is free: the engine may be waiting for one.
                        self.link.engine_bell.ring();
                    }
                    popped
                }) else {
                    break;
                };
                if !stream.window.admits(frame.len) {
                    stream.waiting = Some(frame);
                    break;
                }
                stream.window.add(frame.len);
                frame.pulled_at = self.now;
                self.stages.record(
                    Stage::RingWait,
                    self.now.saturating_duration_since(frame.queued_at),
                );
                stream.send.push(frame).expect("room was checked");
                worked = true;
            }
        }
        worked
    }

    fn queue_operations(&mut self) -> Result<(), RingError> {
        self.bell.arm(&mut self.ring, pack(0, 0, Op::Bell))?;
        for stream in &mut self.streams {
            let Some(connection) = stream.connection.as_mut() else {
                continue;
            };
            let fd = types::Fd(connection.socket.as_raw_fd());
            if connection.writing.is_none() {
                if let Some(frame) = stream.send.next_unsent() {
                    let (ptr, index) = self.ring.fixed(frame.buffer, 0);
                    let entry = opcode::WriteFixed::new(fd, ptr, frame.len, index)
                        .build()
                        .user_data(pack(connection.generation, stream.id, Op::Write));
                    // SAFETY: the frame's buffer stays owned by the stream's
                    // send state (unacked) until acknowledged, which cannot
                    // happen before this write completes; the engine never
                    // touches a sealed frame again.
                    unsafe { self.ring.push(entry)? };
                    connection.writing = Some((frame.buffer, 0, frame.len));
                }
            }
            if !connection.reading {
                let spare = &mut connection.recv_buf[connection.recv_len..];
                let len = u32::try_from(spare.len()).expect("receive buffer below 4 GiB");
                let entry = opcode::Recv::new(fd, spare.as_mut_ptr(), len)
                    .build()
                    .user_data(pack(connection.generation, stream.id, Op::Read));
                // SAFETY: `recv_buf` is a boxed slice owned by the connection,
                // which is kept (in `streams` or `retired`) until no operation
                // is in flight on it.
                unsafe { self.ring.push(entry)? };
                connection.reading = true;
            }
        }
        self.ring.submit()
    }

    fn reap(&mut self) -> usize {
        let count = self.ring.reap(&mut self.completions);
        if count > 0 {
            // Completions stamp frames (sent, acknowledged): read the clock anew.
            self.now = Instant::now();
        }
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
        self.retired.retain(Connection::busy);
        count
    }

    fn handle_completion(&mut self, generation: u32, stream_id: u16, op: Op, result: i32) {
        let Some(stream) = self.streams.get_mut(usize::from(stream_id)) else {
            return;
        };
        let current = stream
            .connection
            .as_ref()
            .is_some_and(|c| c.generation == generation);
        if !current {
            if let Some(old) = self.retired.iter_mut().find(|c| c.generation == generation) {
                match op {
                    Op::Write => old.writing = None,
                    Op::Read => old.reading = false,
                    Op::Bell => {}
                }
            }
            return;
        }
        let outcome = match op {
            Op::Write => self.handle_write(stream_id, result),
            Op::Read => self.handle_read(stream_id, result),
            Op::Bell => Ok(()),
        };
        match outcome {
            Ok(()) => {}
            Err(StreamFault::Broken(cause)) => self.break_stream(stream_id, &cause),
            Err(StreamFault::Protocol(cause)) => self.link.fatal.raise(format!(
                "protocol error from the destination on stream {stream_id}: {cause}"
            )),
            Err(StreamFault::Local(cause)) => self.link.fatal.raise(cause),
        }
    }

    fn handle_write(&mut self, stream_id: u16, result: i32) -> Result<(), StreamFault> {
        let stream = &mut self.streams[usize::from(stream_id)];
        let connection = stream.connection.as_mut().expect("checked current");
        let (buffer, offset, len) = connection.writing.take().expect("a write was in flight");
        let written = u32::try_from(result).map_err(|_| io_cause("write", result))?;
        if written == 0 {
            return Err(StreamFault::Broken("write returned 0 bytes".into()));
        }
        self.link
            .counters
            .bytes_written
            .fetch_add(u64::from(written), Ordering::Relaxed);
        connection.bytes_written += u64::from(written);
        let offset = offset + written;
        if offset < len {
            let fd = types::Fd(connection.socket.as_raw_fd());
            let (ptr, index) = self.ring.fixed(buffer, offset as usize);
            let entry = opcode::WriteFixed::new(fd, ptr, len - offset, index)
                .build()
                .user_data(pack(connection.generation, stream_id, Op::Write));
            // SAFETY: same buffer and ownership as the first part of this write.
            unsafe { self.ring.push(entry) }.map_err(local)?;
            connection.writing = Some((buffer, offset, len));
        } else {
            let frame = stream.send.mark_sent(self.now);
            if stream_id == 0 {
                self.link
                    .stream0_written_seq
                    .fetch_max(frame.seq, Ordering::Release);
            }
            self.stages.record(
                Stage::Send,
                self.now.saturating_duration_since(frame.pulled_at),
            );
            self.frames_written += 1;
        }
        if let Some((cut_stream, after)) = self.faults.cut_stream_after {
            if cut_stream == stream_id && connection.bytes_written >= after {
                self.faults.cut_stream_after = None;
                tracing::warn!(
                    stream_id,
                    bytes = connection.bytes_written,
                    "test hook: cutting the stream"
                );
                // Shut down only: the fd stays open until in-flight operations complete.
                let _ = connection.socket.shutdown(Shutdown::Both);
            }
        }
        Ok(())
    }

    fn handle_read(&mut self, stream_id: u16, result: i32) -> Result<(), StreamFault> {
        let stream = &mut self.streams[usize::from(stream_id)];
        let connection = stream.connection.as_mut().expect("checked current");
        connection.reading = false;
        let read = usize::try_from(result).map_err(|_| io_cause("read", result))?;
        if read == 0 {
            return Err(StreamFault::Broken(
                "the destination closed the connection".into(),
            ));
        }
        self.link
            .counters
            .bytes_read
            .fetch_add(read as u64, Ordering::Relaxed);
        connection.recv_len += read;
        let mut consumed = 0;
        while connection.recv_len - consumed >= FRAME_HEADER_LEN {
            let bytes = &mut connection.recv_buf[consumed..connection.recv_len];
            let header = FrameHeader::decode(bytes)
                .map_err(|e| protocol(format!("malformed frame from the destination: {e}")))?;
            let frame_len = FRAME_HEADER_LEN + header.body_len as usize;
            if frame_len > CONTROL_FRAME_LEN_MAX {
                return Err(protocol(format!(
                    "destination sent a {frame_len}-byte frame; control frames are at most {CONTROL_FRAME_LEN_MAX}"
                )));
            }
            if bytes.len() < frame_len {
                break;
            }
            stream
                .replies
                .accept_increasing(header.seq)
                .map_err(protocol)?;
            let (header, body) = stream
                .opener
                .open(&mut bytes[..frame_len])
                .map_err(protocol)?;
            let acknowledged = handle_reply(
                &self.link,
                &mut stream.send,
                &mut stream.window,
                header,
                body,
                self.now,
                &mut self.stages,
            )
            .map_err(protocol)?;
            if acknowledged > 0 {
                self.link.acknowledged(usize::from(stream_id), acknowledged);
                self.link.engine_bell.ring();
            }
            consumed += frame_len;
        }
        connection
            .recv_buf
            .copy_within(consumed..connection.recv_len, 0);
        connection.recv_len -= consumed;
        Ok(())
    }

    fn break_stream(&mut self, stream_id: u16, cause: &str) {
        let stream = &mut self.streams[usize::from(stream_id)];
        let Some(connection) = stream.connection.take() else {
            return;
        };
        let _ = connection.socket.shutdown(Shutdown::Both);
        if connection.busy() {
            self.retired.push(connection);
        }
        // The end: the destination closes once it has our `Goodbye`, so a
        // stream 0 that closes after `Goodbye` was written is not re-
        // established, nor is another stream with nothing left once `Commit`
        // is queued (it carries nothing more; the destination may close it
        // first). A stream 0 that breaks before `Goodbye` was written is: the
        // destination waits for it, and `Goodbye` (never acknowledged) is
        // resent after the resume point.
        let goodbye_seq = self.link.goodbye_seq.load(Ordering::Acquire);
        let said_goodbye =
            stream_id == 0 && goodbye_seq != 0 && stream.send.sent_through() >= goodbye_seq;
        let drained_after_commit = stream_id != 0
            && self.link.commit_seq.load(Ordering::Acquire) != 0
            && stream.send.unacked_len() == 0
            && self.link.tx[usize::from(stream_id)].is_empty();
        if self.link.finished.load(Ordering::Acquire)
            || self.link.fatal.is_raised()
            || said_goodbye
            || drained_after_commit
        {
            return;
        }
        tracing::warn!(stream_id, cause, "stream broke; re-establishing it");
        if !stream.reconnecting {
            stream.reconnecting = true;
            if self.reconnector.requests.send(stream_id).is_err() {
                self.link.fatal.raise(format!(
                    "stream {stream_id} broke ({cause}) and the reconnect helper is gone"
                ));
            }
        }
    }

    fn shutdown(&mut self) {
        for stream in &mut self.streams {
            if let Some(connection) = stream.connection.take() {
                let _ = connection.socket.shutdown(Shutdown::Both);
                if connection.busy() {
                    self.retired.push(connection);
                }
            }
        }
        // Wait (bounded) for in-flight operations so no kernel write targets freed memory.
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
            // Leak rather than free buffers the kernel may still write into.
            std::mem::forget(std::mem::take(&mut self.retired));
        }
    }
}

/// True if the engine queued frames that one of `streams` could take now.
fn has_frames_to_write(link: &SourceLink, streams: &[Stream]) -> bool {
    streams.iter().any(|s| {
        s.connection.is_some()
            && s.send.has_room()
            && match &s.waiting {
                Some(frame) => s.window.admits(frame.len),
                None => s.window.has_room() && !link.tx[usize::from(s.id)].is_empty(),
            }
    })
}

/// Handles one reply frame of a stream; returns the frame bytes its ack
/// released (0 for any other frame), for the caller to count.
fn handle_reply(
    link: &SourceLink,
    send: &mut StreamSendState<BufferId>,
    window: &mut ByteWindow,
    header: FrameHeader,
    body: &[u8],
    now: Instant,
    stages: &mut PageStages,
) -> Result<u64, String> {
    let mut released = 0u64;
    match header.kind {
        FrameKind::Ack => {
            let ack = Ack::decode(body).map_err(|e| format!("malformed ack: {e}"))?;
            send.handle_ack(ack.written_through_seq, |frame| {
                released += u64::from(frame.len);
                window.release(frame.len);
                stages.record(
                    Stage::Acknowledged,
                    now.saturating_duration_since(frame.sent_at),
                );
                stages.record(Stage::Total, now.saturating_duration_since(frame.queued_at));
                link.pool.put(frame.buffer);
            })
            .map_err(|e| e.to_string())?;
            // Only a valid ack (checked just above) counts for `Commit`.
            let commit_seq = link.commit_seq.load(Ordering::Acquire);
            if header.stream_id == 0 && commit_seq != 0 && ack.written_through_seq >= commit_seq {
                link.commit_acked.store(true, Ordering::Release);
                link.engine_bell.ring();
            }
        }
        FrameKind::VerifyResult if header.stream_id == 0 => {
            let result =
                VerifyResult::decode(body).map_err(|e| format!("malformed verdict: {e}"))?;
            push_event(link, SourceEvent::Verified(result));
        }
        FrameKind::Abort => {
            let abort = Abort::decode(body).map_err(|e| format!("malformed abort: {e}"))?;
            push_event(link, SourceEvent::Aborted(abort));
        }
        other => {
            return Err(format!(
                "destination sent a {other:?} frame on stream {}",
                header.stream_id
            ))
        }
    }
    Ok(released)
}

fn push_event(link: &SourceLink, event: SourceEvent) {
    if link.events.push(event).is_err() {
        link.fatal.raise("engine event queue overflowed".into());
    }
    link.engine_bell.ring();
}
