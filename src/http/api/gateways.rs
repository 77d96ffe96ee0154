//! `/api/v1/gateways`: gateways, the tools they expose, their keys and their call log. The
//! gateway's MCP endpoint itself is `http::mcp_server`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, page_params};
use crate::connectors::service::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, present};
use crate::error::Error;
use crate::gateway::model::{
    CallOutcome, Gateway, GatewayCall, GatewayFields, GatewayKey, GatewayTool, ToolChanges,
};
use crate::gateway::scopes::{self, McpScope, ScopeOrigin};
use crate::gateway::service::{self, AddTools};
use crate::gateway::store::CallFilter;
use crate::gateway::{dispatch, keys, logs};
use crate::http::AppState;
use crate::http::extract::{ApiJson, ApiQuery, Caller, PathId};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::tenancy::Scope;

// One line per route: tests/it/openapi.rs reads them.
#[rustfmt::skip]
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/gateways", get(list_gateways).post(create_gateway))
        .route("/gateways/{id}", get(get_gateway).patch(update_gateway).delete(delete_gateway))
        .route("/gateways/{id}/tools", get(list_gateway_tools).post(add_gateway_tool))
        .route("/gateways/{id}/tools/bulk", post(add_all_gateway_tools))
        .route("/gateways/{id}/tools/{tool_id}", get(get_gateway_tool).patch(update_gateway_tool).delete(delete_gateway_tool))
        .route("/gateways/{id}/keys", get(list_gateway_keys).post(create_gateway_key))
        .route("/gateways/{id}/keys/{key_id}", delete(revoke_gateway_key))
        .route("/gateways/{id}/keys/{key_id}/tools", get(list_gateway_key_tools))
        .route("/gateways/{id}/logs", get(list_gateway_logs))
}

/// `{id}/…/{sub_id}`: ids that are not UUIDs name nothing (404, like any unknown id).
fn two_ids(Path((id, sub)): Path<(String, String)>) -> ApiResult<(Uuid, Uuid)> {
    let parse = |s: &str| s.parse::<Uuid>().map_err(|_| ApiError::from(Error::NotFound("resource")));
    Ok((parse(&id)?, parse(&sub)?))
}

/// A gateway, with the URL MCP clients point at.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayView {
    #[serde(flatten)]
    pub gateway: Gateway,
    /// The gateway's MCP endpoint (Streamable HTTP); send a gateway key with it.
    pub mcp_url: String,
}

fn view(state: &AppState, gateway: Gateway) -> GatewayView {
    let url = state.settings.public_endpoint(&format!("api/v1/gateways/{}/mcp", gateway.slug));
    GatewayView { mcp_url: url.to_string(), gateway }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGateway {
    /// Lowercase `[a-z0-9-]`, unique in the tenant; the MCP URL uses it.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]{1,64}$")]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// Sent to MCP clients in `initialize` and `server/discover`.
    #[schema(max_length = 10000)]
    pub instructions: Option<String>,
    /// MCP requests per second each key may make here (per replica; 0 = unlimited; default:
    /// the configured `SWITCHBOARD_RATE_LIMIT_GATEWAY_KEY_RPS`).
    #[schema(minimum = 0)]
    pub key_rps: Option<i32>,
    /// The burst each key may make here (default: `SWITCHBOARD_RATE_LIMIT_GATEWAY_KEY_BURST`).
    #[schema(minimum = 0)]
    pub key_burst: Option<i32>,
}

/// Create a gateway.
#[utoipa::path(
    post, path = "/api/v1/gateways", tag = "gateways", request_body = CreateGateway,
    responses((status = 201, body = GatewayView), (status = 409, body = Problem, description = "`slug_taken`")),
    security(("api_key" = ["write"]))
)]
pub async fn create_gateway(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateGateway>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Scope::Write)?;
    let fields = GatewayFields {
        slug: Some(body.slug),
        name: Some(body.name),
        description: Some(body.description),
        instructions: Some(body.instructions),
        key_rps: Some(body.key_rps),
        key_burst: Some(body.key_burst),
    };
    let gateway = service::create(&state.db, caller.tenant_id, &fields).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, gateway))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// This tenant's gateways, oldest first.
