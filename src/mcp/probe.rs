//! The MCP `initialize` probe: does the upstream answer, and does it want credentials?
//!
//! Streamable HTTP: POST `initialize`, read a JSON or SSE answer. Legacy HTTP+SSE: GET the
//! stream, wait for the `endpoint` event (same origin only), POST `initialize` there, and
//! read the answer from the stream. A server-issued session is ended right after.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::{PROTOCOL_VERSION, ServerInfo};
use crate::mcp::Transport;
use crate::platform::challenge::{self, Challenge};
use crate::platform::net::{MAX_CONTROL_BODY, NetError, Outbound, next_chunk, read_capped};
use crate::platform::sse;

const INITIALIZE_ID: i64 = 1;
const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Debug)]
pub enum ProbeOutcome {
    /// The server initialised; here is what it said.
    Ready(ServerInfo),
    /// 401 or 403: credentials are missing or not good enough.
    AuthRequired { status: StatusCode, challenges: Vec<Challenge> },
    /// Any other non-success status.
    Refused { status: StatusCode },
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the server's answer to initialize was not valid MCP: {0}")]
    Protocol(String),
}

fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": INITIALIZE_ID,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "switchboard", "version": env!("CARGO_PKG_VERSION") }
        }
    })
}

/// Runs the probe with `auth` (credential headers, possibly empty) on every request.
pub async fn initialize(
    net: &Outbound,
    url: &Url,
    transport: Transport,
    auth: &HeaderMap,
) -> Result<ProbeOutcome, ProbeError> {
    match transport {
        Transport::StreamableHttp => streamable(net, url, auth).await,
        Transport::Sse => legacy_sse(net, url, auth).await,
    }
}

fn unsuccessful(response: &Response) -> Option<ProbeOutcome> {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let values = response.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
        return Some(ProbeOutcome::AuthRequired { status, challenges: challenge::parse(values) });
    }
    (!status.is_success()).then_some(ProbeOutcome::Refused { status })
}

