//! One error type for the API, rendered as RFC 9457 `application/problem+json`.
//!
//! Every variant has a stable machine `code` that clients can switch on; `detail` is for
//! people. Internal errors are logged with their cause and answered with a generic detail so
//! nothing about the database or keys leaks to the caller.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

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
pub enum ApiError {
    #[error("invalid input: {}", field_list(.0))]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this API key lacks the `{0}` scope")]
    MissingScope(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(&'static str),
    /// The request was understood but cannot be carried out as things stand (422).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// An upstream server or authorization server failed us (502, or 504 on timeout).
    #[error("{detail}")]
    Upstream { status: StatusCode, code: &'static str, detail: String },
    /// Over a rate limit or quota (429 with `Retry-After`).
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: std::time::Duration },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn field_list(errors: &[FieldError]) -> String {
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    fields.join(", ")
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable { code, detail: detail.into() }
    }

    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Upstream { status: StatusCode::BAD_GATEWAY, code, detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MissingScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Upstream { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Upstream { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::MissingScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // Every connection is busy: overload, which a client may retry, not a bug.
            sqlx::Error::PoolTimedOut => Self::Unavailable("the database is busy; retry shortly"),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::platform::crypto::CryptoError> for ApiError {
    fn from(err: crate::platform::crypto::CryptoError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<crate::platform::net::NetError> for ApiError {
    fn from(err: crate::platform::net::NetError) -> Self {
        use crate::platform::net::NetError;
        match err {
            NetError::DestinationNotAllowed(_) => {
                Self::bad_request("destination_not_allowed", err.to_string())
            }
            NetError::Timeout => Self::Upstream {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: "upstream_timeout",
                detail: "the upstream did not answer in time".into(),
            },
            NetError::Unreachable(_) => Self::bad_gateway("upstream_unreachable", err.to_string()),
            NetError::TooLarge(_) => Self::bad_gateway("upstream_response_too_large", err.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

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

    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}
