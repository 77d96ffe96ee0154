//! Serving a [`ToolSource`] over Streamable HTTP with rmcp's server side, in stateless mode:
//! the one implementation behind a gateway's `/api/v1/gateways/{slug}/mcp` and a REST
//! connector's `/api/v1/connectors/{id}/mcp` (decision 0061).
//!
//! Both eras (DESIGN.md, "MCP: both eras"): 2026-07-28 clients use `server/discover` and
//! self-contained requests (rmcp checks `Mcp-Method` / `Mcp-Name` against the body, and
//! `Accept`: 406 unless it names both JSON and SSE); 2025-era clients `initialize` and get an
//! `Mcp-Session-Id` that is *sealed, not stored* (decision 0030): a random id sealed to the
//! tenant and the gateway or connector, and to which kind of server gave it out
//! ([`ServedBy`]), so any replica can check that a later request's id is one this server gave
//! out (else 404, and the client initializes again). The session carries nothing else: every
//! request is served whole.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use uuid::Uuid;

use super::auth::{authorize, session_id, take_credential};
use super::direct;
use super::gateway::GatewaySource;
use super::listen::{self, Credential};
use super::refusal;
use super::server::{ToolServer, ToolSource};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::{USER_TOKEN_HEADER, user_token};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::proxy::Relayed;
use crate::http::proxy::relay::is_event_stream;
use crate::http::proxy::session::{ServedBy, seal_served_session, served_session_opens};

/// The gateway's MCP endpoint.
#[utoipa::path(
    method(get, post, delete), path = "/api/v1/gateways/{slug}/mcp", tag = "gateways",
    params(
        ("slug" = String, Path, description = "The gateway's slug"),
        ("apiKey" = Option<String>, Query, description = "The key, for clients that cannot set headers (also `api_key`)"),
        ("Mcp-Session-Id" = Option<String>, Header, description = "2025-era: the session id `initialize` gave out"),
        ("X-Switchboard-User-Token" = Option<String>, Header, description = "The caller's own token for this request's calls of REST tools, instead of their connectors' stored credentials (an MCP tool answers a tool error `user_token_unsupported`)"),
    ),
    request_body(content = Option<Object>, description = "A JSON-RPC message (POST)"),
    responses(
        (status = 200, description = "The answer: JSON, or SSE events (one answer; or, for a GET with a 2025-era session and for `subscriptions/listen`, `notifications/tools/list_changed` whenever the gateway's tools change)", content(
            (Object = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "A notification or response, accepted"),
        (status = 400, description = "Not a valid MCP request (a JSON-RPC error, e.g. -32020 `Mcp-Method` mismatch), or a malformed `X-Switchboard-User-Token` (problem `invalid_user_token`)"),
        (status = 401, body = Problem, description = "No key, or not one of this gateway's (unknown, revoked, expired)"),
        (status = 404, body = Problem, description = "No such gateway, or a session id this gateway did not give out"),
        (status = 405, description = "DELETE: this endpoint keeps no session to end (a session id is sealed, not stored)"),
        (status = 406, description = "`Accept` must name both application/json and text/event-stream (a GET: text/event-stream)"),
        (status = 413, body = Problem, description = "The body is over the proxy's limit (`proxy_max_body`)"),
        (status = 429, description = "Over the key's rate at this gateway or the tenant's rate, or (a stream) over the tenant's open streams; `Retry-After` says when to retry. A JSON-RPC request (a POST of JSON) gets a JSON-RPC error (code -32000, its id or null, the problem as `data`; decision 0070), anything else the problem", content(
            (Object = "application/json"), (Problem = "application/problem+json"))),
    ),
    security(("gateway_key" = []), ("api_key" = ["proxy"]))
)]
pub async fn gateway_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = request.into_parts();
    let user_token = user_token(&parts.headers)?;
    parts.headers.remove(USER_TOKEN_HEADER);
    let token = take_credential(&mut parts);
    let authorized = match authorize(&state, &slug, token.as_deref()).await {
        // Other refusals are made before the body is read; a rate limit's answers the
        // request's id (as JSON-RPC), so the body is read first.
        Err(err) if !refusal::is_rate_limited(&err) => return Err(err),
        authorized => authorized,
    };
    let message = Message::read(&state, body).await?;
    let body = message.body.clone();
    let json_rpc = refusal::is_json_rpc(&parts);
    let answer = async {
        let (gateway, caller) = authorized?;
        let served = Served { by: ServedBy::Gateway, tenant_id: gateway.tenant_id, owner_id: gateway.id };
        check_session(&state, &parts, served)?;
        let credential = Credential { state: state.clone(), slug, token };
        // Boxed (here and below): these futures are large, and each would be carried (and
        // copied) by every request's.
        if parts.method == Method::GET {
            return Box::pin(listen::standalone(&state, &parts.headers, served, credential)).await;
        }
        let source = match message.tool() {
            Some(alias) => {
                Box::pin(GatewaySource::for_call(state.gateway(), gateway, caller, alias, user_token)).await?
            }
            None => Box::pin(GatewaySource::load(state.gateway(), gateway, caller, user_token)).await?,
        };
        Box::pin(serve(&state, parts, message, served, source, Some(credential))).await
    };
    match answer.await {
        Err(err) if json_rpc && refusal::is_rate_limited(&err) => Ok(refusal::json_rpc(err, &body)),
        answer => answer,
    }
}

