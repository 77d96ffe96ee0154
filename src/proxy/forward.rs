//! Sending one request upstream with the connector's credential, and relaying the answer.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;
use url::Url;

use super::headers;
use super::metered::Metered;
use super::target::{Target, load};
use crate::AppState;
use crate::connectors::Transport;
use crate::connectors::connect::reject_credentials;
use crate::connectors::refresh::{RefreshOutcome, Trigger, refresh};
use crate::error::{ApiError, ApiResult};
use crate::ops::metrics::{self, ActiveStream};
use crate::platform::metrics::{PROXY_BYTES, UPSTREAM_DURATION, UPSTREAM_REQUESTS};
use crate::tenancy::limits::{StreamPermit, Surface};

/// Names the connector on the request's span and counts the request against its tenant's
/// proxy rate limit.
pub async fn admit(state: &AppState, target: &Target) -> ApiResult<()> {
    tracing::Span::current().record("connector_id", tracing::field::display(target.connector_id));
    crate::ops::admit(state, target.tenant_id, Surface::Proxy).await
}

/// [`admit`], and a slot among the tenant's concurrent standalone streams.
pub async fn admit_stream(state: &AppState, target: &Target) -> ApiResult<StreamPermit> {
    admit(state, target).await?;
    state.limits.open_stream(&state.db, target.tenant_id).await
}

/// Reads a request body up to `limit` bytes (413 beyond). Bodies are small JSON-RPC
/// messages; holding one lets a request be retried after a token refresh.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)?;
    ::metrics::counter!(PROXY_BYTES, "direction" => "in").increment(body.len() as u64);
    Ok(body)
}

fn upstream_failed(code: &'static str, detail: String) -> ApiError {
    ApiError::Upstream { status: StatusCode::BAD_GATEWAY, code, detail }
}

/// Sends with the target's credential. An OAuth token known to be expired is refreshed
/// first; an upstream 401 on an OAuth connector triggers one refresh (single flight) and one
/// retry. A static credential that gets a 401 disconnects the connector. The upstream's own
/// 401 and its `WWW-Authenticate` never reach the caller: they name the upstream's
/// authorization server, which is none of the caller's business.
pub async fn send(
    state: &AppState,
    mut target: Arc<Target>,
    method: Method,
    url: &Url,
    incoming: &HeaderMap,
    body: Bytes,
) -> ApiResult<reqwest::Response> {
    if target.is_oauth() && target.token_expired() {
        target = refreshed(state, &target).await?;
    }
    let response = send_once(state, &target, method.clone(), url, incoming, body.clone()).await?;
    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    if !target.is_oauth() {
        reject_credentials(state, target.tenant_id, target.connector_id).await?;
        return Err(upstream_failed(
            "credentials_rejected",
            "the upstream rejected the connector's credentials (HTTP 401); the connector is now disconnected"
                .into(),
        ));
    }
    target = refreshed(state, &target).await?;
    let retry = send_once(state, &target, method, url, incoming, body).await?;
    if retry.status() == StatusCode::UNAUTHORIZED {
        return Err(upstream_failed(
            "upstream_unauthorized",
            "the upstream rejected a freshly refreshed token (HTTP 401)".into(),
        ));
    }
    Ok(retry)
}

async fn send_once(
    state: &AppState,
    target: &Target,
    method: Method,
    url: &Url,
    incoming: &HeaderMap,
    body: Bytes,
) -> ApiResult<reqwest::Response> {
    let mut outgoing = headers::upstream_request(incoming);
    for (name, value) in &target.credential {
        outgoing.insert(name.clone(), value.clone());
    }
    let span = tracing::info_span!("upstream", %method, host = url.host_str().unwrap_or_default());
    let request = state.net.stream_request(method, url)?.headers(outgoing).body(body);
    let started = Instant::now();
    let sent = state.net.send(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    ::metrics::histogram!(UPSTREAM_DURATION).record(elapsed.as_secs_f64());
    let outcome = match &sent {
        Ok(response) => metrics::upstream_outcome(response.status()),
        Err(crate::platform::net::NetError::Timeout) => "timeout",
        Err(_) => "unreachable",
    };
    ::metrics::counter!(UPSTREAM_REQUESTS, "outcome" => outcome).increment(1);
    span.in_scope(|| tracing::debug!(outcome, elapsed_ms = elapsed.as_millis() as u64, "upstream answered"));
    Ok(sent?)
}

/// Refreshes the target's token (unless someone else already did) and returns the target
/// with the new credential.
async fn refreshed(state: &AppState, target: &Target) -> ApiResult<Arc<Target>> {
    let token = target.access_token.clone().expect("only OAuth targets are refreshed");
    let (owned, tenant_id, id) = (state.clone(), target.tenant_id, target.connector_id);
    // On a task of its own, so that a caller who goes away (a disconnect, a tool call's
    // timeout) cannot cancel it between the authorization server's answer and the commit:
    // a rotated refresh token would be lost, and the grant with it.
    let refreshing =
        tokio::spawn(async move { refresh(&owned, tenant_id, id, Trigger::Rejected(&token)).await });
    let outcome = refreshing.await.map_err(|e| ApiError::Internal(e.into()))??;
    match outcome {
        RefreshOutcome::Refreshed | RefreshOutcome::NotNeeded => load(state, target.tenant_id, target.connector_id).await,
        RefreshOutcome::Disconnected => Err(upstream_failed(
            "refresh_failed",
            "the upstream token could not be refreshed and the connector is now disconnected; connect it again".into(),
        )),
        RefreshOutcome::Retrying => Err(upstream_failed(
            "refresh_unavailable",
            "the upstream token expired and its authorization server is not answering; retry later".into(),
        )),
    }
}

/// How a relayed body is accounted for: its transport (for the active-streams gauge) and,
/// for a standalone stream, the tenant's stream slot (held until the body ends).
pub struct Relay {
    pub transport: Transport,
    pub standalone: Option<StreamPermit>,
}

/// The upstream's answer as the caller's: status, end-to-end headers, and the body streamed
/// chunk by chunk as it arrives (SSE events are never buffered). The body is passed on as
/// an HTTP body, not a stream of chunks, so a known length stays known (`Content-Length`
/// rather than chunked framing).
pub fn relay(state: &AppState, response: reqwest::Response, how: Relay) -> Response {
    let (parts, body) = http::Response::from(response).into_parts();
    let mut headers = headers::caller_response(&parts.headers);
    let sse = mark_streaming(&mut headers);
    (parts.status, headers, relay_body(state, Body::new(body), sse, how)).into_response()
}

/// A relayed body that counts its bytes, holds the stream gauge and slot while open, and —
/// for a standalone stream — ends cleanly when the process stops (callers reconnect to
/// another replica; a request's own answer is left to finish).
pub fn relay_body(state: &AppState, upstream: Body, sse: bool, how: Relay) -> Body {
    let bytes_out = ::metrics::counter!(PROXY_BYTES, "direction" => "out");
    let stop = how.standalone.is_some().then(|| state.shutdown.stopping_owned());
    let held = (sse.then(|| ActiveStream::open(how.transport.as_str())), how.standalone);
    Body::new(Metered::new(upstream, bytes_out, stop, held))
}

/// Event streams must not be cached or buffered by anything between us and the caller.
/// Returns whether the body is an event stream.
pub fn mark_streaming(headers: &mut HeaderMap) -> bool {
    let is_sse = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    if is_sse {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    is_sse
}
