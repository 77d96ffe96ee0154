//! Errors as RFC 9457 `application/problem+json` responses. [`ApiError`] is what handlers
//! return: a domain [`Error`] or one of the few failures only HTTP knows (a missing scope,
//! a wrong method, a body too large or not JSON). This file alone decides each one's status,
//! headers (`WWW-Authenticate`, `Retry-After`) and wording for the API (route hints
//! included); the stable `code` comes from the domain. Internal errors are logged with their
//! cause and answered with a generic detail, so nothing about the database or keys leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, FieldError};

/// What a handler fails with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("this API key lacks the `{0}` scope")]
    MissingScope(&'static str),
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("the request body stopped arriving; send it without long pauses")]
    RequestTimeout,
    /// A protected resource's 401, with the `WWW-Authenticate` challenge that names where its
    /// metadata is (RFC 9728 §5.1): the gateway endpoint's answer to a request without a
    /// credential, or with a dead OAuth access token.
    #[error("{error}")]
    Challenge { error: Error, challenge: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What a client is told to wait while the database is unavailable: about as long as a
/// Postgres restart or failover takes; the invalidation listener retries every second.
const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// The JSON body of a problem response (RFC 9457 plus `code` and `errors` extensions).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; stable per `code`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Present on validation failures (`validation_failed`) and on `openapi_not_importable`
    /// for a draft that does not validate: every offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// `insufficient_scope` from an upstream: the scopes it requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `needs_authorization`: the authorization server the upstream names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
}

