//! The MCP `initialize` probe: does the upstream answer, and does it want credentials?
//!
//! Streamable HTTP: POST `initialize`, read a JSON or SSE answer. Legacy HTTP+SSE: GET the
//! stream, wait for the `endpoint` event (same origin only), POST `initialize` there, and
//! read the answer from the stream. A server-issued session is ended right after.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::legacy::{EndpointError, wait_for_endpoint};
use super::{PROTOCOL_VERSION, ServerInfo, Transport};
use crate::platform::challenge::{self, Challenge};
use crate::platform::net::{MAX_CONTROL_BODY, NetError, Outbound, read_capped};
use crate::platform::sse::{self, ReadError};

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

impl From<ReadError> for ProbeError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Net(net) => Self::Net(net),
            ReadError::Event(e) => Self::Protocol(e.to_string()),
        }
    }
}

impl From<EndpointError> for ProbeError {
    fn from(err: EndpointError) -> Self {
        match err {
            EndpointError::Read(read) => read.into(),
            other => Self::Protocol(other.to_string()),
        }
    }
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
    let result = if is_sse {
        let mut events = sse::Reader::new(response);
        events.limit(MAX_CONTROL_BODY);
        read_result_from_stream(&mut events).await?
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
async fn read_result_from_stream(events: &mut sse::Reader) -> Result<ServerInfo, ProbeError> {
    while let Some(event) = events.next().await? {
        if let Some(info) = result_in_event(&event)? {
            return Ok(info);
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
    let stream = net.send(request).await?;
    if let Some(outcome) = unsuccessful(&stream) {
        return Ok(outcome);
    }
    let mut events = sse::Reader::new(stream);
    let endpoint = wait_for_endpoint(&mut events, url).await?;
    let post = net.request(Method::POST, &endpoint)?.headers(auth.clone()).json(&initialize_request());
    let posted = net.fetch(post, MAX_CONTROL_BODY).await?;
    if !posted.status.is_success() {
        return Ok(ProbeOutcome::Refused { status: posted.status });
    }
    events.limit(MAX_CONTROL_BODY);
    read_result_from_stream(&mut events).await.map(ProbeOutcome::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;

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
