//! The HTTP surface: thin handlers that parse, check scopes, call a service, and shape the
//! response. Extractors here turn every client mistake into a problem response.

mod admin;
mod api_keys;
mod connectors;
mod docs;
mod health;
mod oauth;
mod tools;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

pub use admin::TenantCreated;
pub use api_keys::IssuedApiKeyView;
pub use docs::ApiDoc;

pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_json_body;
    Router::new()
        .merge(health::routes())
        .merge(docs::routes())
        .nest(
            "/api/v1",
            Router::new()
                .merge(connectors::routes())
                .merge(tools::routes())
                .merge(oauth::routes())
                .merge(crate::proxy::routes())
                .merge(api_keys::routes())
                .merge(admin::routes()),
        )
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// `axum::Json` whose rejections are problems: 400 for bad JSON or unknown fields, 413 when
/// over the body limit, 415 without a JSON content type.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            _ => ApiError::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

/// Like [`ApiJson`], but an empty body (no content) means `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let empty = match headers.get(axum::http::header::CONTENT_LENGTH) {
            Some(len) => len == "0",
            None => !headers.contains_key(axum::http::header::TRANSFER_ENCODING),
        };
        if empty {
            return Ok(Self(T::default()));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Query` whose rejections are 400 problems.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Postgres text cannot hold NUL: refuse it here as the client's mistake, rather than
        // let it fail later as a database error.
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request("invalid_query", "the query string contains a NUL character"));
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

/// A resource id from the path. Anything that is not a UUID cannot name a resource, so it is
/// a 404 like any other unknown id, never a 400 that would tell ids apart.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_: PathRejection| ApiError::NotFound("resource"))?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound("resource"))
    }
}

/// A page of results; pass `next_cursor` back as `?cursor=` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Parses `limit` and `cursor` query values, naming each bad one.
fn page_params<C: std::str::FromStr>(
    limit: Option<i64>,
    cursor: Option<&str>,
    default: i64,
    max: i64,
) -> Result<(i64, Option<C>), ApiError> {
    let mut v = crate::error::Validator::default();
    let limit = limit.unwrap_or(default);
    v.check((1..=max).contains(&limit), "limit", format!("must be between 1 and {max}"));
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let parsed = c.parse().ok();
            v.check(parsed.is_some(), "cursor", "not a cursor returned by this API");
            parsed
        }
    };
    v.finish()?;
    Ok((limit, cursor))
}
