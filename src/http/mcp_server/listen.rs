//! The streams on which a gateway tells its MCP clients that its tool list changed
//! (`notifications/tools/list_changed`): a 2025-era client's standalone GET stream, served
//! here, and a 2026-07-28 client's `subscriptions/listen` answer, which rmcp streams
//! ([`super::server`]). Both wait on a [`Watch`] of the gateway, fed by the triggers of
//! migration 0015 through the invalidation hub, so a change made on any replica reaches the
//! streams every replica holds open.
//!
//! Both kinds are long-lived, so both take one of the tenant's stream slots, end when the
//! process stops (clients reconnect to another replica), and end when their credential no
//! longer opens the gateway (a revoked key must not keep a stream).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::auth::still_opens;
use super::endpoint::Served;
use crate::gateway::changes::Watch;
use crate::http::AppState;
use crate::http::problem::{ApiError, ApiResult};
use crate::http::proxy::relay::{Relay, mark_streaming, relay_body};
use crate::mcp::Transport;

/// How often an idle stream carries a comment, so that proxies and load balancers between
/// the client and us do not close it as dead.
pub const KEEP_ALIVE: Duration = Duration::from_secs(25);
/// How often an open stream checks that its credential still opens the gateway. Key caches
/// hear of a revocation within a second; the check itself is a cache lookup.
const RECHECK: Duration = Duration::from_secs(5);

const LIST_CHANGED: &[u8] =
    b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
const PING: &[u8] = b": keep-alive\n\n";

/// The credential a stream was opened with, to check again while it is open.
pub struct Credential {
    pub state: AppState,
    pub slug: String,
    pub token: Option<String>,
}

impl Credential {
    /// Returns when the credential stops opening the gateway.
    async fn revoked(self) {
        loop {
            tokio::time::sleep(RECHECK).await;
            if !still_opens(&self.state, &self.slug, self.token.as_deref()).await {
                return;
            }
        }
    }
}

/// A 2025-era client's standalone stream (GET): a `list_changed` notification after each
/// change of the gateway's tool list, a keep-alive comment while nothing changes.
pub async fn standalone(
    state: &AppState,
    headers: &HeaderMap,
    served: Served,
    credential: Credential,
) -> ApiResult<Response> {
    if !accepts_event_stream(headers) {
        return Err(ApiError::NotAcceptable("a GET opens an event stream: send `Accept: text/event-stream`"));
    }
    let ctx = state.gateway();
    let watch = ctx.tool_lists.watch(ctx.db(), served.owner_id).await?;
    let events = Body::from_stream(notices(watch));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    held_open(state, served, credential, (StatusCode::OK, headers, events).into_response()).await
}

/// `response`, a long-lived stream, made to hold one of the tenant's stream slots, to end when
/// the process stops, and to end when `credential` no longer opens the gateway.
pub async fn held_open(
    state: &AppState,
    served: Served,
    credential: Credential,
    response: Response,
) -> ApiResult<Response> {
    let permit = state.limits.open_stream(&state.db, served.tenant_id).await?;
    let (mut parts, body) = response.into_parts();
    let sse = mark_streaming(&mut parts.headers);
    let body = Body::from_stream(body.into_data_stream().take_until(credential.revoked()));
    let how = Relay { transport: Transport::StreamableHttp, standalone: Some(permit) };
    Ok(Response::from_parts(parts, relay_body(state, body, sse, how)))
}

/// The stream's events. `Watch::changed` is cancel-safe, so racing it against the
/// keep-alive timer loses no change.
fn notices(watch: Watch) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let ticks = tokio::time::interval_at(start, KEEP_ALIVE);
    futures_util::stream::unfold((watch, ticks), |(mut watch, mut ticks)| async move {
        let frame = tokio::select! {
            () = watch.changed() => LIST_CHANGED,
            _ = ticks.tick() => PING,
        };
        Some((Ok(Bytes::from_static(frame)), (watch, ticks)))
    })
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|media| {
        let essence = media.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("text/event-stream") || essence == "*/*"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_opened_only_for_clients_that_accept_one() {
        let accept = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_str(v).unwrap());
            accepts_event_stream(&headers)
        };
        assert!(accept("text/event-stream"));
        assert!(accept("application/json, Text/Event-Stream;q=0.9"));
        assert!(!accept("application/json"));
        assert!(!accepts_event_stream(&HeaderMap::new()));
    }
}
