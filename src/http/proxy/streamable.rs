//! Streamable HTTP: `POST | GET | DELETE …/connectors/{id}/mcp`, forwarded as is.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::relay::{Relay, admit, admit_stream, read_body, relay};
use super::resolve;
use crate::http::AppState;
use crate::http::problem::ApiResult;
use crate::mcp::Transport;
use crate::upstream::send::send;

pub async fn mcp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    incoming: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let upstream = state.upstream();
    let target = resolve(&state, &upstream, &incoming, &id, Transport::StreamableHttp).await?;
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
    Ok(relay(&state, response, Relay { transport: Transport::StreamableHttp, standalone }))
}
