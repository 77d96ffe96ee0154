//! `/api/v1/admin`: the operator's API (tenants and their keys), guarded by
//! `SWITCHBOARD_ADMIN_TOKEN`. The CLI offers the same operations.

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

use super::api_keys::{ApiKeyList, CreateApiKey, IssuedApiKeyView};
use super::{Page, page_params};
use crate::http::AppState;
use crate::http::extract::Operator;
use crate::http::extract::{ApiJson, ApiQuery, PathId};
use crate::http::problem::ApiResult;
use crate::http::problem::Problem;
use crate::tenancy::service::{self, IssuedApiKey, TenantChanges};
use crate::tenancy::{LimitOverrides, Scope, Tenant};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/tenants", get(list_tenants).post(create_tenant))
        .route("/admin/tenants/{id}", get(get_tenant).patch(update_tenant))
        .route("/admin/tenants/{id}/api-keys", get(list_tenant_keys).post(create_tenant_key))
        .route("/admin/api-keys/{id}", delete(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// A new tenant and its first API key (every scope). `api_key` is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub api_key_id: Uuid,
    pub scopes: Vec<Scope>,
    pub api_key: String,
}

impl TenantCreated {
    pub fn new(tenant: Tenant, issued: IssuedApiKey) -> Self {
        Self {
            tenant_id: tenant.id,
            name: tenant.name,
            created_at: tenant.created_at,
            api_key_id: issued.key.id,
            scopes: issued.key.scopes,
            api_key: issued.secret.expose_secret().to_owned(),
        }
    }
}

/// Create a tenant with a first API key.
#[utoipa::path(
    post, path = "/api/v1/admin/tenants", tag = "admin", request_body = CreateTenant,
    responses((status = 201, body = TenantCreated), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn create_tenant(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(body): ApiJson<CreateTenant>,
) -> ApiResult<impl IntoResponse> {
    let (tenant, issued) = service::create_tenant(&state.db, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(TenantCreated::new(tenant, issued))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantListParams {
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List tenants, oldest first.
#[utoipa::path(
    get, path = "/api/v1/admin/tenants", tag = "admin", params(TenantListParams),
    responses((status = 200, body = Page<Tenant>), (status = 401, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn list_tenants(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(params): ApiQuery<TenantListParams>,
) -> ApiResult<axum::Json<Page<Tenant>>> {
    let (limit, after) = page_params(params.limit, params.cursor.as_deref(), 50, 200)?;
    let rows = service::list_tenants(&state.db, after, limit + 1).await?;
    let (items, next_cursor) = crate::platform::page::split(rows, limit, |t| t.id.to_string());
    Ok(axum::Json(Page { items, next_cursor }))
}

/// Read a tenant.
#[utoipa::path(
    get, path = "/api/v1/admin/tenants/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn get_tenant(
    State(state): State<AppState>,
    _: Operator,
    PathId(id): PathId,
) -> ApiResult<axum::Json<Tenant>> {
    Ok(axum::Json(service::get_tenant(&state.db, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Origins (`https://app.example.com`) the tenant's `redirect_url`s may point to.
    pub redirect_allowlist: Option<Vec<String>>,
    /// Replaces the tenant's rate-limit overrides; omitted or `null` fields use the defaults.
    pub limits: Option<LimitOverrides>,
    /// Keep direct tool calls' arguments and results (cut to 16 KiB each) in the call log.
    pub log_tool_payloads: Option<bool>,
}

/// Change a tenant's settings.
#[utoipa::path(
    patch, path = "/api/v1/admin/tenants/{id}", tag = "admin", params(("id" = Uuid, Path)),
    request_body = TenantPatch,
    responses((status = 200, body = Tenant), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn update_tenant(
    State(state): State<AppState>,
    _: Operator,
    PathId(id): PathId,
    ApiJson(body): ApiJson<TenantPatch>,
) -> ApiResult<axum::Json<Tenant>> {
    let changes = TenantChanges {
        redirect_allowlist: body.redirect_allowlist.as_deref(),
        limits: body.limits.as_ref(),
        log_tool_payloads: body.log_tool_payloads,
    };
    let tenant = service::update_tenant(&state.db, id, changes).await?;
    // This replica at once; the others when the change notification reaches them.
    state.caches.hub.forget(crate::tenancy::TENANT_NOTIFY_KIND, id);
    if body.limits.is_some() {
        state.limits.forget(id);
    }
    Ok(axum::Json(tenant))
}

/// List a tenant's API keys.
#[utoipa::path(
    get, path = "/api/v1/admin/tenants/{id}/api-keys", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyList), (status = 404, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn list_tenant_keys(
    State(state): State<AppState>,
    _: Operator,
    PathId(id): PathId,
) -> ApiResult<axum::Json<ApiKeyList>> {
    service::get_tenant(&state.db, id).await?;
    Ok(axum::Json(ApiKeyList { items: service::list_api_keys(&state.db, id).await? }))
}

/// Create an API key for a tenant.
#[utoipa::path(
    post, path = "/api/v1/admin/tenants/{id}/api-keys", tag = "admin", params(("id" = Uuid, Path)),
    request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKeyView), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn create_tenant_key(
    State(state): State<AppState>,
    _: Operator,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<impl IntoResponse> {
    let issued = service::create_api_key(&state.db, id, &body.scopes, body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(IssuedApiKeyView::from(issued))))
}

/// Revoke any API key.
#[utoipa::path(
    delete, path = "/api/v1/admin/api-keys/{id}", tag = "admin", operation_id = "admin_revoke_key",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("operator_token" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    _: Operator,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::revoke_api_key(&state.db, id, None).await?;
    state.caches.hub.forget(crate::tenancy::NOTIFY_KIND, id);
    Ok(StatusCode::NO_CONTENT)
}
