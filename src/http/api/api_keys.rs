//! `/api/v1/api-keys`: a tenant manages its own keys with an `admin`-scoped key.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::extract::Caller;
use crate::http::extract::{ApiJson, PathId};
use crate::http::problem::ApiResult;
use crate::http::problem::Problem;
use crate::tenancy::service::{self, IssuedApiKey};
use crate::tenancy::{ApiKey, Scope};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(list_keys).post(create_key))
        .route("/api-keys/{id}", delete(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// At least one of `read`, `write`, `proxy`, `admin`.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// A label to tell keys apart.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
}

/// A newly created key. `api_key` is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedApiKeyView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: Option<String>,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// The secret key (`sk_...`). Store it now: only its hash is kept.
    pub api_key: String,
}

impl From<IssuedApiKey> for IssuedApiKeyView {
    fn from(issued: IssuedApiKey) -> Self {
        let k = issued.key;
        Self {
            id: k.id,
            tenant_id: k.tenant_id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: k.created_at,
            api_key: issued.secret.expose_secret().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
}

/// List this tenant's API keys (prefixes only).
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = ApiKeyList), (status = 403, body = Problem)),
    security(("api_key" = ["admin"]))
)]
pub async fn list_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<ApiKeyList>> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(ApiKeyList { items: service::list_api_keys(&state.db, caller.tenant_id).await? }))
}

/// Create an API key for this tenant.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKeyView), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("api_key" = ["admin"]))
)]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Scope::Admin)?;
    let issued =
        service::create_api_key(&state.db, caller.tenant_id, &body.scopes, body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(IssuedApiKeyView::from(issued))))
}

/// Revoke one of this tenant's API keys.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("api_key" = ["admin"]))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    service::revoke_api_key(&state.db, id, Some(caller.tenant_id)).await?;
    state.caches.hub.forget(crate::tenancy::NOTIFY_KIND, id);
    Ok(StatusCode::NO_CONTENT)
}
