//! The destination role: accept the session, run the transport, the
//! decoder and the acceptor, report.

pub mod acceptor;
pub mod allocation;
pub mod decoder;
pub mod inline;
pub mod workers;

use crate::config::DestinationConfig;
use crate::error::MigrationError;
use crate::guest_memory::{MemoryError, PendingMemory};
use crate::live::{LiveControl, MigrationHandles};
use crate::progress;
use crate::session;
use crate::source::error_chain;
use crate::summary::{self, Summary};
use crate::threads;
use crate::FRAME_BUFFER_LEN;
use acceptor::Acceptor;
use allocation::ImageAllocation;
use dwcp_dataplane_core::handshake::SessionCheck;
use dwcp_dataplane_core::keys::Direction;
use dwcp_dataplane_core::link::{DestinationLink, Outbound};
use dwcp_hugepages::BufferPool;
use dwcp_shared::control::{Abort, AbortCode};
use dwcp_shared::handshake::{ClientHello, RejectCode};
use dwcp_uring::dest_io::{
    Control, DestinationEnd, DestinationTransport, DestinationTransportConfig,
};
use inline::DecoderParts;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::FrameWorkers;

/// Whole frames queued between the transport and the decoder.
pub const FRAME_QUEUE_MAX: usize = 64;
/// Frame buffers beyond the queue: one being read per stream plus slack.
pub const POOL_SLACK_BUFFERS: u32 = 4;

/// How often a listening destination checks for a connection or a cancel.
const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Admits stream 0, creates its memory image and starts allocating it.
struct PrimaryCheck {
    path: PathBuf,
    expected_bytes: Option<u64>,
    allocation: Option<ImageAllocation>,
    error: Option<MigrationError>,
}

impl SessionCheck for PrimaryCheck {
    fn admit(&mut self, hello: &ClientHello) -> Result<u64, (RejectCode, String)> {
        if hello.stream_id != 0 {
            return Err((
                RejectCode::UnknownSession,
                "no migration in progress: stream 0 must connect first".into(),
            ));
        }
        if let Some(expected) = self.expected_bytes.filter(|&e| e != hello.memory_bytes) {
            return Err((
                RejectCode::SizeMismatch,
                format!(
                    "source memory is {} bytes but the destination expects {expected}",
                    hello.memory_bytes
                ),
            ));
        }
        match PendingMemory::open(&self.path, hello.memory_bytes) {
            Ok(memory) => match ImageAllocation::start(memory) {
                Ok(allocation) => {
                    self.allocation = Some(allocation);
                    Ok(0)
                }
                Err((memory, cause)) => {
                    memory.discard();
                    let error = MigrationError::Spawn {
                        role: "allocation",
                        cause,
                    };
                    let reason = error_chain(&error);
                    self.error = Some(error);
                    Err((RejectCode::Busy, reason))
                }
            },
            Err(err) => {
                let code = match err {
                    MemoryError::SizeMismatch { .. }
                    | MemoryError::BadSize { .. }
                    | MemoryError::HugetlbfsGranule { .. } => RejectCode::SizeMismatch,
                    _ => RejectCode::Busy,
                };
                let reason = error_chain(&err);
                self.error = Some(err.into());
                Err((code, reason))
            }
        }
    }
}

fn accept_primary(
    listener: &TcpListener,
    timeout_ms: u64,
    live: &LiveControl,
) -> Result<TcpStream, MigrationError> {
    let listen_error = |cause| MigrationError::Listen {
        addr: format!("{:?}", listener.local_addr().ok()),
        cause,
    };
    listener.set_nonblocking(true).map_err(listen_error)?;
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    loop {
        match listener.accept() {
            Ok((socket, _)) => {
                socket.set_nonblocking(false).map_err(listen_error)?;
                listener.set_nonblocking(false).map_err(listen_error)?;
                return Ok(socket);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if live.is_cancelled() {
                    return Err(MigrationError::Cancelled);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(MigrationError::Failed(format!(
                        "no source connected within {timeout_ms} ms"
                    )));
                }
                // Cold path (before the migration): a short sleep is the back-off.
                std::thread::sleep(ACCEPT_POLL_INTERVAL);
            }
            Err(err) => return Err(listen_error(err)),
        }
    }
}

/// Receives one migration into `config.memory`. Always returns a summary.
pub fn receive(config: DestinationConfig) -> Summary {
    receive_with(config, &MigrationHandles::default())
}