/// A request's body, and its JSON-RPC message (parsed once, here: an `initialize` (2025-era)
/// gets a session id, a `subscriptions/listen` a long-lived stream, a `tools/call` needs only
/// its tool, and may be answered without rmcp, [`direct`]). `None` when the body is no MCP
/// message: rmcp answers that.
pub struct Message {
    body: Bytes,
    parsed: Option<ClientJsonRpcMessage>,
}

impl Message {
    /// The body up to the proxy's limit (a served MCP endpoint takes what the proxy takes);
    /// 413 over it.
    pub async fn read(state: &AppState, body: Body) -> ApiResult<Self> {
        let limit = state.settings.proxy_max_body;
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)?;
        let parsed = serde_json::from_slice(&body).ok();
        Ok(Self { body, parsed })
    }

    fn request(&self) -> Option<&ClientRequest> {
        match &self.parsed {
            Some(JsonRpcMessage::Request(request)) => Some(&request.request),
            _ => None,
        }
    }

    /// The tool a `tools/call` names: the only tool its source needs.
    fn tool(&self) -> Option<&str> {
        match self.request() {
            Some(ClientRequest::CallToolRequest(call)) => Some(&call.params.name),
            _ => None,
        }
    }
}

/// The server a request is for: which kind, and whose (sessions are sealed to it).
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub by: ServedBy,
    pub tenant_id: Uuid,
    pub owner_id: Uuid,
}

/// Fails with 404 when the request names a session this server did not give out.
pub fn check_session(state: &AppState, parts: &Parts, served: Served) -> ApiResult<()> {
    match session_id(&parts.headers) {
        Some(id)
            if !served_session_opens(&state.keyring, served.by, served.tenant_id, served.owner_id, id) =>
        {
            Err(Error::NotFound("session").into())
        }
        _ => Ok(()),
    }
}

/// Answers the request (already authenticated, its session checked, credentials taken out of
/// it) with `source`; an `initialize` that succeeds gets a fresh sealed session id, and a
/// `subscriptions/listen` stream is held open as [`listen::held_open`] says, checking
/// `credential` (a source that announces changes must pass it).
pub async fn serve<S: ToolSource>(
    state: &AppState,
    parts: Parts,
    message: Message,
    served: Served,
    source: S,
    credential: Option<Credential>,
) -> ApiResult<Response> {
    let resumed = session_id(&parts.headers).is_some();
    let initialize = matches!(message.request(), Some(ClientRequest::InitializeRequest(_)));
    let listens = matches!(message.request(), Some(ClientRequest::SubscriptionsListenRequest(_)));
    let Message { body, parsed } = message;
    let plain = parsed.and_then(|parsed| direct::plain_call(&parts, parsed, source.tools()));
    let mut response = match plain {
        Some(call) => direct::answer(source, call).await?,
        None => with_rmcp(state, parts, body, source).await,
    };
    if initialize && !resumed && response.status().is_success() {
        let sealed = seal_served_session(&state.keyring, served.by, served.tenant_id, served.owner_id);
        let value = HeaderValue::from_str(&sealed).expect("a sealed id is visible ASCII");
        response.headers_mut().insert("mcp-session-id", value);
    }
    if response.status().is_success() {
        // Logged at DEBUG, like a proxied answer (decision 0015): one line per tool call.
        response.extensions_mut().insert(Relayed);
    }
    match credential {
        Some(credential) if listens && is_event_stream(response.headers()) => {
            listen::held_open(state, served, credential, response).await
        }
        _ => Ok(response),
    }
}

/// The answer of rmcp's stateless service.
async fn with_rmcp<S: ToolSource>(state: &AppState, parts: Parts, body: Bytes, source: S) -> Response {
    let server = ToolServer(source);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config(state),
    );
    service.handle(Request::from_parts(parts, Body::from(body))).await.map(Body::new)
}

/// Stateless (each request whole, on any replica); JSON answers where the client accepts
/// them; no Host allow-list (that guards servers on a developer's machine against DNS
/// rebinding; this one is reached by its public name and requires a key).
fn config(state: &AppState) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(Some(listen::KEEP_ALIVE))
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.settings.proxy_max_body)
}
