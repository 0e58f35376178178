//! Answers other control planes' requests (mTLS-authenticated) with the
//! local [`ControlPlane`].

use super::service::ControlPlane;
use super::view::migration_id;
use crate::peer::{PeerHandler, PeerRequest, PeerResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The [`PeerHandler`] of a running control plane.
#[derive(Debug)]
pub struct NodePeerHandler {
    /// The local control plane.
    pub node: Arc<ControlPlane>,
}

impl NodePeerHandler {
    async fn answer(&self, peer_id: String, request: PeerRequest) -> PeerResponse {
        let error = |e: &dyn std::fmt::Display| PeerResponse::Error {
            message: e.to_string(),
        };
        match request {
            PeerRequest::Ping => PeerResponse::Pong {
                node_id: self.node.config().node.id.clone(),
            },
            request @ PeerRequest::PrepareReceive { .. } => {
                match self.node.prepare_receive(&peer_id, request).await {
                    Ok(data_address) => PeerResponse::Prepared { data_address },
                    Err(err) => {
                        tracing::warn!(peer = %peer_id, error = %err, "refused to prepare a migration");
                        error(&err)
                    }
                }
            }
            PeerRequest::Cancel { migration_id: id } => match self.node.cancel_by_peer(id) {
                Ok(()) => PeerResponse::Ok,
                Err(err) => error(&err),
            },
            PeerRequest::Report {
                migration_id: id,
                completed,
                ..
            } => {
                tracing::info!(peer = %peer_id, id = %migration_id(id), completed, "the source reported its result");
                PeerResponse::Ok
            }
        }
    }
}

impl PeerHandler for NodePeerHandler {
    fn handle(
        &self,
        peer_id: String,
        request: PeerRequest,
    ) -> Pin<Box<dyn Future<Output = PeerResponse> + Send + '_>> {
        Box::pin(self.answer(peer_id, request))
    }
}
