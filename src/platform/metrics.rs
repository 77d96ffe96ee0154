//! Metric names and the process's Prometheus recorder (`metrics` facade +
//! `metrics-exporter-prometheus`, decision 0009). Call sites use the `metrics` macros with
//! these names; `http::metrics` renders `GET /metrics` from [`handle`].
//!
//! Labels are bounded by construction: route templates (never raw paths), methods, status
//! codes, outcome names from fixed lists. No tenant, connector, URL or caller-chosen string
//! is ever a label. Every family is listed in the README.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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
pub const UNLOGGED_CALLS: &str = "switchboard_gateway_calls_unlogged_total";

/// Latency buckets (seconds): sub-millisecond proxy hops up to slow token endpoints.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BATCH_BUCKETS: &[f64] = &[0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0];

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
    describe_counter!(
        UNLOGGED_CALLS,
        "Gateway calls made but not logged (the call log's queue full, or the row refused)"
    );
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