/// [`receive`], supervised: `handles` carry cancellation in and progress out.
pub fn receive_with(config: DestinationConfig, handles: &MigrationHandles) -> Summary {
    let start = Instant::now();
    let mut summary = Summary::new("destination", !config.insecure_plaintext);
    handles.progress.set_phase(crate::progress::Phase::Starting);
    if let Err(err) = run(config, &mut summary, start, handles) {
        summary.error = Some(error_chain(&err));
        summary.error_kind = Some(err.kind());
    }
    summary.total_ms = summary.total_ms.max(1);
    summary.throughput_mbps = summary::mbps(summary.bytes_on_wire, summary.total_ms);
    summary
}

/// Stops the frame workers and the acceptor after a failure before the
/// decoder ran: raises the fatal flag with `reason`, then joins them.
fn stop_threads(
    link: &DestinationLink,
    reason: String,
    workers: FrameWorkers,
    acceptor: std::thread::JoinHandle<()>,
) {
    link.fatal.raise(reason);
    link.transport_bell.ring();
    let _ = workers.join(link);
    link.finished.store(true, Ordering::Release);
    let _ = acceptor.join();
}

fn run(
    config: DestinationConfig,
    summary: &mut Summary,
    start: Instant,
    handles: &MigrationHandles,
) -> Result<(), MigrationError> {
    let cores = threads::available_core_ids();
    let config = config.validate(&cores)?;
    let (auto_decoder, auto_transport) = threads::default_cores(&cores);
    let decoder_core = config.decoder_core.or(auto_decoder);
    let transport_core = config.transport_core.or(auto_transport);
    let psk = session::load_key(config.key.as_ref(), config.key_file.as_deref())?;
    let listener = TcpListener::bind(&config.listen).map_err(|cause| MigrationError::Listen {
        addr: config.listen.clone(),
        cause,
    })?;
    tracing::info!(listen = %config.listen, "waiting for the source");
    handles
        .progress
        .set_phase(crate::progress::Phase::Listening);
    // A connection that never sends a ClientHello (a port probe, a stray
    // client) is logged and skipped; a real handshake that fails ends the run.
    let accept_deadline = (config.accept_timeout_ms > 0)
        .then(|| Instant::now() + Duration::from_millis(config.accept_timeout_ms));
    let (mut primary, mut check, answered) = loop {
        let remaining_ms = match accept_deadline {
            None => 0,
            Some(deadline) => {
                crate::millis(deadline.saturating_duration_since(Instant::now())).max(1)
            }
        };
        let mut primary = accept_primary(&listener, remaining_ms, &handles.live)?;
        let mut check = PrimaryCheck {
            path: config.memory.clone(),
            expected_bytes: config.memory_size,
            allocation: None,
            error: None,
        };
        let answered = session::serve_hello(
            &mut primary,
            config.insecure_plaintext,
            psk.as_deref(),
            &mut check,
        );
        if let Err(MigrationError::NoHello { message }) = &answered {
            tracing::warn!(peer = ?primary.peer_addr().ok(), message, "ignoring a connection that is not a migration");
            continue;
        }
        break (primary, check, answered);
    };
    if let Some(err) = check.error.take() {
        return Err(err);
    }
    let waiting = match answered {
        Ok(waiting) => waiting,
        Err(err) => {
            if let Some(allocation) = check.allocation.take() {
                allocation.discard();
            }
            return Err(err);
        }
    };
    let allocation = check
        .allocation
        .take()
        .expect("admit started the allocation before the ServerHello went out");
    // Stream 0's proof is a round trip away. Meanwhile the pool, the
    // transport and the acceptor start, so the other streams' hellos, which
    // the source sends once stream 0 is established and which arrive with
    // its proof, are answered at once rather than after this set-up. Each
    // join proves the key itself; the session they join is used only once
    // stream 0 has proven it too.
    let hello = *waiting.hello();
    let streams = hello.stream_count;
    let secret = psk
        .as_ref()
        .map(|k| k.session_secret(&hello.client_nonce, waiting.server_nonce()));

    let buffers =
        u32::try_from(FRAME_QUEUE_MAX).expect("small") + u32::from(streams) + POOL_SLACK_BUFFERS;
    let pool = match BufferPool::new(FRAME_BUFFER_LEN, buffers, config.hugepages) {
        Ok(pool) => Arc::new(pool),
        Err(err) => {
            allocation.discard();
            return Err(err.into());
        }
    };
    let link = Arc::new(
        DestinationLink::new(pool, streams, FRAME_QUEUE_MAX).map_err(|cause| {
            MigrationError::Spawn {
                role: "doorbell",
                cause,
            }
        })?,
    );
    let (control, control_rx) = crossbeam::channel::unbounded();
    let transport = DestinationTransport::new(
        Arc::clone(&link),
        session::sealers(secret.as_ref(), streams, Direction::ServerToClient),
        control_rx,
        DestinationTransportConfig {
            peer_timeout: Duration::from_millis(config.peer_timeout_ms),
        },
    )?;
    let mut workers = FrameWorkers::start(
        transport,
        &link,
        &handles.progress,
        transport_core,
        decoder_core,
    )?;
    summary.transport_thread = Some(workers.transport_thread());
    let acceptor = Acceptor {
        listener,
        session: hello,
        insecure_plaintext: config.insecure_plaintext,
        psk: psk.clone(),
        control: control.clone(),
        link: Arc::clone(&link),
    };
    let acceptor_thread = std::thread::Builder::new()
        .name("dwcp-acceptor".into())
        .spawn(move || acceptor.run())
        .map_err(|cause| MigrationError::Spawn {
            role: "acceptor",
            cause,
        })?;
    let proven =
        session::finish_handshake(&mut primary, waiting, psk.as_deref()).and_then(|_| {
            control.send(Control::Attach(0, primary)).map_err(|_| {
                MigrationError::Failed(link.fatal.message().unwrap_or_else(|| {
                    "the transport stopped before stream 0 was established".into()
                }))
            })
        });
    if let Err(err) = proven {
        stop_threads(&link, error_chain(&err), workers, acceptor_thread);
        allocation.discard();
        return Err(err);
    }
    // The clock starts when the source is admitted, like the source's.
    let start = start.max(Instant::now());
    summary.streams = streams;
    summary.memory_bytes = hello.memory_bytes;
    // The image has been allocating since stream 0 was admitted; frames
    // that arrive before it is ready wait in the transport and in TCP.
    let memory = match allocation.wait() {
        Ok(memory) => memory,
        Err(err) => {
            let reason = error_chain(&err);
            let _ = link
                .outbound
                .push(Outbound::Abort(Abort::new(AbortCode::Io, &reason)));
            stop_threads(&link, reason, workers, acceptor_thread);
            return Err(err);
        }
    };
    let progress = Arc::clone(&handles.progress);
    progress
        .memory_bytes
        .store(hello.memory_bytes, Ordering::Relaxed);
    progress.streams.store(streams, Ordering::Relaxed);
    progress.streams_connected.store(streams, Ordering::Relaxed);
    progress.set_phase(crate::progress::Phase::PreCopy);
    let parts = DecoderParts {
        memory,
        openers: session::openers(secret.as_ref(), streams, Direction::ClientToServer),
        verify: config.verify,
    };
    if let Err(err) = workers.start_decoder(parts, &link, &progress) {
        stop_threads(&link, error_chain(&err), workers, acceptor_thread);
        return Err(err);
    }

    progress::print_until(
        start,
        config.progress,
        || {
            progress::render(
                &progress,
                link.counters.bytes_read.load(Ordering::Relaxed),
                start.elapsed(),
            )
        },
        || {
            progress.bytes_on_wire.store(
                link.counters.bytes_read.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            workers.decoder_finished()
        },
    );
    let (end, outcome) = workers.join(&link);
    let outcome = outcome?;
    summary.end = end.map(DestinationEnd::label);
    if end == Some(DestinationEnd::CloseGrace) {
        tracing::warn!(
            "ended after the close grace: the source may not have our last message (the ack of its commit, or a failed verdict)"
        );
    }
    link.finished.store(true, Ordering::Release);
    let _ = acceptor_thread.join();
    summary.total_ms = crate::millis(start.elapsed());
    summary.bytes_on_wire = link.counters.bytes_read.load(Ordering::Relaxed);
    summary.reconnects = link.counters.reconnects.load(Ordering::Relaxed);
    summary.rounds = outcome.rounds;
    summary.pages_sent = outcome.pages_written;
    summary.digest = outcome.digest.map(|d| summary::hex(&d));
    summary.decode_cpu_ms = outcome.decode_time.map(crate::millis);
    // The source committed: a transport failure after it does not undo the hand-over.
    if outcome.verified {
        summary.verified = true;
        return Ok(());
    }
    if config.keep_on_failure {
        tracing::warn!(path = %outcome.memory.path().display(), "keeping the incomplete memory file (--keep-on-failure)");
    } else {
        outcome.memory.discard();
    }
    Err(MigrationError::Failed(
        outcome
            .error
            .unwrap_or_else(|| "the migration did not complete".into()),
    ))
}
