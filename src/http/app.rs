//! The application: [`AppState`] (what handlers share), the whole router with its layers,
//! and [`serve`].

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, Request};
use sqlx::PgPool;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use super::conn;
use super::metrics::{self, ScrapeCache};
use crate::config::Settings;
use crate::connectors::Presets;
use crate::connectors::events::Events;
use crate::error::Error;
use crate::http::problem::ApiError;
use crate::platform::cache::Invalidation;
use crate::platform::crypto::Keyring;
use crate::platform::net::Outbound;
use crate::platform::shutdown::Shutdown;
use crate::platform::single_flight::KeyedLocks;
use crate::tenancy::limits::RateLimits;
use crate::tenancy::{ApiKey, KeyCache};
use crate::upstream::target::{Target, TargetCache, target_cache};
use crate::{authz, catalog, connectors, gateway, platform, upstream};

/// The hot path's caches — API keys and gateway keys by hash, proxy targets by connector — and the hub that
/// keeps them true (see [`platform::cache`]).
pub struct Caches {
    pub hub: Arc<Invalidation>,
    pub keys: Arc<KeyCache>,
    pub targets: Arc<TargetCache>,
    /// REST connectors' OAuth 2 client-credentials tokens (their own invalidation: a
    /// fingerprint of the credentials they were fetched with).
    pub rest_tokens: Arc<upstream::rest::TokenCache>,
    pub gateway_keys: Arc<crate::gateway::KeyCache>,
    /// Gateways' tool-list changes, for the MCP clients waiting to hear of them.
    pub tool_lists: Arc<crate::gateway::changes::ToolListChanges>,
    /// Gateways and their tools, as the MCP endpoint reads them on every request.
    pub gateways: Arc<crate::gateway::cache::GatewayCache>,
    /// Upstream MCP sessions shared by tool calls (not a cache of rows, but as much this
    /// replica's own: a second replica has its own).
    pub sessions: Arc<upstream::pool::Pool>,
    /// Whether each tenant logs tool payloads (read on every tool call).
    pub payload_logging: Arc<crate::tenancy::service::PayloadLogging>,
    /// Compiled tool input schemas.
    pub validators: Arc<catalog::model::Validators>,
}

impl Default for Caches {
    fn default() -> Self {
        Self::new(crate::platform::cache::DEFAULT_OUTAGE_GRACE)
    }
}

impl Caches {
    /// Caches that serve what they hold for `outage_grace` after the listener is lost.
    pub fn new(outage_grace: std::time::Duration) -> Self {
        let hub = Arc::new(Invalidation::new(outage_grace));
        Self {
            keys: KeyCache::new(&hub),
            targets: target_cache(&hub),
            rest_tokens: Arc::default(),
            gateway_keys: crate::gateway::KeyCache::new(&hub),
            // Registered first: a notice reaches the copy before the clients told to re-list.
            gateways: crate::gateway::cache::GatewayCache::new(&hub),
            tool_lists: crate::gateway::changes::ToolListChanges::new(&hub),
            sessions: Arc::default(),
            payload_logging: crate::tenancy::service::payload_logging(&hub),
            validators: Arc::default(),
            hub,
        }
    }

    /// Whether the caches are fresh: the invalidation listener is connected.
    pub fn is_live(&self) -> bool {
        self.hub.is_live()
    }

    pub fn target(&self, connector_id: Uuid) -> Option<Arc<Target>> {
        self.targets.get(&connector_id)
    }

    pub fn key(&self, hash: &[u8; 32]) -> Option<Arc<ApiKey>> {
        self.keys.get(hash)
    }
}

