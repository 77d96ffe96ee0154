//! `/api/v1/gateways/{slug}/mcp`: a gateway's MCP endpoint (Streamable HTTP), served by rmcp's
//! server side in stateless mode, behind our own authentication ([`super::auth`]).
//!
//! Both eras (DESIGN.md, "MCP: both eras"): 2026-07-28 clients use `server/discover` and
//! self-contained requests (rmcp checks `Mcp-Method` / `Mcp-Name` against the body);
//! 2025-era clients `initialize` and get an `Mcp-Session-Id` that is *sealed, not stored*
//! (decision 0030): a random id sealed to the tenant and gateway, so any replica can check
//! that a later request's id is one this gateway gave out (else 404, and the client
//! initializes again). The session carries nothing else: every request is served whole.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::HeaderValue;
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::auth::{authorize, session_id, take_credential};
use super::server::GatewayServer;
use crate::error::Error;
use crate::gateway::dispatch;
use crate::http::AppState;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::proxy::session::{gateway_session_opens, seal_gateway_session};

/// The gateway's MCP endpoint.
#[utoipa::path(
    method(get, post, delete), path = "/api/v1/gateways/{slug}/mcp", tag = "gateways",
    params(
        ("slug" = String, Path, description = "The gateway's slug"),
        ("apiKey" = Option<String>, Query, description = "The key, for clients that cannot set headers (also `api_key`)"),
        ("Mcp-Session-Id" = Option<String>, Header, description = "2025-era: the session id `initialize` gave out"),
    ),
    request_body(content = Option<Object>, description = "A JSON-RPC message (POST)"),
    responses(
        (status = 200, description = "The answer: JSON, or one SSE event", content(
            (Object = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "A notification or response, accepted"),
        (status = 400, description = "Not a valid MCP request (a JSON-RPC error, e.g. -32020 `Mcp-Method` mismatch)"),
        (status = 401, body = Problem, description = "No key, or not one of this gateway's (unknown, revoked, expired)"),
        (status = 404, body = Problem, description = "No such gateway, or a session id this gateway did not give out"),
        (status = 405, description = "GET and DELETE: this endpoint keeps no stream or session to open or end"),
        (status = 406, description = "`Accept` must name both application/json and text/event-stream"),
    ),
    security(("gateway_key" = []), ("api_key" = ["proxy"]))
)]
pub async fn gateway_mcp(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = request.into_parts();
    let token = take_credential(&mut parts);
    let (gateway, caller) = authorize(&state, &slug, token.as_deref()).await?;
    let resumed = session_id(&parts.headers).is_some();
    if let Some(id) = session_id(&parts.headers)
        && !gateway_session_opens(&state.keyring, gateway.tenant_id, gateway.id, id)
    {
        return Err(Error::NotFound("session").into());
    }
    let body = axum::body::to_bytes(body, state.settings.max_json_body)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let initialize = is_initialize(&body);
    let ctx = state.gateway();
    let tools = Arc::new(dispatch::exposed_tools(&ctx, &gateway, caller.scopes).await?);
    let (tenant_id, gateway_id) = (gateway.tenant_id, gateway.id);
    let server = GatewayServer { ctx, gateway: Arc::new(gateway), caller, tools };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config(&state),
    );
    let mut response = service.handle(Request::from_parts(parts, Body::from(body))).await.map(Body::new);
    if initialize && !resumed && response.status().is_success() {
        let sealed = seal_gateway_session(&state.keyring, tenant_id, gateway_id);
        let value = HeaderValue::from_str(&sealed).expect("a sealed id is visible ASCII");
        response.headers_mut().insert("mcp-session-id", value);
    }
    Ok(response)
}

/// Stateless (each request whole, on any replica); JSON answers where the client accepts
/// them; no Host allow-list (that guards servers on a developer's machine against DNS
/// rebinding; this one is reached by its public name and requires a key).
fn config(state: &AppState) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.settings.max_json_body)
}

/// Whether the body is an `initialize` request (2025-era), which gets a session id.
fn is_initialize(body: &Bytes) -> bool {
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<&'a str>,
    }
    serde_json::from_slice::<Method>(body).is_ok_and(|m| m.method == Some("initialize"))
}
