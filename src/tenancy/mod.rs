//! Tenants, their API keys and scopes, redirect allow-lists and rate-limit policy.

pub mod keys;
pub mod limits;
pub mod service;
mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

pub use keys::KeyCache;

/// A redirect allow-list entry is an origin: scheme, host and optional port, nothing else.
/// Returns it in its serialised form (lower-case host, no default port).
pub fn parse_origin(entry: &str) -> Result<String, NotAnOrigin> {
    let url = Url::parse(entry).map_err(|_| NotAnOrigin(format!("{entry:?} is not a URL")))?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
        return Err(NotAnOrigin(format!("{entry:?} must be an origin like https://app.example.com")));
    }
    Ok(url.origin().ascii_serialization())
}

/// Why an allow-list entry is not an origin (names the entry, nothing else).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAnOrigin(String);

/// The kind of the change notifications (migration 0005) that name an API key.
pub const NOTIFY_KIND: &str = "api_key";
/// The kind of the change notifications (migration 0024) that name a tenant.
pub const TENANT_NOTIFY_KIND: &str = "tenant";

/// What an API key may do. Scopes are independent: `write` does not imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read connectors and presets.
    Read,
    /// Create, change, connect, disconnect and delete connectors.
    Write,
    /// Use the MCP proxy.
    Proxy,
    /// Manage the tenant's own API keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Proxy, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Proxy => "proxy",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// Origins this tenant's `redirect_url`s may point to (besides the global allow-list).
    pub redirect_allowlist: Vec<String>,
    /// Whether direct tool calls keep their arguments and results (cut to 16 KiB) in the log.
    pub log_tool_payloads: bool,
    /// Overrides of the configured rate limits; `null` fields use the defaults.
    #[sqlx(flatten)]
    pub limits: LimitOverrides,
    pub created_at: DateTime<Utc>,
}

/// A tenant's own rate limits, each replacing the configured default when set. `0` means
/// unlimited. Limits apply per replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// REST API requests per second.
    #[sqlx(rename = "limit_api_rps")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub api_rps: Option<i32>,
    /// REST API burst (requests admitted at once).
    #[sqlx(rename = "limit_api_burst")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub api_burst: Option<i32>,
    /// Proxy requests per second.
    #[sqlx(rename = "limit_proxy_rps")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub proxy_rps: Option<i32>,
    /// Proxy burst.
    #[sqlx(rename = "limit_proxy_burst")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub proxy_burst: Option<i32>,
    /// Concurrent standalone proxy streams (`GET …/mcp`, `GET …/sse`).
    #[sqlx(rename = "limit_proxy_streams")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub proxy_streams: Option<i32>,
}

/// An API key as listed: never the key itself, only its prefix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: Option<String>,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
