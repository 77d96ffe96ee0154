//! Liveness and readiness probes, without authentication.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::AppState;
use crate::http::problem::{ApiResult, Problem};
use crate::platform::db;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)),
)]
pub(super) async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// The process can serve: not shutting down, and the database answers within a second.
/// During a database outage it answers 503 `database_unavailable` (with `Retry-After`), even
/// while warm proxy calls are still served from the caches; when the database answers but
/// the cache invalidation listener has not reconnected yet, it is ready (the caches are
/// bypassed meanwhile) and says so in `cache_invalidation`.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "`status: ready`, and `cache_invalidation`: `listening` or `reconnecting`", body = Object),
        (status = 503, body = Problem, description = "`unavailable` (shutting down) or `database_unavailable`",
         headers(("Retry-After" = u64))),
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    if state.shutdown.is_draining() {
        return Err(Error::Unavailable("shutting down").into());
    }
    let ping = tokio::time::timeout(Duration::from_secs(1), db::ping(&state.db)).await;
    if !matches!(ping, Ok(Ok(()))) {
        let stale =
            state.caches.hub.serving_stale_until().map(|t| t.saturating_duration_since(Instant::now()));
        tracing::warn!(cached_entries_served_for = ?stale, "readiness: the database is not reachable");
        return Err(Error::DatabaseUnavailable.into());
    }
    let listener = if state.caches.is_live() { "listening" } else { "reconnecting" };
    Ok(axum::Json(json!({ "status": "ready", "cache_invalidation": listener })))
}
