//! The destination's threads that move frames: a transport thread and a
//! decoder thread, or one thread running both when they are pinned to the
//! same core ([`super::inline`]).

use super::decoder::{Decoder, DecoderOutcome};
use super::inline::{DecoderParts, DestinationWorker, WorkerOutcome};
use crate::error::MigrationError;
use crate::progress::{self, Progress};
use crate::threads::{self, ThreadRole};
use crossbeam::channel::Sender;
use dwcp_dataplane_core::link::DestinationLink;
use dwcp_uring::dest_io::{DestinationEnd, DestinationTransport};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The running threads.
#[derive(Debug)]
pub enum FrameWorkers {
    /// A transport thread; the decoder thread starts once the image is ready.
    Split {
        /// The transport thread.
        transport: JoinHandle<Option<DestinationEnd>>,
        /// The decoder thread, once started.
        decoder: Option<JoinHandle<DecoderOutcome>>,
        /// The decoder's core.
        decoder_core: Option<usize>,
    },
    /// One thread for both, waiting for the decoder's parts.
    Inline {
        /// The worker thread.
        worker: JoinHandle<WorkerOutcome>,
        /// Where the decoder's parts go (dropped once sent, or to stop).
        parts: Option<Sender<DecoderParts>>,
    },
}

impl FrameWorkers {
    /// The summary's name of who runs the transport: `shared` (one thread
    /// runs it and the decoder) or `own`.
    pub fn transport_thread(&self) -> &'static str {
        match self {
            Self::Inline { .. } => "shared",
            Self::Split { .. } => "own",
        }
    }

    /// Starts the transport: on its own thread, or with the decoder on one
    /// thread when both are pinned to the same core.
    pub fn start(
        transport: DestinationTransport,
        link: &Arc<DestinationLink>,
        progress: &Arc<Progress>,
        transport_core: Option<usize>,
        decoder_core: Option<usize>,
    ) -> Result<Self, MigrationError> {
        progress.workers[progress::TRANSPORT_WORKER].set_core(transport_core);
        let spawn_error = |role| move |cause| MigrationError::Spawn { role, cause };
        if transport_core.is_some() && transport_core == decoder_core {
            progress.workers[progress::COMPUTE_WORKER].set_core(decoder_core);
            let (parts, parts_rx) = crossbeam::channel::bounded(1);
            let worker = DestinationWorker {
                transport,
                parts: parts_rx,
                link: Arc::clone(link),
                progress: Arc::clone(progress),
            };
            tracing::info!(
                core = transport_core,
                "transport and decoder pinned to one core: one thread runs both"
            );
            let worker = threads::spawn(ThreadRole::Worker, transport_core, move || worker.run())
                .map_err(spawn_error("worker"))?;
            return Ok(Self::Inline {
                worker,
                parts: Some(parts),
            });
        }
        let progress = Arc::clone(progress);
        let transport = threads::spawn(ThreadRole::Transport, transport_core, move || {
            transport.run(&progress.workers[progress::TRANSPORT_WORKER])
        })
        .map_err(spawn_error("transport"))?;
        Ok(Self::Split {
            transport,
            decoder: None,
            decoder_core,
        })
    }

    /// Starts the decoder on the ready image.
    pub fn start_decoder(
        &mut self,
        parts: DecoderParts,
        link: &Arc<DestinationLink>,
        progress: &Arc<Progress>,
    ) -> Result<(), MigrationError> {
        match self {
            Self::Split {
                decoder,
                decoder_core,
                ..
            } => {
                let (link, progress) = (Arc::clone(link), Arc::clone(progress));
                progress.workers[progress::COMPUTE_WORKER].set_core(*decoder_core);
                let thread = threads::spawn(ThreadRole::Decoder, *decoder_core, move || {
                    Decoder::new(&link, parts.memory, parts.openers, parts.verify, &progress).run()
                })
                .map_err(|cause| MigrationError::Spawn {
                    role: "decoder",
                    cause,
                })?;
                *decoder = Some(thread);
                Ok(())
            }
            Self::Inline { parts: sender, .. } => {
                let sent = sender.take().map(|sender| sender.send(parts));
                match sent {
                    Some(Ok(())) => {
                        // The worker may be asleep on the transport's ring.
                        link.transport_bell.ring();
                        Ok(())
                    }
                    Some(Err(returned)) => {
                        returned.into_inner().memory.discard();
                        Err(MigrationError::Failed(
                            "the destination's worker thread ended before the image was ready"
                                .into(),
                        ))
                    }
                    None => unreachable!("the decoder's parts are sent once"),
                }
            }
        }
    }

    /// Whether the decoder has ended (it ends with, or just after, the transport).
    pub fn decoder_finished(&self) -> bool {
        match self {
            Self::Split { decoder, .. } => decoder.as_ref().is_none_or(JoinHandle::is_finished),
            Self::Inline { worker, .. } => worker.is_finished(),
        }
    }

    /// Waits for both loops: the transport's end and the decoder's outcome
    /// (`Err`: the decoder never ran, or panicked; a panicked decoder also
    /// stops the transport, which would otherwise wait for a verdict).
    pub fn join(
        self,
        link: &DestinationLink,
    ) -> (
        Option<DestinationEnd>,
        Result<DecoderOutcome, MigrationError>,
    ) {
        let panicked = |what: &str| MigrationError::Failed(format!("the {what} thread panicked"));
        match self {
            Self::Split {
                transport, decoder, ..
            } => {
                let outcome = match decoder {
                    Some(decoder) => decoder.join().map_err(|_| {
                        link.fatal.raise("the decoder thread panicked".into());
                        link.transport_bell.ring();
                        panicked("decoder")
                    }),
                    None => Err(MigrationError::Failed("the decoder never started".into())),
                };
                (transport.join().ok().flatten(), outcome)
            }
            Self::Inline { worker, parts } => {
                drop(parts);
                match worker.join() {
                    Ok(WorkerOutcome { end, decoder }) => (
                        end,
                        decoder.ok_or_else(|| {
                            MigrationError::Failed("the decoder never started".into())
                        }),
                    ),
                    Err(_) => (None, Err(panicked("transport and decoder"))),
                }
            }
        }
    }
}
