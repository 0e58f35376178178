//! The destination transport's reads over a real loopback TCP connection
//! and a real io_uring: frames arrive whole and in order however their
//! bytes are split, including a next frame's header read, whole or in
//! part, with the body before it (the body read's lookahead).

use crossbeam::channel::Sender;
use dwcp_dataplane_core::link::{DestinationLink, ReceivedFrame};
use dwcp_dataplane_core::seal::FrameSealer;
use dwcp_hugepages::{BufferPool, HugepagePolicy};
use dwcp_shared::limits::{FRAME_HEADER_LEN, FRAME_LEN_MAX};
use dwcp_shared::{FrameHeader, FrameKind, FRAME_FLAG_PLAINTEXT};
use dwcp_uring::dest_io::{
    Control, DestinationTransport, DestinationTransportConfig, TransportStep,
};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a test waits for the transport to take what was written.
const WAIT_MAX: Duration = Duration::from_secs(10);
/// Buffers in the pool: more than the frames a test has in flight.
const POOL_BUFFERS: u32 = 8;
/// Body length of the test frames (a page and a tag).
const BODY_LEN: usize = 4096 + 16;

struct Harness {
    transport: DestinationTransport,
    link: Arc<DestinationLink>,
    /// The source's end of the connection.
    client: TcpStream,
    /// The acceptor's channel to the transport.
    control: Sender<Control>,
    listener: TcpListener,
}

impl Harness {
    /// A transport for one stream with a connection attached to it.
    fn new() -> Self {
        Self::with_queue(4)
    }

    /// [`Harness::new`] with room for `frames_max` frames in the decoder's queue.
    fn with_queue(frames_max: usize) -> Self {
        let buffer_len = FRAME_LEN_MAX.div_ceil(4096) * 4096;
        let pool = Arc::new(
            BufferPool::new(buffer_len, POOL_BUFFERS, HugepagePolicy::Never).expect("pool"),
        );
        let link = Arc::new(DestinationLink::new(pool, 1, frames_max).expect("link"));
        let (control, control_rx) = crossbeam::channel::unbounded();
        let transport = DestinationTransport::new(
            Arc::clone(&link),
            vec![FrameSealer::plaintext(0)],
            control_rx,
            DestinationTransportConfig {
                peer_timeout: Duration::from_secs(30),
            },
        )
        .expect("transport");
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        control
            .send(Control::Attach(0, server))
            .expect("the transport holds the receiver");
        Self {
            transport,
            link,
            client,
            control,
            listener,
        }
    }

    /// One pass, or a short sleep if it found nothing to do.
    fn pass(&mut self) {
        if self.transport.step(Instant::now()) == TransportStep::Idle {
            self.transport.sleep(Duration::from_millis(1));
        }
    }

    /// A new connection for stream 0, as the acceptor hands over a
    /// rejoining stream: `Join` (the old connection is retired) answers
    /// the resume point, then `Attach`. Returns the resume point; the
    /// source's end of the new connection replaces `client`.
    fn rejoin(&mut self) -> u64 {
        let (reply, answer) = crossbeam::channel::bounded(1);
        self.control
            .send(Control::Join(0, reply))
            .expect("the transport holds the receiver");
        let deadline = Instant::now() + WAIT_MAX;
        let resume = loop {
            if let Ok(resume) = answer.try_recv() {
                break resume;
            }
            assert!(Instant::now() < deadline, "no answer to Join");
            self.pass();
        };
        let address = self.listener.local_addr().expect("address");
        self.client = TcpStream::connect(address).expect("connect");
        let (server, _) = self.listener.accept().expect("accept");
        self.control
            .send(Control::Attach(0, server))
            .expect("the transport holds the receiver");
        resume
    }

    /// Steps the transport until `count` frames are in the decoder's queue
    /// (or the fatal flag is raised); returns them.
    fn frames(&mut self, count: usize) -> Vec<ReceivedFrame> {
        let deadline = Instant::now() + WAIT_MAX;
        let mut frames = Vec::new();
        while frames.len() < count && !self.link.fatal.is_raised() {
            assert!(
                Instant::now() < deadline,
                "{} of {count} frames",
                frames.len()
            );
            self.pass();
            while let Some(frame) = self.link.frames.pop() {
                frames.push(frame);
            }
        }
        frames
    }

    /// The bytes of `frame` as the transport put them in its buffer.
    fn bytes(&self, frame: &ReceivedFrame) -> Vec<u8> {
        // SAFETY: the test took `frame` from the decoder's queue, so it owns
        // the buffer, and nothing writes into it.
        let bytes = unsafe { self.link.pool.slice(frame.buffer) };
        bytes[..frame.len as usize].to_vec()
    }
}

