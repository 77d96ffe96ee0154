//! Prometheus metrics through the `metrics` facade and `metrics-exporter-prometheus`,
//! rendered on our own `GET /metrics` (no API key; optionally on its own listen address).
//!
//! Labels are bounded by construction: route templates (never raw paths), methods, status
//! codes, outcome names from fixed lists. No tenant, connector, URL or caller-chosen string
//! is ever a label. Every family is listed in the README.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use uuid::Uuid;

use crate::AppState;
use crate::connectors::Status;

pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
pub const HTTP_DURATION: &str = "switchboard_http_request_duration_seconds";
pub const UPSTREAM_REQUESTS: &str = "switchboard_proxy_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "switchboard_proxy_upstream_duration_seconds";
pub const ACTIVE_STREAMS: &str = "switchboard_proxy_active_streams";
pub const PROXY_BYTES: &str = "switchboard_proxy_bytes_total";
pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
pub const TOKEN_REQUESTS: &str = "switchboard_oauth_token_requests_total";
pub const REFRESHES: &str = "switchboard_oauth_refreshes_total";
pub const REGISTRATIONS: &str = "switchboard_oauth_registrations_total";
pub const WORKER_LAG: &str = "switchboard_worker_loop_lag_seconds";
pub const WORKER_BATCH: &str = "switchboard_worker_claimed_batch_size";
pub const EXPIRED_AUTHORIZATIONS: &str = "switchboard_worker_expired_authorizations_total";
pub const CONNECTORS: &str = "switchboard_connectors";
pub const DB_POOL_SIZE: &str = "switchboard_db_pool_connections";
pub const DB_POOL_IDLE: &str = "switchboard_db_pool_idle_connections";

/// Latency buckets (seconds): sub-millisecond proxy hops up to slow token endpoints.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BATCH_BUCKETS: &[f64] = &[0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0];
/// The connectors-by-status gauge is a `GROUP BY` over every connector: at most this often.
const CONNECTOR_COUNT_EVERY: Duration = Duration::from_secs(15);

/// The process's recorder, installed on first use (the tests build many apps in one process;
/// there is one global recorder).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WORKER_BATCH.into()), BATCH_BUCKETS))
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route template, method and status");
    describe_histogram!(HTTP_DURATION, "Time to the response head, by route template and method");
    describe_counter!(UPSTREAM_REQUESTS, "Proxied requests sent upstream, by outcome");
    describe_histogram!(UPSTREAM_DURATION, "Time until the upstream's response head");
    describe_gauge!(ACTIVE_STREAMS, "Event-stream response bodies being relayed, by transport");
    describe_counter!(PROXY_BYTES, "Proxied body bytes: in = caller to upstream, out = upstream to caller");
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by limit");
    describe_counter!(TOKEN_REQUESTS, "OAuth token endpoint requests, by grant and outcome");
    describe_counter!(REFRESHES, "Token refreshes, by trigger and outcome");
    describe_counter!(REGISTRATIONS, "OAuth dynamic client registrations, by outcome");
    describe_histogram!(WORKER_LAG, "How late each worker pass started");
    describe_histogram!(WORKER_BATCH, "Connectors claimed per worker batch");
    describe_counter!(EXPIRED_AUTHORIZATIONS, "Pending authorizations expired by the worker");
    describe_gauge!(CONNECTORS, "Connectors by status (all tenants; the same on every replica)");
    describe_gauge!(DB_POOL_SIZE, "Open database connections in this replica's pool");
    describe_gauge!(DB_POOL_IDLE, "Idle database connections in this replica's pool");
}

/// `GET /metrics` in the Prometheus text format.
pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
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
            tokio::time::timeout(Duration::from_secs(2), crate::connectors::store::count_by_status(db));
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

/// The label for an upstream answer: its status class, with 401 apart (it triggers a refresh).
pub fn upstream_outcome(status: reqwest::StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The label for an OAuth call that failed, from a fixed list.
pub fn grant_outcome<T>(result: &Result<T, crate::oauth::GrantError>) -> &'static str {
    use crate::oauth::GrantError;
    match result {
        Ok(_) => "success",
        Err(GrantError::OAuth { error, .. }) => match error.as_str() {
            "invalid_grant" => "invalid_grant",
            "invalid_client" | "unauthorized_client" => "invalid_client",
            _ => "oauth_error",
        },
        Err(GrantError::Transport(_)) => "unreachable",
        Err(GrantError::InvalidResponse(_)) => "invalid_response",
        Err(GrantError::Unsupported(_) | GrantError::Refused(_)) => "refused",
    }
}

/// Records one token endpoint request.
pub fn record_token_request<T>(grant: &'static str, result: &Result<T, crate::oauth::GrantError>) {
    counter!(TOKEN_REQUESTS, "grant" => grant, "outcome" => grant_outcome(result)).increment(1);
}

/// Holds the active-streams gauge up while a relayed event stream is open.
pub struct ActiveStream(&'static str);

impl ActiveStream {
    pub fn open(transport: &'static str) -> Self {
        gauge!(ACTIVE_STREAMS, "transport" => transport).increment(1.0);
        Self(transport)
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        gauge!(ACTIVE_STREAMS, "transport" => self.0).decrement(1.0);
    }
}

/// Runs the exporter's upkeep (draining histogram samples) until `stop` completes, so memory
/// stays bounded even when nobody scrapes.
pub async fn upkeep(stop: impl std::future::Future<Output = ()>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => handle().run_upkeep(),
            () = &mut stop => return,
        }
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
