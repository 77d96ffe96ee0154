//! A pooled Streamable HTTP session's `tools/call` in one POST from the caller's own task
//! (decision 0074).
//!
//! rmcp's client hands every request from the caller to its service loop, to its transport
//! worker, to a task per response stream and back (channels and wake-ups between the caller
//! and the socket), which a gateway pays on every call. Once rmcp has sent one `tools/call`
//! in a session, [`Framing`] holds how it framed it — the session id, the protocol headers,
//! the request's `_meta` — and later calls reuse that framing, sent through [`super::send`]
//! (credentials, refresh, SSRF guard as for every request) and their answer read here with
//! rmcp's own message types. rmcp stays the session's owner: it opened it, and it makes the
//! calls this path hands back ([`Sent::Declined`]): an expired session (it initialises
//! again), an `input_required` result (it drives the rounds), a tool whose arguments become
//! headers (it builds them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};
use reqwest::{Method, StatusCode};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, ClientResult, EmptyResult, ErrorCode,
    ErrorData, JsonObject, JsonRpcMessage, JsonRpcRequest, JsonRpcResponse, JsonRpcVersion2_0, RequestId,
    RequestMetaObject, ServerJsonRpcMessage, ServerNotification, ServerRequest, ServerResult,
};
use serde::{Deserialize, Serialize};

use super::mcp_client::{
    Link, MAX_MESSAGE, SESSION_HEADER, SessionHandler, answered_error, content_type, error_in, protocol_error,
};
use crate::error::{Error, Result};
use crate::platform::net::read_capped;
use crate::platform::sse;

const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");
/// How long the rest of a call's stream is read after its answer, at most ([`finish`]).
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// How rmcp framed a session's `tools/call`: what every later call carries.
pub(crate) struct Framing {
    session_id: Option<HeaderValue>,
    /// The protocol headers (`MCP-Protocol-Version`), without the per-message ones.
    headers: HeaderMap,
    /// Whether the call carried the standard headers `Mcp-Method` and `Mcp-Name`
    /// (2026-07-28, SEP-2243).
    method_header: bool,
    name_header: bool,
    /// The request's `_meta` (2026-07-28: protocol version, client info and capabilities),
    /// without its progress token, which is per request.
    meta: Option<RequestMetaObject>,
}

/// A session's framing, once learnt, and the ids of the calls sent with it.
#[derive(Default)]
pub(crate) struct Framings {
    learnt: Mutex<Option<Arc<Framing>>>,
    next_id: AtomicU64,
}

impl Framings {
    /// Learns the framing from a `tools/call` rmcp is sending (`body`, as it serialised it:
    /// rmcp adds the `_meta` while it does): each one (a re-initialised session's new id
    /// replaces the old).
    pub(crate) fn learn(
        &self,
        session_id: Option<&str>,
        custom: &HashMap<HeaderName, HeaderValue>,
        body: &[u8],
    ) {
        let session_id = session_id.and_then(|id| HeaderValue::from_str(id).ok());
        let per_message = |name: &HeaderName| {
            name == METHOD_HEADER || name == NAME_HEADER || name.as_str().starts_with("mcp-param-")
        };
        let headers: HeaderMap = custom
            .iter()
            .filter(|(name, _)| !per_message(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let (method_header, name_header) =
            (custom.contains_key(&METHOD_HEADER), custom.contains_key(&NAME_HEADER));
        let sent = serde_json::from_slice::<SentByRmcp>(body).ok();
        let meta = sent.and_then(|sent| sent.params.meta).map(|mut meta| {
            meta.0.0.remove("progressToken");
            meta
        });
        let framing = Framing { session_id, headers, method_header, name_header, meta };
        *self.learnt.lock().expect("framing") = Some(Arc::new(framing));
    }

    pub(crate) fn learnt(&self) -> Option<Arc<Framing>> {
        self.learnt.lock().expect("framing").clone()
    }

    /// Ids of their own kind: they never meet rmcp's numbers in the same session.
    fn next_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        RequestId::String(format!("switchboard-{n}").into())
    }
}

/// What came of a call sent this way.
pub(crate) enum Sent {
    Answered(Result<CallToolResult>),
    /// Not this path's to finish; rmcp makes the call (nothing of it was processed, or what
    /// was is a round rmcp repeats).
    Declined,
}

/// The `_meta` of a request rmcp sent.
#[derive(Deserialize)]
struct SentByRmcp {
    params: SentParams,
}

#[derive(Deserialize)]
struct SentParams {
    #[serde(rename = "_meta")]
    meta: Option<RequestMetaObject>,
}

/// The body of a `tools/call` as rmcp's [`CallToolRequestParams`] serialises, borrowed.
#[derive(Serialize)]
struct CallBody<'a> {
    method: &'static str,
    params: CallParams<'a>,
}

