//! `/api/v1/connectors`: create, list, read, update, delete, and presets.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler as _;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, page_params};
use crate::connectors::ConnectorEvent;
use crate::connectors::lifecycle::{self, ConnectRequest};
use crate::connectors::model::{Health, Metadata, OAuthSettings, StatusReason};
use crate::connectors::presets::PresetView;
use crate::connectors::service::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::connectors::{
    AuthSettings, Connector, ConnectorPatch, Kind, ListFilter, NewConnector, SecretField, Status,
};
use crate::http::AppState;
use crate::http::extract::Caller;
use crate::http::extract::{ApiQuery, JsonOrYaml, OptionalJson, PathId};
use crate::http::problem::ApiResult;
use crate::http::problem::Problem;
use crate::mcp::{ServerInfo, Transport};
use crate::oauth::TokenEndpointAuthMethod;
use crate::oauth::discovery::DiscoveryResult;
use crate::rest::Descriptor;
use crate::tenancy::Scope;

/// `max_json_body`: the body limit of other routes; a create or PATCH may carry a REST
/// descriptor (at most 1 MiB) besides.
pub fn routes(max_json_body: usize) -> Router<AppState> {
    let with_descriptor = DefaultBodyLimit::max(max_json_body + crate::rest::parse::MAX_DESCRIPTOR_BYTES);
    let create = create_connector.layer(with_descriptor);
    let update = update_connector.layer(with_descriptor);
    Router::new()
        .route("/connectors", get(list_connectors).post(create))
        .route("/connectors/presets", get(list_presets))
        .route("/connectors/{id}", get(get_connector).patch(update).delete(delete_connector))
        .route("/connectors/{id}/connect", post(connect_connector))
        .route("/connectors/{id}/disconnect", post(disconnect_connector))
        .route("/connectors/{id}/events", get(list_events))
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    None,
    Bearer,
    Basic,
    Header,
    Oauth2ClientCredentials,
    Oauth2AuthorizationCode,
}

/// Auth settings as shown: secrets are replaced by `has_*` flags.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthView {
    pub mode: AuthMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Bearer mode: a static token is stored. OAuth modes: an access token is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_token: Option<bool>,
    /// Basic mode: a password is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_password: Option<bool>,
    /// Header mode: a header value is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_header_value: Option<bool>,
    /// OAuth modes: a client secret is stored (confidential client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_client_secret: Option<bool>,
}

impl AuthView {
    fn new(mode: AuthMode) -> Self {
        Self {
            mode,
            username: None,
            header_name: None,
            client_id: None,
            scopes: None,
            resource: None,
            token_endpoint_auth_method: None,
            has_token: None,
            has_password: None,
            has_header_value: None,
            has_client_secret: None,
        }
    }

    fn of(settings: &AuthSettings, connector: &Connector) -> Self {
        let has_credential = Some(connector.has_secret(SecretField::Credential));
        let oauth = |mode, s: &OAuthSettings| Self {
            client_id: s.client_id.clone(),
            scopes: Some(s.scopes.clone()),
            resource: s.resource.clone(),
            token_endpoint_auth_method: s.token_endpoint_auth_method,
            has_client_secret: Some(connector.has_secret(SecretField::ClientSecret)),
            has_token: Some(connector.has_secret(SecretField::AccessToken)),
            ..Self::new(mode)
        };
        match settings {
            AuthSettings::None => Self::new(AuthMode::None),
            AuthSettings::Bearer => Self { has_token: has_credential, ..Self::new(AuthMode::Bearer) },
            AuthSettings::Basic { username } => Self {
                username: Some(username.clone()),
                has_password: has_credential,
                ..Self::new(AuthMode::Basic)
            },
            AuthSettings::Header { header_name } => Self {
                header_name: Some(header_name.clone()),
                has_header_value: has_credential,
                ..Self::new(AuthMode::Header)
            },
            AuthSettings::Oauth2ClientCredentials(s) => oauth(AuthMode::Oauth2ClientCredentials, s),
            AuthSettings::Oauth2AuthorizationCode(s) => oauth(AuthMode::Oauth2AuthorizationCode, s),
        }
    }
}

