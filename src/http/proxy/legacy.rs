//! The legacy HTTP+SSE transport (2024-11-05): `GET …/sse` opens the upstream stream with
//! the connector's credential; its first `endpoint` event is rewritten to our own messages
//! URL (relative, so it resolves against whatever URL the caller used), carrying a sealed
//! session token; every other byte passes through unchanged. `POST …/messages?session=…`
//! opens the token and forwards to the upstream's message URL.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Deserialize;
use url::Url;

use super::relay::{Relay, admit, admit_stream, mark_streaming, read_body, relay, relay_body};
use super::{resolve, session};

use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::ApiQuery;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::mcp::Transport;
use crate::mcp::legacy::{is_endpoint, message_endpoint};
use crate::platform::crypto::Keyring;
use crate::platform::sse;
use crate::upstream::headers;
use crate::upstream::send::send;
use crate::upstream::target::Target;

/// Longest prefix of a stream we hold while waiting for the `endpoint` event.
const MAX_PREAMBLE: usize = 64 * 1024;

/// The legacy HTTP+SSE transport (2024-11-05): the upstream's event stream, its `endpoint`
/// event pointing at our messages URL with a sealed session.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/sse", tag = "proxy",
    params(("id" = Uuid, Path, description = "The connector")),
    responses(
        (status = 200, description = "The upstream's event stream", content_type = "text/event-stream", body = String),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`connector_not_connected`, `wrong_transport`"),
        (status = 502, body = Problem), (status = 504, body = Problem),
        (status = "default", description = "Any other status is the upstream's own, relayed"),
    ),
    security(("api_key" = ["proxy"]))
)]
pub async fn open_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    incoming: HeaderMap,
) -> ApiResult<Response> {
    let upstream = state.upstream();
    let (target, _) = resolve(&state, &upstream, &incoming, &id, Transport::Sse).await?;
    let permit = admit_stream(&state, &target).await?;
    let mut request_headers = incoming.clone();
    request_headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    let url = target.url.clone();
    let response = send(&upstream, target.clone(), Method::GET, &url, &request_headers, Bytes::new()).await?;
    let how = Relay { transport: Transport::Sse, standalone: Some(permit) };
    if !response.status().is_success() {
        return Ok(relay(&state, response, how));
    }
    let status = response.status();
    let mut response_headers = headers::caller_response(response.headers());
    let sse = mark_streaming(&mut response_headers);
    let mut rewriter = EndpointRewriter::new(state.keyring.clone(), &target);
    let rewritten = response.bytes_stream().map(move |chunk| rewriter.push(chunk.map_err(io::Error::other)?));
    Ok((status, response_headers, relay_body(&state, Body::from_stream(rewritten), sse, how)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// From the stream's `endpoint` event.
    session: String,
}

/// A message for a legacy SSE session, forwarded to the upstream's message URL.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/messages", tag = "proxy",
    params(("id" = Uuid, Path, description = "The connector"), SessionQuery),
    request_body(content = Object, description = "A JSON-RPC message, forwarded byte for byte"),
    responses(
        (status = 202, description = "Accepted; the answer arrives on the stream"),
        (status = 404, body = Problem, description = "No such connector, or a session not given out for it"),
        (status = 409, body = Problem), (status = 502, body = Problem), (status = 504, body = Problem),
        (status = "default", description = "Any other status is the upstream's own, relayed"),
    ),
    security(("api_key" = ["proxy"]))
)]
pub async fn post_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SessionQuery>,
    incoming: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let upstream = state.upstream();
    let (target, _) = resolve(&state, &upstream, &incoming, &id, Transport::Sse).await?;
    admit(&state, &target).await?;
    let endpoint =
        session::open_endpoint(&state.keyring, target.tenant_id, target.connector_id, &query.session)
            .filter(|u| u.origin() == target.url.origin())
            .ok_or(ApiError::from(Error::NotFound("session")))?;
    let body = read_body(body, state.settings.proxy_max_body).await?;
    let response = send(&upstream, target, Method::POST, &endpoint, &incoming, body).await?;
    Ok(relay(&state, response, Relay { transport: Transport::Sse, standalone: None }))
}

