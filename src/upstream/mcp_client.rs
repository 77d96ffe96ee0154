//! Speaking MCP to a connector's upstream as a client (rmcp), for syncs and direct calls.
//!
//! Every HTTP request of a session goes through [`super::send`], the proxy's own path: the
//! connector's credential is injected, an expired or rejected OAuth token is refreshed
//! (single flight) and the request retried once, and the SSRF guard of `platform::net`
//! applies. Streamable HTTP
//! upstreams use rmcp's own transport over [`ConnectorHttp`]; legacy SSE upstreams use
//! [`super::legacy_sse::LegacySse`]. Above the transport both share one code path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, JsonRpcMessage,
    ServerJsonRpcMessage,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
    StreamableHttpError, StreamableHttpPostResponse,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use sse_stream::Sse;
use url::Url;

use super::legacy_sse::LegacySse;
use super::target::Target;
use super::{Context, send};
use crate::error::{Error, Result};
use crate::mcp::ServerInfo;
use crate::mcp::Transport;
use crate::platform::net::read_capped;
use crate::platform::sse;

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Largest JSON (non-streamed) answer read from an upstream; a tools/list page over this is
/// refused like an oversized catalog.
pub const MAX_MESSAGE: usize = crate::platform::sse::MAX_EVENT;
/// Error bodies are read only to find a JSON-RPC error in them.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long closing a session (DELETE, stream shutdown) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every request of one session needs: where to send, with which credential, and a slot
/// for the first failure, so the caller gets our problem (refresh failed, timeout, ...)
/// rather than rmcp's flattened transport error.
#[derive(Clone)]
pub(crate) struct Link {
    ctx: Context,
    target: Arc<Target>,
    failure: Arc<Mutex<Option<Error>>>,
}

/// A transport failure as rmcp sees it; the real [`Error`] stays in the [`Link`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub(crate) String);

impl Link {
    pub(crate) fn url(&self) -> &Url {
        &self.target.url
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, LinkError> {
        send::send(&self.ctx, self.target.clone(), method, url, &headers, body)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Keeps the first failure for [`Session`] to report and hands rmcp its description.
    pub(crate) fn fail(&self, err: Error) -> LinkError {
        let text = err.to_string();
        let mut slot = self.failure.lock().expect("failure slot");
        slot.get_or_insert(err);
        LinkError(text)
    }

    fn take_failure(&self) -> Option<Error> {
        self.failure.lock().expect("failure slot").take()
    }

    /// The problem behind a failed request: the kept failure, else rmcp's description.
    pub(crate) fn error(&self, err: LinkError) -> Error {
        self.take_failure().unwrap_or_else(|| protocol_error(err.0))
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

fn content_type(response: &reqwest::Response) -> String {
    let value = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    value.unwrap_or_default().to_ascii_lowercase()
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
        let mut headers = Self::headers(session_id.as_deref(), custom_headers)?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = serde_json::to_vec(&message)?;
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
            let body = self.read(response, MAX_ERROR_BODY).await.unwrap_or_default();
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(error @ JsonRpcMessage::Error(_)) => Ok(StreamableHttpPostResponse::Json(error, session)),
                _ => Err(unexpected(format!("the upstream answered HTTP {}", status.as_u16()))),
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
pub struct SessionHandler {
    on_list_changed: Box<dyn Fn() + Send + Sync>,
}

impl SessionHandler {
    pub fn new(on_list_changed: impl Fn() + Send + Sync + 'static) -> Self {
        Self { on_list_changed: Box::new(on_list_changed) }
    }
}

impl ClientHandler for SessionHandler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        (self.on_list_changed)();
    }

    fn get_info(&self) -> ClientConfig {
        let us = Implementation::new("switchboard", env!("CARGO_PKG_VERSION"));
        ClientConfig::new(ClientCapabilities::default(), us)
    }
}

/// An initialised MCP session with a connector's upstream.
pub struct Session {
    service: RunningService<RoleClient, SessionHandler>,
    link: Link,
}

impl Session {
    /// Connects and runs `initialize` / `notifications/initialized`.
    pub async fn open(ctx: &Context, target: Arc<Target>, handler: SessionHandler) -> Result<Self> {
        let link = Link { ctx: ctx.clone(), target, failure: Arc::default() };
        let started = match link.target.transport {
            Transport::StreamableHttp => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(link.url().as_str());
                // A new session is cheap and ours are short: never replay requests silently.
                config.reinit_on_expired_session = false;
                let transport =
                    StreamableHttpClientTransport::with_client(ConnectorHttp { link: link.clone() }, config);
                handler.serve(transport).await
            }
            Transport::Sse => {
                let transport = LegacySse::connect(link.clone()).await?;
                handler.serve(transport).await
            }
        };
        let service = started.map_err(|e| {
            link.take_failure().unwrap_or_else(|| protocol_error(format!("initialize failed: {e}")))
        })?;
        Ok(Self { service, link })
    }

    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.service.peer()
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
        })
    }

    pub async fn call_tool(&self, params: CallToolRequestParams) -> Result<CallToolResult> {
        self.service.call_tool(params).await.map_err(|e| self.error(e))
    }

    /// Our problem for a failed request: the transport's own failure when there was one.
    pub fn error(&self, err: ServiceError) -> Error {
        if let Some(failure) = self.link.take_failure() {
            return failure;
        }
        match err {
            ServiceError::McpError(e) => {
                protocol_error(format!("the upstream answered with error {}: {}", e.code.0, e.message))
            }
            other => protocol_error(other.to_string()),
        }
    }

    /// Ends the session (a Streamable HTTP upstream gets its DELETE), within a bound.
    pub async fn close(mut self) {
        let _ = self.service.close_with_timeout(CLOSE_TIMEOUT).await;
    }
}

pub fn protocol_error(detail: String) -> Error {
    Error::upstream("upstream_protocol_error", detail)
}
