//! Per-stream send bookkeeping: what is written, what is acknowledged, what
//! to resend after a reconnect.
//!
//! # Design
//! Frames enter in sequence order, already sealed. `unacked` holds every
//! frame from the oldest unacknowledged one to the newest; `unsent_from` is
//! the index of the first frame not yet fully written to the current
//! connection. An ack (`written_through_seq`) releases frames from the
//! front. A reconnect (`handle_resume`) releases what the destination says
//! it already holds and rewinds `unsent_from` to 0, so everything else is
//! written again, byte-identical, in order.
//!
//! The deque is allocated once with capacity [`StreamSendState::capacity`]
//! and [`StreamSendState::push`] refuses to grow it: no allocation after
//! start-up.

use std::collections::VecDeque;
use std::time::Instant;
use thiserror::Error;

/// Upper bound on frames in flight on one stream.
pub const INFLIGHT_FRAMES_MAX: usize = 4096;

/// A sealed frame held until acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight<B> {
    /// Its sequence number.
    pub seq: u64,
    /// The buffer that holds it.
    pub buffer: B,
    /// Its length in bytes.
    pub len: u32,
    /// When the engine queued it (for enqueue-to-acknowledged latency).
    pub queued_at: Instant,
    /// When the transport took it from the engine's queue (ring wait ends).
    pub pulled_at: Instant,
    /// When its last byte was written to the socket (send ends).
    pub sent_at: Instant,
}

impl<B> InFlight<B> {
    /// A frame the engine queues at `now`; the later stamps start equal to it.
    pub fn queued(seq: u64, buffer: B, len: u32, now: Instant) -> Self {
        Self {
            seq,
            buffer,
            len,
            queued_at: now,
            pulled_at: now,
            sent_at: now,
        }
    }
}

/// A peer said something impossible about this stream.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AckError {
    /// The peer acknowledged a frame we never sent.
    #[error("stream {stream_id}: peer acknowledged seq {acked} but only {last_sent} was sent")]
    BeyondSent {
        /// The stream.
        stream_id: u16,
        /// What it acknowledged.
        acked: u64,
        /// The newest frame written.
        last_sent: u64,
    },
    /// The peer went backwards.
    #[error(
        "stream {stream_id}: peer acknowledged seq {acked} after already acknowledging {previous}"
    )]
    Backwards {
        /// The stream.
        stream_id: u16,
        /// What it acknowledged now.
        acked: u64,
        /// What it acknowledged before.
        previous: u64,
    },
}

/// Send-side state of one stream.
#[derive(Debug)]
pub struct StreamSendState<B> {
    stream_id: u16,
    unacked: VecDeque<InFlight<B>>,
    unsent_from: usize,
    /// Highest seq the peer acknowledged as written (acks only; never goes back).
    acked_through: u64,
    /// Highest seq released: the larger of `acked_through` and the last
    /// resume point. A resume point counts frames the peer *received* whole,
    /// which may be ahead of what it has *written*, so later acks can lag
    /// behind it; such acks are stale, not wrong.
    released_through: u64,
    last_pushed: u64,
}

impl<B: Copy> StreamSendState<B> {
    /// An empty stream that holds at most `capacity` frames in flight.
    pub fn new(stream_id: u16, capacity: usize) -> Self {
        assert!(
            capacity > 0 && capacity <= INFLIGHT_FRAMES_MAX,
            "in-flight capacity in 1..=INFLIGHT_FRAMES_MAX"
        );
        Self {
            stream_id,
            unacked: VecDeque::with_capacity(capacity),
            unsent_from: 0,
            acked_through: 0,
            released_through: 0,
            last_pushed: 0,
        }
    }

    /// Frames this stream may hold in flight.
    pub fn capacity(&self) -> usize {
        self.unacked.capacity()
    }

    /// True if another frame fits.
    pub fn has_room(&self) -> bool {
        self.unacked.len() < self.unacked.capacity()
    }

    /// Frames not yet acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Highest seq the peer acknowledged as written.
    pub fn acked_through(&self) -> u64 {
        self.acked_through
    }

    /// Highest seq released (acknowledged, or held by the peer at a resume).
    pub fn released_through(&self) -> u64 {
        self.released_through
    }

    /// Highest seq handed to this stream.
    pub fn last_pushed(&self) -> u64 {
        self.last_pushed
    }

    /// Queues a sealed frame; gives it back if the stream is full.
    pub fn push(&mut self, frame: InFlight<B>) -> Result<(), InFlight<B>> {
        if !self.has_room() {
            return Err(frame);
        }
        assert_eq!(
            frame.seq,
            self.last_pushed + 1,
            "frames enter in sequence order"
        );
        self.last_pushed = frame.seq;
        self.unacked.push_back(frame);
        Ok(())
    }

    /// The next frame to write on the current connection.
    pub fn next_unsent(&self) -> Option<InFlight<B>> {
        self.unacked.get(self.unsent_from).copied()
    }

    /// The frame returned by `next_unsent` was fully written at `now`;
    /// returns it (with `sent_at` stamped).
    pub fn mark_sent(&mut self, now: Instant) -> InFlight<B> {
        assert!(
            self.unsent_from < self.unacked.len(),
            "mark_sent without an unsent frame"
        );
        let frame = &mut self.unacked[self.unsent_from];
        frame.sent_at = now;
        self.unsent_from += 1;
        *frame
    }

    /// Highest seq fully written on the current connection.
    pub fn sent_through(&self) -> u64 {
        match self.unsent_from.checked_sub(1) {
            Some(index) => self.unacked[index].seq,
            None => self.released_through,
        }
    }

