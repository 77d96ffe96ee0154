//! Authorization an upstream asks for after the connect: a late 401 (the handshake was let
//! through, `tools/*` are not), step-up (403 `insufficient_scope`, SEP-835) and an upstream
//! that moves to another authorization server. A real rmcp MCP server behind a guard that
//! reads each request's JSON-RPC method, and real authorization servers, on 127.0.0.1.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::mcp_server::Catalog;
use crate::support::{TestApp, TestTenant, authorize_in_browser, expect_json, expect_problem};

/// What the upstream demands, changeable while it runs.
#[derive(Clone)]
struct Demands {
    /// `tools/*` need a token of `server` (the handshake never does).
    guarded: Arc<AtomicBool>,
    /// The authorization server its protected resource metadata names.
    server: Arc<Mutex<AuthServer>>,
    /// `tools/call` needs this scope in the token (else 403 `insufficient_scope`).
    call_scope: Arc<Mutex<Option<&'static str>>>,
    /// Refuses `tools/call` for `call_scope` even when the token holds it.
    stubborn: Arc<AtomicBool>,
    /// Every `tools/*` request that reached the guard.
    tool_requests: Arc<AtomicUsize>,
}

struct Upstream {
    url: String,
    demands: Demands,
}

impl Upstream {
    async fn spawn(server: &AuthServer, guarded: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{base}/mcp");
        let demands = Demands {
            guarded: Arc::new(AtomicBool::new(guarded)),
            server: Arc::new(Mutex::new(server.clone())),
            call_scope: Arc::default(),
            stubborn: Arc::default(),
            tool_requests: Arc::default(),
        };
        let catalog = Catalog::with_tools(vec![Catalog::tool("echo", "echoes", json!({"type": "object"}))]);
        let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
        let mcp = StreamableHttpService::new(
            move || Ok(catalog.clone()),
            LocalSessionManager::default().into(),
            config,
        );
        let prm_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
        let (d, resource, challenge_url) = (demands.clone(), url.clone(), prm_url.clone());
        let guarded = Router::new().nest_service("/mcp", mcp).layer(middleware::from_fn(move |req, next| {
            guard(d.clone(), resource.clone(), challenge_url.clone(), req, next)
        }));
        let (d, resource) = (demands.clone(), url.clone());
        let prm = move || {
            let issuer = d.server.lock().unwrap().issuer.clone();
            async move { axum::Json(json!({"resource": resource, "authorization_servers": [issuer]})) }
        };
        let app = guarded.route("/.well-known/oauth-protected-resource/mcp", get(prm));
        crate::support::serve_local(listener, app);
        Self { url, demands }
    }

    fn tool_requests(&self) -> usize {
        self.demands.tool_requests.load(Ordering::SeqCst)
    }
}

async fn guard(d: Demands, resource: String, prm_url: String, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let method =
        serde_json::from_slice::<Value>(&bytes).ok().and_then(|m| m["method"].as_str().map(str::to_owned));
    let req = Request::from_parts(parts, Body::from(bytes));
    let method = method.unwrap_or_default();
    if !method.starts_with("tools/") || !d.guarded.load(Ordering::SeqCst) {
        return next.run(req).await;
    }
    d.tool_requests.fetch_add(1, Ordering::SeqCst);
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_owned);
    let server = d.server.lock().unwrap().clone();
    let scope = token
        .as_ref()
        .and_then(|t| server.state.lock().unwrap().access_tokens.get(t).map(|i| i.scope.clone()));
    let Some(scope) = scope.filter(|_| server.accepts(token.as_deref().unwrap(), &resource)) else {
        let challenge = format!("Bearer resource_metadata=\"{prm_url}\", scope=\"tools:read\"");
        return challenged(StatusCode::UNAUTHORIZED, &challenge);
    };
    let needed = *d.call_scope.lock().unwrap();
    let held = scope.unwrap_or_default();
    let stubborn = d.stubborn.load(Ordering::SeqCst);
    let lacking = |n: &&str| method == "tools/call" && (stubborn || !held.split(' ').any(|s| s == *n));
    if let Some(needed) = needed.filter(lacking) {
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{prm_url}\""
        );
        return challenged(StatusCode::FORBIDDEN, &challenge);
    }
    next.run(req).await
}

fn challenged(status: StatusCode, challenge: &str) -> Response {
    let mut response = status.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(challenge).unwrap());
    response
}

