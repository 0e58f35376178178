//! The source role: connect, run the engine and the transport, report.

pub mod batch_finishers;
pub mod engine;
pub mod inline;
pub mod page_codec;
pub mod range_schedule;
pub mod raw_batch;
pub mod window_plan;

#[cfg(test)]
mod cancel_test;
#[cfg(test)]
mod late_join_test;

use crate::config::SourceConfig;
use crate::error::MigrationError;
use crate::guest_memory::SourceMemory;
use crate::hooks::PauseHook;
use crate::live::MigrationHandles;
use crate::progress;
use crate::session::{self, SourceSession};
use crate::summary::{self, LatencySummary, Summary};
use crate::threads::{self, ThreadRole};
use crate::FRAME_BUFFER_LEN;
use dwcp_dataplane_core::handshake::ClientEstablished;
use dwcp_dataplane_core::keys::Direction;
use dwcp_dataplane_core::link::SourceLink;
use dwcp_dataplane_core::page_stages::Stage;
use dwcp_dataplane_core::switchover::SwitchoverConfig;
use dwcp_hugepages::BufferPool;
use dwcp_shared::limits::CAP_PAGE_CODEC;
use dwcp_uring::source_io::{
    ConnectFn, Reconnected, Reconnector, SourceFaults, SourceTransport, SourceTransportConfig,
};
use engine::{Engine, EngineConfig, EngineShared};
use inline::InlineTransport;
use page_codec::{CodecSettings, PageCodec};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use window_plan::{LinkEstimate, WindowPlan};

/// Frame buffers beyond the streams' in-flight windows and queues (the
/// open batch, control frames).
pub const POOL_SLACK_BUFFERS: u32 = 4;
/// Sealed frames queued per stream between the engine and the transport:
/// a hand-off, not a buffer (what waits for the link waits in the stream's
/// byte window, where it is counted).
pub const QUEUE_FRAMES: usize = 4;

/// Migrates the guest memory in `config.memory` to `config.destination`.
/// Always returns a summary; `verified` is true only on a verified success.
pub fn migrate(config: SourceConfig) -> Summary {
    migrate_with(config, &MigrationHandles::default())
}

/// [`migrate`], supervised: `handles` carry live settings in and progress out.
pub fn migrate_with(config: SourceConfig, handles: &MigrationHandles) -> Summary {
    let start = Instant::now();
    let mut summary = Summary::new("source", !config.insecure_plaintext);
    handles.progress.set_phase(crate::progress::Phase::Starting);
    if let Err(err) = run(config, start, &mut summary, handles) {
        summary.error = Some(error_chain(&err));
        summary.error_kind = Some(err.kind());
    }
    summary.total_ms = crate::millis(start.elapsed());
    summary.throughput_mbps = summary::mbps(summary.bytes_on_wire, summary.total_ms);
    summary
}

/// `err` and its sources, joined with ": ".
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// The result of a scoped helper thread of `role`, or why there is none
/// (it could not be spawned, or it panicked).
fn joined<T>(
    role: &'static str,
    spawned: std::io::Result<std::thread::ScopedJoinHandle<'_, Result<T, MigrationError>>>,
) -> Result<T, MigrationError> {
    match spawned {
        Ok(thread) => thread.join().unwrap_or_else(|_| {
            Err(MigrationError::Failed(format!(
                "the {role} thread panicked"
            )))
        }),
        Err(cause) => Err(MigrationError::Spawn { role, cause }),
    }
}

/// Handshakes stream 0 on `primary` while the other streams are dialled
/// (a connect needs only the destination's kernel); returns stream 0's
/// connection and outcome and the other streams' connections, still to be
/// handshaken ([`join_in_background`]).
fn handshake_first(
    session: &SourceSession,
    primary: std::net::TcpStream,
    streams: u16,
) -> Result<
    (
        std::net::TcpStream,
        ClientEstablished,
        Vec<std::net::TcpStream>,
    ),
    MigrationError,
> {
    let (handshaken, dialled) = std::thread::scope(|scope| {
        let dialling = (streams > 1).then(|| {
            std::thread::Builder::new()
                .name("dwcp-dial".into())
                .spawn_scoped(scope, || session.dial_all(streams - 1))
        });
        let handshaken = session.handshake(primary, 0);
        let dialled = dialling.map_or(Ok(Vec::new()), |spawned| joined("dial", spawned));
        (handshaken, dialled)
    });
    let (primary, established) = handshaken?;
    Ok((primary, established, dialled?))
}

