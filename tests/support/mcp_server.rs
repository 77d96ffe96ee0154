//! A real MCP server for tests (rmcp, Streamable HTTP) behind a credential guard, on
//! 127.0.0.1. It records the Authorization header of every request, so tests can assert
//! what reached the upstream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, RequestMetaObject,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

use super::auth_server::AuthServer;

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// Text to echo back
    pub message: String,
}

#[derive(Clone, Default)]
pub struct TestTools;

#[tool_router]
impl TestTools {
    #[tool(description = "Echo the message back")]
    async fn echo(&self, Parameters(EchoArgs { message }): Parameters<EchoArgs>) -> String {
        message
    }

    #[tool(description = "Send 3 progress notifications 200 ms apart, then return")]
    async fn slow(
        &self,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(token) = meta.get_progress_token() {
            for i in 1..=3 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let p = ProgressNotificationParam::new(token.clone(), i as f64).with_total(3.0);
                let _ = peer.notify_progress(p).await;
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("done")]))
    }
}

#[tool_handler]
impl ServerHandler for TestTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("switchboard-test-upstream", "1.0.0"))
    }
}

/// What the upstream demands.
#[derive(Clone)]
pub enum Guard {
    Open,
    /// Exactly this `Authorization` value.
    Authorization(String),
    /// Exactly this value in this header.
    Header(&'static str, String),
    /// A live token from this AS, issued for this server's resource.
    OAuth {
        server: AuthServer,
        scope: Option<&'static str>,
    },
}

/// How the server advertises its protected resource metadata.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PrmAt {
    /// In the 401 challenge (`resource_metadata`) and at the path-insert well-known URL.
    Challenge,
    /// Only at `/.well-known/oauth-protected-resource/mcp` (no challenge parameter).
    PathInsert,
    /// Only at the root `/.well-known/oauth-protected-resource`.
    Root,
}

pub struct McpServer {
    pub addr: SocketAddr,
    pub url: String,
    /// The Authorization header of every MCP request, in order (None when absent).
    pub seen_authorization: Arc<Mutex<Vec<Option<String>>>>,
    /// Every MCP request, in order: its HTTP method, and for a POST the JSON-RPC method
    /// (`POST initialize`, `POST tools/call`, `DELETE`, `GET`, ...).
    pub seen_requests: Arc<Mutex<Vec<String>>>,
    /// Forgets every session, as a restarted server does.
    restart: Arc<dyn Fn() + Send + Sync>,
}

impl McpServer {
    pub async fn spawn(guard: Guard) -> Self {
        Self::spawn_with(guard, PrmAt::Challenge).await
    }

    pub async fn spawn_with(guard: Guard, prm_at: PrmAt) -> Self {
        Self::spawn_handler(guard, prm_at, TestTools).await
    }

    /// An upstream whose tools are `catalog`'s (which the test may change at any time).
    pub async fn spawn_catalog(guard: Guard, catalog: Catalog) -> Self {
        Self::spawn_handler(guard, PrmAt::Challenge, catalog).await
    }

    async fn spawn_handler<H: ServerHandler + Clone>(guard: Guard, prm_at: PrmAt, handler: H) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let resource = format!("{base}/mcp");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_requests = Arc::new(Mutex::new(Vec::new()));

        let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
        let fresh = move || {
            let handler = handler.clone();
            StreamableHttpService::new(
                move || Ok(handler.clone()),
                LocalSessionManager::default().into(),
                config.clone(),
            )
        };
        let current = Arc::new(Mutex::new(fresh()));
        let restart = {
            let current = current.clone();
            Arc::new(move || *current.lock().unwrap() = fresh())
        };
        // Each request goes to the service of the moment, so a restart forgets the sessions.
        let mcp = tower::service_fn(move |req: Request| {
            let service = current.lock().unwrap().clone();
            tower::ServiceExt::oneshot(service, req)
        });
        let (g, r, s) = (guard.clone(), resource.clone(), (seen.clone(), seen_requests.clone()));
        let prm_url = match prm_at {
            PrmAt::Challenge => Some(format!("{base}/.well-known/oauth-protected-resource/mcp")),
            _ => None,
        };
        let guarded = Router::new().nest_service("/mcp", mcp).layer(middleware::from_fn(move |req, next| {
            check(g.clone(), r.clone(), prm_url.clone(), s.clone(), req, next)
        }));

        let mut app = guarded;
        if let Guard::OAuth { server, scope } = &guard {
            let prm = json!({
                "resource": resource,
                "authorization_servers": [server.issuer],
                "scopes_supported": scope.map(|s| vec![s]).unwrap_or_default(),
            });
            let path = match prm_at {
                PrmAt::Challenge | PrmAt::PathInsert => "/.well-known/oauth-protected-resource/mcp",
                PrmAt::Root => "/.well-known/oauth-protected-resource",
            };
            app = app.route(path, get(move || async move { axum::Json(prm) }));
        }
        super::serve_local(listener, app);
        Self { addr, url: resource, seen_authorization: seen, seen_requests, restart }
    }

    pub fn seen(&self) -> Vec<Option<String>> {
        self.seen_authorization.lock().unwrap().clone()
    }

    /// How many requests so far were `what` (`POST tools/call`, `DELETE`, ...).
    pub fn count(&self, what: &str) -> usize {
        self.seen_requests.lock().unwrap().iter().filter(|r| *r == what).count()
    }

    /// Forgets every session (their event streams end, their ids get 404), as a restart does.
    pub fn restart(&self) {
        (self.restart)()
    }
}