#[derive(Serialize)]
struct CallParams<'a> {
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<&'a RequestMetaObject>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a JsonObject>,
}

/// Sends `params` framed as `framing` says and reads the answer to it; `handler` hears the
/// list changes announced on the way.
pub(crate) async fn call(
    link: &Link,
    framing: &Framing,
    params: &CallToolRequestParams,
    handler: &SessionHandler,
) -> Sent {
    let id = link.framings.next_id();
    let meta = framing.meta.as_ref();
    let params = CallParams { meta, name: &params.name, arguments: params.arguments.as_ref() };
    let request = JsonRpcRequest {
        jsonrpc: JsonRpcVersion2_0,
        id: id.clone(),
        request: CallBody { method: "tools/call", params },
    };
    let body = match serde_json::to_vec(&request) {
        Ok(body) => Bytes::from(body),
        Err(e) => return Sent::Answered(Err(Error::Internal(e.into()))),
    };
    // A name that is no header value is rmcp's to frame (or refuse).
    let Ok(headers) = call_headers(framing, request.request.params.name) else { return Sent::Declined };
    let response = match link.send_own(Method::POST, link.url(), headers, body).await {
        Ok(response) => response,
        Err(e) => return Sent::Answered(Err(e)),
    };
    let status = response.status();
    if status == StatusCode::NOT_FOUND && framing.session_id.is_some() {
        return Sent::Declined;
    }
    if !status.is_success() {
        return Sent::Answered(Err(refused(response).await));
    }
    let answer = if content_type(&response).starts_with("text/event-stream") {
        from_stream(link, framing, response, &id, handler).await
    } else {
        from_json(response, &id).await
    };
    match answer {
        Ok(ServerResult::InputRequiredResult(_)) => Sent::Declined,
        Ok(ServerResult::CallToolResult(result)) => Sent::Answered(Ok(result)),
        Ok(_) => {
            Sent::Answered(Err(protocol_error("the upstream answered tools/call with another result".into())))
        }
        Err(e) => Sent::Answered(Err(e)),
    }
}

/// The headers of any message of ours in the session.
fn headers(framing: &Framing) -> HeaderMap {
    let mut headers = framing.headers.clone();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(session) = &framing.session_id {
        headers.insert(SESSION_HEADER, session.clone());
    }
    headers
}

/// The headers of a call of tool `name`.
fn call_headers(framing: &Framing, name: &str) -> std::result::Result<HeaderMap, InvalidHeaderValue> {
    let mut headers = headers(framing);
    if framing.method_header {
        headers.insert(METHOD_HEADER, HeaderValue::from_static("tools/call"));
    }
    if framing.name_header {
        headers.insert(NAME_HEADER, HeaderValue::from_str(name)?);
    }
    Ok(headers)
}

/// An error status: the JSON-RPC error in it when there is one.
async fn refused(response: reqwest::Response) -> Error {
    let status = response.status();
    match error_in(response).await {
        Some(error) => answered_error(&error),
        None => protocol_error(format!("the upstream answered HTTP {}", status.as_u16())),
    }
}

/// A JSON answer: the response to `id`.
async fn from_json(response: reqwest::Response, id: &RequestId) -> Result<ServerResult> {
    let body = read_capped(response, MAX_MESSAGE).await?;
    if let Some(result) = call_result(&body, id) {
        return Ok(ServerResult::CallToolResult(result));
    }
    let message = serde_json::from_slice::<ServerJsonRpcMessage>(&body)
        .map_err(|e| protocol_error(format!("the upstream's answer is not an MCP message: {e}")))?;
    match answer_to(message, id) {
        Some(answer) => answer,
        None => Err(protocol_error("the upstream's answer is not the call's".into())),
    }
}

/// An SSE answer: its events until the response to `id`; server requests on the way are
/// answered, list changes passed to `handler`, other notifications (progress, log
/// messages) dropped, as rmcp's client does with our handler.
async fn from_stream(
    link: &Link,
    framing: &Framing,
    response: reqwest::Response,
    id: &RequestId,
    handler: &SessionHandler,
) -> Result<ServerResult> {
    let mut events = sse::Reader::new(response);
    loop {
        let event =
            events.next().await.map_err(|e| protocol_error(format!("reading the answer failed: {e}")))?;
        let Some(event) = event else {
            return Err(protocol_error("the upstream ended the call's stream without an answer".into()));
        };
        if let Some(result) = call_result(event.data.as_bytes(), id) {
            finish(events);
            return Ok(ServerResult::CallToolResult(result));
        }
        // Priming events and keep-alives carry no message.
        let Ok(message) = serde_json::from_str::<ServerJsonRpcMessage>(&event.data) else { continue };
        match message {
            JsonRpcMessage::Notification(n) => {
                if matches!(n.notification, ServerNotification::ToolListChangedNotification(_)) {
                    handler.list_changed();
                }
            }
            JsonRpcMessage::Request(request) => reply(link, framing, request),
            answer => {
                if let Some(answer) = answer_to(answer, id) {
                    finish(events);
                    return answer;
                }
            }
        }
    }
}