/// A connector as returned by the API. It never contains a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: Uuid,
    pub kind: Kind,
    pub name: String,
    pub description: Option<String>,
    /// MCP: the upstream server. REST: the origin of the descriptor's first operation.
    pub url: String,
    pub transport: Transport,
    pub owner: Option<String>,
    pub metadata: Metadata,
    /// `null` when the auth mode will be discovered on connect (and for REST connectors).
    pub auth: Option<AuthView>,
    /// REST connectors: the descriptor as saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Descriptor>,
    /// REST connectors: which credential fields are set (never their values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_fields: Option<Vec<String>>,
    /// The preset this connector was matched to on creation, if any.
    pub preset_id: Option<String>,
    pub status: Status,
    /// Why the connector is disconnected (a stable code and a message); `null` otherwise.
    pub disconnect_reason: Option<StatusReason>,
    /// While `pending_authorization`: the URL a person must open to authorize.
    pub authorization_url: Option<String>,
    pub authorization_expires_at: Option<DateTime<Utc>>,
    /// When the current OAuth access token expires, if known.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The MCP revision last spoken with the upstream: `2026-07-28` (modern, found with
    /// `server/discover`) or the legacy revision `initialize` agreed on, e.g. `2025-11-25`.
    pub protocol_version: Option<String>,
    /// What the upstream reported in its last successful `server/discover` or `initialize`.
    pub server_info: Option<ServerInfo>,
    /// `degraded` when the access token has expired and refreshes keep failing transiently.
    pub health: Health,
    /// Token upkeep by the background worker (OAuth connectors).
    pub refresh: Option<RefreshView>,
    /// When the tool catalog was last synced (`GET …/tools` lists it).
    pub tools_synced_at: Option<DateTime<Utc>>,
    /// Step-up (SEP-835): scopes the upstream asked for (403 `insufficient_scope`) beyond
    /// what the connector holds; its tokens stay. `POST …/connect` asks for these together
    /// with the held scopes. Empty when nothing is required.
    pub scope_required: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// When the worker refreshes the tokens next, and how the last attempts went.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshView {
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub last_refresh_error: Option<String>,
}