    /// Handles an acknowledgement, releasing acknowledged buffers.
    pub fn handle_ack(
        &mut self,
        written_through_seq: u64,
        mut release: impl FnMut(InFlight<B>),
    ) -> Result<(), AckError> {
        let stream_id = self.stream_id;
        if written_through_seq < self.acked_through {
            return Err(AckError::Backwards {
                stream_id,
                acked: written_through_seq,
                previous: self.acked_through,
            });
        }
        if written_through_seq > self.sent_through() {
            return Err(AckError::BeyondSent {
                stream_id,
                acked: written_through_seq,
                last_sent: self.sent_through(),
            });
        }
        self.acked_through = written_through_seq;
        self.release_through(written_through_seq, &mut release);
        Ok(())
    }

    /// A new connection resumes after `resume_after_seq`: release what the
    /// peer holds and rewind so the rest is written again.
    pub fn handle_resume(
        &mut self,
        resume_after_seq: u64,
        mut release: impl FnMut(InFlight<B>),
    ) -> Result<(), AckError> {
        let stream_id = self.stream_id;
        if resume_after_seq > self.last_pushed {
            return Err(AckError::BeyondSent {
                stream_id,
                acked: resume_after_seq,
                last_sent: self.last_pushed,
            });
        }
        if resume_after_seq < self.released_through {
            return Err(AckError::Backwards {
                stream_id,
                acked: resume_after_seq,
                previous: self.released_through,
            });
        }
        self.unsent_from = self.unacked.len();
        self.release_through(resume_after_seq, &mut release);
        self.unsent_from = 0;
        Ok(())
    }

    fn release_through(&mut self, seq: u64, release: &mut impl FnMut(InFlight<B>)) {
        while let Some(front) = self.unacked.front() {
            if front.seq > seq {
                break;
            }
            let frame = self.unacked.pop_front().expect("front exists");
            release(frame);
            self.unsent_from = self.unsent_from.saturating_sub(1);
        }
        self.released_through = self.released_through.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> InFlight<u32> {
        InFlight::queued(seq, u32::try_from(seq).expect("small") * 10, 100, epoch())
    }

    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    #[test]
    fn acks_release_in_order_and_are_checked() {
        let mut s = StreamSendState::new(2, 4);
        for seq in 1..=4 {
            s.push(frame(seq)).expect("room");
        }
        assert_eq!(s.push(frame(5)), Err(frame(5)));
        for _ in 0..3 {
            s.next_unsent().expect("unsent");
            s.mark_sent(epoch());
        }
        let mut released = vec![];
        assert!(matches!(
            s.handle_ack(4, |f| released.push(f.buffer)),
            Err(AckError::BeyondSent {
                acked: 4,
                last_sent: 3,
                ..
            })
        ));
        s.handle_ack(2, |f| released.push(f.buffer))
            .expect("valid ack");
        assert_eq!(released, vec![10, 20]);
        assert!(matches!(
            s.handle_ack(1, |_| {}),
            Err(AckError::Backwards { .. })
        ));
        assert_eq!(s.next_unsent(), Some(frame(4)));
        assert!(s.has_room());
    }

    #[test]
    fn acks_that_lag_behind_a_resume_point_are_stale_not_errors() {
        // The peer received 1..=5 whole but had written only 1..=2 when the
        // connection broke: it resumes after 5 and then acks 3, 4, 5, 6.
        let mut s = StreamSendState::new(1, 8);
        for seq in 1..=6 {
            s.push(frame(seq)).expect("room");
            s.mark_sent(epoch());
        }
        s.handle_ack(2, |_| {}).expect("ack");
        let mut released = vec![];
        s.handle_resume(5, |f| released.push(f.seq))
            .expect("resume");
        assert_eq!(released, vec![3, 4, 5]);
        for ack in [3, 4, 5] {
            s.handle_ack(ack, |f| panic!("frame {} released twice", f.seq))
                .expect("a stale ack is fine");
        }
        assert!(
            matches!(s.handle_ack(4, |_| {}), Err(AckError::Backwards { .. })),
            "acks themselves never go back"
        );
        assert!(
            matches!(s.handle_ack(6, |_| {}), Err(AckError::BeyondSent { .. })),
            "6 is not resent yet"
        );
        s.next_unsent().expect("frame 6 goes again");
        s.mark_sent(epoch());
        s.handle_ack(6, |f| released.push(f.seq))
            .expect("ack of the resent frame");
        assert_eq!(released, vec![3, 4, 5, 6]);
    }

    #[test]
    fn resume_rewinds_and_skips_what_the_peer_holds() {
        let mut s = StreamSendState::new(0, 8);
        for seq in 1..=6 {
            s.push(frame(seq)).expect("room");
        }
        for _ in 0..5 {
            s.mark_sent(epoch());
        }
        s.handle_ack(1, |_| {}).expect("ack");
        let mut released = vec![];
        s.handle_resume(3, |f| released.push(f.buffer))
            .expect("resume");
        assert_eq!(released, vec![20, 30]);
        let mut order = vec![];
        while let Some(f) = s.next_unsent() {
            order.push(f.seq);
            s.mark_sent(epoch());
        }
        assert_eq!(
            order,
            vec![4, 5, 6],
            "everything after the resume point goes again, in order"
        );
        assert!(matches!(
            s.handle_resume(9, |_| {}),
            Err(AckError::BeyondSent { .. })
        ));
    }
}
