//! Speaking MCP to a connector's upstream as a client (rmcp), for syncs and direct calls.
//!
//! Every HTTP request of a session goes through [`super::send`], the proxy's own path: the
//! connector's credential is injected, an expired or rejected OAuth token is refreshed
//! (single flight) and the request retried once, and the SSRF guard of `platform::net`
//! applies. Streamable HTTP
//! upstreams use rmcp's own transport over [`ConnectorHttp`]; legacy SSE upstreams use
//! [`super::legacy_sse::LegacySse`]. Above the transport both share one code path.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientJsonRpcMessage,
    ClientRequest, ErrorData, Implementation, JsonRpcMessage, PaginatedRequestParams, ProtocolVersion,
    ServerJsonRpcMessage,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
    StreamableHttpError, StreamableHttpPostResponse,
};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt as _, RoleClient, ServiceExt as _};
use sse_stream::Sse;
use url::Url;

use super::call::{self, Framings, Sent};
use super::legacy_sse::LegacySse;
use super::target::Target;
use super::{Context, send};
use crate::error::{Error, Result};
use crate::mcp::{MODERN_PROTOCOL_VERSION, ServerInfo, Transport};
use crate::platform::net::read_capped;
use crate::platform::sse;

pub(crate) const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Largest JSON (non-streamed) answer read from an upstream; a tools/list page over this is
/// refused like an oversized catalog.
pub const MAX_MESSAGE: usize = crate::platform::sse::MAX_EVENT;
/// Error bodies are read only to find a JSON-RPC error in them.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Pages of `tools/list` read at most to find one tool before a call.
const LIST_PAGES: usize = 100;
/// How long closing a session (DELETE, stream shutdown) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every request of one session needs: where to send, with which credential, and the
/// failures of its requests, so each caller gets our problem (refresh failed, timeout, ...)
/// rather than rmcp's flattened transport error — its own, when requests share the session.
#[derive(Clone)]
pub(crate) struct Link {
    ctx: Context,
    /// The target the session was opened with.
    target: Arc<Target>,
    failures: Arc<Failures>,
    /// How rmcp frames a `tools/call` in this session, once seen (`super::call`).
    pub(crate) framings: Arc<Framings>,
}

/// Failures not yet claimed, by number. rmcp assigns the JSON-RPC ids inside `call_tool`, so
/// a caller never learns its request's id; the number travels to it instead, inside rmcp's
/// error ([`LinkError`]). What nobody claims (a notification's failure, the event stream's)
/// is dropped oldest first.
#[derive(Default)]
struct Failures {
    next: AtomicU64,
    unclaimed: Mutex<VecDeque<(u64, Error)>>,
}

/// Unclaimed failures kept per session: one per request that can be in flight.
const MAX_UNCLAIMED: usize = super::pool::MAX_IN_FLIGHT;

impl Failures {
    fn keep(&self, err: Error) -> u64 {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let mut unclaimed = self.unclaimed.lock().expect("failures");
        if unclaimed.len() >= MAX_UNCLAIMED {
            unclaimed.pop_front();
        }
        unclaimed.push_back((number, err));
        number
    }

    fn claim(&self, number: u64) -> Option<Error> {
        let mut unclaimed = self.unclaimed.lock().expect("failures");
        let at = unclaimed.iter().position(|(n, _)| *n == number)?;
        unclaimed.remove(at).map(|(_, err)| err)
    }

    /// The first failure: while a session opens, every failure is the opener's.
    fn first(&self) -> Option<Error> {
        self.unclaimed.lock().expect("failures").pop_front().map(|(_, err)| err)
    }

    fn is_empty(&self) -> bool {
        self.unclaimed.lock().expect("failures").is_empty()
    }
}

/// A transport failure as rmcp sees it: its description, and the number under which the
/// [`Link`] keeps the real [`Error`] (none for a failure that is only rmcp's).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct LinkError {
    text: String,
    failure: Option<u64>,
}

impl LinkError {
    pub(crate) fn plain(text: String) -> Self {
        Self { text, failure: None }
    }