#[utoipa::path(
    get, path = "/api/v1/gateways", tag = "gateways", params(PageParams),
    responses((status = 200, body = Page<GatewayView>)),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateways(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<axum::Json<Page<GatewayView>>> {
    caller.require(Scope::Read)?;
    let (limit, after) =
        page_params::<Uuid>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (items, next) = service::list(&state.db, caller.tenant_id, after, limit).await?;
    let items = items.into_iter().map(|g| view(&state, g)).collect();
    Ok(axum::Json(Page { items, next_cursor: next.map(|id| id.to_string()) }))
}

/// One gateway.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}", tag = "gateways", params(("id" = Uuid, Path)),
    responses((status = 200, body = GatewayView)),
    security(("api_key" = ["read"]))
)]
pub async fn get_gateway(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<GatewayView>> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(view(&state, service::get(&state.db, caller.tenant_id, id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGateway {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]{1,64}$")]
    pub slug: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub instructions: Option<Option<String>>,
    /// Requests per second per key here; `null` goes back to the configured default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub key_rps: Option<Option<i32>>,
    /// Burst per key here; `null` goes back to the configured default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub key_burst: Option<Option<i32>>,
}

/// Change a gateway's slug, name, description, instructions or per-key rate limit.
#[utoipa::path(
    patch, path = "/api/v1/gateways/{id}", tag = "gateways", params(("id" = Uuid, Path)), request_body = UpdateGateway,
    responses((status = 200, body = GatewayView), (status = 409, body = Problem, description = "`slug_taken`")),
    security(("api_key" = ["write"]))
)]
pub async fn update_gateway(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateGateway>,
) -> ApiResult<axum::Json<GatewayView>> {
    caller.require(Scope::Write)?;
    let fields = GatewayFields {
        slug: body.slug,
        name: body.name,
        description: body.description,
        instructions: body.instructions,
        key_rps: body.key_rps,
        key_burst: body.key_burst,
    };
    let gateway = service::update(&state.db, caller.tenant_id, id, &fields).await;
    // This replica's copy goes at once; the others' when they hear of it (migration 0025).
    state.caches.gateways.forget_gateway(id);
    Ok(axum::Json(view(&state, gateway?)))
}

/// Delete a gateway with its tools, keys and log.
#[utoipa::path(
    delete, path = "/api/v1/gateways/{id}", tag = "gateways", params(("id" = Uuid, Path)),
    responses((status = 204)),
    security(("api_key" = ["write"]))
)]
pub async fn delete_gateway(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    service::delete(&state.db, caller.tenant_id, id).await?;
    state.caches.gateways.forget_gateway(id);
    Ok(StatusCode::NO_CONTENT)
}

/// A gateway tool, with the scope a caller needs to see and call it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayToolView {
    #[serde(flatten)]
    pub tool: GatewayTool,
    /// Callers without this scope do not see the tool (it does not exist for them).
    pub required_scope: McpScope,
    /// Where `required_scope` comes from: set on the tool, else the alias's verb, else the
    /// upstream's annotations, else the default (`mcp:write`).
    pub required_scope_from: ScopeOrigin,
}

fn tool_view(tool: GatewayTool) -> GatewayToolView {
    let (required_scope, required_scope_from) = scopes::required(&tool);
    GatewayToolView { tool, required_scope, required_scope_from }
}

