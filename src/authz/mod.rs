//! Switchboard's own OAuth 2.1 authorization server, for gateway endpoints (issue 14; MCP
//! authorization, server side): MCP clients that speak only OAuth discover it from the
//! gateway's 401, register ([`clients`]: Dynamic Client Registration, or a Client ID Metadata
//! Document), send a person to the consent page ([`authorize`]), where a gateway key of that
//! gateway signs them in, and trade the code for opaque, hashed, short-lived tokens
//! ([`tokens`]) that open the gateway with the asked ∩ the key's scopes.
//!
//! The other OAuth module, `oauth`, is the *client* side (Switchboard connecting to
//! upstream authorization servers); this one is the server side. Decision 0063.

pub mod authorize;
pub mod clients;
pub mod metadata;
pub mod store;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::config::Settings;
use crate::gateway::KeyCache;
use crate::platform::net::Outbound;
pub use clients::ClientCache;

/// How long an authorization code may wait to be exchanged.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a person has on the consent page.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a refresh token lives unused (each use rotates it).
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 86_400);

/// How long spent and expired rows are kept before the worker purges them: long enough to
/// recognise a replayed code or refresh token, and to read what happened yesterday.
pub const PURGE_GRACE: Duration = Duration::from_secs(86_400);

/// What the authorization server needs.
#[derive(Clone)]
pub struct Context {
    pub db: PgPool,
    pub net: Outbound,
    pub settings: Arc<Settings>,
    /// Gateway keys, for the consent page's sign-in.
    pub gateway_keys: Arc<KeyCache>,
    /// Client ID Metadata Documents fetched lately.
    pub clients: Arc<ClientCache>,
}

/// Why an OAuth request is refused, in the words of the RFCs: `error` is the registered
/// error code (RFC 6749 §4.1.2.1, §5.2; RFC 7591 §3.2.2; RFC 8707 §2), `description` says
/// why in plain words. Anything else (the database is down) is a domain error.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{error}: {description}")]
    OAuth { error: &'static str, description: String },
    #[error(transparent)]
    Other(#[from] crate::error::Error),
}

impl Refusal {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth { error, description: description.into() }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(err: sqlx::Error) -> Self {
        Self::Other(err.into())
    }
}

pub type Outcome<T> = std::result::Result<T, Refusal>;
