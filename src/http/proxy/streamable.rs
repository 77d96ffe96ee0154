//! Streamable HTTP: `POST | GET | DELETE …/connectors/{id}/mcp`, forwarded as is, except
//! that the upstream's `Mcp-Session-Id` is sealed to the tenant and connector on its way to
//! the caller and opened on its way back (`session`). A REST connector has no upstream MCP
//! server: Switchboard serves this endpoint itself (`mcp_server::rest`).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::Response;
use uuid::Uuid;

use super::relay::{Relay, admit, admit_stream, read_body, relay};
use super::session::ServedBy;
use super::{resolve, session};

use crate::catalog::service::CallerRef;
use crate::http::AppState;
use crate::http::extract::{USER_TOKEN_HEADER, user_token};
use crate::http::mcp_server::endpoint::{self, Served};
use crate::http::mcp_server::rest::RestSource;
use crate::http::problem::{ApiResult, Problem};
use crate::mcp::Transport;
use crate::upstream::send::send;
use crate::upstream::target::Target;

/// The MCP endpoint of a Streamable HTTP connector: every message is forwarded to the
/// upstream with the connector's credential, and its answer streamed back as it comes (JSON
/// or `text/event-stream`). `GET` opens the standalone stream, `DELETE` ends the session.
/// A REST connector's endpoint is Switchboard's own MCP server over the connector's tools
/// (both eras, like a gateway's: `initialize` with a sealed session id, or `server/discover`
/// and stateless requests).
#[utoipa::path(
    method(get, post, delete), path = "/api/v1/connectors/{id}/mcp", tag = "proxy",
    params(
        ("id" = Uuid, Path, description = "The connector"),
        ("Mcp-Session-Id" = Option<String>, Header, description = "The session id this endpoint gave out (the upstream's, sealed; a REST connector's own, sealed)"),
        ("X-Switchboard-User-Token" = Option<String>, Header, description = "REST connectors: the caller's own token for this request's tool calls, instead of the stored credential; an MCP connector answers 422 `user_token_unsupported`"),
    ),
    request_body(content = Option<Object>, description = "A JSON-RPC message (POST), forwarded byte for byte"),
    responses(
        (status = 200, description = "The upstream's answer", content(
            (Object = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "Accepted by the upstream (a notification or a response)"),
        (status = 404, body = Problem, description = "No such connector, or a session id not given out for it"),
        (status = 405, description = "REST connectors: GET and DELETE (no stream or session to open or end)"),
        (status = 406, description = "REST connectors: `Accept` must name both application/json and text/event-stream"),
        (status = 400, body = Problem, description = "`invalid_user_token`: a malformed `X-Switchboard-User-Token`"),
        (status = 409, body = Problem, description = "`connector_not_connected`, `wrong_transport`"),
        (status = 422, body = Problem, description = "`user_token_unsupported`: a user token for an MCP connector"),
        (status = 502, body = Problem, description = "The upstream failed: unreachable, `upstream_redirect`, credential failures"),
        (status = 504, body = Problem),
        (status = "default", description = "Any other status is the upstream's own, relayed with its body"),
    ),
    security(("api_key" = ["proxy"]))
)]
pub async fn mcp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = request.into_parts();
    let upstream = state.upstream();
    let (target, key_id) = resolve(&state, &upstream, &parts.headers, &id, Transport::StreamableHttp).await?;
    if target.rest.is_some() {
        // Boxed: the MCP server's future is large, and a proxied request's would carry it.
        return Box::pin(serve_rest(&state, parts, body, &target, key_id)).await;
    }
    let (tenant_id, connector_id) = (target.tenant_id, target.connector_id);
    session::open_session_header(&state.keyring, tenant_id, connector_id, &mut parts.headers)?;
    // A GET opens the standalone stream, which lasts; everything else is a request.
    let standalone = match parts.method {
        Method::GET => Some(admit_stream(&state, &target).await?),
        _ => {
            admit(&state, &target).await?;
            None
        }
    };
    let body = read_body(body, state.settings.proxy_max_body).await?;
    let url = target.url.clone();
    let response = send(&upstream, target, parts.method, &url, &parts.headers, body).await?;
    let mut relayed = relay(&state, response, Relay { transport: Transport::StreamableHttp, standalone });
    session::seal_session_header(&state.keyring, tenant_id, connector_id, relayed.headers_mut());
    Ok(relayed)
}

/// A REST connector's MCP endpoint, which Switchboard serves itself: its catalog's tools,
/// both eras, sessions sealed to the connector (`endpoint`). The caller's key and user token
/// leave the request before rmcp sees it; the token goes with every call of the request.
async fn serve_rest(
    state: &AppState,
    mut parts: Parts,
    body: Body,
    target: &Target,
    api_key_id: Uuid,
) -> ApiResult<Response> {
    parts.headers.remove(AUTHORIZATION);
    let user_token = user_token(&parts.headers)?;
    parts.headers.remove(USER_TOKEN_HEADER);
    let (tenant_id, owner_id) = (target.tenant_id, target.connector_id);
    let served = Served { by: ServedBy::RestConnector, tenant_id, owner_id };
    endpoint::check_session(state, &parts, served)?;
    admit(state, target).await?;
    let caller = CallerRef { tenant_id, api_key_id };
    let source = RestSource::load(state.catalog(), caller, target, user_token).await?;
    let message = endpoint::Message::read(state, body).await?;
    endpoint::serve(state, parts, message, served, source, None).await
}
