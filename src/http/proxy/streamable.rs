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
use crate::http::problem::ApiResult;
use crate::mcp::Transport;
use crate::upstream::send::send;

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