/// Everything a request handler may need; cheap to clone. Below `http`, nothing takes it:
/// handlers hand each module the context it asks for ([`AppState::connectors`], ...).
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keyring: Arc<Keyring>,
    pub presets: Arc<Presets>,
    pub settings: Arc<Settings>,
    /// The one guarded client for every outbound call.
    pub net: Outbound,
    /// In-process single flight for token refreshes.
    pub refresh_locks: Arc<KeyedLocks>,
    /// The hot path's API keys and proxy targets, kept true by [`platform::cache::listen`].
    pub caches: Arc<Caches>,
    /// Per-tenant rate limits and stream caps of this replica.
    pub limits: RateLimits,
    /// Set when the process is shutting down.
    pub shutdown: Shutdown,
    /// Scrape-time metric values computed at most every few seconds.
    pub metrics_cache: Arc<ScrapeCache>,
    /// Tool catalog syncs in this process (one per connector, list_changed debounce).
    pub catalog: Arc<catalog::Resyncs>,
    /// Connector status changes, for what reacts to them (the catalog syncs after connect).
    pub events: Events,
    /// Client ID Metadata Documents the authorization server fetched lately.
    pub oauth_clients: Arc<authz::ClientCache>,
    /// The writer of gateways' call logs (flushed at shutdown, after the last request).
    pub call_log: gateway::call_log::CallLog,
}

impl AppState {
    pub fn new(db: PgPool, keyring: Keyring, presets: Presets, settings: Settings) -> Self {
        let net = Outbound::new(settings.allow_private_networks);
        platform::metrics::handle(); // installs the recorder before anything records
        let caches = Arc::new(Caches::new(settings.cache_outage_grace));
        let call_log = gateway::call_log::CallLog::spawn(db.clone());
        let state = Self {
            limits: RateLimits::new(settings.limits),
            shutdown: Shutdown::default(),
            metrics_cache: Arc::default(),
            db,
            keyring: Arc::new(keyring),
            presets: Arc::new(presets),
            settings: Arc::new(settings),
            net,
            refresh_locks: Arc::default(),
            caches,
            catalog: Arc::default(),
            events: Events::default(),
            oauth_clients: Arc::default(),
            call_log,
        };
        // The catalog follows connector events for as long as the process runs (must be
        // called within a Tokio runtime).
        catalog::follow(state.catalog(), state.events.subscribe());
        state
    }

    /// What the connector use cases need.
    pub fn connectors(&self) -> connectors::Context {
        connectors::Context {
            db: self.db.clone(),
            keyring: self.keyring.clone(),
            net: self.net.clone(),
            settings: self.settings.clone(),
            refresh_locks: self.refresh_locks.clone(),
            changes: self.caches.hub.clone(),
            events: self.events.clone(),
        }
    }

    /// What the upstream path needs.
    pub fn upstream(&self) -> upstream::Context {
        upstream::Context {
            connectors: self.connectors(),
            targets: self.caches.targets.clone(),
            rest_tokens: self.caches.rest_tokens.clone(),
            pool: self.caches.sessions.clone(),
        }
    }

    /// What the tool catalog needs.
    pub fn catalog(&self) -> catalog::Context {
        catalog::Context {
            upstream: self.upstream(),
            resyncs: self.catalog.clone(),
            validators: self.caches.validators.clone(),
            payload_logging: self.caches.payload_logging.clone(),
        }
    }

    /// What the gateways' authorization server needs.
    pub fn authz(&self) -> authz::Context {
        authz::Context {
            db: self.db.clone(),
            net: self.net.clone(),
            settings: self.settings.clone(),
            gateway_keys: self.caches.gateway_keys.clone(),
            clients: self.oauth_clients.clone(),
        }
    }

    /// What gateways need.
    pub fn gateway(&self) -> gateway::Context {
        gateway::Context {
            catalog: self.catalog(),
            tool_lists: self.caches.tool_lists.clone(),
            cache: self.caches.gateways.clone(),
            calls: self.call_log.clone(),
        }
    }
}