struct Setup {
    app: TestApp,
    t: TestTenant,
}

impl Setup {
    async fn new(db: PgPool) -> Self {
        let app = TestApp::spawn_public(db, |_| {}).await;
        let t = app.tenant("late").await;
        Self { app, t }
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app.post_json(&format!("/api/v1/connectors/{path}"), &self.t.key, body).await
    }

    async fn connector(&self, id: &str) -> Value {
        self.app.get_json(&format!("/api/v1/connectors/{id}"), &self.t.key).await
    }

    async fn call(&self, id: &str) -> reqwest::Response {
        self.post(&format!("{id}/tools/echo/call"), json!({"arguments": {"m": 1}})).await
    }

    /// Connects `id` (an authorization code connector) through the browser; returns the
    /// authorization URL's query.
    async fn authorize(&self, id: &str, body: Value) -> std::collections::HashMap<String, String> {
        let pending = expect_json(self.post(&format!("{id}/connect"), body).await, 200).await;
        assert_eq!(pending["status"], "pending_authorization", "{pending}");
        let url = pending["authorization_url"].as_str().unwrap().to_owned();
        assert_eq!(authorize_in_browser(&url).await.status(), 200);
        assert_eq!(self.connector(id).await["status"], "connected");
        url::Url::parse(&url).unwrap().query_pairs().into_owned().collect()
    }
}

