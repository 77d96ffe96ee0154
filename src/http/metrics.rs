//! Prometheus metrics through the `metrics` facade and `metrics-exporter-prometheus`,
//! rendered on our own `GET /metrics` (no API key; optionally on its own listen address).
//!
//! Labels are bounded by construction: route templates (never raw paths), methods, status
//! codes, outcome names from fixed lists. No tenant, connector, URL or caller-chosen string
//! is ever a label. Every family is listed in the README.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use uuid::Uuid;

use crate::connectors::Status;
use crate::http::AppState;
use crate::platform::metrics::{
    CONNECTORS, DB_POOL_IDLE, DB_POOL_SIZE, HTTP_DURATION, HTTP_REQUESTS, handle,
};

/// The connectors-by-status gauge is a `GROUP BY` over every connector: at most this often.
const CONNECTOR_COUNT_EVERY: Duration = Duration::from_secs(15);

/// `GET /metrics` in the Prometheus text format.
pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(state)
}

/// Prometheus metrics (text format); on `SWITCHBOARD_METRICS_LISTEN` instead when that is set.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)),
)]
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    gauge!(DB_POOL_SIZE).set(state.db.size() as f64);
    gauge!(DB_POOL_IDLE).set(state.db.num_idle() as f64);
    state.metrics_cache.count_connectors(&state.db).await;
    let body = handle().render();
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// Scrape-time values that are too costly to compute on every scrape.
#[derive(Default)]
pub struct ScrapeCache {
    connectors_counted_at: Mutex<Option<Instant>>,
}

impl ScrapeCache {
    /// Sets the connectors-by-status gauge at most every [`CONNECTOR_COUNT_EVERY`]; a slow or
    /// failing database leaves the last values.
    async fn count_connectors(&self, db: &sqlx::PgPool) {
        {
            let mut at = self.connectors_counted_at.lock().expect("scrape cache lock");
            if at.is_some_and(|t| t.elapsed() < CONNECTOR_COUNT_EVERY) {
                return;
            }
            *at = Some(Instant::now());
        }
        let counted =
            tokio::time::timeout(Duration::from_secs(2), crate::connectors::service::count_by_status(db));
        match counted.await {
            Ok(Ok(rows)) => {
                for status in Status::ALL {
                    let n = rows.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
                    gauge!(CONNECTORS, "status" => status.as_str()).set(n as f64);
                }
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "counting connectors for /metrics failed"),
            Err(_) => tracing::warn!("counting connectors for /metrics timed out"),
        }
    }
}

/// Counts and times every request by route template, and names the connector (from the
/// path) on the request's span.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    if let Some(id) = connector_in(&route, request.uri().path()) {
        tracing::Span::current().record("connector_id", tracing::field::display(id));
    }
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// The connector a `/api/v1/connectors/{id}/…` request is about.
fn connector_in(route: &str, path: &str) -> Option<Uuid> {
    route.strip_prefix("/api/v1/connectors/{id}")?;
    path.strip_prefix("/api/v1/connectors/")?.split('/').next()?.parse().ok()
}

/// Methods outside the standard set are one label, so callers cannot mint label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_ids_come_only_from_connector_routes() {
        let id = Uuid::now_v7();
        let path = format!("/api/v1/connectors/{id}/mcp");
        assert_eq!(connector_in("/api/v1/connectors/{id}/mcp", &path), Some(id));
        assert_eq!(connector_in("/api/v1/admin/tenants/{id}", &format!("/api/v1/admin/tenants/{id}")), None);
        assert_eq!(connector_in("/api/v1/connectors/{id}", "/api/v1/connectors/nope"), None);
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
