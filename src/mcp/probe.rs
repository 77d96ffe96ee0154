//! The MCP connect probe: does the upstream answer, in which era, and does it want credentials?
//!
//! Streamable HTTP: POST `server/discover` at 2026-07-28 (with its `_meta` and headers); a
//! 4xx whose body is not a recognized modern JSON-RPC error means a legacy server, so POST
//! `initialize` (2025-11-25) instead, as the 2026-07-28 transport's "Backward Compatibility"
//! says. Either answer may be JSON or SSE. Legacy HTTP+SSE (2024-11-05 only): GET the stream,
//! wait for the `endpoint` event (same origin only), POST `initialize` there, and read the
//! answer from the stream. A server-issued session is ended right after.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::legacy::{EndpointError, wait_for_endpoint};
use super::{LEGACY_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION, ServerInfo, Transport, era};
use crate::platform::challenge::{self, Challenge};
use crate::platform::net::{MAX_CONTROL_BODY, NetError, Outbound, read_capped};
use crate::platform::sse::{self, ReadError};

const PROBE_ID: i64 = 1;
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
    #[error("the server's answer to the probe was not valid MCP: {0}")]
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

fn client_info() -> Value {
    json!({ "name": "switchboard", "version": env!("CARGO_PKG_VERSION") })
}

fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": PROBE_ID,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": client_info()
        }
    })
}

/// A modern request is self-contained: its `_meta` says who we are and what we speak.
fn modern_request(id: i64, method: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": method,
        "params": { "_meta": {
            era::META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION,
            era::META_CLIENT_INFO: client_info(),
            era::META_CLIENT_CAPABILITIES: {}
        }}
    })
}

/// Runs the probe with `auth` (credential headers, possibly empty) on every request.
pub async fn probe(
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

/// The outcome of a non-success status that the body cannot explain.
fn unsuccessful(response: &Response) -> ProbeOutcome {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let values = response.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
        return ProbeOutcome::AuthRequired { status, challenges: challenge::parse(values) };
    }
    ProbeOutcome::Refused { status }
}