/// Handshakes `dialled` as streams 1.. on one thread each and delivers
/// each to the transport through `joiner` ([`Reconnected::Joined`], or
/// [`Reconnected::Failed`], which fails the migration). The transfer starts
/// on stream 0 meanwhile: the destination admits joins only to a session
/// stream 0 has established, so a join's handshake is a round trip after
/// stream 0's, and the first round trip of a TCP stream carries only its
/// initial window.
fn join_in_background(
    session: &SourceSession,
    dialled: Vec<std::net::TcpStream>,
    joiner: &crossbeam::channel::Sender<Reconnected>,
) -> Result<(), MigrationError> {
    for (stream_id, socket) in (1u16..).zip(dialled) {
        let (session, joiner) = (session.clone(), joiner.clone());
        std::thread::Builder::new()
            .name(format!("dwcp-join-{stream_id}"))
            .spawn(move || {
                let outcome = match session.handshake(socket, stream_id) {
                    Ok((socket, _)) => Reconnected::Joined(stream_id, socket),
                    Err(err) => Reconnected::Failed(
                        stream_id,
                        format!("stream {stream_id} could not join: {}", error_chain(&err)),
                    ),
                };
                // The transport is gone only if the migration already ended.
                let _ = joiner.send(outcome);
            })
            .map_err(|cause| MigrationError::Spawn {
                role: "join",
                cause,
            })?;
    }
    Ok(())
}

