//! The settings the running service needs, as plain values: what every layer may read and
//! nothing here knows a feature module. Where they come from (environment, flags) and how
//! they are checked is the CLI's business (`cli/`); tests build [`Settings`] directly.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// The log filter when `RUST_LOG` is unset. rmcp at WARN: it logs its own service's start and
/// end at INFO, which for a served MCP endpoint (a service per request, stateless) is two
/// lines per request (and a third on its input ending) that say nothing the request log does not.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,rmcp=warn";

/// Validated settings the running service needs (the keyring and presets are built
/// separately because they involve files and parsing with their own errors).
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_url: Url,
    /// Where the Client ID Metadata Document is published instead of under `public_url`.
    pub client_metadata_url: Option<Url>,
    pub admin_token: Option<SecretString>,
    pub allow_private_networks: bool,
    pub redirect_allowlist: Vec<String>,
    /// Largest JSON body the REST API accepts.
    pub max_json_body: usize,
    /// How long a pending OAuth authorization stays valid.
    pub authorization_ttl: Duration,
    /// How long an access token of Switchboard's own authorization server (gateway OAuth) lives.
    pub oauth_access_ttl: Duration,
    pub refresh: RefreshPolicy,
    /// Largest request body the MCP proxy accepts.
    pub proxy_max_body: usize,
    /// Longest a direct tool call may take.
    pub tool_call_timeout: Duration,
    /// Periodic tool resync; `None` = off.
    pub tool_resync_interval: Option<Duration>,
    /// Gateway call logs older than this are purged by the worker (whole days).
    pub gateway_log_retention: Duration,
    /// Default per-tenant rate limits.
    pub limits: LimitDefaults,
    pub shutdown: ShutdownPolicy,
    /// Where /metrics is served when not on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// How long cached API keys and proxy targets are still served after the cache
    /// invalidation listener loses the database; zero = not at all.
    pub cache_outage_grace: Duration,
    /// How long clients may take to send requests (slow or stalled clients).
    pub http: HttpTimeouts,
}

/// Limits on slow clients; each `None` = no limit. They bound how long a client may take to
/// *send*: a response, however long it streams (SSE), is never cut by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// From the first byte of a request to the end of its headers.
    pub header_read: Option<Duration>,
    /// Longest silence while a handler waits for more of a request body (then 408).
    pub body_idle: Option<Duration>,
    /// How long a connection may wait for its next request (after accept, or after the
    /// previous response ended) before it is closed.
    pub keep_alive_idle: Option<Duration>,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            header_read: Some(Duration::from_secs(10)),
            body_idle: Some(Duration::from_secs(30)),
            keep_alive_idle: Some(Duration::from_secs(75)),
        }
    }
}

/// When tokens are refreshed.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Refresh this long before expiry (at most half the token's lifetime).
    pub lead: Duration,
    /// Refresh at least this often; `None` = no keep-alive.
    pub keepalive: Option<Duration>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self { lead: Duration::from_secs(300), keepalive: Some(Duration::from_secs(86_400)) }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: Url::parse("http://127.0.0.1:8080").expect("static URL"),
            client_metadata_url: None,
            admin_token: None,
            allow_private_networks: false,
            redirect_allowlist: Vec::new(),
            max_json_body: 64 * 1024,
            authorization_ttl: Duration::from_secs(3600),
            oauth_access_ttl: Duration::from_secs(3600),
            refresh: RefreshPolicy::default(),
            proxy_max_body: 4 * 1024 * 1024,
            tool_call_timeout: Duration::from_secs(60),
            tool_resync_interval: None,
            gateway_log_retention: Duration::from_secs(30 * 86_400),
            limits: LimitDefaults::default(),
            shutdown: ShutdownPolicy::default(),
            metrics_listen: None,
            cache_outage_grace: crate::platform::cache::DEFAULT_OUTAGE_GRACE,
            http: HttpTimeouts::default(),
        }
    }
}

impl Settings {
    /// A URL under the public base URL (which may itself have a path prefix).
    pub fn public_endpoint(&self, path: &str) -> Url {
        let mut base = self.public_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path.trim_start_matches('/')).expect("a relative path joins onto an http(s) URL")
    }

    /// Where authorization servers send the browser back.
    pub fn oauth_callback_url(&self) -> Url {
        self.public_endpoint("api/v1/oauth/callback")
    }

    /// Our Client ID Metadata Document, also our client_id where CIMD is used: where it is
    /// published, else served by us.
    pub fn client_metadata_url(&self) -> Url {
        match &self.client_metadata_url {
            Some(url) => url.clone(),
            None => self.public_endpoint("api/v1/oauth/client-metadata.json"),
        }
    }
}

/// Requests per second with a burst; `per_second == 0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// The configured rate limits, for tenants without overrides of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitDefaults {
    pub api: Rate,
    pub proxy: Rate,
    /// Concurrent standalone proxy streams per tenant; 0 means unlimited.
    pub proxy_streams: u32,
    /// MCP requests per key at a gateway's endpoint (a gateway may override it).
    pub gateway_key: Rate,
}

/// Sized so that a busy agent fleet does not meet them (README, "Sizing rate limits"): they
/// stop one runaway tenant from taking a whole replica, they do not shape normal traffic.
/// The proxy's rate is about what one 2-core replica serves in all; its burst covers an
/// agent fanning a plan out into parallel tool calls; every MCP session may hold a
/// standalone stream. One gateway key is one agent or IDE: its rate stops a runaway loop,
/// its burst covers a plan's parallel tool calls.
impl Default for LimitDefaults {
    fn default() -> Self {
        Self {
            api: Rate { per_second: 50, burst: 100 },
            proxy: Rate { per_second: 2000, burst: 5000 },
            proxy_streams: 1000,
            gateway_key: Rate { per_second: 100, burst: 200 },
        }
    }
}

/// How long each phase of a shutdown may take.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownPolicy {
    /// From the signal to closing the listener: time for load balancers to see `/readyz` fail.
    pub delay: Duration,
    /// From closing the listener to exiting, whatever is still in flight.
    pub timeout: Duration,
}

impl Default for ShutdownPolicy {
    fn default() -> Self {
        Self { delay: Duration::ZERO, timeout: Duration::from_secs(30) }
    }
}
