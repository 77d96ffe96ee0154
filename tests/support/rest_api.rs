//! A small real REST API on 127.0.0.1 for REST connector tests: the seed's ticket system
//! (`/api/v1/me`, `/api/v1/tickets`, `/api/v1/tickets/{id}`) behind an `X-API-Key` check,
//! plus `/api/v1/hang`, which never answers. It records what reached it. Spawned with a
//! bearer check ([`TicketApi::spawn_with_bearer`]), it also takes OAuth access tokens.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

pub const API_KEY: &str = "tk_live_0123456789abcdef";
/// A second key the API takes: a caller's own (`X-Switchboard-User-Token`).
pub const USER_KEY: &str = "tk_user_fedcba9876543210";

/// One request as the API saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The raw path, percent-encoding kept.
    pub path: String,
    pub query: Option<String>,
    pub api_key: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// Whether an `Authorization: Bearer` token is one the API takes.
pub type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Clone, Default)]
struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
    bearer: Option<BearerCheck>,
}

pub struct TicketApi {
    pub base: String,
    log: Log,
}

impl TicketApi {
    pub async fn spawn() -> Self {
        Self::serve(Log::default()).await
    }

    /// The API taking, besides its API keys, bearer tokens that `check` accepts.
    pub async fn spawn_with_bearer(check: BearerCheck) -> Self {
        Self::serve(Log { bearer: Some(check), ..Log::default() }).await
    }

    async fn serve(log: Log) -> Self {
        let router = Router::new()
            .route("/api/v1/me", get(me))
            .route("/api/v1/hang", any(hang))
            .route("/api/v1/tickets", any(tickets))
            .route("/api/v1/tickets/{id}", get(ticket))
            .layer(axum::middleware::from_fn_with_state(log.clone(), record))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        super::serve_local(listener, router);
        Self { base, log }
    }

    /// A handle for a base URL where nothing runs (for descriptors that are never called).
    pub fn at(base: &str) -> Self {
        Self { base: base.to_owned(), log: Log::default() }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.seen.lock().unwrap().clone()
    }

    /// Requests other than the connect's test endpoint.
    pub fn calls(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path != "/api/v1/me").collect()
    }

    /// The seed's Ticket System descriptor (tests/fixtures/rest/ticket-system.yaml) as YAML,
    /// pointed at this server.
    pub fn ticket_system_yaml(&self) -> String {
        include_str!("../fixtures/rest/ticket-system.yaml")
            .replace("https://tickets.internal.com", &self.base)
    }

    /// The same descriptor as JSON.
    pub fn ticket_system(&self) -> Value {
        let yaml = self.ticket_system_yaml();
        switchboard::rest::parse::read_value(&yaml, switchboard::rest::Format::Yaml, 1 << 20).unwrap()
    }
}

async fn record(State(log): State<Log>, request: Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    log.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        api_key: header("x-api-key"),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));
    let authorized = parts.headers.get("x-api-key").is_some_and(|k| k == API_KEY || k == USER_KEY)
        || bearer.zip(log.bearer.as_ref()).is_some_and(|(token, check)| check(&token));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad api key"}))).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

async fn me() -> axum::Json<Value> {
    axum::Json(json!({"email": "agent@example.com"}))
}

async fn hang() -> StatusCode {
    std::future::pending::<()>().await;
    StatusCode::OK
}

async fn tickets(method: axum::http::Method, body: Bytes) -> Response {
    if method == axum::http::Method::POST {
        let mut ticket: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        ticket["id"] = json!("T-100");
        return (StatusCode::CREATED, axum::Json(ticket)).into_response();
    }
    axum::Json(json!([{"id": "T-1", "title": "Printer on fire", "status": "open"}])).into_response()
}

async fn ticket(axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    if id == "missing" {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "no such ticket"}))).into_response();
    }
    axum::Json(json!({"id": id, "title": "Printer on fire", "status": "open"})).into_response()
}