    /// Ours, inside an error of rmcp's transports (ours or its Streamable HTTP client).
    fn within(error: &DynamicTransportError) -> Option<&Self> {
        let inner = error.error.as_ref();
        match inner.downcast_ref::<StreamableHttpError<LinkError>>() {
            Some(StreamableHttpError::Client(link)) => Some(link),
            _ => inner.downcast_ref::<LinkError>(),
        }
    }
}

impl Link {
    pub(crate) fn url(&self) -> &Url {
        &self.target.url
    }

    /// The connector's target now, when the session may carry it (a refreshed OAuth token),
    /// else the one the session was opened with. From the cache only: the call that leased
    /// the session has just warmed it.
    fn current(&self) -> Arc<Target> {
        match self.ctx.targets.get(&self.target.connector_id) {
            Some(now) if now.shares_session_with(&self.target) => now,
            _ => self.target.clone(),
        }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, LinkError> {
        self.send_own(method, url, headers, body).await.map_err(|e| self.fail(e))
    }

    /// A request of ours, not rmcp's: its failure is ours to report.
    pub(crate) async fn send_own(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response> {
        send::send(&self.ctx, self.current(), method, url, &headers, body).await
    }

    /// Keeps the failure for its caller to claim and hands rmcp its description.
    pub(crate) fn fail(&self, err: Error) -> LinkError {
        let text = err.to_string();
        LinkError { text, failure: Some(self.failures.keep(err)) }
    }

    /// The problem behind a failed request: the kept failure, else rmcp's description.
    pub(crate) fn error(&self, err: LinkError) -> Error {
        err.failure.and_then(|n| self.failures.claim(n)).unwrap_or_else(|| protocol_error(err.text))
    }
}

/// The events of an SSE body, read by our reader (bounded lines and events), as rmcp's
/// event type. The stream ends after the first error.
fn sse_events(response: reqwest::Response) -> BoxStream<'static, Result<Sse, SseError>> {
    futures_util::stream::unfold(Some(sse::Reader::new(response)), |reader| async move {
        let mut reader = reader?;
        match reader.next().await {
            Ok(Some(event)) => {
                let sse = Sse { event: event.event, data: Some(event.data), id: event.id, retry: None };
                Some((Ok(sse), Some(reader)))
            }
            Ok(None) => None,
            Err(e) => Some((Err(SseError::Body(Box::new(e))), None)),
        }
    })
    .boxed()
}

/// The JSON-RPC error in an error status's body, if it holds one.
pub(crate) async fn error_in(response: reqwest::Response) -> Option<ErrorData> {
    let body = read_capped(response, MAX_ERROR_BODY).await.unwrap_or_default();
    match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
        Ok(JsonRpcMessage::Error(error)) => Some(error.error),
        _ => None,
    }
}

pub(crate) fn content_type(response: &reqwest::Response) -> String {
    let value = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    value.unwrap_or_default().to_ascii_lowercase()
}

/// The answer to a `server/discover` that a 4xx refused (other than 401/403, which the
/// credential path handles), as a JSON-RPC error rmcp can classify: the server's own error
/// if it sent one, else `invalid_request`, which rmcp's lifecycle reads as "legacy server,
/// fall back to `initialize`" (the 2026-07-28 transport's "Backward Compatibility"). Our
/// request's id is put on it: a legacy server's rejection cannot echo it (it sends `null`).
/// rmcp's own HTTP clients do the same (`legacy_discover_response`, private to rmcp).
fn discover_rejection(
    message: &ClientJsonRpcMessage,
    status: StatusCode,
    error: Option<ErrorData>,
) -> Option<ServerJsonRpcMessage> {
    let JsonRpcMessage::Request(request) = message else { return None };
    let discover = matches!(request.request, ClientRequest::DiscoverRequest(_));
    if !discover || !status.is_client_error() {
        return None;
    }
    let refused = format!("server/discover refused with HTTP {}", status.as_u16());
    let error = error.unwrap_or_else(|| ErrorData::invalid_request(refused, None));
    Some(ServerJsonRpcMessage::error(error, Some(request.id.clone())))
}

