//! The tool catalog: `/api/v1/connectors/{id}/sync`, `…/tools`, `…/tools/{name}`,
//! `…/tools/{name}/call` and `…/tool-calls`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, page_params};
use crate::catalog::model::{CallStatus, SyncReport};
use crate::catalog::service::{self, CallerRef};
use crate::catalog::store::{CallFilter, ToolCallView, ToolDetail, ToolSummary};
use crate::catalog::sync::{self, Trigger};
use crate::connectors::service::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::Caller;
use crate::http::extract::{ApiQuery, OptionalJson, PathId, UserToken};
use crate::http::problem::Problem;
use crate::http::problem::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors/{id}/sync", post(sync_tools))
        .route("/connectors/{id}/tools", get(list_tools))
        .route("/connectors/{id}/tools/{name}", get(get_tool))
        .route("/connectors/{id}/tools/{name}/call", post(call_tool))
        .route("/connectors/{id}/tool-calls", get(list_tool_calls))
}

/// `{id}/tools/{name}`: an id that is not a UUID names nothing (404, like any unknown id).
fn connector_and_tool(Path((id, name)): Path<(String, String)>) -> ApiResult<(Uuid, String)> {
    let id = id.parse().map_err(|_| ApiError::from(Error::NotFound("connector")))?;
    // No stored name holds NUL (Postgres text cannot), so such a name names nothing.
    if name.contains('\0') {
        return Err(ApiError::from(Error::NotFound("tool")));
    }
    Ok((id, name))
}

/// Sync the connector's tools from its upstream now; answers with what changed.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/sync", tag = "tools", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = SyncReport),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`connector_not_connected`"),
        (status = 502, body = Problem, description = "`tool_catalog_too_large`, `upstream_protocol_error`, credential failures"),
        (status = 504, body = Problem),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn sync_tools(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<SyncReport>> {
    caller.require(Scope::Write)?;
    Ok(axum::Json(sync::sync(&state.catalog(), caller.tenant_id, id, Trigger::Request).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ToolListParams {
    /// Only tools whose name or description contains this (case-insensitive).
    q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// A connector's tools as of the last sync, by name.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/tools", tag = "tools", params(("id" = Uuid, Path), ToolListParams),
    responses((status = 200, body = Page<ToolSummary>), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn list_tools(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<ToolListParams>,
) -> ApiResult<axum::Json<Page<ToolSummary>>> {
    caller.require(Scope::Read)?;
    let (limit, after) =
        page_params::<String>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (items, next_cursor) =
        service::list(&state.db, caller.tenant_id, id, params.q.as_deref(), after, limit).await?;
    Ok(axum::Json(Page { items, next_cursor }))
}

/// One tool with its input and output schemas.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/tools/{name}", tag = "tools",
    params(("id" = Uuid, Path), ("name" = String, Path)),
    responses((status = 200, body = ToolDetail), (status = 404, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn get_tool(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> ApiResult<axum::Json<ToolDetail>> {
    caller.require(Scope::Read)?;
    let (id, name) = connector_and_tool(path)?;
    Ok(axum::Json(service::get(&state.db, caller.tenant_id, id, &name).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The tool's arguments; checked against its input schema before anything is sent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Map<String, Value>,
}

/// The upstream's `CallToolResult`, plus how long the call took.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallResponse {
    #[schema(value_type = Vec<Object>)]
    pub content: Value,
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub structured_content: Option<Value>,
    /// The tool ran but reports failure; the call itself succeeded.
    #[serde(rename = "isError")]
    pub is_error: bool,
    pub duration_ms: u64,
}

/// Call a tool directly. Upstream tool failures are a 200 with `isError: true`.
///
/// A REST connector's tool may be called with the caller's own credential in
/// `X-Switchboard-User-Token`: it is used for the operation's auth instead of the stored one
/// (bearer: the token; api_key: the auth type's one secret field; oauth2: the access token),
/// on a server made for this call alone. Never logged.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/tools/{name}/call", tag = "tools",
    params(
        ("id" = Uuid, Path), ("name" = String, Path),
        ("X-Switchboard-User-Token" = Option<String>, Header, description = "REST connectors: the caller's own token for this call, instead of the stored credential (1–4096 visible ASCII characters)"),
    ),
    request_body(content = Option<CallRequest>),
    responses(
        (status = 200, body = CallResponse),
        (status = 400, body = Problem, description = "`validation_failed`: `errors` lists every schema violation; the upstream was not called. `invalid_user_token`: a malformed `X-Switchboard-User-Token`"),
        (status = 404, body = Problem, description = "no such connector, or no such tool in its catalog (sync first)"),
        (status = 409, body = Problem, description = "`connector_not_connected`"),
        (status = 422, body = Problem, description = "`user_token_unsupported`: a user token for an MCP connector, or for a tool whose auth type has no token slot (basic)"),
        (status = 502, body = Problem, description = "protocol or credential failure upstream"),
        (status = 504, body = Problem, description = "`upstream_timeout`: SWITCHBOARD_TOOL_CALL_TIMEOUT passed"),
    ),
    security(("api_key" = ["proxy"]))
)]
pub async fn call_tool(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    UserToken(user_token): UserToken,
    OptionalJson(body): OptionalJson<CallRequest>,
) -> ApiResult<axum::Json<CallResponse>> {
    caller.require(Scope::Proxy)?;
    let (id, name) = connector_and_tool(path)?;
    let who = CallerRef { tenant_id: caller.tenant_id, api_key_id: caller.key_id };
    let outcome =
        service::call(&state.catalog(), who, id, &name, body.arguments, user_token.as_ref()).await?;
    let result = outcome.result;
    let content = serde_json::to_value(result.content).map_err(|e| Error::Internal(e.into()))?;
    Ok(axum::Json(CallResponse {
        content,
        structured_content: result.structured_content,
        is_error: result.is_error.unwrap_or(false),
        duration_ms: outcome.duration_ms,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ToolCallParams {
    /// Only calls that ended like this.
    status: Option<CallStatus>,
    /// Only calls made at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only calls made before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The connector's direct tool calls, newest first.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/tool-calls", tag = "tools", params(("id" = Uuid, Path), ToolCallParams),
    responses((status = 200, body = Page<ToolCallView>), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn list_tool_calls(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<ToolCallParams>,
) -> ApiResult<axum::Json<Page<ToolCallView>>> {
    caller.require(Scope::Read)?;
    let (limit, before) =
        page_params::<Uuid>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let filter = CallFilter {
        status: params.status.map(CallStatus::as_str),
        since: params.since,
        until: params.until,
        before,
        limit,
    };
    let (items, next) = service::calls(&state.db, caller.tenant_id, id, filter).await?;
    Ok(axum::Json(Page { items, next_cursor: next.map(|id| id.to_string()) }))
}