async fn streamable(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<ProbeOutcome, ProbeError> {
    let request = net
        .request(Method::POST, url)?
        .headers(auth.clone())
        .header(ACCEPT, "application/json, text/event-stream")
        .json(&initialize_request());
    let response = net.send(request).await?;
    if let Some(outcome) = unsuccessful(&response) {
        return Ok(outcome);
    }
    let session = response.headers().get(SESSION_HEADER).cloned();
    let is_sse = content_type(&response).starts_with("text/event-stream");
    let mut response = response;
    let result = if is_sse {
        read_result_from_stream(&mut response, &mut sse::Parser::default()).await?
    } else {
        let body = read_capped(response, MAX_CONTROL_BODY).await?;
        let message: Value =
            serde_json::from_slice(&body).map_err(|e| ProbeError::Protocol(e.to_string()))?;
        initialize_result(&message)?.ok_or_else(|| ProbeError::Protocol("no initialize result".into()))?
    };
    if let Some(session) = session {
        end_session(net, url, auth, session);
    }
    Ok(ProbeOutcome::Ready(result))
}

/// Ends the session the probe opened, in the background: best effort, never awaited.
fn end_session(net: &Outbound, url: &Url, auth: &HeaderMap, session: reqwest::header::HeaderValue) {
    let Ok(request) = net.request(Method::DELETE, url) else { return };
    let request = request.headers(auth.clone()).header(SESSION_HEADER, session);
    let net = net.clone();
    tokio::spawn(async move {
        let _ = net.send(request).await;
    });
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Reads SSE events until the `initialize` response arrives.
async fn read_result_from_stream(
    response: &mut Response,
    parser: &mut sse::Parser,
) -> Result<ServerInfo, ProbeError> {
    let mut read = 0;
    while let Some(chunk) = next_chunk(response).await? {
        read += chunk.len();
        if read > MAX_CONTROL_BODY {
            return Err(NetError::TooLarge(MAX_CONTROL_BODY).into());
        }
        for event in parser.push(&chunk).map_err(|e| ProbeError::Protocol(e.to_string()))? {
            if let Some(info) = result_in_event(&event)? {
                return Ok(info);
            }
        }
    }
    Err(ProbeError::Protocol("the stream ended before the initialize result".into()))
}

fn result_in_event(event: &sse::Event) -> Result<Option<ServerInfo>, ProbeError> {
    if event.event.as_deref().is_some_and(|e| e != "message") {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(&event.data) {
        Ok(message) => initialize_result(&message),
        Err(_) => Ok(None), // not JSON: not our response
    }
}

/// The server info from a JSON-RPC message if it is the response to our `initialize`.
fn initialize_result(message: &Value) -> Result<Option<ServerInfo>, ProbeError> {
    if message.get("id").and_then(Value::as_i64) != Some(INITIALIZE_ID) {
        return Ok(None);
    }
    if let Some(error) = message.get("error") {
        let text = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
        return Err(ProbeError::Protocol(format!("initialize failed: {text}")));
    }
    let result =
        message.get("result").ok_or_else(|| ProbeError::Protocol("response has no result".into()))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let info = result.get("serverInfo");
    Ok(Some(ServerInfo {
        name: text(info.and_then(|i| i.get("name"))),
        title: text(info.and_then(|i| i.get("title"))),
        version: text(info.and_then(|i| i.get("version"))),
        protocol_version: text(result.get("protocolVersion")),
        capabilities: result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
    }))
}

async fn legacy_sse(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<ProbeOutcome, ProbeError> {
    let request = net.request(Method::GET, url)?.headers(auth.clone()).header(ACCEPT, "text/event-stream");
    let mut stream = net.send(request).await?;
    if let Some(outcome) = unsuccessful(&stream) {
        return Ok(outcome);
    }
    let mut parser = sse::Parser::default();
    let mut pending = Vec::new();
    let endpoint = loop {
        if let Some(event) = pending.iter().position(|e: &sse::Event| e.event.as_deref() == Some("endpoint"))
        {
            break message_endpoint(url, &pending.remove(event).data)?;
        }
        let chunk = next_chunk(&mut stream)
            .await?
            .ok_or_else(|| ProbeError::Protocol("the stream ended before the endpoint event".into()))?;
        pending.extend(parser.push(&chunk).map_err(|e| ProbeError::Protocol(e.to_string()))?);
    };
    let post = net.request(Method::POST, &endpoint)?.headers(auth.clone()).json(&initialize_request());
    let posted = net.fetch(post, MAX_CONTROL_BODY).await?;
    if !posted.status.is_success() {
        return Ok(ProbeOutcome::Refused { status: posted.status });
    }
    for event in &pending {
        if let Some(info) = result_in_event(event)? {
            return Ok(ProbeOutcome::Ready(info));
        }
    }
    read_result_from_stream(&mut stream, &mut parser).await.map(ProbeOutcome::Ready)
}

/// Resolves the legacy `endpoint` event against the SSE URL. It must stay on the same
/// origin: a server may not point us (with its credentials) at another host.
pub fn message_endpoint(sse_url: &Url, data: &str) -> Result<Url, ProbeError> {
    let endpoint = sse_url
        .join(data.trim())
        .map_err(|e| ProbeError::Protocol(format!("endpoint event is not a URL: {e}")))?;
    if endpoint.origin() != sse_url.origin() {
        return Err(ProbeError::Protocol("the endpoint event points to another origin".into()));
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_events_resolve_on_the_same_origin_only() {
        let sse = Url::parse("https://mcp.example.com/v1/sse").unwrap();
        let ok = |d: &str| message_endpoint(&sse, d).unwrap().to_string();
        assert_eq!(ok("/messages?sessionId=1"), "https://mcp.example.com/messages?sessionId=1");
        assert_eq!(ok("messages/?session_id=2"), "https://mcp.example.com/v1/messages/?session_id=2");
        assert_eq!(ok("https://mcp.example.com/m"), "https://mcp.example.com/m");
        for bad in [
            "https://evil.example.com/m",
            "http://mcp.example.com/m",
            "https://mcp.example.com:8443/m",
            "//evil.example.com/x",
        ] {
            assert!(message_endpoint(&sse, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn initialize_results_are_read_and_errors_reported() {
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}}, "serverInfo": {"name": "demo", "version": "1.2"}}});
        let info = initialize_result(&ok).unwrap().unwrap();
        assert_eq!(
            (info.name.as_deref(), info.protocol_version.as_deref()),
            (Some("demo"), Some("2025-06-18"))
        );
        assert!(initialize_result(&json!({"jsonrpc": "2.0", "id": 9, "result": {}})).unwrap().is_none());
        let err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "nope"}});
        assert!(initialize_result(&err).unwrap_err().to_string().contains("nope"));
    }
}