/// A JSON-RPC error from an error status, answering `message` when the server could not
/// say which request it answers (`id: null`).
fn error_message(message: &ClientJsonRpcMessage, error: ErrorData) -> ServerJsonRpcMessage {
    let id = match message {
        JsonRpcMessage::Request(request) => Some(request.id.clone()),
        _ => None,
    };
    ServerJsonRpcMessage::error(error, id)
}

fn unexpected(text: String) -> StreamableHttpError<LinkError> {
    StreamableHttpError::UnexpectedServerResponse(text.into())
}

/// rmcp's Streamable HTTP client, sending through [`Link`].
#[derive(Clone)]
struct ConnectorHttp {
    link: Link,
}

impl ConnectorHttp {
    fn headers(
        session_id: Option<&str>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> Result<HeaderMap, StreamableHttpError<LinkError>> {
        let mut headers = HeaderMap::new();
        headers.extend(custom);
        if let Some(session) = session_id {
            let value = HeaderValue::from_str(session).map_err(|_| unexpected("bad session id".into()))?;
            headers.insert(SESSION_HEADER, value);
        }
        Ok(headers)
    }

    fn url(uri: &str) -> Result<Url, StreamableHttpError<LinkError>> {
        Url::parse(uri).map_err(|e| unexpected(format!("bad upstream URL: {e}")))
    }

    async fn read(
        &self,
        response: reqwest::Response,
        max: usize,
    ) -> Result<Bytes, StreamableHttpError<LinkError>> {
        read_capped(response, max).await.map_err(|e| StreamableHttpError::Client(self.link.fail(e.into())))
    }
}

impl StreamableHttpClient for ConnectorHttp {
    type Error = LinkError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: rmcp::model::ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<LinkError>> {
        let body = serde_json::to_vec(&message)?;
        if let JsonRpcMessage::Request(request) = &message
            && let ClientRequest::CallToolRequest(_) = &request.request
        {
            self.link.framings.learn(session_id.as_deref(), &custom_headers, &body);
        }
        let mut headers = Self::headers(session_id.as_deref(), custom_headers)?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = self
            .link
            .send(Method::POST, &Self::url(&uri)?, headers, body.into())
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let session = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if !status.is_success() {
            // A JSON-RPC error in an error status is still the server's answer.
            let error = error_in(response).await;
            if let Some(rejection) = discover_rejection(&message, status, error.clone()) {
                return Ok(StreamableHttpPostResponse::Json(rejection, None));
            }
            return match error {
                Some(error) => Ok(StreamableHttpPostResponse::Json(error_message(&message, error), session)),
                None => Err(unexpected(format!("the upstream answered HTTP {}", status.as_u16()))),
            };
        }
        let kind = content_type(&response);
        if kind.starts_with("text/event-stream") {
            return Ok(StreamableHttpPostResponse::Sse(sse_events(response), session));
        }
        let body = self.read(response, MAX_MESSAGE).await?;
        if body.is_empty() && !matches!(message, JsonRpcMessage::Request(_)) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if !kind.starts_with("application/json") {
            return Err(StreamableHttpError::UnexpectedContentType(Some(kind)));
        }
        Ok(StreamableHttpPostResponse::Json(serde_json::from_slice(&body)?, session))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<LinkError>> {
        let headers = Self::headers(Some(&session_id), custom_headers)?;
        // Best effort: a server that does not end sessions (405) or forgot ours is fine.
        self.link
            .send(Method::DELETE, &Self::url(&uri)?, headers, Bytes::new())
            .await
            .map_err(StreamableHttpError::Client)?;
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<LinkError>> {
        let mut headers = Self::headers(session_id.as_deref(), custom_headers)?;
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert(LAST_EVENT_ID, id);
        }
        let response = self
            .link
            .send(Method::GET, &Self::url(&uri)?, headers, Bytes::new())
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !status.is_success() {
            return Err(unexpected(format!("the upstream answered HTTP {} to GET", status.as_u16())));
        }
        if !content_type(&response).starts_with("text/event-stream") {
            return Err(StreamableHttpError::UnexpectedContentType(Some(content_type(&response))));
        }
        Ok(sse_events(response))
    }
}

/// Our side of a session: says who we are, and passes `notifications/tools/list_changed` on.
#[derive(Clone)]
pub struct SessionHandler {
    on_list_changed: Arc<dyn Fn() + Send + Sync>,
}

impl SessionHandler {
    pub fn new(on_list_changed: impl Fn() + Send + Sync + 'static) -> Self {
        Self { on_list_changed: Arc::new(on_list_changed) }
    }
}

impl SessionHandler {
    pub(crate) fn list_changed(&self) {
        (self.on_list_changed)();
    }
}

impl ClientHandler for SessionHandler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed();
    }