fn tool_page(tools: Vec<GatewayTool>, next_cursor: Option<String>) -> Page<GatewayToolView> {
    Page { items: tools.into_iter().map(tool_view).collect(), next_cursor }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTool {
    pub connector_id: Uuid,
    /// The tool's name in the connector's catalog (sync it first).
    #[schema(min_length = 1)]
    pub tool: String,
    /// The name clients see (default: the tool's name); unique in the gateway.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub alias: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Expose one tool of a connector's catalog.
#[utoipa::path(
    post, path = "/api/v1/gateways/{id}/tools", tag = "gateways", params(("id" = Uuid, Path)), request_body = AddTool,
    responses(
        (status = 201, body = GatewayToolView),
        (status = 409, body = Problem, description = "`alias_taken`, `tool_already_added`, `too_many_tools`"),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn add_gateway_tool(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AddTool>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Scope::Write)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let add = AddTools {
        connector_id: body.connector_id,
        alias: body.alias,
        enabled: body.enabled.unwrap_or(true),
    };
    let tool = service::add_tool(&state.db, &gateway, &add, &body.tool).await;
    state.caches.gateways.forget_tools(gateway.id);
    let tool = tool?;
    Ok((StatusCode::CREATED, axum::Json(tool_view(tool))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAllTools {
    pub connector_id: Uuid,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedTools {
    /// Tools added; those already in the gateway, or whose name is already an alias there, are skipped.
    pub added: u64,
    /// The catalog's tools whose names are not valid MCP tool names (`^[A-Za-z0-9_.-]{1,128}$`),
    /// so not added: add each with `POST …/tools` and an `alias`.
    pub invalid_names: Vec<String>,
}

/// Expose every tool of a connector's catalog under its own name (those whose names are valid
/// aliases; the others are named in `invalid_names`).
#[utoipa::path(
    post, path = "/api/v1/gateways/{id}/tools/bulk", tag = "gateways", params(("id" = Uuid, Path)),
    request_body = AddAllTools,
    responses((status = 200, body = AddedTools), (status = 409, body = Problem, description = "`too_many_tools`")),
    security(("api_key" = ["write"]))
)]
pub async fn add_all_gateway_tools(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AddAllTools>,
) -> ApiResult<axum::Json<AddedTools>> {
    caller.require(Scope::Write)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let add =
        AddTools { connector_id: body.connector_id, alias: None, enabled: body.enabled.unwrap_or(true) };
    let done = service::add_all_tools(&state.db, &gateway, &add).await;
    state.caches.gateways.forget_tools(gateway.id);
    let done = done?;
    Ok(axum::Json(AddedTools { added: done.added, invalid_names: done.invalid_names }))
}

/// The gateway's tools by alias, enabled or not, with their upstream description and schema.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/tools", tag = "gateways", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<GatewayToolView>)),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateway_tools(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<axum::Json<Page<GatewayToolView>>> {
    caller.require(Scope::Read)?;
    let (limit, after) =
        page_params::<String>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let (items, next_cursor) = service::list_tools(&state.db, &gateway, after, limit).await?;
    Ok(axum::Json(tool_page(items, next_cursor)))
}

/// One of the gateway's tools.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/tools/{tool_id}", tag = "gateways",
    params(("id" = Uuid, Path), ("tool_id" = Uuid, Path)),
    responses((status = 200, body = GatewayToolView)),
    security(("api_key" = ["read"]))
)]
pub async fn get_gateway_tool(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> ApiResult<axum::Json<GatewayToolView>> {
    caller.require(Scope::Read)?;
    let (id, tool_id) = two_ids(path)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    Ok(axum::Json(tool_view(service::get_tool(&state.db, &gateway, tool_id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTool {
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub alias: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the upstream's description for clients; `null` goes back to it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    /// The scope callers need; `null` goes back to the derived one (alias verb, annotations,
    /// else `mcp:write`).
    /// (A name that is not a scope is a `validation_failed` naming `required_scope`.)
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<McpScope>)]
    pub required_scope: Option<Option<String>>,
}

/// Rename, switch on or off, describe, or gate a gateway tool.
#[utoipa::path(
    patch, path = "/api/v1/gateways/{id}/tools/{tool_id}", tag = "gateways",
    params(("id" = Uuid, Path), ("tool_id" = Uuid, Path)), request_body = UpdateTool,
    responses((status = 200, body = GatewayToolView), (status = 409, body = Problem, description = "`alias_taken`")),
    security(("api_key" = ["write"]))
)]
pub async fn update_gateway_tool(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateTool>,
) -> ApiResult<axum::Json<GatewayToolView>> {
    caller.require(Scope::Write)?;
    let (id, tool_id) = two_ids(path)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let changes = ToolChanges {
        alias: body.alias,
        enabled: body.enabled,
        description: body.description,
        required_scope: body.required_scope,
    };
    let tool = service::update_tool(&state.db, &gateway, tool_id, &changes).await;
    state.caches.gateways.forget_tools(gateway.id);
    Ok(axum::Json(tool_view(tool?)))
}

/// Stop exposing a tool.
#[utoipa::path(
    delete, path = "/api/v1/gateways/{id}/tools/{tool_id}", tag = "gateways",
    params(("id" = Uuid, Path), ("tool_id" = Uuid, Path)),
    responses((status = 204)),
    security(("api_key" = ["write"]))
)]
pub async fn delete_gateway_tool(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let (id, tool_id) = two_ids(path)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    service::delete_tool(&state.db, &gateway, tool_id).await?;
    state.caches.gateways.forget_tools(gateway.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGatewayKey {
    /// A label to tell keys apart.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// The tools it opens (default `["mcp:read", "mcp:write"]`; `mcp:admin` only when named).
    /// No scope implies another: a `["mcp:admin"]` key sees only admin tools.
    #[schema(value_type = Option<Vec<McpScope>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
    /// After this time the key no longer works (RFC 3339; in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new gateway key. `api_key` is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedGatewayKey {
    #[serde(flatten)]
    pub key: GatewayKey,
    /// The secret (`gk_...`): send it as `Authorization: Bearer` or `?apiKey=`. Only its hash is kept.
    pub api_key: String,
}

/// Issue a key for this gateway's MCP endpoint.
#[utoipa::path(
    post, path = "/api/v1/gateways/{id}/keys", tag = "gateways", params(("id" = Uuid, Path)),
    request_body = CreateGatewayKey,
    responses((status = 201, body = IssuedGatewayKey)),
    security(("api_key" = ["write"]))
)]
pub async fn create_gateway_key(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateGatewayKey>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Scope::Write)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let issued =
        keys::issue(&state.db, &gateway, body.name.as_deref(), body.scopes.as_deref(), body.expires_at)
            .await?;
    let view = IssuedGatewayKey { key: issued.key, api_key: issued.secret.expose_secret().to_owned() };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayKeyList {
    pub items: Vec<GatewayKey>,
}

/// The gateway's keys (prefixes only), revoked ones included.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/keys", tag = "gateways", params(("id" = Uuid, Path)),
    responses((status = 200, body = GatewayKeyList)),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateway_keys(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<GatewayKeyList>> {
    caller.require(Scope::Read)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    Ok(axum::Json(GatewayKeyList { items: keys::list(&state.db, &gateway).await? }))
}

/// Revoke a gateway key (on every replica within a second).
#[utoipa::path(
    delete, path = "/api/v1/gateways/{id}/keys/{key_id}", tag = "gateways",
    params(("id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 204)),
    security(("api_key" = ["write"]))
)]
pub async fn revoke_gateway_key(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let (id, key_id) = two_ids(path)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    keys::revoke(&state.db, &state.caches.hub, &gateway, key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tools an MCP client with this key sees (and may call) now, by alias.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/keys/{key_id}/tools", tag = "gateways",
    params(("id" = Uuid, Path), ("key_id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Page<GatewayToolView>, description = "Enabled tools within the key's scopes, by alias; none for a revoked or expired key"),
        (status = 404, body = Problem, description = "No such gateway in this tenant, or no such key of it"),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateway_key_tools(
    State(state): State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<axum::Json<Page<GatewayToolView>>> {
    caller.require(Scope::Read)?;
    let (id, key_id) = two_ids(path)?;
    let (limit, after) =
        page_params::<String>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let key = keys::get(&state.db, &gateway, key_id).await?;
    let (tools, next_cursor) =
        dispatch::exposed_page(&state.gateway(), &gateway, key.active_scopes(), after, limit).await?;
    Ok(axum::Json(tool_page(tools, next_cursor)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Only calls that ended like this.
    status: Option<CallOutcome>,
    /// Only calls of this alias (or upstream tool name).
    tool: Option<String>,
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

/// The gateway's tool calls, newest first. Written just after each call, in batches: this
/// replica's calls are all here; another replica's appear once it has written them (within
/// milliseconds), and calls made during a database outage once it is over, in their place
/// by time.
#[utoipa::path(
    get, path = "/api/v1/gateways/{id}/logs", tag = "gateways", params(("id" = Uuid, Path), LogParams),
    responses((status = 200, body = Page<GatewayCall>)),
    security(("api_key" = ["read"]))
)]
pub async fn list_gateway_logs(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<axum::Json<Page<GatewayCall>>> {
    caller.require(Scope::Read)?;
    let (limit, before) =
        page_params::<Uuid>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let gateway = service::get(&state.db, caller.tenant_id, id).await?;
    let filter = CallFilter {
        status: params.status.map(CallOutcome::as_str),
        tool: params.tool.as_deref(),
        since: params.since,
        until: params.until,
        before,
        limit,
    };
    let (items, next) = logs::list(&state.db, &state.call_log, &gateway, filter).await?;
    Ok(axum::Json(Page { items, next_cursor: next.map(|id| id.to_string()) }))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    use crate::gateway::model::TOOL_NAME_PATTERN;

    #[test]
    fn the_documented_alias_pattern_is_the_checked_one() {
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        for schema in ["AddTool", "UpdateTool"] {
            let alias = doc["components"]["schemas"][schema]["properties"]["alias"].to_string();
            let pattern = serde_json::to_string(TOOL_NAME_PATTERN).unwrap();
            assert!(alias.contains(&format!("\"pattern\":{pattern}")), "{schema}: {alias}");
        }
    }
}
