//! A gateway's OAuth grants (issue 14): which OAuth clients hold tokens for it, through which
//! gateway key, with which scopes; and revoking one (its access and refresh tokens stop at
//! once). Revoking the gateway key that signed in ends its grants too.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::authz::store::GrantView;
use crate::authz::tokens;
use crate::error::Error;
use crate::gateway::service;
use crate::http::AppState;
use crate::http::extract::{Caller, PathId};
use crate::http::problem::{ApiError, ApiResult};
use crate::tenancy::Scope;

// One line per route: tests/it/openapi.rs reads them.
#[rustfmt::skip]
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/gateways/{id}/oauth/grants", get(list_gateway_grants))
        .route("/gateways/{id}/oauth/grants/{grant_id}", delete(revoke_gateway_grant))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub items: Vec<GrantView>,
}

/// The gateway's live OAuth grants (not revoked, their key active), newest first.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/oauth/grants", tag = "gateways", params(("id" = Uuid, Path)),
    responses((status = 200, body = GrantList)),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateway_grants(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<GrantList>> {
    caller.require(Scope::Read)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    Ok(axum::Json(GrantList { items: tokens::list_grants(&state.db, gateway.id).await? }))
}

/// Revoke an OAuth grant: its access and refresh tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/gateways/{id}/oauth/grants/{grant_id}", tag = "gateways",
    params(("id" = Uuid, Path), ("grant_id" = Uuid, Path)),
    responses((status = 204)),
    security(("api_key" = ["write"]))
)]
pub async fn revoke_gateway_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, grant_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let parse = |s: &str| s.parse::<Uuid>().map_err(|_| ApiError::from(Error::NotFound("resource")));
    let (id, grant_id) = (parse(&id)?, parse(&grant_id)?);
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    tokens::revoke_grant(&state.db, gateway.id, grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