    fn get_info(&self) -> ClientConfig {
        let us = Implementation::new("switchboard", env!("CARGO_PKG_VERSION"));
        // Named explicitly: the default is rmcp's LATEST, which has no `initialize`.
        ClientConfig::new(ClientCapabilities::default(), us).with_protocol_version(legacy_version())
    }
}

fn legacy_version() -> ProtocolVersion {
    ProtocolVersion::V_2025_11_25
}

/// `server/discover` at 2026-07-28 first, `initialize` at 2025-11-25 for a legacy server.
fn both_eras() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(legacy_version()),
    }
}

/// The lifecycle for an upstream last spoken at `version`: no `initialize` for a modern one,
/// `initialize` for a legacy one (no `server/discover` probe each time), both when unknown.
fn lifecycle_for(version: Option<&str>) -> ClientLifecycleMode {
    match version {
        Some(MODERN_PROTOCOL_VERSION) => {
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
        }
        Some(_) => ClientLifecycleMode::Initialize,
        None => both_eras(),
    }
}

type Started =
    std::result::Result<RunningService<RoleClient, SessionHandler>, rmcp::service::ClientInitializeError>;

/// How long a session lives: for one piece of work (a sync), or shared by many calls
/// ([`super::pool`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Short,
    Shared,
}

/// An initialised MCP session with a connector's upstream.
pub struct Session {
    service: RunningService<RoleClient, SessionHandler>,
    link: Link,
    /// Tools seen in this session's `tools/list` answers (see [`Session::list_until`]).
    listed: Mutex<HashSet<String>>,
}

impl Session {
    /// Connects in the era the connector last spoke (`server/discover`, or `initialize` /
    /// `notifications/initialized`; HTTP+SSE servers are legacy by definition). An upstream
    /// that changed era since fails that handshake with an MCP answer (not a transport
    /// failure of ours): then both eras are tried, as for an upstream never spoken to.
    pub async fn open(
        ctx: &Context,
        target: Arc<Target>,
        handler: SessionHandler,
        lifetime: Lifetime,
    ) -> Result<Self> {
        let link = Link { ctx: ctx.clone(), target, failures: Arc::default(), framings: Arc::default() };
        let remembered = lifecycle_for(link.target.protocol_version.as_deref());
        let retry = !matches!(remembered, ClientLifecycleMode::Auto { .. });
        let mut started = Self::start(&link, handler.clone(), remembered, lifetime).await?;
        if started.is_err() && retry && link.failures.is_empty() {
            tracing::debug!(connector_id = %link.target.connector_id, "the upstream changed era; trying both");
            started = Self::start(&link, handler, both_eras(), lifetime).await?;
        }
        let service = started.map_err(|e| {
            link.failures.first().unwrap_or_else(|| protocol_error(format!("connecting failed: {e}")))
        })?;
        Ok(Self { service, link, listed: Mutex::default() })
    }

