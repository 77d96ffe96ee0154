//! Switchboard: a multi-tenant control plane for remote MCP servers.
//!
//! [`app`] builds the whole HTTP router from an [`AppState`]; the binary and the integration
//! tests both go through it, so tests exercise exactly what production serves.

pub mod api;
pub mod cache;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod db;
pub mod error;
pub mod mcp;
pub mod net;
pub mod oauth;
pub mod page;
pub mod proxy;
pub mod rekey;
pub mod sse;
pub mod tenancy;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, Request};
use sqlx::{PgPool, Postgres, Transaction};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::cache::Caches;
use crate::config::Settings;
use crate::connectors::Presets;
use crate::connectors::refresh::RefreshLocks;
use crate::crypto::Keyring;
use crate::error::ApiError;
use crate::net::Outbound;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keyring: Arc<Keyring>,
    pub presets: Arc<Presets>,
    pub settings: Arc<Settings>,
    /// The one guarded client for every outbound call.
    pub net: Outbound,
    /// In-process single flight for token refreshes.
    pub refresh_locks: Arc<RefreshLocks>,
    /// The hot path's API keys and proxy targets, kept true by [`cache::listen`].
    pub caches: Arc<Caches>,
}

impl AppState {
    pub fn new(db: PgPool, keyring: Keyring, presets: Presets, settings: Settings) -> Self {
        let net = Outbound::new(settings.allow_private_networks);
        Self {
            db,
            keyring: Arc::new(keyring),
            presets: Arc::new(presets),
            settings: Arc::new(settings),
            net,
            refresh_locks: Arc::default(),
            caches: Arc::default(),
        }
    }

    /// Commits a transaction that changed connector `id`, then drops this replica's cached
    /// copy at once: other replicas hear of the change by NOTIFY, but a caller of this one
    /// must not be able to outrun its notification.
    pub async fn commit_connector_change(&self, tx: Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<()> {
        tx.commit().await?;
        self.caches.forget_connector(id);
        Ok(())
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Serves `app(state)` on `listener` until `shutdown` completes, with the cache
/// invalidation listener running alongside. Accepted sockets get
/// TCP_NODELAY: without it, a reply written in several chunks (SSE) waits ~40 ms on Nagle's
/// algorithm and delayed ACKs.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let invalidation = tokio::spawn(cache::listen(state.db.clone(), state.caches.clone()));
    // Turned into a service once: served as a bare `Router`, axum rebuilds its route tables
    // for every connection (~12 KiB each, held as long as the connection: SSE streams).
    let service = app(state).with_state(()).into_make_service();
    let served = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
    invalidation.abort();
    served
}

/// The complete router: API, docs, health, with request ids, tracing and panic safety.
pub fn app(state: AppState) -> Router {
    api::router(state)
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!(
                "handler panicked"
            )))
        }))
        // Only the path is logged: query strings may carry OAuth codes and state.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let request_id =
                req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
            tracing::info_span!("request", method = %req.method(), path = req.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
