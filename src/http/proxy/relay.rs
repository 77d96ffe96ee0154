//! What the proxy does around the upstream call: admission (rate limit, stream slot), the
//! request body (capped), and relaying the answer — status, end-to-end headers, and the body
//! streamed frame by frame, metered, ending cleanly at shutdown.

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use metrics::gauge;

use super::metered::Metered;
use crate::http::AppState;
use crate::http::extract::admit as admit_tenant;
use crate::http::problem::{ApiError, ApiResult};
use crate::mcp::Transport;
use crate::platform::metrics::{ACTIVE_STREAMS, PROXY_BYTES};
use crate::tenancy::limits::{StreamPermit, Surface};
use crate::upstream::headers;
use crate::upstream::target::Target;

/// Names the connector on the request's span and counts the request against its tenant's
/// proxy rate limit.
pub async fn admit(state: &AppState, target: &Target) -> ApiResult<()> {
    tracing::Span::current().record("connector_id", tracing::field::display(target.connector_id));
    admit_tenant(state, target.tenant_id, Surface::Proxy).await
}

/// [`admit`], and a slot among the tenant's concurrent standalone streams.
pub async fn admit_stream(state: &AppState, target: &Target) -> ApiResult<StreamPermit> {
    admit(state, target).await?;
    Ok(state.limits.open_stream(&state.db, target.tenant_id).await?)
}

/// Reads a request body up to `limit` bytes (413 beyond). Bodies are small JSON-RPC
/// messages; holding one lets a request be retried after a token refresh.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)?;
    ::metrics::counter!(PROXY_BYTES, "direction" => "in").increment(body.len() as u64);
    Ok(body)
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
    let mut relayed = (parts.status, headers, relay_body(state, Body::new(body), sse, how)).into_response();
    relayed.extensions_mut().insert(Relayed);
    relayed
}

/// Marks a response as the upstream's answer, relayed (the request log puts successful ones
/// at DEBUG).
#[derive(Clone, Copy)]
pub struct Relayed;

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
    let is_sse = is_event_stream(headers);
    if is_sse {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    is_sse
}

/// Whether the headers say the body is an event stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"))
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
