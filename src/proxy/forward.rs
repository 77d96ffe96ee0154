//! Sending one request upstream with the connector's credential, and relaying the answer.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::headers;
use super::target::{Target, load};
use crate::AppState;
use crate::connectors::connect::reject_credentials;
use crate::connectors::refresh::{RefreshOutcome, Trigger, refresh};
use crate::error::{ApiError, ApiResult};

/// Reads a request body up to `limit` bytes (413 beyond). Bodies are small JSON-RPC
/// messages; holding one lets a request be retried after a token refresh.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)
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
    let request = state.net.stream_request(method, url)?.headers(outgoing).body(body);
    Ok(state.net.send(request).await?)
}

/// Refreshes the target's token (unless someone else already did) and returns the target
/// with the new credential.
async fn refreshed(state: &AppState, target: &Target) -> ApiResult<Arc<Target>> {
    let token = target.access_token.as_ref().expect("only OAuth targets are refreshed");
    match refresh(state, target.tenant_id, target.connector_id, Trigger::Rejected(token)).await? {
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

/// The upstream's answer as the caller's: status, end-to-end headers, and the body streamed
/// chunk by chunk as it arrives (SSE events are never buffered). The body is passed on as
/// an HTTP body, not a stream of chunks, so a known length stays known (`Content-Length`
/// rather than chunked framing).
pub fn relay(response: reqwest::Response) -> Response {
    let (parts, body) = http::Response::from(response).into_parts();
    let mut headers = headers::caller_response(&parts.headers);
    mark_streaming(&mut headers);
    (parts.status, headers, Body::new(body)).into_response()
}

/// Event streams must not be cached or buffered by anything between us and the caller.
pub fn mark_streaming(headers: &mut HeaderMap) {
    let is_sse = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    if is_sse {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
}
