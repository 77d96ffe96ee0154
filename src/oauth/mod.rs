//! Switchboard as an OAuth 2.1 client of upstream authorization servers (MCP authorization,
//! 2025-11-25): discovery, registration, PKCE authorization, token grants, revocation.

pub mod discovery;
pub mod grant;
mod http;
pub mod model;
pub mod registration;
pub mod store;

use crate::platform::net::NetError;

pub use model::{OAuthClientRef, OAuthGrant, TokenEndpointAuthMethod};

/// Why a call to an authorization server did not produce what we asked for.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The server answered with an OAuth error (RFC 6749 §5.2): `invalid_grant`, ...
    #[error("{error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth { error: String, description: Option<String> },
    /// Network trouble, timeouts, 5xx: worth retrying later.
    #[error("{0}")]
    Transport(String),
    #[error("unexpected answer from the authorization server: {0}")]
    InvalidResponse(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Refused(NetError),
}

impl From<NetError> for GrantError {
    fn from(err: NetError) -> Self {
        match err {
            NetError::DestinationNotAllowed(_) => GrantError::Refused(err),
            other => GrantError::Transport(other.to_string()),
        }
    }
}

impl GrantError {
    /// Reads an RFC 6749 §5.2 error body, or describes the status when there is none.
    pub fn from_error_body(status: reqwest::StatusCode, body: &[u8], what: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: String,
            error_description: Option<String>,
        }
        if status.is_server_error() {
            return GrantError::Transport(format!("the {what} endpoint answered HTTP {status}"));
        }
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => GrantError::OAuth { error: b.error, description: b.error_description },
            Err(_) => GrantError::InvalidResponse(format!("the {what} endpoint answered HTTP {status}")),
        }
    }

    /// The OAuth error code, if the server sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            GrantError::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The label for an OAuth call that failed, from a fixed list.
pub(crate) fn grant_outcome<T>(result: &Result<T, GrantError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(GrantError::OAuth { error, .. }) => match error.as_str() {
            "invalid_grant" => "invalid_grant",
            "invalid_client" | "unauthorized_client" => "invalid_client",
            _ => "oauth_error",
        },
        Err(GrantError::Transport(_)) => "unreachable",
        Err(GrantError::InvalidResponse(_)) => "invalid_response",
        Err(GrantError::Unsupported(_) | GrantError::Refused(_)) => "refused",
    }
}

/// Records one token endpoint request.
pub(crate) fn record_token_request<T>(grant: &'static str, result: &Result<T, GrantError>) {
    metrics::counter!(crate::platform::metrics::TOKEN_REQUESTS, "grant" => grant, "outcome" => grant_outcome(result)).increment(1);
}