    /// One handshake; the outer error is a transport failure before rmcp ran.
    async fn start(
        link: &Link,
        handler: SessionHandler,
        lifecycle: ClientLifecycleMode,
        lifetime: Lifetime,
    ) -> Result<Started> {
        Ok(match link.target.transport {
            Transport::StreamableHttp => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(link.url().as_str())
                    .max_concurrent_requests(super::pool::MAX_IN_FLIGHT);
                // A short session never replays a request silently. A shared one outlives
                // the upstream's memory of it (a restart, an expiry): rmcp initialises
                // again and retries the requests the 404 refused, which were not processed.
                config.reinit_on_expired_session = lifetime == Lifetime::Shared;
                let transport =
                    StreamableHttpClientTransport::with_client(ConnectorHttp { link: link.clone() }, config);
                handler.serve_with_lifecycle(transport, lifecycle).await
            }
            Transport::Sse => {
                let transport = LegacySse::connect(link.clone()).await?;
                handler.serve(transport).await
            }
        })
    }

    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.service.peer()
    }

    /// The target the session was opened with.
    pub fn target(&self) -> &Arc<Target> {
        &self.link.target
    }

    /// Whether the session has ended (closed, or its transport gone): requests on it fail
    /// without being sent.
    pub fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// Whether the server declared the `tools` capability (servers with tools must).
    pub fn offers_tools(&self) -> bool {
        self.service.peer_info().is_some_and(|info| info.capabilities.tools.is_some())
    }

    /// What the server said about itself in `initialize`.
    pub fn server_info(&self) -> Option<ServerInfo> {
        let info = self.service.peer_info()?;
        let implementation = info.server_info.as_ref();
        Some(ServerInfo {
            name: implementation.map(|i| i.name.clone()),
            title: implementation.and_then(|i| i.title.clone()),
            version: implementation.map(|i| i.version.clone()),
            protocol_version: Some(info.protocol_version.to_string()),
            capabilities: serde_json::to_value(&info.capabilities).unwrap_or_default(),
            instructions: info.instructions.clone(),
        })
    }

    /// Pages through `tools/list` until `name` is listed (or the list ends), so that rmcp
    /// knows the tool's schema in this session (it derives `Mcp-Param-*` headers from it).
    /// Once seen in this session, not again: rmcp keeps what a list told it.
    pub async fn list_until(&self, name: &str) -> Result<()> {
        if self.listed.lock().expect("listed tools").contains(name) {
            return Ok(());
        }
        let mut cursor = None;
        for _ in 0..LIST_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.take());
            let page = self.request(self.service.list_tools(Some(params))).await?;
            let mut listed = self.listed.lock().expect("listed tools");
            listed.extend(page.tools.iter().map(|t| t.name.to_string()));
            if listed.contains(name) {
                return Ok(());
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// `tools/call`: in one POST of ours once the session's framing is known and the tool's
    /// arguments need no headers (`param_headers`; rmcp builds those), else through rmcp's
    /// own helper, which answers SEP-2322 `input_required`.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
        param_headers: bool,
    ) -> Result<CallToolResult> {
        let framing = if param_headers || self.is_closed() { None } else { self.link.framings.learnt() };
        if let Some(framing) = framing
            && let Sent::Answered(answer) =
                call::call(&self.link, &framing, &params, self.service.service()).await
        {
            return answer;
        }
        self.request(self.service.call_tool(params)).await
    }

    /// Runs one of rmcp's requests; a failure is this request's own problem.
    pub async fn request<T>(
        &self,
        request: impl Future<Output = std::result::Result<T, ServiceError>>,
    ) -> Result<T> {
        request.await.map_err(|e| self.error(e))
    }

    /// Our problem for a failed request: the transport's own failure when there was one.
    fn error(&self, err: ServiceError) -> Error {
        let ours = match &err {
            ServiceError::TransportSend(e) => LinkError::within(e).and_then(|l| l.failure),
            _ => None,
        };
        if let Some(failure) = ours.and_then(|n| self.link.failures.claim(n)) {
            return failure;
        }
        match err {
            ServiceError::McpError(e) => answered_error(&e),
            other => protocol_error(other.to_string()),
        }
    }

    /// Ends the session (a Streamable HTTP upstream gets its DELETE), within a bound.
    pub async fn close(mut self) {
        let _ = self.service.close_with_timeout(CLOSE_TIMEOUT).await;
    }
}

/// The upstream's JSON-RPC error answering one of our requests.
pub(crate) fn answered_error(error: &ErrorData) -> Error {
    protocol_error(format!("the upstream answered with error {}: {}", error.code.0, error.message))
}

pub fn protocol_error(detail: String) -> Error {
    Error::upstream("upstream_protocol_error", detail)
}
