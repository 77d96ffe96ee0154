//! Streamable HTTP: `POST | GET | DELETE …/connectors/{id}/mcp`, forwarded as is, except
//! that the upstream's `Mcp-Session-Id` is sealed to the tenant and connector on its way to
//! the caller and opened on its way back (`session`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::relay::{Relay, admit, admit_stream, read_body, relay};
use super::{resolve, session};

use crate::http::AppState;
use crate::http::problem::{ApiResult, Problem};
use crate::mcp::Transport;
use crate::upstream::send::send;

/// The MCP endpoint of a Streamable HTTP connector: every message is forwarded to the
/// upstream with the connector's credential, and its answer streamed back as it comes (JSON
/// or `text/event-stream`). `GET` opens the standalone stream, `DELETE` ends the session.
#[utoipa::path(
    method(get, post, delete), path = "/api/v1/connectors/{id}/mcp", tag = "proxy",
    params(
        ("id" = Uuid, Path, description = "The connector"),
        ("Mcp-Session-Id" = Option<String>, Header, description = "The session id this endpoint gave out (the upstream's, sealed)"),
    ),
    request_body(content = Option<Object>, description = "A JSON-RPC message (POST), forwarded byte for byte"),
    responses(
        (status = 200, description = "The upstream's answer", content(
            (Object = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "Accepted by the upstream (a notification or a response)"),
        (status = 404, body = Problem, description = "No such connector, or a session id not given out for it"),
        (status = 409, body = Problem, description = "`connector_not_connected`, `wrong_transport`"),
        (status = 502, body = Problem, description = "The upstream failed: unreachable, `upstream_redirect`, credential failures"),
        (status = 504, body = Problem),
        (status = "default", description = "Any other status is the upstream's own, relayed with its body"),
    ),
    security(("api_key" = ["proxy"]))
)]
pub async fn mcp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    mut incoming: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let upstream = state.upstream();
    let target = resolve(&state, &upstream, &incoming, &id, Transport::StreamableHttp).await?;
    let (tenant_id, connector_id) = (target.tenant_id, target.connector_id);
    session::open_session_header(&state.keyring, tenant_id, connector_id, &mut incoming)?;
    // A GET opens the standalone stream, which lasts; everything else is a request.
    let standalone = match method {
        Method::GET => Some(admit_stream(&state, &target).await?),
        _ => {
            admit(&state, &target).await?;
            None
        }
    };
    let body = read_body(body, state.settings.proxy_max_body).await?;
    let url = target.url.clone();
    let response = send(&upstream, target, method, &url, &incoming, body).await?;
    let mut relayed = relay(&state, response, Relay { transport: Transport::StreamableHttp, standalone });
    session::seal_session_header(&state.keyring, tenant_id, connector_id, relayed.headers_mut());
    Ok(relayed)
}
