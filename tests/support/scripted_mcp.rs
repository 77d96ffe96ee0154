//! A hand-rolled Streamable HTTP MCP server whose answers a test can read exactly: it issues
//! one fixed `Mcp-Session-Id`, records the session id every request arrived with, answers
//! the method `test/redirect` with a 307 pointing somewhere else (what a misbehaving or
//! hijacked upstream could do), and `test/slow_stream` with an event stream of
//! [`SLOW_EVENTS`] events [`SLOW_GAP`] apart. Its one tool, [`CHATTY`], answers a call with an
//! event stream that first asks the client for a `ping` and announces a tool-list change.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// `test/slow_stream`: how many events, how far apart.
pub const SLOW_EVENTS: usize = 4;
pub const SLOW_GAP: std::time::Duration = std::time::Duration::from_millis(1200);

/// (method, `Mcp-Session-Id` it came with) of every POST, in order.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// The tool whose answer comes after a server request and a notification.
pub const CHATTY: &str = "chatty";

/// The session id this server gives out.
pub const UPSTREAM_SESSION: &str = "upstream-session-1";

pub struct ScriptedMcp {
    pub addr: SocketAddr,
    pub url: String,
    pub seen: Seen,
}

impl ScriptedMcp {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let router = Router::new().route(
            "/mcp",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move { answer(&log, &headers, &body) }
            })
            .delete(|| async { StatusCode::OK }),
        );
        super::serve_local(listener, router);
        Self { addr, url: format!("http://{addr}/mcp"), seen }
    }

    /// The session ids that reached this server, in order (None when absent).
    pub fn sessions(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().iter().map(|(_, s)| s.clone()).collect()
    }

    pub fn methods(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(m, _)| m.clone()).collect()
    }
}

fn answer(log: &Mutex<Vec<(String, Option<String>)>>, headers: &HeaderMap, body: &[u8]) -> Response {
    let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // A client's answer to our request is logged as `response <id>`.
    let method = match message["method"].as_str() {
        Some(method) => method.to_owned(),
        None => format!("response {}", message["id"]),
    };
    let session = headers.get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    log.lock().unwrap().push((method.clone(), session));
    let id = message["id"].clone();
    match method.as_str() {
        "initialize" => {
            let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                                "serverInfo": {"name": "scripted", "version": "1"}});
            let mut response =
                axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
            response.headers_mut().insert("mcp-session-id", UPSTREAM_SESSION.parse().unwrap());
            response
        }
        m if m.starts_with("notifications/") => StatusCode::ACCEPTED.into_response(),
        "test/redirect" => {
            (StatusCode::TEMPORARY_REDIRECT, [("location", "http://127.0.0.1:1/elsewhere")], "")
                .into_response()
        }
        "test/slow_stream" => slow_stream(id),
        "tools/list" => {
            let chatty = json!({"name": CHATTY, "inputSchema": {"type": "object"}});
            axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [chatty]}})).into_response()
        }
        "tools/call" => chatty(id),
        "ping" => axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {}})).into_response(),
        _ => axum::Json(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}}),
        )
        .into_response(),
    }
}

/// A ping of ours, a tool-list change, then the call's result (naming the call's id), as one
/// event stream.
fn chatty(id: Value) -> Response {
    let text = format!("chatted {id}");
    let messages = [
        json!({"jsonrpc": "2.0", "id": "server-ping", "method": "ping"}),
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}]}}),
    ];
    let events = messages.map(|m| {
        Ok::<_, std::convert::Infallible>(axum::response::sse::Event::default().data(m.to_string()))
    });
    axum::response::sse::Sse::new(futures_util::stream::iter(events)).into_response()
}

fn slow_stream(id: Value) -> Response {
    let events = futures_util::stream::unfold(0usize, move |n| {
        let id = id.clone();
        async move {
            if n == SLOW_EVENTS {
                return None;
            }
            tokio::time::sleep(SLOW_GAP).await;
            let message = if n + 1 == SLOW_EVENTS {
                json!({"jsonrpc": "2.0", "id": id, "result": {"events": SLOW_EVENTS}})
            } else {
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": n}})
            };
            let event = axum::response::sse::Event::default().data(message.to_string());
            Some((Ok::<_, std::convert::Infallible>(event), n + 1))
        }
    });
    axum::response::sse::Sse::new(events).into_response()
}
