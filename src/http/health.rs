//! Liveness and readiness, for load balancers and orchestrators.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::problem::ApiError;
use super::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthOut {
    /// `healthy` or `ready`.
    pub status: &'static str,
}

/// Liveness: the process answers. Not written to the request log.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthOut)))]
pub async fn health() -> Json<HealthOut> {
    Json(liveness())
}

/// What `/health` answers, here and in front of the router (`liveness`).
pub(super) fn liveness() -> HealthOut {
    HealthOut { status: "healthy" }
}

/// Readiness: 503 while shutting down or when the database does not answer.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, body = HealthOut),
    (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Shutting down, or the database does not answer")
))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthOut>, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::Unavailable {
            retry_after_secs: 1,
        });
    }
    state.accounts.ready().await?;
    Ok(Json(HealthOut { status: "ready" }))
}
