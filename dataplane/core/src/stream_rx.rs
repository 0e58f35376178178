//! Per-stream receive ordering: every frame must carry the next sequence
//! number, across reconnects.
//!
//! # Design
//! The receiver keeps, per stream, the highest seq it accepted. Frames must
//! arrive with exactly the next one. A lower seq is a replay, a higher one a
//! gap (reordering or loss); both are fatal for the connection, since TCP
//! never reorders and the sender resends after a resume point the receiver
//! chose. A new connection for the stream resumes after `accepted_through`.

use thiserror::Error;

/// A frame arrived out of sequence.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SequenceError {
    /// An already accepted seq came again.
    #[error("replayed frame on stream {stream_id}: seq {seq}, expected {expected}")]
    Replay {
        /// The stream.
        stream_id: u16,
        /// The seq received.
        seq: u64,
        /// The seq expected.
        expected: u64,
    },
    /// A seq was skipped.
    #[error("out-of-order frame on stream {stream_id}: seq {seq}, expected {expected}")]
    Gap {
        /// The stream.
        stream_id: u16,
        /// The seq received.
        seq: u64,
        /// The seq expected.
        expected: u64,
    },
}

/// Receive-side ordering state of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamRecvState {
    stream_id: u16,
    accepted_through: u64,
}

impl StreamRecvState {
    /// A stream that has accepted nothing.
    pub fn new(stream_id: u16) -> Self {
        Self {
            stream_id,
            accepted_through: 0,
        }
    }

    /// Highest seq accepted.
    pub fn accepted_through(&self) -> u64 {
        self.accepted_through
    }

    /// Accepts `seq` if it is the next one.
    pub fn accept(&mut self, seq: u64) -> Result<(), SequenceError> {
        let expected = self.accepted_through + 1;
        let stream_id = self.stream_id;
        if seq < expected {
            return Err(SequenceError::Replay {
                stream_id,
                seq,
                expected,
            });
        }
        if seq > expected {
            return Err(SequenceError::Gap {
                stream_id,
                seq,
                expected,
            });
        }
        self.accepted_through = seq;
        Ok(())
    }

    /// Accepts any seq above the last accepted one. For the destination's
    /// reports (acks, verdicts): they are idempotent and never resent, so a
    /// frame lost with a broken connection leaves a gap, but a replay (a seq
    /// at or below the last) is still refused.
    pub fn accept_increasing(&mut self, seq: u64) -> Result<(), SequenceError> {
        if seq <= self.accepted_through {
            let expected = self.accepted_through + 1;
            return Err(SequenceError::Replay {
                stream_id: self.stream_id,
                seq,
                expected,
            });
        }
        self.accepted_through = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_next_seq() {
        let mut s = StreamRecvState::new(3);
        s.accept(1).expect("first");
        s.accept(2).expect("second");
        assert_eq!(
            s.accept(2),
            Err(SequenceError::Replay {
                stream_id: 3,
                seq: 2,
                expected: 3
            })
        );
        assert_eq!(
            s.accept(1),
            Err(SequenceError::Replay {
                stream_id: 3,
                seq: 1,
                expected: 3
            })
        );
        assert_eq!(
            s.accept(5),
            Err(SequenceError::Gap {
                stream_id: 3,
                seq: 5,
                expected: 3
            })
        );
        assert_eq!(s.accepted_through(), 2);
    }
}
