//! The REST API under `/api/v1`: thin handlers that parse, check scopes, call a service,
//! and shape the response (the views live beside their handlers).

mod admin;
mod api_keys;
mod connectors;
mod descriptors;
mod docs;
mod gateway_oauth;
mod gateways;
mod health;
mod oauth;
mod tools;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::Error;
use crate::http::problem::ApiError;

pub use admin::TenantCreated;
pub use api_keys::IssuedApiKeyView;
pub use docs::ApiDoc;

pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_json_body;
    Router::new()
        .merge(health::routes())
        .merge(docs::routes())
        .merge(super::authz::routes())
        .nest(
            "/api/v1",
            Router::new()
                .merge(connectors::routes(max_body))
                .merge(descriptors::routes())
                .merge(tools::routes())
                .merge(gateways::routes())
                .merge(gateway_oauth::routes())
                .merge(oauth::routes())
                .merge(super::proxy::routes())
                .merge(super::mcp_server::routes())
                .merge(api_keys::routes())
                .merge(admin::routes()),
        )
        .fallback(|| async { ApiError::from(Error::NotFound("route")) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
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
