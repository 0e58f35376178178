//! The destination's transport and decoder on one thread, for an end that
//! has one core.
//!
//! # Design
//! Two polling threads pinned to one core only take turns: each runs a
//! slice, then yields to the other. A frame then waits for a turn of the
//! transport (read), of the decoder (open, write) and of the transport
//! again (ack), each turn 20-40 µs on the 2-core development machine
//! (docs/latency-profiling.md §4, "one-page frames"). So when
//! `--decoder-core` and `--transport-core` name the same core, one thread
//! runs both loops in turn ([`DestinationWorker::run`]): a pass of the
//! transport ([`DestinationTransport::step`]), then a pass of the decoder
//! ([`Decoder::step`]), so a frame read in one pass is written and
//! acknowledged in the next with no hand-off between threads. Both loops
//! keep their rules and their order of events; only who runs them changes.
//!
//! The transport starts before the image is ready (frames wait in TCP),
//! so the decoder's parts arrive later, through a channel: until they do
//! the worker runs the transport alone. If the sender is dropped (the
//! image could not be made, or the handshake failed) no decoder is made.
//! The worker ends once both loops have: the decoder ends on the
//! transport's end (`finished`) or its fatal error, so neither waits long
//! for the other.

use super::decoder::{Decoder, DecoderOutcome, DecoderStep};
use crate::config::VerifyMode;
use crate::guest_memory::DestinationMemory;
use crate::progress::{Progress, COMPUTE_WORKER, TRANSPORT_WORKER};
use crossbeam::channel::{Receiver, TryRecvError};
use dwcp_dataplane_core::backoff::{IdleAction, IdleBackoff};
use dwcp_dataplane_core::link::DestinationLink;
use dwcp_dataplane_core::seal::FrameOpener;
use dwcp_dataplane_core::worker_meter::IdleClock;
use dwcp_uring::dest_io::{DestinationEnd, DestinationTransport, TransportStep};
use std::sync::Arc;
use std::time::Instant;

/// What the decoder needs once the image is ready.
#[derive(Debug)]
pub struct DecoderParts {
    /// The image to write.
    pub memory: DestinationMemory,
    /// One opener per stream.
    pub openers: Vec<FrameOpener>,
    /// How the image is verified.
    pub verify: VerifyMode,
}

/// How the worker ended: the transport's end (`None`: a fatal error), and
/// the decoder's outcome (`None`: its parts never came).
#[derive(Debug)]
pub struct WorkerOutcome {
    /// The transport's end.
    pub end: Option<DestinationEnd>,
    /// The decoder's outcome.
    pub decoder: Option<DecoderOutcome>,
}

/// The transport and the decoder, run by one thread.
#[derive(Debug)]
pub struct DestinationWorker {
    /// The transport, started at once.
    pub transport: DestinationTransport,
    /// The decoder's parts, sent once the image is ready.
    pub parts: Receiver<DecoderParts>,
    /// The link both share.
    pub link: Arc<DestinationLink>,
    /// Progress and the two worker meters.
    pub progress: Arc<Progress>,
}

impl DestinationWorker {
    /// Runs both loops in turn until both have ended.
    pub fn run(self) -> WorkerOutcome {
        let Self {
            transport,
            parts,
            link,
            progress,
        } = self;
        let transport_meter = &progress.workers[TRANSPORT_WORKER];
        // Each loop's clock runs while the loop does: the transport's from
        // the start to its end, the decoder's from its parts to its end.
        let mut transport = Some((transport, IdleClock::start(transport_meter, Instant::now())));
        let mut decoder: Option<(Decoder<'_>, IdleClock<'_>)> = None;
        let mut backoff = IdleBackoff::new();
        let mut end: Option<Option<DestinationEnd>> = None;
        let mut result = None;
        let mut parts_gone = false;
        loop {
            let now = Instant::now();
            let mut worked = false;
            if let Some((running, clock)) = transport.as_mut() {
                match running.step(now) {
                    TransportStep::Ended(how) => {
                        end = Some(how);
                        worked = true;
                        // Close the connections now, as the transport thread would.
                        let (running, mut clock) = transport.take().expect("running");
                        running.finish(transport_meter);
                        clock.stop(Instant::now());
                    }
                    TransportStep::Worked => {
                        clock.busy_from(now);
                        running.report(transport_meter);
                        worked = true;
                    }
                    TransportStep::Idle => clock.idle_from(now),
                }
            }
            if decoder.is_none() && !parts_gone {
                // Once the transport ended only a dropped sender ends the wait.
                let received = if end.is_some() {
                    parts.recv().map_err(|_| TryRecvError::Disconnected)
                } else {
                    parts.try_recv()
                };
                match received {
                    Ok(parts) => {
                        let made = Decoder::new(
                            &link,
                            parts.memory,
                            parts.openers,
                            parts.verify,
                            &progress,
                        );
                        let clock = IdleClock::start(&progress.workers[COMPUTE_WORKER], now);
                        decoder = Some((made, clock));
                        worked = true;
                    }
                    Err(TryRecvError::Disconnected) => parts_gone = true,
                    Err(TryRecvError::Empty) => {}
                }
            }
            if let (Some((running, clock)), None) = (decoder.as_mut(), result.as_ref()) {
                match running.step() {
                    DecoderStep::Done(verdict) => {
                        clock.busy_from(now);
                        clock.stop(Instant::now());
                        result = Some(verdict);
                        worked = true;
                    }
                    DecoderStep::Worked => {
                        clock.busy_from(now);
                        worked = true;
                    }
                    DecoderStep::Idle => clock.idle_from(now),
                }
            }
            let decoder_over = result.is_some() || (decoder.is_none() && parts_gone);
            if end.is_some() && decoder_over {
                break;
            }
            if worked {
                backoff.reset();
                continue;
            }
            match backoff.next_action() {
                IdleAction::Spin => std::hint::spin_loop(),
                IdleAction::Yield => std::thread::yield_now(),
                // The decoder's work comes from this thread's reads, so the
                // transport's wait (I/O and its doorbell, which the main
                // thread rings with the decoder's parts) covers both; once
                // the transport ended the decoder ends on its next pass.
                IdleAction::Sleep(timeout) => match transport.as_mut() {
                    Some((running, _)) => running.sleep(timeout),
                    None => std::thread::yield_now(),
                },
            }
        }
        let decoder = match (decoder, result) {
            (Some((decoder, _)), Some(verdict)) => Some(decoder.finish(verdict)),
            _ => None,
        };
        WorkerOutcome {
            end: end.flatten(),
            decoder,
        }
    }
}