type Seen = (Arc<Mutex<Vec<Option<String>>>>, Arc<Mutex<Vec<String>>>);

async fn check(
    guard: Guard,
    resource: String,
    prm_url: Option<String>,
    (seen, seen_requests): Seen,
    req: Request,
    next: Next,
) -> Response {
    let authorization =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    seen.lock().unwrap().push(authorization.clone());
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let rpc =
        serde_json::from_slice::<Value>(&body).ok().and_then(|m| m["method"].as_str().map(str::to_owned));
    let what = rpc.map_or_else(|| parts.method.to_string(), |m| format!("{} {m}", parts.method));
    seen_requests.lock().unwrap().push(what);
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    let ok = match &guard {
        Guard::Open => true,
        Guard::Authorization(expected) => authorization.as_deref() == Some(expected.as_str()),
        Guard::Header(name, expected) => req.headers().get(*name).is_some_and(|v| v == expected.as_str()),
        Guard::OAuth { server, .. } => authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|token| server.accepts(token, &resource)),
    };
    if ok {
        return next.run(req).await;
    }
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let mut challenge = "Bearer realm=\"test\"".to_owned();
    if let Some(url) = &prm_url {
        challenge.push_str(&format!(", resource_metadata=\"{url}\""));
    }
    if let Guard::OAuth { scope: Some(scope), .. } = &guard {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(&challenge).unwrap());
    response
}

/// A tool list a test can change between syncs, served page by page, and a record of the
/// tool calls that reached the upstream. Tools it can run: `echo` (returns its arguments),
/// `fail` (`isError: true`), `sleep` (`{"ms": n}`), and `mutate` (adds the tool `added`
/// and sends `notifications/tools/list_changed`).
#[derive(Clone, Default)]
pub struct Catalog {
    tools: Arc<Mutex<Vec<Tool>>>,
    page_size: Arc<Mutex<Option<usize>>>,
    calls: Arc<Mutex<Vec<String>>>,
    list_requests: Arc<Mutex<usize>>,
    /// The `ttlMs` given with each page (rmcp fills in 0 when unset).
    ttl_ms: Arc<Mutex<Option<u64>>>,
    /// Declares no `tools` capability (a prompts-only server).
    without_tools: bool,
    /// Speaks the 2025 era only (`initialize` and sessions; no `server/discover`).
    legacy_only: bool,
}

impl Catalog {
    pub fn with_tools(tools: Vec<Tool>) -> Self {
        let catalog = Self::default();
        catalog.set_tools(tools);
        catalog
    }

    /// A tool with this description and input schema.
    pub fn tool(name: &str, description: &str, schema: Value) -> Tool {
        Tool::new(name.to_owned(), description.to_owned(), schema.as_object().cloned().unwrap())
    }

    /// The same catalog served by a server that declares no `tools` capability.
    pub fn without_tools_capability(mut self) -> Self {
        self.without_tools = true;
        self
    }

    /// The same catalog served by a server of the 2025 era only.
    pub fn legacy_only(mut self) -> Self {
        self.legacy_only = true;
        self
    }

    pub fn tools(&self) -> Vec<Tool> {
        self.tools.lock().unwrap().clone()
    }

    pub fn set_tools(&self, tools: Vec<Tool>) {
        *self.tools.lock().unwrap() = tools;
    }

    pub fn set_page_size(&self, size: usize) {
        *self.page_size.lock().unwrap() = Some(size);
    }

    /// Names of the tools called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn set_ttl_ms(&self, ttl_ms: Option<u64>) {
        *self.ttl_ms.lock().unwrap() = ttl_ms;
    }

    pub fn list_requests(&self) -> usize {
        *self.list_requests.lock().unwrap()
    }
}

impl ServerHandler for Catalog {
    fn get_info(&self) -> ServerConfig {
        let capabilities = match self.without_tools {
            true => ServerCapabilities::builder().enable_prompts().build(),
            false => ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build(),
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("switchboard-test-catalog", "2.0.0"))
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        let newest = if self.legacy_only { &ProtocolVersion::V_2025_11_25 } else { &ProtocolVersion::LATEST };
        std::borrow::Cow::Borrowed(ProtocolVersion::known_up_to(newest))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        *self.list_requests.lock().unwrap() += 1;
        let tools = self.tools.lock().unwrap().clone();
        let start: usize = request.and_then(|r| r.cursor).map_or(0, |c| c.parse().unwrap());
        let size = self.page_size.lock().unwrap().unwrap_or(tools.len().max(1));
        let end = (start + size).min(tools.len());
        let mut result = ListToolsResult::with_all_items(tools[start..end].to_vec());
        result.next_cursor = (end < tools.len()).then(|| end.to_string());
        result.ttl_ms = *self.ttl_ms.lock().unwrap();
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.calls.lock().unwrap().push(request.name.to_string());
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let result = match request.name.as_ref() {
            "echo" => CallToolResult::structured(arguments),
            "fail" => CallToolResult::error(vec![ContentBlock::text("it failed")]),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(arguments["ms"].as_u64().unwrap_or(0))).await;
                CallToolResult::success(vec![ContentBlock::text("slept")])
            }
            "mutate" => {
                self.tools.lock().unwrap().push(Self::tool(
                    "added",
                    "added by mutate",
                    json!({"type": "object"}),
                ));
                context.peer.notify_tool_list_changed().await.unwrap();
                CallToolResult::success(vec![ContentBlock::text("mutated")])
            }
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(result.into())
    }
}
