//! Liveness and readiness, for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthOut {
    /// `healthy`, `ready` or `unavailable`.
    pub status: &'static str,
}

/// Liveness: the process answers. Not written to the request log.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthOut)))]
pub async fn health() -> Json<HealthOut> {
    Json(HealthOut { status: "healthy" })
}

/// Readiness: 503 while shutting down or when the database does not answer.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, body = HealthOut),
    (status = 503, body = HealthOut, description = "Shutting down, or the database does not answer")
))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    if state.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthOut {
                status: "unavailable",
            }),
        );
    }
    match state.accounts.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthOut { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthOut {
                    status: "unavailable",
                }),
            )
        }
    }
}