/// The least time the gateways' queued call-log rows get at shutdown.
const LAST_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Serves `app(state)` on `listener`, with the cache invalidation listener running alongside,
/// until `shutdown` completes; then shuts down gracefully (see [`platform::shutdown`]): `/readyz`
/// fails at once; after the configured delay the listener closes, standalone event streams
/// end, and in-flight requests get until the configured timeout. Connections are accepted
/// through [`conn::Listener`] (TCP_NODELAY, and the slow-client limits of
/// `settings.http`; keep every connection-level option there).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = conn::Listener::new(listener, state.settings.http);
    let (signal, policy) = (state.shutdown.clone(), state.settings.shutdown);
    let stop_accepting = async move {
        shutdown.await;
        signal.begin_draining();
        tracing::info!(delay = ?policy.delay, "shutting down: /readyz now answers 503");
        tokio::time::sleep(policy.delay).await;
        signal.stop();
        tracing::info!(timeout = ?policy.timeout, "no longer accepting connections; finishing in-flight requests");
    };
    let invalidation = tokio::spawn(platform::cache::listen(state.db.clone(), state.caches.hub.clone()));
    // Closes idle upstream sessions; at stopping, all of them.
    let sweep = tokio::spawn(state.caches.sessions.clone().sweep(state.shutdown.clone()));
    let signal = state.shutdown.clone();
    let call_log = state.call_log.clone();
    // Turned into a service once: served as a bare `Router`, axum rebuilds its route tables
    // for every connection (~12 KiB each, held as long as the connection: SSE streams).
    let service = app(state).with_state(()).into_make_service_with_connect_info::<conn::Connection>();
    let server = axum::serve(listener, service).with_graceful_shutdown(stop_accepting);
    let served = tokio::select! {
        result = server => result,
        () = async { signal.stopping().await; tokio::time::sleep(policy.timeout).await } => {
            tracing::warn!("shutdown timeout reached; dropping the connections still open");
            Ok(())
        }
    };
    invalidation.abort();
    let _ = sweep.await;
    // Within the shutdown timeout, not after it (the orchestrator's grace period counts it).
    call_log.flush(signal.time_left(policy.timeout).max(LAST_FLUSH)).await;
    served
}

/// Serves `GET /metrics` alone on `listener` (`SWITCHBOARD_METRICS_LISTEN`) until stopping.
pub async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let stopping = state.shutdown.stopping_owned();
    axum::serve(listener, metrics::router(state)).with_graceful_shutdown(stopping).await
}

/// The complete router: API, docs, health, with request ids, tracing and panic safety.
pub fn app(state: AppState) -> Router {
    let mut router = super::api::router(state.clone());
    if state.settings.metrics_listen.is_none() {
        router = router.merge(metrics::router(state));
    }
    router
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::from(Error::Internal(anyhow::anyhow!(
                "handler panicked"
            ))))
        }))
        // Sees the final answer (a 408 it makes is logged and counted like any other).
        .layer(axum::middleware::from_fn(conn::guard_request))
        // Inside the request span (it names the connector there), outside the panic guard
        // (a panic is counted as the 500 it becomes).
        .layer(axum::middleware::from_fn(metrics::track_http))
        // Only the path is logged: query strings may carry OAuth codes and state.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let request_id =
                        req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
                    // The caller's tenant and the connector are recorded once known.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = req.uri().path(),
                        request_id,
                        tenant_id = tracing::field::Empty,
                        connector_id = tracing::field::Empty,
                        gateway_id = tracing::field::Empty,
                    )
                })
                .on_response(log_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(plain_request_id))
}

/// The request log's line for an answer: at INFO, except a successful answer relayed from
/// an upstream (a proxied MCP message), which is at DEBUG. A line per tool call was a
/// measurable share of the proxy's cost (issue 16) and says nothing the metrics do not;
/// refusals, failures and every other route stay at INFO.
fn log_response(response: &axum::response::Response, latency: std::time::Duration, _: &tracing::Span) {
    let status = response.status().as_u16();
    let latency = format_args!("{} ms", latency.as_millis());
    if response.status().is_success() && response.extensions().get::<super::proxy::Relayed>().is_some() {
        tracing::debug!(%latency, status, "finished processing request");
    } else {
        tracing::info!(%latency, status, "finished processing request");
    }
}

/// A caller's `X-Request-Id` is kept only when short and plain (it is in every log line of
/// the request and comes back in the response); otherwise a fresh one is made.
async fn plain_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let plain = request
        .headers()
        .get(&REQUEST_ID)
        .is_none_or(|id| id.len() <= 128 && id.as_bytes().iter().all(u8::is_ascii_graphic));
    if !plain {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}
