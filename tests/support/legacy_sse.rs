//! A minimal MCP server speaking the legacy HTTP+SSE transport (2024-11-05): GET /sse opens
//! a stream whose first event names the message endpoint; POSTed JSON-RPC requests are
//! answered on that stream. Enough to test clients and proxies of the old transport.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

type Sessions = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Result<Event, Infallible>>>>>;

#[derive(Clone)]
struct Ctx {
    sessions: Sessions,
    /// Required `Authorization` value, if any.
    expected_auth: Option<String>,
    /// What the endpoint event says instead of the default relative path.
    endpoint_override: Option<String>,
}

pub struct LegacySseServer {
    pub addr: SocketAddr,
    pub url: String,
}

impl LegacySseServer {
    pub async fn spawn(expected_auth: Option<&str>, endpoint_override: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = Ctx {
            sessions: Sessions::default(),
            expected_auth: expected_auth.map(str::to_owned),
            endpoint_override: endpoint_override.map(str::to_owned),
        };
        let app =
            Router::new().route("/sse", get(open_stream)).route("/messages", post(message)).with_state(ctx);
        super::serve_local(listener, app);
        Self { addr, url: format!("http://{addr}/sse") }
    }
}

fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    ctx.expected_auth
        .as_deref()
        .is_none_or(|want| headers.get(header::AUTHORIZATION).is_some_and(|v| v == want))
}

async fn open_stream(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    let session = uuid::Uuid::new_v4().simple().to_string();
    let (events, stream) = mpsc::unbounded_channel();
    let endpoint = ctx.endpoint_override.clone().unwrap_or_else(|| format!("/messages?sessionId={session}"));
    events.send(Ok(Event::default().event("endpoint").data(endpoint))).unwrap();
    ctx.sessions.lock().unwrap().insert(session, events);
    Sse::new(UnboundedReceiverStream::new(stream)).into_response()
}

async fn message(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(request): axum::Json<Value>,
) -> Response {
    if !authorized(&ctx, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(events) = q.get("sessionId").and_then(|s| ctx.sessions.lock().unwrap().get(s).cloned()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let result = match request["method"].as_str() {
        Some("initialize") => json!({
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "legacy-sse-test", "version": "0.1.0"}
        }),
        Some("tools/list") => json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
        Some("tools/call") => {
            json!({"content": [{"type": "text", "text": request["params"]["arguments"].to_string()}]})
        }
        _ => json!({}),
    };
    if !request["id"].is_null() {
        let response = json!({"jsonrpc": "2.0", "id": request["id"], "result": result});
        let _ = events.send(Ok(Event::default().event("message").data(response.to_string())));
    }
    StatusCode::ACCEPTED.into_response()
}
