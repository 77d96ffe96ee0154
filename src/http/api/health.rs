//! Liveness and readiness probes, without authentication.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::AppState;
use crate::http::problem::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// The process can serve: not shutting down, and the database answers within a second.
async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    if state.shutdown.is_draining() {
        return Err(Error::Unavailable("shutting down").into());
    }
    let ping = crate::platform::db::ping(&state.db);
    match tokio::time::timeout(Duration::from_secs(1), ping).await {
        Ok(Ok(_)) => Ok(axum::Json(json!({ "status": "ready" }))),
        _ => Err(Error::Unavailable("database is not reachable").into()),
    }
}