async fn streamable(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<ProbeOutcome, ProbeError> {
    // A modern server may refuse our version while listing it: retry once, as the spec asks.
    for _ in 0..2 {
        match discover(net, url, auth).await? {
            Discovered::Done(outcome) => return Ok(outcome),
            Discovered::Legacy => return initialize(net, url, auth).await,
            Discovered::Retry => {}
        }
    }
    Err(ProbeError::Protocol(format!(
        "server/discover kept refusing {MODERN_PROTOCOL_VERSION}, which it lists"
    )))
}

/// What a `server/discover` answer means.
enum Discovered {
    Done(ProbeOutcome),
    /// Not a modern server: fall back to `initialize`.
    Legacy,
    /// -32022 naming the version we sent among the supported ones.
    Retry,
}

async fn discover(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<Discovered, ProbeError> {
    let request = net
        .request(Method::POST, url)?
        .headers(auth.clone())
        .header(ACCEPT, "application/json, text/event-stream")
        .header(era::PROTOCOL_VERSION_HEADER, MODERN_PROTOCOL_VERSION)
        .header(era::METHOD_HEADER, "server/discover")
        .json(&modern_request(PROBE_ID, "server/discover"));
    let response = net.send(request).await?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || status.is_server_error() {
        return Ok(Discovered::Done(unsuccessful(&response)));
    }
    let message = answer(response).await?;
    if let Some(result) = message.as_ref().filter(|_| status.is_success()).and_then(|m| m.get("result")) {
        let info = discover_result(result)?;
        return late_challenge(net, url, auth, info, None).await.map(Discovered::Done);
    }
    match message.as_ref().and_then(|m| m.get("error")).and_then(era::modern_rejection) {
        Some(rejection) if rejection.supported.iter().any(|v| v == MODERN_PROTOCOL_VERSION) => {
            Ok(Discovered::Retry)
        }
        Some(rejection) if rejection.lists_legacy_version() => Ok(Discovered::Legacy),
        Some(rejection) => Err(ProbeError::Protocol(format!("server/discover was refused: {rejection}"))),
        None => Ok(Discovered::Legacy),
    }
}

/// What a modern server says about itself; we speak one modern revision, so it must list it.
fn discover_result(result: &Value) -> Result<ServerInfo, ProbeError> {
    let supported = result.get("supportedVersions").and_then(Value::as_array);
    if !supported.is_some_and(|v| v.iter().any(|v| v == MODERN_PROTOCOL_VERSION)) {
        return Err(ProbeError::Protocol(format!(
            "server/discover lists no version we speak ({MODERN_PROTOCOL_VERSION})"
        )));
    }
    let meta_info = result.get("_meta").and_then(|m| m.get(era::META_SERVER_INFO));
    Ok(server_info(result, meta_info.or(result.get("serverInfo")), Some(MODERN_PROTOCOL_VERSION.into())))
}

async fn initialize(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<ProbeOutcome, ProbeError> {
    let request = net
        .request(Method::POST, url)?
        .headers(auth.clone())
        .header(ACCEPT, "application/json, text/event-stream")
        .json(&initialize_request());
    let response = net.send(request).await?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Ok(unsuccessful(&response));
    }
    let session = response.headers().get(SESSION_HEADER).cloned();
    let message = answer(response).await?;
    if !status.is_success() {
        // A JSON-RPC error says more than the status (e.g. the versions a modern-only server speaks).
        return match message.as_ref().and_then(|m| m.get("error")) {
            Some(error) => Err(rpc_failure("initialize", error)),
            None => Ok(ProbeOutcome::Refused { status }),
        };
    }
    let message = message.ok_or_else(|| ProbeError::Protocol("no initialize result".into()))?;
    let result = initialize_result(&message)?;
    let outcome = late_challenge(net, url, auth, result, session.as_ref()).await;
    if let Some(session) = session {
        end_session(net, url, auth, session);
    }
    outcome
}

/// A server that answered the handshake without credentials may still want them for its
/// tools: it may 401 `tools/list` (a late 401, after which discovery must still run rather
/// than conclude "no auth"). So a probe without credentials of a server with tools asks for
/// `tools/list` too, as the server's era requires, and only its status matters. A probe with
/// credentials does not: what they may do is the upstream's business at call time.
async fn late_challenge(
    net: &Outbound,
    url: &Url,
    auth: &HeaderMap,
    info: ServerInfo,
    session: Option<&HeaderValue>,
) -> Result<ProbeOutcome, ProbeError> {
    if !auth.is_empty() || info.capabilities.get("tools").is_none() {
        return Ok(ProbeOutcome::Ready(info));
    }
    let version = info.protocol_version.clone().unwrap_or_else(|| LEGACY_PROTOCOL_VERSION.into());
    let post = |body: Value| -> Result<reqwest::RequestBuilder, ProbeError> {
        let mut request = net
            .request(Method::POST, url)?
            .header(ACCEPT, "application/json, text/event-stream")
            .header(era::PROTOCOL_VERSION_HEADER, version.as_str())
            .json(&body);
        if let Some(session) = session {
            request = request.header(SESSION_HEADER, session.clone());
        }
        Ok(request)
    };
    let list = if version == MODERN_PROTOCOL_VERSION {
        post(modern_request(PROBE_ID + 1, "tools/list"))?.header(era::METHOD_HEADER, "tools/list")
    } else {
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        net.send(post(initialized)?).await?;
        post(json!({"jsonrpc": "2.0", "id": PROBE_ID + 1, "method": "tools/list", "params": {}}))?
    };
    let response = net.send(list).await?;
    match response.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(unsuccessful(&response)),
        _ => Ok(ProbeOutcome::Ready(info)),
    }
}

/// The JSON-RPC message answering our request, from a JSON body or an SSE stream; `None` if
/// the body holds none (empty, not JSON, another id).
async fn answer(response: Response) -> Result<Option<Value>, ProbeError> {
    if content_type(&response).starts_with("text/event-stream") {
        let mut events = sse::Reader::new(response);
        events.limit(MAX_CONTROL_BODY);
        return message_from_stream(&mut events).await.map(Some);
    }
    let body = read_capped(response, MAX_CONTROL_BODY).await?;
    let message = serde_json::from_slice::<Value>(&body).ok();
    Ok(message.filter(is_ours))
}

fn is_ours(message: &Value) -> bool {
    message.get("id").and_then(Value::as_i64) == Some(PROBE_ID)
}

/// Ends the session the probe opened, in the background: best effort, never awaited.
fn end_session(net: &Outbound, url: &Url, auth: &HeaderMap, session: HeaderValue) {
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

/// Reads SSE events until the response to our request arrives.
async fn message_from_stream(events: &mut sse::Reader) -> Result<Value, ProbeError> {
    while let Some(event) = events.next().await? {
        if event.event.as_deref().is_some_and(|e| e != "message") {
            continue;
        }
        // Not JSON, or another id: not our response.
        if let Some(message) = serde_json::from_str::<Value>(&event.data).ok().filter(is_ours) {
            return Ok(message);
        }
    }
    Err(ProbeError::Protocol("the stream ended before the answer".into()))
}

/// The server info in our request's `initialize` response.
fn initialize_result(message: &Value) -> Result<ServerInfo, ProbeError> {
    if let Some(error) = message.get("error") {
        return Err(rpc_failure("initialize", error));
    }
    let result =
        message.get("result").ok_or_else(|| ProbeError::Protocol("response has no result".into()))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(server_info(result, result.get("serverInfo"), text(result.get("protocolVersion"))))
}

fn rpc_failure(what: &str, error: &Value) -> ProbeError {
    let text = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
    match error.get("code").and_then(Value::as_i64) {
        Some(code) => ProbeError::Protocol(format!("{what} failed: {code} {text}")),
        None => ProbeError::Protocol(format!("{what} failed: {text}")),
    }
}

fn server_info(
    result: &Value,
    implementation: Option<&Value>,
    protocol_version: Option<String>,
) -> ServerInfo {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    ServerInfo {
        name: text(implementation.and_then(|i| i.get("name"))),
        title: text(implementation.and_then(|i| i.get("title"))),
        version: text(implementation.and_then(|i| i.get("version"))),
        protocol_version,
        capabilities: result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        instructions: text(result.get("instructions")),
    }
}

async fn legacy_sse(net: &Outbound, url: &Url, auth: &HeaderMap) -> Result<ProbeOutcome, ProbeError> {
    let request = net.request(Method::GET, url)?.headers(auth.clone()).header(ACCEPT, "text/event-stream");
    let stream = net.send(request).await?;
    if !stream.status().is_success() {
        return Ok(unsuccessful(&stream));
    }
    let mut events = sse::Reader::new(stream);
    let endpoint = wait_for_endpoint(&mut events, url).await?;
    let post = net.request(Method::POST, &endpoint)?.headers(auth.clone()).json(&initialize_request());
    let posted = net.fetch(post, MAX_CONTROL_BODY).await?;
    if !posted.status.is_success() {
        return Ok(ProbeOutcome::Refused { status: posted.status });
    }
    events.limit(MAX_CONTROL_BODY);
    let message = message_from_stream(&mut events).await?;
    initialize_result(&message).map(ProbeOutcome::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_results_are_read_and_errors_reported() {
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}}, "serverInfo": {"name": "demo", "version": "1.2"}}});
        let info = initialize_result(&ok).unwrap();
        assert_eq!(
            (info.name.as_deref(), info.protocol_version.as_deref()),
            (Some("demo"), Some("2025-06-18"))
        );
        assert!(!is_ours(&json!({"jsonrpc": "2.0", "id": 9, "result": {}})));
        let err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "nope"}});
        assert!(initialize_result(&err).unwrap_err().to_string().contains("-32600 nope"));
    }

    #[test]
    fn discover_results_name_the_server_in_meta_and_must_list_our_version() {
        let result = json!({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
            "instructions": "be nice", "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "m", "version": "2"}}});
        let info = discover_result(&result).unwrap();
        assert_eq!(info.name.as_deref(), Some("m"));
        assert_eq!(info.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(info.instructions.as_deref(), Some("be nice"));
        let other = json!({"supportedVersions": ["2027-01-01"], "capabilities": {}});
        assert!(discover_result(&other).unwrap_err().to_string().contains("no version we speak"));
    }
}