fn run(
    config: SourceConfig,
    start: Instant,
    summary: &mut Summary,
    handles: &MigrationHandles,
) -> Result<(), MigrationError> {
    let cores = threads::available_core_ids();
    let config = config.validate(&cores)?;
    let (auto_engine, auto_transport) = threads::default_cores(&cores);
    let engine_core = config.engine_core.or(auto_engine);
    let transport_core = config.transport_core.or(auto_transport);
    let psk = session::load_key(config.key.as_ref(), config.key_file.as_deref())?;
    let memory = Arc::new(SourceMemory::open(&config.memory)?);
    // The page tables of the guest's data are populated while the source
    // connects and handshakes (tens of ms per GiB, round trips on a WAN),
    // and joined before the transfer starts.
    let populating = {
        let memory = Arc::clone(&memory);
        std::thread::Builder::new()
            .name("dwcp-populate".into())
            .spawn(move || memory.populate_data())
    };
    summary.memory_bytes = memory.len();
    let progress = Arc::clone(&handles.progress);
    progress.memory_bytes.store(memory.len(), Ordering::Relaxed);
    let addr = SourceSession::resolve(&config.destination)?;
    let mut session_id = [0u8; 16];
    rand::Rng::fill(&mut rand::thread_rng(), &mut session_id[..]);
    let mut session = SourceSession {
        addr,
        addr_text: config.destination.clone(),
        session_id,
        stream_count: 1,
        memory_bytes: memory.len(),
        psk: psk.clone(),
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
    };
    let (primary, rtt) = session.dial()?;
    let plan = WindowPlan::new(
        LinkEstimate {
            bytes_per_s: config.link_mbps as f64 * 1e6 / 8.0,
            rtt,
            socket_send_buffer: dwcp_uring::socket::send_buffer_bytes(&primary),
        },
        config.streams,
        config.inflight_frames,
    );
    let streams = plan.streams;
    if let Some((stream, _)) = config
        .faults
        .cut_stream_after
        .filter(|&(s, _)| s >= streams)
    {
        return Err(crate::config::ConfigError::FaultStream { stream, streams }.into());
    }
    session.stream_count = streams;
    summary.streams = streams;
    progress.streams.store(streams, Ordering::Relaxed);
    progress.streams_connected.store(streams, Ordering::Relaxed);
    tracing::info!(
        streams,
        rtt_us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
        window_total_bytes = plan.window_total_bytes,
        stream_window_bytes = plan.stream_window_bytes,
        stream_frames = plan.stream_frames,
        "connecting"
    );
    // The frame pool is allocated and populated (tens of MB on a WAN link),
    // and the page codec's index and delta cache allocated (the cache is
    // committed slot by slot as encoding uses it), while the handshakes wait
    // on the network. The codec is dropped if the destination does not grant it.
    let buffers = plan.buffers(QUEUE_FRAMES, POOL_SLACK_BUFFERS);
    let codec_settings = CodecSettings {
        tier: config.link_tier,
        fixed_level: config.compression_level,
        delta_cache_pages: config.delta_cache_pages(),
        finisher_threads: config.finisher_threads(usize::from(streams)),
        link_mbps: config.link_mbps,
        round_trip: rtt,
    };
    let page_count = memory.page_count() as u64;
    let (pool, connected, codec) = std::thread::scope(|scope| {
        let hugepages = config.hugepages;
        let allocating = std::thread::Builder::new()
            .name("dwcp-pool".into())
            .spawn_scoped(scope, move || {
                BufferPool::new(FRAME_BUFFER_LEN, buffers, hugepages)
            });
        let setting_up_codec = config.codec.then(|| {
            std::thread::Builder::new()
                .name("dwcp-codec-setup".into())
                .spawn_scoped(scope, move || {
                    PageCodec::new(codec_settings, page_count, streams, Instant::now())
                })
        });
        let connected = handshake_first(&session, primary, streams);
        let codec = setting_up_codec.map(|spawned| joined("codec set-up", spawned));
        let pool = match allocating {
            Ok(thread) => thread.join().unwrap_or_else(|_| {
                tracing::warn!("the frame pool thread panicked; allocating here");
                BufferPool::new(FRAME_BUFFER_LEN, buffers, hugepages)
            }),
            Err(_) => BufferPool::new(FRAME_BUFFER_LEN, buffers, hugepages),
        };
        (pool, connected, codec)
    });
    let (primary, established, dialled) = connected?;
    let pool = Arc::new(pool?);
    let codec_granted = established.capabilities & CAP_PAGE_CODEC != 0;
    if config.codec && !codec_granted {
        tracing::warn!("the destination does not support the page codec; sending raw pages");
    }
    let secret = psk
        .as_ref()
        .map(|k| k.session_secret(&established.client_nonce, &established.server_nonce));
    if handles.live.is_cancelled() {
        return Err(MigrationError::Cancelled);
    }
    handles.share_socket(&primary);
    for socket in &dialled {
        handles.share_socket(socket);
    }

    let link = Arc::new(
        SourceLink::new(pool, streams, QUEUE_FRAMES).map_err(|cause| MigrationError::Spawn {
            role: "doorbell",
            cause,
        })?,
    );
    let reconnect_session = session.clone();
    let connect: Arc<ConnectFn> = Arc::new(move |stream_id| {
        reconnect_session
            .open(stream_id)
            .map(|(socket, established)| (socket, established.resume_after_seq))
            .map_err(|e| error_chain(&e))
    });
    let reconnector =
        Reconnector::spawn(connect, Duration::from_millis(config.reconnect_timeout_ms)).map_err(
            |cause| MigrationError::Spawn {
                role: "reconnect",
                cause,
            },
        )?;
    let joiner = reconnector.joiner();
    // Stream 0 carries the first frames; the others join within a round trip.
    let connections = std::iter::once(Some(primary))
        .chain(dialled.iter().map(|_| None))
        .collect();
    let transport = SourceTransport::new(
        Arc::clone(&link),
        connections,
        session::openers(secret.as_ref(), streams, Direction::ServerToClient),
        reconnector,
        SourceTransportConfig {
            inflight_frames: plan.stream_frames,
            window_bytes: plan.stream_window_bytes,
            faults: SourceFaults {
                cut_stream_after: config.faults.cut_stream_after,
            },
        },
    )?;
    progress.workers[progress::TRANSPORT_WORKER].set_core(transport_core);
    // One core for both: the engine's thread runs the transport too.
    let one_thread = engine_core.is_some() && engine_core == transport_core;
    let transport = if one_thread {
        tracing::info!(
            core = engine_core,
            "transport and engine pinned to one core: one thread runs both"
        );
        TransportRunner::Inline(Box::new(transport))
    } else {
        let progress = Arc::clone(&progress);
        let thread = threads::spawn(ThreadRole::Transport, transport_core, move || {
            transport.run(&progress.workers[progress::TRANSPORT_WORKER])
        })
        .map_err(|cause| MigrationError::Spawn {
            role: "transport",
            cause,
        })?;
        summary.transport_thread = Some("own");
        TransportRunner::Thread(thread)
    };

    // From here a failure must also stop the transport (it closes the
    // connections: the destination sees them break, with no `Abort`).
    let ready = join_in_background(&session, dialled, &joiner).and_then(|()| match populating {
        Ok(thread) => thread
            .join()
            .map_err(|_| MigrationError::Failed("the populate thread panicked".into()))?
            .map_err(MigrationError::from),
        Err(cause) => Err(MigrationError::Spawn {
            role: "populate",
            cause,
        }),
    });
    if let Err(err) = ready {
        link.fatal.raise(error_chain(&err));
        transport.stop(&link, &progress);
        return Err(err);
    }
    let hook = Arc::new(PauseHook::new(config.pause.clone()));
    let engine_config = EngineConfig {
        switchover: SwitchoverConfig {
            downtime_budget: Duration::from_millis(config.downtime_ms),
            rounds_max: config.max_rounds,
            stall_rounds: config.stall_rounds,
            ..SwitchoverConfig::DEFAULTS
        },
        verify_timeout: Duration::from_millis(config.verify_timeout_ms),
        tamper_frame: config.faults.tamper_frame,
        skip_commit: config.faults.skip_commit,
        rate_limit_bytes_per_s: config.rate_limit_mbps.map(|mbps| mbps * 1_000_000 / 8),
        round_trip: rtt,
        link_bytes_per_s: config.link_mbps as f64 * 1e6 / 8.0,
        frame_pages_min: config.frame_pages_min,
    };
    let sealers = session::sealers(secret.as_ref(), streams, Direction::ClientToServer);
    let codec = match codec {
        Some(codec) if codec_granted => {
            let mut codec = codec?;
            // The level controller's clock starts with the transfer.
            codec.restart_control(Instant::now());
            Some(codec)
        }
        _ => None,
    };
    let transfer_start = Instant::now();
    let started_wall = std::time::SystemTime::now();
    summary.setup_ms = Some(crate::millis(transfer_start.duration_since(start)));
    let (inline_transport, transport_thread) = match transport {
        TransportRunner::Inline(transport) => (Some(transport), None),
        TransportRunner::Thread(thread) => (None, Some(thread)),
    };
    let (engine_role, engine_name) = match inline_transport {
        Some(_) => (ThreadRole::Worker, "worker"),
        None => (ThreadRole::Engine, "engine"),
    };
    let engine_thread = {
        let (memory, link, progress, hook, live) = (
            Arc::clone(&memory),
            Arc::clone(&link),
            Arc::clone(&progress),
            Arc::clone(&hook),
            Arc::clone(&handles.live),
        );
        progress.workers[progress::COMPUTE_WORKER].set_core(engine_core);
        let spawned = threads::spawn(engine_role, engine_core, move || {
            let engine = Engine::new(
                &memory,
                &link,
                sealers,
                EngineShared {
                    progress: &progress,
                    hook: &hook,
                    live: &live,
                },
                engine_config,
                codec,
            );
            match inline_transport {
                Some(transport) => engine
                    .with_inline_transport(InlineTransport::new(
                        *transport,
                        &progress.workers[progress::TRANSPORT_WORKER],
                    ))
                    .run(),
                None => engine.run(),
            }
        });
        spawned
    };
    let engine_thread = match engine_thread {
        Ok(thread) => {
            if transport_thread.is_none() {
                summary.transport_thread = Some("shared");
            }
            thread
        }
        Err(cause) => {
            // The inline transport went with the closure; a thread of
            // its own sees the fatal flag.
            link.fatal
                .raise(format!("could not start the {engine_name} thread"));
            if let Some(thread) = transport_thread {
                let _ = thread.join();
            }
            return Err(MigrationError::Spawn {
                role: engine_name,
                cause,
            });
        }
    };

    progress::print_until(
        start,
        config.progress,
        || {
            progress::render(
                &progress,
                link.counters.bytes_written.load(Ordering::Relaxed),
                start.elapsed(),
            )
        },
        || engine_thread.is_finished(),
    );
    let joined = engine_thread.join();
    link.finished.store(true, Ordering::Release);
    let join_transport = || transport_thread.map(|t| t.join().unwrap_or_default());
    let Ok(outcome) = joined else {
        let _ = join_transport();
        if link.commit_seq.load(Ordering::Acquire) != 0 {
            // `Commit` may be out: the destination may own the guest.
            tracing::error!("the engine thread panicked after the commit; the guest stays PAUSED");
            return Err(MigrationError::HandoverInDoubt {
                cause: "the engine thread panicked after queueing the commit".into(),
            });
        }
        // A bug, but the guest must not stay paused because of it.
        if let Err(err) = hook.resume() {
            tracing::error!(%err, "could not resume the guest after the engine panicked");
        }
        return Err(MigrationError::Failed(
            "the engine thread panicked; the guest was resumed".into(),
        ));
    };
    // With the transport inline, the engine's outcome holds its latencies.
    let mut stages = join_transport().unwrap_or_default();
    summary.bytes_on_wire = link.counters.bytes_written.load(Ordering::Relaxed);
    summary.reconnects = link.counters.reconnects.load(Ordering::Relaxed);
    match outcome {
        Ok(done) => {
            summary.verified = true;
            summary.transfer_ms = Some(crate::millis(
                done.verified_at.duration_since(transfer_start),
            ));
            summary.rounds = done.rounds;
            summary.pages_sent = done.pages_sent;
            summary.downtime_ms = Some(crate::millis(done.downtime));
            summary.handover_ms = Some(crate::millis(done.handover));
            summary.switchover_reason = Some(done.switchover.label());
            summary.digest = Some(summary::hex(&done.digest));
            summary.codec = done.codec.map(|c| *c);
            stages.merge(&done.stages);
            summary.latency_us = Some(LatencySummary::from_histogram(
                stages.histogram(Stage::Total),
            ));
            summary.stages_us = Some(
                Stage::ALL
                    .iter()
                    .map(|&s| {
                        (
                            s.name(),
                            LatencySummary::from_histogram(stages.histogram(s)),
                        )
                    })
                    .collect(),
            );
            if let Some(path) = &config.stage_log {
                let elapsed = transfer_start.elapsed();
                crate::stage_log::write(path, &stages, started_wall, elapsed).map_err(|cause| {
                    MigrationError::Failed(format!(
                        "the migration completed, but the stage log {} could not be written: {cause}",
                        path.display()
                    ))
                })?;
            }
            Ok(())
        }
        Err(failure) => {
            summary.rounds = failure.rounds;
            summary.pages_sent = failure.pages_sent;
            summary.codec = failure.codec.map(|c| *c);
            if let (Some(paused_at), MigrationError::HandoverInDoubt { .. }) =
                (failure.paused_at, &failure.error)
            {
                // The destination may own the guest: resuming it here could
                // run it twice. It stays paused for the operator.
                summary.downtime_ms = Some(crate::millis(paused_at.elapsed()));
                tracing::error!("the hand-over is in doubt; the guest stays PAUSED on the source");
                return Err(failure.error);
            }
            if let Some(paused_at) = failure.paused_at {
                let resumed = hook.resume();
                summary.downtime_ms = Some(crate::millis(paused_at.elapsed()));
                if let Err(err) = resumed {
                    tracing::error!(%err, "the migration failed AND the guest could not be resumed");
                    return Err(MigrationError::Failed(format!(
                        "{}; resuming the guest also failed: {err}",
                        error_chain(&failure.error)
                    )));
                }
                tracing::warn!(
                    "the migration failed after the pause; the guest was resumed on the source"
                );
            }
            Err(failure.error)
        }
    }
}

/// Who runs the source transport: a thread of its own, or the engine's
/// thread ([`inline`]).
enum TransportRunner {
    Thread(std::thread::JoinHandle<dwcp_dataplane_core::page_stages::PageStages>),
    Inline(Box<SourceTransport>),
}

impl TransportRunner {
    /// Stops the transport after a failure before the engine started (the
    /// caller raised the fatal flag): its thread sees the flag and closes
    /// the connections; an inline transport closes them here.
    fn stop(self, link: &SourceLink, progress: &progress::Progress) {
        match self {
            TransportRunner::Thread(thread) => {
                link.transport_bell.ring();
                let _ = thread.join();
            }
            TransportRunner::Inline(transport) => {
                transport.finish(&progress.workers[progress::TRANSPORT_WORKER]);
            }
        }
    }
}