/// Rewrites the first `endpoint` event of a stream; passes everything else through as is.
struct EndpointRewriter {
    keyring: std::sync::Arc<Keyring>,
    tenant_id: uuid::Uuid,
    connector_id: uuid::Uuid,
    upstream_sse: Url,
    parser: sse::Parser,
    /// Bytes of blocks not yet released (only until the endpoint event is seen).
    pending: Vec<u8>,
    /// Where `pending` starts in the stream.
    released: usize,
    done: bool,
}

impl EndpointRewriter {
    fn new(keyring: std::sync::Arc<Keyring>, target: &Target) -> Self {
        Self {
            keyring,
            tenant_id: target.tenant_id,
            connector_id: target.connector_id,
            upstream_sse: target.url.clone(),
            parser: sse::Parser::default(),
            pending: Vec::new(),
            released: 0,
            done: false,
        }
    }

    fn push(&mut self, chunk: Bytes) -> io::Result<Bytes> {
        if self.done {
            return Ok(chunk); // the fast path: after the endpoint event, bytes flow untouched
        }
        self.pending.extend_from_slice(&chunk);
        let frames = self.parser.push_frames(&chunk).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(self.pending.len());
        for frame in frames {
            let block: Vec<u8> = self.pending.drain(..frame.end - self.released).collect();
            self.released = frame.end;
            match frame.event.filter(is_endpoint) {
                Some(endpoint) => {
                    out.extend_from_slice(self.replacement(&endpoint.data)?.as_bytes());
                    out.append(&mut self.pending);
                    self.done = true;
                    break;
                }
                None => out.extend_from_slice(&block),
            }
        }
        if self.pending.len() > MAX_PREAMBLE {
            return Err(io::Error::other("the upstream sent no endpoint event"));
        }
        Ok(out.into())
    }

    /// Our `endpoint` event for the upstream's: its message URL, sealed into our own.
    fn replacement(&self, data: &str) -> io::Result<String> {
        // The upstream may only point at its own origin: our credential goes there.
        let upstream = message_endpoint(&self.upstream_sse, data).map_err(io::Error::other)?;
        let token = session::seal_endpoint(&self.keyring, self.tenant_id, self.connector_id, &upstream);
        Ok(format!("event: endpoint\ndata: messages?session={token}\n\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> (EndpointRewriter, std::sync::Arc<Keyring>) {
        let keyring = std::sync::Arc::new(Keyring::parse(&Keyring::generate_entry("k")).unwrap());
        let r = EndpointRewriter {
            keyring: keyring.clone(),
            tenant_id: uuid::Uuid::now_v7(),
            connector_id: uuid::Uuid::now_v7(),
            upstream_sse: Url::parse("https://mcp.example.com/v1/sse").unwrap(),
            parser: sse::Parser::default(),
            pending: Vec::new(),
            released: 0,
            done: false,
        };
        (r, keyring)
    }

    #[test]
    fn only_the_endpoint_event_changes_and_other_bytes_pass_exactly() {
        let (mut r, keyring) = rewriter();
        let mut out = Vec::new();
        for chunk in [
            &b": hello\r\n\r\nretry: 3000\n"[..],
            b"\nevent: endp",
            b"oint\ndata: /messages?s=1\n\nid: 7\n",
            b"data: {\"x\":\ndata: 1}\n\n",
        ] {
            out.extend_from_slice(&r.push(Bytes::copy_from_slice(chunk)).unwrap());
        }
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(": hello\r\n\r\nretry: 3000\n\nevent: endpoint\ndata: messages?session="),
            "{text}"
        );
        assert!(text.ends_with("\n\nid: 7\ndata: {\"x\":\ndata: 1}\n\n"), "{text}");
        let token = text.split("session=").nth(1).unwrap().split('\n').next().unwrap();
        let opened = session::open_endpoint(&keyring, r.tenant_id, r.connector_id, token).unwrap();
        assert_eq!(opened.as_str(), "https://mcp.example.com/messages?s=1");
    }

    #[test]
    fn endpoints_on_another_origin_end_the_stream() {
        let (mut r, _) = rewriter();
        assert!(
            r.push(Bytes::from_static(b"event: endpoint\ndata: https://evil.example.com/m\n\n")).is_err()
        );
    }
}
