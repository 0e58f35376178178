//! The running control plane: its core ([`service::ControlPlane`]), the
//! HTTP API, metrics, the answers to peers, and the supervisor loop that
//! ties them to the process ([`run`]).

pub mod api;
pub mod error;
pub mod metrics;
pub mod peer_handler;
pub mod placement_api;
pub mod service;
pub mod view;

use crate::config::ControlPlaneConfig;
use crate::peer::{PeerClient, TlsIdentity};
use std::sync::Arc;
use std::time::Duration;

/// How often the supervisor loop runs (heartbeat, liveness, link samples).
pub const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The TLS identity could not be loaded.
    #[error("peer TLS identity")]
    Tls(#[from] crate::peer::PeerError),
    /// A listener could not bind.
    #[error("cannot listen on {address} ({what})")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP API server")]
    Api(#[source] std::io::Error),
}

/// Runs the control plane until `shutdown` resolves.
pub async fn run(
    config: ControlPlaneConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let identity = TlsIdentity::load(&config.peer.ca, &config.peer.cert, &config.peer.key)?;
    let server_tls = identity.server_config()?;
    let client = PeerClient::new(identity.client_config()?);
    let api_listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "api.listen",
            address: config.api.listen,
            source,
        })?;
    let peer_listener = tokio::net::TcpListener::bind(config.peer.listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "peer.listen",
            address: config.peer.listen,
            source,
        })?;
    tracing::info!(
        node = %config.node.id,
        api = %config.api.listen,
        peer = %config.peer.listen,
        tables = %config.node.tables.display(),
        "control plane running"
    );
    let node = Arc::new(service::ControlPlane::new(config, client));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    let supervisor = {
        let node = Arc::clone(&node);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SUPERVISOR_TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop.changed() => break,
                }
                for job in node.tick() {
                    let node = Arc::clone(&node);
                    tokio::spawn(async move { node.report(&job).await });
                }
            }
        })
    };
    let peers = {
        let handler = Arc::new(peer_handler::NodePeerHandler {
            node: Arc::clone(&node),
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            if let Err(err) = crate::peer::serve(peer_listener, server_tls, handler, shutdown).await
            {
                tracing::error!(error = %err, "peer listener failed");
            }
        })
    };
    let router = api::router(api::ApiState {
        node: Arc::clone(&node),
        metrics: Arc::new(metrics::Metrics),
    });
    let mut api_stop = stop_rx.clone();
    let api = axum::serve(api_listener, router).with_graceful_shutdown(async move {
        let _ = api_stop.changed().await;
    });
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("control plane stopping (the data plane and its migrations keep running)");
        let _ = stop_tx.send(true);
    });
    api.await.map_err(StartError::Api)?;
    let _ = supervisor.await;
    let _ = peers.await;
    Ok(())
}