/// Frame `seq` of stream 0: a header and a body of `BODY_LEN` bytes
/// derived from `seq`.
fn frame(seq: u64, stream_id: u16) -> Vec<u8> {
    let header = FrameHeader {
        kind: FrameKind::PageBatch,
        flags: FRAME_FLAG_PLAINTEXT,
        stream_id,
        seq,
        body_len: u32::try_from(BODY_LEN).expect("small"),
    };
    let mut bytes = header.encode().to_vec();
    bytes.extend((0..BODY_LEN as u64).map(|i| (i * 7 + seq).to_le_bytes()[0]));
    bytes
}

fn assert_frames(harness: &Harness, frames: &[ReceivedFrame], seqs: &[u64]) {
    assert_eq!(frames.len(), seqs.len(), "frame count");
    for (got, &seq) in frames.iter().zip(seqs) {
        assert_eq!(got.stream_id, 0);
        assert_eq!(
            harness.bytes(got),
            frame(seq, 0),
            "frame {seq} arrived whole and in order"
        );
    }
}

#[test]
fn frames_written_back_to_back_arrive_whole_and_in_order() {
    let mut harness = Harness::new();
    let all: Vec<u8> = (1..=3).flat_map(|seq| frame(seq, 0)).collect();
    harness.client.write_all(&all).expect("write");
    let frames = harness.frames(3);
    assert!(
        !harness.link.fatal.is_raised(),
        "{:?}",
        harness.link.fatal.message()
    );
    assert_frames(&harness, &frames, &[1, 2, 3]);
}

#[test]
fn a_next_header_read_with_the_body_before_it_in_part_or_whole() {
    for cut in [1, 10, FRAME_HEADER_LEN - 1, FRAME_HEADER_LEN] {
        let mut harness = Harness::new();
        let (first, second, third) = (frame(1, 0), frame(2, 0), frame(3, 0));
        // Frame 1 and the first `cut` bytes of frame 2's header, then the rest.
        let mut head = first.clone();
        head.extend_from_slice(&second[..cut]);
        harness.client.write_all(&head).expect("write");
        let frames = harness.frames(1);
        assert_frames(&harness, &frames, &[1]);
        let mut rest = second[cut..].to_vec();
        rest.extend_from_slice(&third);
        harness.client.write_all(&rest).expect("write");
        let frames = harness.frames(2);
        assert!(
            !harness.link.fatal.is_raised(),
            "cut {cut}: {:?}",
            harness.link.fatal.message()
        );
        assert_frames(&harness, &frames, &[2, 3]);
    }
}

#[test]
fn a_bad_header_read_with_the_body_before_it_fails_the_stream() {
    let mut harness = Harness::new();
    // Frame 1, then a whole header that names another stream.
    let mut bytes = frame(1, 0);
    bytes.extend_from_slice(&frame(2, 1)[..FRAME_HEADER_LEN]);
    harness.client.write_all(&bytes).expect("write");
    let deadline = Instant::now() + WAIT_MAX;
    while !harness.link.fatal.is_raised() {
        assert!(Instant::now() < deadline, "no protocol error");
        harness.pass();
    }
    let message = harness.link.fatal.message().unwrap_or_default();
    assert!(
        message.contains("a frame for stream 1 arrived on this stream"),
        "{message}"
    );
}

/// A frame accepted on a connection that is retired before the decoder's
/// queue takes it waits for the queue; the next connection reads nothing
/// until it is queued, so that a second retirement cannot leave two frames
/// with one place to wait (the first was lost: counted in the resume
/// point, never decoded).
#[test]
fn an_accepted_frame_of_a_retired_connection_survives_a_second_rejoin() {
    let mut harness = Harness::with_queue(1);
    let (first, second, third) = (frame(1, 0), frame(2, 0), frame(3, 0));
    let mut both = first.clone();
    both.extend_from_slice(&second);
    harness.client.write_all(&both).expect("write");
    let deadline = Instant::now() + WAIT_MAX;
    while harness
        .link
        .counters
        .bytes_read
        .load(std::sync::atomic::Ordering::Relaxed)
        < both.len() as u64
    {
        assert!(Instant::now() < deadline, "frames 1 and 2 not read");
        harness.pass();
    }
    // Frame 1 fills the queue; frame 2 is accepted and waits.
    assert_eq!(harness.rejoin(), 2, "frame 2 was accepted");
    harness.client.write_all(&third).expect("write");
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        harness.pass();
    }
    assert_eq!(
        harness.rejoin(),
        2,
        "frame 3 must not be accepted while frame 2 waits for the queue"
    );
    harness.client.write_all(&third).expect("write");
    let frames = harness.frames(1);
    assert_frames(&harness, &frames, &[1]);
    let frames = harness.frames(1);
    assert_frames(&harness, &frames, &[2]);
    let frames = harness.frames(1);
    assert!(
        !harness.link.fatal.is_raised(),
        "{:?}",
        harness.link.fatal.message()
    );
    assert_frames(&harness, &frames, &[3]);
}