/// Reads the rest of a call's stream after its answer (rmcp's server, like most, ends it
/// right after) so that its connection goes back to the pool: a response dropped before its
/// end closes the connection, and a later call opens another — about one call in twenty at
/// c=32 in the gateway bench. In the background when the end has not arrived yet; given up
/// after [`FINISH_WITHIN`] or [`MAX_MESSAGE`] more bytes.
fn finish(mut events: sse::Reader) {
    match events.next().now_or_never() {
        Some(Ok(None) | Err(_)) => {}
        None | Some(Ok(Some(_))) => {
            events.limit(MAX_MESSAGE);
            tokio::spawn(tokio::time::timeout(FINISH_WITHIN, async move {
                while let Ok(Some(_)) = events.next().await {}
            }));
        }
    }
}

/// The call's complete result, when `message` is the response to `id` with one: read
/// straight into its type, the answer nearly every call gets. rmcp's `ServerResult` is
/// untagged: reading one buffers the message and tries its kinds in turn, each failure a
/// formatted error. Anything else (an error, `input_required`, another message) is read as
/// rmcp's `ServerJsonRpcMessage`.
fn call_result(message: &[u8], id: &RequestId) -> Option<CallToolResult> {
    let response = serde_json::from_slice::<JsonRpcResponse<CallToolResult>>(message).ok()?;
    (response.id == *id).then_some(response.result)
}

/// The result or error in `message` when it answers `id`.
fn answer_to(message: ServerJsonRpcMessage, id: &RequestId) -> Option<Result<ServerResult>> {
    match message {
        JsonRpcMessage::Response(response) if response.id == *id => Some(Ok(response.result)),
        JsonRpcMessage::Error(error) if error.id.as_ref().is_none_or(|e| e == id) => {
            Some(Err(answered_error(&error.error)))
        }
        _ => None,
    }
}

/// Answers a server's request made during the call, as our handler would: a ping, else
/// "method not found" (we declare no client capabilities). In the background, best effort.
fn reply(link: &Link, framing: &Framing, request: JsonRpcRequest<ServerRequest>) {
    let answer = match request.request {
        ServerRequest::PingRequest(_) => {
            ClientJsonRpcMessage::response(ClientResult::EmptyResult(EmptyResult {}), request.id)
        }
        _ => {
            let unsupported =
                ErrorData::new(ErrorCode::METHOD_NOT_FOUND, "not supported by this client", None);
            ClientJsonRpcMessage::error(unsupported, Some(request.id))
        }
    };
    let Ok(body) = serde_json::to_vec(&answer) else { return };
    let headers = headers(framing);
    let link = link.clone();
    tokio::spawn(async move {
        let _ = link.send_own(Method::POST, link.url(), headers, body.into()).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framing_keeps_the_session_and_protocol_and_drops_what_is_per_message() {
        let custom: HashMap<HeaderName, HeaderValue> = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "first"),
            ("mcp-param-region", "eu"),
        ]
        .into_iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect();
        let meta = r#"{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "progressToken": 3}"#;
        let body = format!(
            r#"{{"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {{"_meta": {meta}}}}}"#
        );
        let framings = Framings::default();
        framings.learn(Some("s-1"), &custom, body.as_bytes());
        let framing = framings.learnt().unwrap();
        let headers = call_headers(&framing, "second").unwrap();
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert!(!names.iter().any(|n| n.starts_with("mcp-param-")), "{names:?}");
        assert_eq!(headers["mcp-name"], "second");
        assert_eq!(headers["mcp-method"], "tools/call");
        assert_eq!(headers["mcp-session-id"], "s-1");
        assert_eq!(headers["mcp-protocol-version"], "2026-07-28");
        let meta = serde_json::to_value(framing.meta.as_ref().unwrap()).unwrap();
        assert_eq!(meta, serde_json::json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"}));
        assert_ne!(framings.next_id(), framings.next_id());

        // A 2025-era call names no method or tool in headers; neither does a call after it.
        framings.learn(None, &HashMap::new(), br#"{"params": {}}"#);
        let headers = call_headers(&framings.learnt().unwrap(), "x").unwrap();
        assert!(headers.get("mcp-name").is_none() && headers.get("mcp-session-id").is_none());
    }
}