impl From<Connector> for ConnectorView {
    fn from(c: Connector) -> Self {
        let health = c.health(Utc::now());
        let refresh = c.oauth_grant.is_some().then(|| RefreshView {
            next_refresh_at: c.refresh.next_refresh_at,
            last_refreshed_at: c.refresh.last_refreshed_at,
            attempts: c.refresh.attempts,
            last_refresh_error: c.refresh.last_error.clone(),
        });
        let auth = c.auth.as_ref().map(|a| AuthView::of(a, &c));
        let kind = c.kind();
        let disconnect_reason = if c.status == Status::Disconnected { c.status_reason } else { None };
        let (descriptor, credential_fields) = match c.rest {
            Some(rest) => (Some(rest.descriptor), Some(rest.credential_fields)),
            None => (None, None),
        };
        Self {
            id: c.id,
            kind,
            name: c.name,
            description: c.description,
            url: c.url,
            transport: c.transport,
            owner: c.owner,
            metadata: c.metadata,
            auth,
            descriptor,
            credential_fields,
            preset_id: c.preset_id,
            status: c.status,
            disconnect_reason,
            authorization_url: c.authorization_url,
            authorization_expires_at: c.authorization_expires_at,
            token_expires_at: c.token_expires_at,
            protocol_version: c.server_info.as_ref().and_then(|i| i.protocol_version.clone()),
            server_info: c.server_info,
            health,
            refresh,
            tools_synced_at: c.tools_synced_at,
            scope_required: c.scope_required,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A created connector, with what discovery found (unless `discover: false`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConnector {
    #[serde(flatten)]
    pub connector: ConnectorView,
    /// Discovery failing is not a create failure: `error` and `warnings` say what happened.
    pub discovery_result: Option<DiscoveryResult>,
}

/// Create a connector.
#[utoipa::path(
    post, path = "/api/v1/connectors", tag = "connectors",
    request_body(
        description = "JSON, or YAML with `Content-Type: application/yaml` (a REST descriptor is often written in YAML)",
        content((NewConnector = "application/json"), (NewConnector = "application/yaml")),
    ),
    responses(
        (status = 201, body = CreatedConnector),
        (status = 400, body = Problem, description = "Invalid input; `errors` names every bad field"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem, description = "`rest_oauth2_unsupported`: a REST descriptor with more than one OAuth 2 `authorization_code` auth type"),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn create_connector(
    State(state): State<AppState>,
    caller: Caller,
    JsonOrYaml(input): JsonOrYaml<NewConnector>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Scope::Write)?;
    let (connector, discovery_result) =
        service::create(&state.connectors(), &state.presets, caller.tenant_id, input).await?;
    let created = CreatedConnector { connector: connector.into(), discovery_result };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only connectors in this status.
    status: Option<Status>,
    /// Only connectors with this owner.
    owner: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// List connectors, newest first.
#[utoipa::path(
    get, path = "/api/v1/connectors", tag = "connectors", params(ListParams),
    responses((status = 200, body = Page<ConnectorView>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<axum::Json<Page<ConnectorView>>> {
    caller.require(Scope::Read)?;
    let (limit, before) =
        page_params(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let filter = ListFilter { status: params.status, owner: params.owner.as_deref(), before, limit };
    let (items, next) = service::list(&state.db, caller.tenant_id, filter).await?;
    Ok(axum::Json(Page {
        items: items.into_iter().map(ConnectorView::from).collect(),
        next_cursor: next.map(|id| id.to_string()),
    }))
}

/// Read one connector.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ConnectorView), (status = 404, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn get_connector(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<ConnectorView>> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(service::get(&state.db, caller.tenant_id, id).await?.into()))
}

/// Change name, description, metadata, the static credential, or a REST connector's
/// descriptor and credentials.
#[utoipa::path(
    patch, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = Uuid, Path)),
    request_body(
        description = "JSON, or YAML with `Content-Type: application/yaml`",
        content((ConnectorPatch = "application/json"), (ConnectorPatch = "application/yaml")),
    ),
    responses(
        (status = 200, body = ConnectorView), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`auth_not_replaceable`: not a static-credential connector; `not_a_rest_connector`: a descriptor or credentials for an MCP connector"),
        (status = 422, body = Problem, description = "`rest_oauth2_unsupported`: a REST descriptor with more than one OAuth 2 `authorization_code` auth type"),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn update_connector(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonOrYaml(patch): JsonOrYaml<ConnectorPatch>,
) -> ApiResult<axum::Json<ConnectorView>> {
    caller.require(Scope::Write)?;
    Ok(axum::Json(service::update(&state.connectors(), caller.tenant_id, id, patch).await?.into()))
}

/// Delete a connector and its stored secrets.
#[utoipa::path(
    delete, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("api_key" = ["write"]))
)]
pub async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    service::delete(&state.connectors(), caller.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connect: probe static credentials, run a client credentials grant, or start an OAuth
/// authorization (then the answer is `pending_authorization` with an `authorization_url`).
/// A REST connector runs its descriptor's test endpoints with its credentials, or, with an
/// OAuth 2 `authorization_code` auth type, starts an authorization at the descriptor's endpoints.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/connect", tag = "connectors",
    params(("id" = Uuid, Path)), request_body(content = Option<ConnectRequest>),
    responses(
        (status = 200, body = ConnectorView, description = "`connected`, or `pending_authorization`"),
        (status = 400, body = Problem, description = "bad input, `redirect_url_not_allowed`, `destination_not_allowed`"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`client_registration_lost`: the registered OAuth client is gone"),
        (status = 422, body = Problem, description = "`credentials_rejected`, `credentials_missing`, `pkce_unsupported`, `client_registration_unavailable`"),
        (status = 502, body = Problem, description = "the upstream or its authorization server failed"),
        (status = 504, body = Problem),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn connect_connector(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<ConnectRequest>,
) -> ApiResult<axum::Json<ConnectorView>> {
    caller.require(Scope::Write)?;
    Ok(axum::Json(lifecycle::connect(&state.connectors(), caller.tenant_id, id, body).await?.into()))
}

/// Disconnect: revoke tokens at the authorization server (best effort) and erase them.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/disconnect", tag = "connectors",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ConnectorView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`not_connected`: the connector was never connected"),
    ),
    security(("api_key" = ["write"]))
)]
pub async fn disconnect_connector(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<ConnectorView>> {
    caller.require(Scope::Write)?;
    Ok(axum::Json(lifecycle::disconnect(&state.connectors(), caller.tenant_id, id).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// A connector's status changes, newest first.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/events", tag = "connectors",
    params(("id" = Uuid, Path), EventParams),
    responses((status = 200, body = Page<ConnectorEvent>), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<axum::Json<Page<ConnectorEvent>>> {
    caller.require(Scope::Read)?;
    let (limit, before) =
        page_params::<i64>(params.limit, params.cursor.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (items, next) = service::events(&state.db, caller.tenant_id, id, before, limit).await?;
    Ok(axum::Json(Page { items, next_cursor: next.map(|n| n.to_string()) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresetList {
    pub items: Vec<PresetView>,
}

/// List connector presets (never their client secrets).
#[utoipa::path(
    get, path = "/api/v1/connectors/presets", tag = "connectors",
    responses((status = 200, body = PresetList), (status = 401, body = Problem)),
    security(("api_key" = ["read"]))
)]
pub async fn list_presets(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<PresetList>> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(PresetList { items: state.presets.all().iter().map(|p| p.view()).collect() }))
}