fn id_of(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

#[sqlx::test]
async fn a_late_401_leads_to_discovery_and_is_reported_as_needs_authorization(db: PgPool) {
    let s = Setup::new(db).await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = Upstream::spawn(&auth_server, true).await;

    // The handshake is let through, tools/list is not: discovery runs from that 401.
    let created = s.app.create_connector(&s.t.key, json!({"url": upstream.url, "discover": true})).await;
    let d = &created["discovery_result"];
    assert_eq!(d["requires_auth"], true, "{d}");
    assert_eq!(d["issuer"], auth_server.issuer, "{d}");
    assert_eq!(d["recommended_auth_mode"], "oauth2_authorization_code", "{d}");
    let id = id_of(&created);
    s.authorize(&id, json!({})).await;
    expect_json(s.post(&format!("{id}/sync"), json!({})).await, 200).await;
    expect_json(s.call(&id).await, 200).await;

    // Created without auth and without discovery: the connect discovers, and waits for a person.
    let c = s.app.create_connector(&s.t.key, json!({"url": upstream.url})).await;
    let pending = expect_json(s.post(&format!("{}/connect", id_of(&c)), json!({})).await, 200).await;
    assert_eq!(pending["status"], "pending_authorization", "{pending}");

    // Connected without auth while the upstream was open; now it wants authorization.
    upstream.demands.guarded.store(false, Ordering::SeqCst);
    let open = s.app.create_connector(&s.t.key, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let open_id = id_of(&open);
    assert_eq!(
        expect_json(s.post(&format!("{open_id}/connect"), json!({})).await, 200).await["status"],
        "connected"
    );
    upstream.demands.guarded.store(true, Ordering::SeqCst);
    let before = upstream.tool_requests();
    let problem =
        expect_problem(s.post(&format!("{open_id}/sync"), json!({})).await, 409, "needs_authorization").await;
    assert_eq!(problem["authorization_server"], auth_server.issuer, "{problem}");
    let problem = expect_problem(s.call(&open_id).await, 409, "needs_authorization").await;
    assert_eq!(problem["authorization_server"], auth_server.issuer, "{problem}");

    // Through the proxy, the same problem; one upstream request per request: no loop.
    let key = s.app.key_with_scopes(&s.t, &["proxy"]).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/api/v1/connectors/{open_id}/mcp")))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&list)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, 409, "needs_authorization").await;
    assert_eq!(problem["authorization_server"], auth_server.issuer);
    assert_eq!(upstream.tool_requests() - before, 3, "sync, call and proxy: one upstream request each");
    assert_eq!(s.connector(&open_id).await["status"], "connected", "nothing else changed");
}

#[sqlx::test]
async fn step_up_asks_for_the_union_of_held_and_required_scopes_and_is_bounded(db: PgPool) {
    let s = Setup::new(db).await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = Upstream::spawn(&auth_server, true).await;
    *upstream.demands.call_scope.lock().unwrap() = Some("tools:call");
    let created = s.app.create_connector(&s.t.key, json!({"url": upstream.url, "discover": true})).await;
    let id = id_of(&created);
    let first = s.authorize(&id, json!({})).await;
    assert_eq!(first["scope"], "tools:read", "the challenge's scope");
    expect_json(s.post(&format!("{id}/sync"), json!({})).await, 200).await;

    let problem = expect_problem(s.call(&id).await, 403, "insufficient_scope").await;
    assert_eq!(problem["scopes"], json!(["tools:call"]), "{problem}");
    let c = s.connector(&id).await;
    assert_eq!((c["status"].as_str(), &c["scope_required"]), (Some("connected"), &json!(["tools:call"])));
    assert_eq!(c["auth"]["has_token"], true, "the tokens stay");
    expect_json(s.post(&format!("{id}/sync"), json!({})).await, 200).await;

    let second = s.authorize(&id, json!({})).await;
    assert_eq!(second["scope"], "tools:read tools:call", "held and required");
    assert_eq!(s.connector(&id).await["scope_required"], json!([]));
    expect_json(s.call(&id).await, 200).await;

    // An upstream that keeps refusing scopes the grant holds: no re-authorization loop.
    *upstream.demands.call_scope.lock().unwrap() = Some("tools:admin");
    expect_problem(s.call(&id).await, 403, "insufficient_scope").await;
    let third = s.authorize(&id, json!({})).await;
    assert_eq!(third["scope"], "tools:read tools:call tools:admin");
    expect_json(s.call(&id).await, 200).await;
    upstream.demands.stubborn.store(true, Ordering::SeqCst);
    expect_problem(s.call(&id).await, 403, "insufficient_scope").await;
    let authorizations = auth_server.state.lock().unwrap().authorize_requests.len();
    let problem =
        expect_problem(s.post(&format!("{id}/connect"), json!({})).await, 422, "scope_step_up_exhausted")
            .await;
    assert!(problem["detail"].as_str().unwrap().contains("tools:admin"), "{problem}");
    assert_eq!(auth_server.state.lock().unwrap().authorize_requests.len(), authorizations, "not asked again");
    // Scopes named on the connect are asked for exactly.
    let asked = expect_json(s.post(&format!("{id}/connect"), json!({"scopes": ["other"]})).await, 200).await;
    let url = url::Url::parse(asked["authorization_url"].as_str().unwrap()).unwrap();
    assert!(url.query_pairs().any(|(k, v)| k == "scope" && v == "other"));
}

#[sqlx::test]
async fn a_new_authorization_server_gets_its_own_registration_and_never_the_old_tokens(db: PgPool) {
    let s = Setup::new(db).await;
    let first = AuthServer::spawn(AsConfig::default()).await;
    let second = AuthServer::spawn(AsConfig::default()).await;
    let upstream = Upstream::spawn(&first, true).await;
    let created = s.app.create_connector(&s.t.key, json!({"url": upstream.url, "discover": true})).await;
    let id = id_of(&created);
    let old = s.authorize(&id, json!({})).await;
    expect_json(s.call(&id).await, 200).await;

    *upstream.demands.server.lock().unwrap() = second.clone();
    let problem = expect_problem(s.call(&id).await, 409, "needs_authorization").await;
    assert_eq!(problem["authorization_server"], second.issuer, "{problem}");
    let c = s.connector(&id).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "authorization_server_changed");
    assert!(
        first.state.lock().unwrap().token_requests_of("refresh_token").is_empty(),
        "no refresh at the old AS"
    );

    let new = s.authorize(&id, json!({})).await;
    assert_ne!(new["client_id"], old["client_id"]);
    let old_client = &old["client_id"];
    let basic_client = |basic: &Option<String>| {
        use base64::Engine as _;
        let encoded = basic.as_deref()?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        String::from_utf8(decoded).ok()?.split(':').next().map(str::to_owned)
    };
    {
        let state = second.state.lock().unwrap();
        assert_eq!(state.registrations.len(), 1, "registered at the new AS");
        for (form, basic) in &state.token_requests {
            assert_ne!(form.get("client_id"), Some(old_client), "the old client never reaches the new AS");
            assert_ne!(basic_client(basic).as_ref(), Some(old_client));
        }
    }
    expect_json(s.call(&id).await, 200).await;
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM oauth_clients").fetch_one(&s.app.state.db).await.unwrap();
    assert_eq!(rows, 2, "one registration per issuer");
}