/// The status a domain error is answered with.
fn domain_status(err: &Error) -> StatusCode {
    match err {
        Error::Invalid(_) | Error::Rejected { .. } => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::NotConnected { .. }
        | Error::WrongTransport { .. }
        | Error::Conflict { .. }
        | Error::NeedsAuthorization { .. } => StatusCode::CONFLICT,
        Error::InsufficientScope { .. } => StatusCode::FORBIDDEN,
        Error::Unprocessable { .. } | Error::UnprocessableFields { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
        Error::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) | Error::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `detail` of a domain error: its message, with where to go next in this API.
fn domain_detail(err: &Error) -> String {
    match err {
        Error::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
        Error::NotConnected { connector_id, .. }
        | Error::NeedsAuthorization { connector_id, .. }
        | Error::InsufficientScope { connector_id, .. } => {
            format!("{err} (POST /api/v1/connectors/{connector_id}/connect)")
        }
        Error::WrongTransport { connector_id, transport } => {
            let endpoint = if *transport == "sse" { "sse" } else { "mcp" };
            format!("{err}; use /api/v1/connectors/{connector_id}/{endpoint}")
        }
        other => other.to_string(),
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(err) | Self::Challenge { error: err, .. } => domain_status(err),
            Self::MissingScope(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Domain(err) | Self::Challenge { error: err, .. } => err.code(),
            Self::MissingScope(_) => "insufficient_scope",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NotAcceptable(_) => "not_acceptable",
            Self::RequestTimeout => "request_timeout",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Domain(err) | Self::Challenge { error: err, .. } => domain_detail(err),
            other => other.to_string(),
        };
        Problem {
            type_uri: format!("urn:switchboard:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code: self.code(),
            errors: match self {
                Self::Domain(Error::Invalid(errors) | Error::UnprocessableFields { errors, .. }) => {
                    Some(errors.clone())
                }
                _ => None,
            },
            scopes: match self {
                Self::Domain(Error::InsufficientScope { scopes, .. }) => Some(scopes.clone()),
                _ => None,
            },
            authorization_server: match self {
                Self::Domain(Error::NeedsAuthorization { authorization_server, .. }) => {
                    authorization_server.clone()
                }
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Domain(Error::Internal(err)) = &self {
            tracing::error!(error = format!("{err:#}"), "internal error");
        }
        let mut response = (self.status(), axum::Json(self.to_problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match &self {
            Self::Domain(Error::Unauthenticated(_)) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Domain(Error::RateLimited { retry_after, .. }) => {
                // Whole seconds, rounded up: a client that waits this long gets through.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            Self::Domain(Error::DatabaseUnavailable) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_AFTER_SECS));
            }
            Self::Challenge { challenge, .. } => {
                let value = HeaderValue::from_str(challenge).unwrap_or(HeaderValue::from_static("Bearer"));
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;

    fn answer(err: impl Into<ApiError>) -> (u16, &'static str, String, Response) {
        let err = err.into();
        let problem = err.to_problem();
        (problem.status, problem.code, problem.detail, err.into_response())
    }

    #[test]
    fn every_domain_error_keeps_its_status_and_code() {
        let id = Uuid::nil();
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::Invalid(vec![FieldError::new("url", "bad")]), 400, "validation_failed"),
            (Error::rejected("destination_not_allowed", "no"), 400, "destination_not_allowed"),
            (Error::Unauthenticated("who?"), 401, "unauthorized"),
            (Error::NotFound("connector"), 404, "not_found"),
            (Error::NotConnected { connector_id: id, status: "created" }, 409, "connector_not_connected"),
            (Error::WrongTransport { connector_id: id, transport: "sse" }, 409, "wrong_transport"),
            (Error::conflict("sync_superseded", "later"), 409, "sync_superseded"),
            (
                Error::NeedsAuthorization {
                    connector_id: id,
                    authorization_server: None,
                    detail: "x".into(),
                },
                409,
                "needs_authorization",
            ),
            (
                Error::InsufficientScope { connector_id: id, scopes: vec!["a".into()] },
                403,
                "insufficient_scope",
            ),
            (Error::unprocessable("credentials_rejected", "401"), 422, "credentials_rejected"),
            (
                Error::UnprocessableFields {
                    code: "openapi_not_importable",
                    detail: "x".into(),
                    errors: vec![FieldError::new("descriptor.metadata.name", "bad")],
                },
                422,
                "openapi_not_importable",
            ),
            (Error::upstream("refresh_failed", "gone"), 502, "refresh_failed"),
            (Error::UpstreamTimeout("slow".into()), 504, "upstream_timeout"),
            (
                Error::RateLimited { detail: "slow down".into(), retry_after: Duration::ZERO },
                429,
                "rate_limited",
            ),
            (Error::Unavailable("busy"), 503, "unavailable"),
            (Error::DatabaseUnavailable, 503, "database_unavailable"),
            (Error::Internal(anyhow::anyhow!("secret cause")), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let (s, c, detail, response) = answer(err);
            assert_eq!((s, c), (status, code));
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
            assert!(!detail.contains("secret cause"), "internal causes are not shown");
        }
        let http_only = [
            (ApiError::MissingScope("write"), 403, "insufficient_scope"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType("json".into()), 415, "unsupported_media_type"),
            (ApiError::NotAcceptable("sse"), 406, "not_acceptable"),
            (ApiError::RequestTimeout, 408, "request_timeout"),
        ];
        for (err, status, code) in http_only {
            let (s, c, _, response) = answer(err);
            assert_eq!((s, c, response.status().as_u16()), (status, code, status));
        }
    }

    #[test]
    fn headers_and_route_hints_are_added_here() {
        let (_, _, _, unauthorized) = answer(Error::Unauthenticated("who?"));
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let limited = Error::RateLimited { detail: "x".into(), retry_after: Duration::from_millis(1200) };
        assert_eq!(answer(limited).3.headers()[header::RETRY_AFTER], "2", "rounded up");
        assert_eq!(answer(Error::DatabaseUnavailable).3.headers()[header::RETRY_AFTER], "5");
        let id = Uuid::now_v7();
        let (_, _, detail, _) = answer(Error::NotConnected { connector_id: id, status: "disconnected" });
        assert_eq!(
            detail,
            format!("the connector is disconnected; connect it first (POST /api/v1/connectors/{id}/connect)")
        );
        let (_, _, detail, _) = answer(Error::WrongTransport { connector_id: id, transport: "sse" });
        assert_eq!(detail, format!("this connector's upstream speaks sse; use /api/v1/connectors/{id}/sse"));
        let (_, _, detail, _) =
            answer(Error::WrongTransport { connector_id: id, transport: "streamable_http" });
        assert!(detail.ends_with("/mcp"));
    }
}
