//! The operators' HTTP API (axum): thin handlers over [`ControlPlane`].
//! Endpoints and bodies: `crate::api_types` and docs/operations.md.

use super::error::ServiceError;
use super::metrics::Metrics;
use super::service::ControlPlane;
use crate::api_types::{ApiError, MigrationList, StartMigration, UpdateMigration};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The control plane.
    pub node: Arc<ControlPlane>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        (
            status,
            Json(ApiError {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// A malformed JSON body: 400 (or 415 for a wrong content type) with serde's message.
fn bad_body(rejection: JsonRejection) -> Response {
    (
        rejection.status(),
        Json(ApiError {
            error: format!("malformed request body: {}", rejection.body_text()),
        }),
    )
        .into_response()
}

async fn start(
    State(api): State<ApiState>,
    body: Result<Json<StartMigration>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    match api.node.start_migration(request).await {
        Ok(migration) => (StatusCode::CREATED, Json(migration)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn list(State(api): State<ApiState>) -> Response {
    match api.node.list() {
        Ok(migrations) => Json(MigrationList { migrations }).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn show(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    match api.node.show(&id) {
        Ok(migration) => Json(migration).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn cancel(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    match api.node.cancel(&id).await {
        Ok(migration) => (StatusCode::ACCEPTED, Json(migration)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn update(
    State(api): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<UpdateMigration>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    match api.node.update(&id, request) {
        Ok(migration) => Json(migration).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn node(State(api): State<ApiState>) -> Response {
    Json(api.node.node_status()).into_response()
}

async fn health(State(api): State<ApiState>) -> Response {
    let health = api.node.health();
    let status = if health.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

async fn metrics(State(api): State<ApiState>) -> Response {
    match api.metrics.render(&api.node) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ApiError {
                error: format!("cannot encode metrics: {err}"),
            }),
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ApiError {
            error: "no such endpoint (see docs/operations.md)".into(),
        }),
    )
        .into_response()
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/migrations", post(start).get(list))
        .route("/v1/migrations/{id}", get(show).patch(update))
        .route("/v1/migrations/{id}/cancel", post(cancel))
        .route("/v1/node", get(node))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(super::placement_api::routes())
        .fallback(not_found)
        .with_state(state)
}
