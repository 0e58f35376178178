//! The placement endpoints of the HTTP API (docs/placement.md §4):
//!
//! - `POST /v1/placement/place`: `{"model", "placement", "vm", "max_lif"?}`
//!   → where the new VM goes ([`SinglePlacement`]);
//! - `POST /v1/placement/rebalance`: `{"model", "placement", "traffic"?,
//!   "options"?}` → the proposed migrations ([`RebalancePlan`]).
//!
//! Both are pure computations on the request (no state of this control
//! plane is read or changed), run on the blocking pool. Errors are
//! `{"error", "constraint"}`: 400 for a malformed body or model
//! (`constraint` is `request` or `model`), 422 for a well-formed request
//! that cannot be satisfied, `constraint` naming the constraint or resource
//! at fault (`capacity`, `anti_affinity`, `pin_host`, ...).

use crate::place::cluster::Cluster;
use crate::place::error::PlacementError;
use crate::place::model::{ClusterModel, Flow, Placement};
use crate::place::placer::DEFAULT_MAX_LIF;
use crate::place::rebalance::{rebalance, RebalanceOptions, RebalancePlan};
use crate::place::single::{place_vm, SinglePlacement};
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// `POST /v1/placement/place`'s body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceVmRequest {
    /// The cluster, the new VM included (with its traffic and constraints).
    pub model: ClusterModel,
    /// Where the other VMs run now.
    #[serde(default)]
    pub placement: Placement,
    /// The VM to place.
    pub vm: String,
    /// Prefer regions that stay within this region LIF (default 0.04).
    #[serde(default)]
    pub max_lif: Option<f64>,
}

/// `POST /v1/placement/rebalance`'s body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebalanceRequest {
    /// The cluster.
    pub model: ClusterModel,
    /// Where every VM runs now.
    pub placement: Placement,
    /// New traffic measurements, replacing the model's when given.
    #[serde(default)]
    pub traffic: Option<Vec<Flow>>,
    /// Thresholds, payback, margin, predicted bandwidth.
    #[serde(default)]
    pub options: RebalanceOptions,
}

/// A placement endpoint's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementApiError {
    /// What went wrong, with the numbers.
    pub error: String,
    /// The constraint or resource at fault, `model` or `request`.
    pub constraint: String,
}

fn error_response(status: StatusCode, error: String, constraint: &str) -> Response {
    (
        status,
        Json(PlacementApiError {
            error,
            constraint: constraint.to_owned(),
        }),
    )
        .into_response()
}

fn placement_error(err: &PlacementError) -> Response {
    let status = if err.is_malformed() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    error_response(status, err.to_string(), err.constraint())
}

fn bad_body(rejection: JsonRejection) -> Response {
    error_response(
        rejection.status(),
        format!("malformed request body: {}", rejection.body_text()),
        "request",
    )
}

/// Runs `work` on the blocking pool (placement is CPU-bound).
async fn compute<T: Serialize + Send + 'static>(
    work: impl FnOnce() -> Result<T, PlacementError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(err)) => placement_error(&err),
        Err(err) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("placement task failed: {err}"),
            "internal",
        ),
    }
}

fn place_one(request: PlaceVmRequest) -> Result<SinglePlacement, PlacementError> {
    let cluster = Cluster::new(&request.model)?;
    let host_of = cluster.resolve(&request.placement)?;
    let v = cluster
        .vm_id(&request.vm)
        .ok_or_else(|| PlacementError::UnknownName {
            what: "vm",
            name: request.vm.clone(),
            context: "vm to place".into(),
        })?;
    place_vm(
        &cluster,
        &host_of,
        v,
        request.max_lif.unwrap_or(DEFAULT_MAX_LIF),
    )
}

fn propose(request: RebalanceRequest) -> Result<RebalancePlan, PlacementError> {
    let mut model = request.model;
    if let Some(traffic) = request.traffic {
        model.traffic = traffic;
    }
    let cluster = Cluster::new(&model)?;
    let host_of = cluster.resolve(&request.placement)?;
    rebalance(&cluster, &host_of, &request.options)
}

async fn place_handler(body: Result<Json<PlaceVmRequest>, JsonRejection>) -> Response {
    match body {
        Ok(Json(request)) => compute(move || place_one(request)).await,
        Err(rejection) => bad_body(rejection),
    }
}

async fn rebalance_handler(body: Result<Json<RebalanceRequest>, JsonRejection>) -> Response {
    match body {
        Ok(Json(request)) => compute(move || propose(request)).await,
        Err(rejection) => bad_body(rejection),
    }
}

/// The placement routes, for any router state (they use none).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/v1/placement/place", post(place_handler))
        .route("/v1/placement/rebalance", post(rebalance_handler))
}
