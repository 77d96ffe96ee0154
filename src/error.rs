//! The domain error: what feature modules and the worker return when something cannot be
//! done. Each variant says *what kind* of failure it is (invalid input, not found, a state
//! that forbids it, an upstream that failed us, ...) and carries a stable machine `code`;
//! none knows HTTP. `http::problem` turns it into a status and an RFC 9457 problem, and is
//! the only place that does. Messages say what happened in the domain's words: never a
//! route, never a status.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::crypto::CryptoError;
use crate::platform::net::NetError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input field, named by its JSON path (e.g. `auth.client_id`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks the rules; every offending field is named.
    #[error("invalid input: {}", field_list(.0))]
    Invalid(Vec<FieldError>),
    /// The request cannot be accepted as asked (`destination_not_allowed`, ...).
    #[error("{detail}")]
    Rejected { code: &'static str, detail: String },
    /// The credential presented names no active key (or none was presented).
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The connector is not connected (`status` names what it is), so its upstream cannot
    /// be used.
    #[error("the connector is {status}; connect it first")]
    NotConnected { connector_id: Uuid, status: &'static str },
    /// The connector's upstream speaks `transport`, not the one asked for.
    #[error("this connector's upstream speaks {transport}")]
    WrongTransport { connector_id: Uuid, transport: &'static str },
    /// The state of things forbids it (`sync_superseded`, `auth_not_replaceable`, ...).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Understood, but it cannot be carried out as things stand (`credentials_rejected` on
    /// connect, `pkce_unsupported`, ...).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// Understood, but what it would make breaks the rules (`openapi_not_importable`: an
    /// OpenAPI document whose descriptor draft does not validate); `errors` names every
    /// broken field of what it would make, not of the input.
    #[error("{detail}: {}", field_list(.errors))]
    UnprocessableFields { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// An upstream server or authorization server failed us (`upstream_unreachable`,
    /// `refresh_failed`, ...).
    #[error("{detail}")]
    Upstream { code: &'static str, detail: String },
    /// The upstream wants an authorization the connector does not hold (a late 401, an
    /// authorization server that changed): a person must connect it; `authorization_server`
    /// is the one the upstream names, when discovery found it.
    #[error("{detail}")]
    NeedsAuthorization { connector_id: Uuid, authorization_server: Option<String>, detail: String },
    /// The upstream refused the connector's token for lacking `scopes` (SEP-835 step-up); a
    /// connect asks for them along with the scopes already held.
    #[error("the upstream requires the scopes {} for this request; connect again to authorize them", .scopes.join(" "))]
    InsufficientScope { connector_id: Uuid, scopes: Vec<String> },
    /// An upstream did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// Over a rate limit or quota; worth retrying after `retry_after`.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: Duration },
    /// Overloaded or shutting down; worth retrying shortly.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The database cannot be reached right now (down, restarting, unreachable, or every
    /// connection busy); worth retrying shortly. See [`database_unreachable`].
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable,
    /// A bug or a broken dependency: logged with its cause, never shown.
    #[error(transparent)]
    Internal(anyhow::Error),
}

fn field_list(errors: &[FieldError]) -> String {
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    fields.join(", ")
}

impl Error {
    pub fn rejected(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Rejected { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable { code, detail: detail.into() }
    }

    pub fn upstream(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Upstream { code, detail: detail.into() }
    }

    /// The stable machine code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::Rejected { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::UnprocessableFields { code, .. }
            | Self::Upstream { code, .. } => code,
            Self::Unauthenticated(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::NotConnected { .. } => "connector_not_connected",
            Self::WrongTransport { .. } => "wrong_transport",
            Self::NeedsAuthorization { .. } => "needs_authorization",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// Whether `err` says the database cannot be reached — nothing wrong with the request or the
/// code, so a retry shortly may succeed: no connection could be had in time (Postgres down or
/// every connection busy), the connection broke, or the server refused it while starting up,
/// shutting down or full (SQLSTATE class 08, 57P01–57P03, 53300).
pub fn database_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if database_unreachable(&err) { Self::DatabaseUnavailable } else { Self::Internal(err.into()) }
    }
}

/// Stores return `anyhow` errors with context; one whose cause is an unreachable database is
/// [`Error::DatabaseUnavailable`] all the same, wherever it was raised.
impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        let unreachable = err.chain().any(|cause| cause.downcast_ref().is_some_and(database_unreachable));
        if unreachable { Self::DatabaseUnavailable } else { Self::Internal(err) }
    }
}

impl From<CryptoError> for Error {
    fn from(err: CryptoError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<NetError> for Error {
    fn from(err: NetError) -> Self {
        match err {
            NetError::DestinationNotAllowed(_) => Self::rejected("destination_not_allowed", err.to_string()),
            NetError::Timeout => Self::UpstreamTimeout("the upstream did not answer in time".into()),
            NetError::Unreachable(_) => Self::upstream("upstream_unreachable", err.to_string()),
            NetError::TooLarge(_) => Self::upstream("upstream_response_too_large", err.to_string()),
        }
    }
}

/// Collects every invalid field before answering, so a client fixes its request in one go.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.errors.push(FieldError::new(field, message));
        }
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(Error::Invalid(self.errors)) }
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    fn refused() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    }

    #[test]
    fn an_unreachable_database_is_unavailable_however_it_is_wrapped() {
        assert!(matches!(Error::from(sqlx::Error::PoolTimedOut), Error::DatabaseUnavailable));
        assert!(matches!(Error::from(refused()), Error::DatabaseUnavailable));
        let stored: anyhow::Result<()> = Err(refused()).context("reading the connector");
        assert!(matches!(Error::from(stored.unwrap_err()), Error::DatabaseUnavailable));
        assert!(matches!(Error::from(sqlx::Error::RowNotFound), Error::Internal(_)), "a bug stays a bug");
        assert!(matches!(Error::from(anyhow::anyhow!("no database here")), Error::Internal(_)));
    }
}
