//! The OpenAPI document (generated from the handlers) and the API reference page.
//!
//! What every operation can answer because of how it is reached — its credential, its body,
//! its path id, its database — is added here once ([`StandardResponses`]), derived from what
//! the operation declares (security, request body, parameters), not repeated on each handler.
//! Problems are documented as `application/problem+json`, as they are served.
//!
//! The reference page is Swagger UI, served from the binary (`utoipa-swagger-ui`, vendored:
//! no CDN, no network at build or run time; decision 0022).

use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{admin, api_keys, connectors, descriptors, gateway_oauth, gateways, health, oauth, tools};
use crate::catalog::model::CallStatus;
use crate::gateway::model::CallOutcome;
use crate::http::mcp_server::endpoint;
use crate::http::proxy::{legacy, streamable};
use crate::http::{AppState, metrics};

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Control plane for remote MCP servers."),
    paths(
        connectors::create_connector, connectors::list_connectors, connectors::get_connector,
        connectors::update_connector, connectors::delete_connector, connectors::list_presets,
        connectors::connect_connector, connectors::disconnect_connector, oauth::discover_url,
        connectors::list_events, descriptors::from_openapi,
        tools::sync_tools, tools::list_tools, tools::get_tool, tools::call_tool, tools::list_tool_calls,
        gateways::create_gateway, gateways::list_gateways, gateways::get_gateway, gateways::update_gateway,
        gateways::delete_gateway, gateways::add_gateway_tool, gateways::add_all_gateway_tools, gateways::list_gateway_tools,
        gateways::get_gateway_tool, gateways::update_gateway_tool, gateways::delete_gateway_tool, gateways::create_gateway_key,
        gateways::list_gateway_keys, gateways::revoke_gateway_key, gateways::list_gateway_key_tools, gateways::list_gateway_logs,
        gateway_oauth::list_gateway_grants, gateway_oauth::revoke_gateway_grant,
        api_keys::list_keys, api_keys::create_key, api_keys::revoke_key,
        admin::create_tenant, admin::list_tenants, admin::get_tenant, admin::list_tenant_keys,
        admin::create_tenant_key, admin::revoke_key, admin::update_tenant,
        streamable::mcp, endpoint::gateway_mcp, legacy::open_stream, legacy::post_message,
        oauth::callback, oauth::client_metadata,
        health::healthz, health::readyz, metrics::scrape, openapi_json,
    ),
    components(schemas(CallStatus, CallOutcome)),
    modifiers(&SecuritySchemes, &StandardResponses),
    tags(
        (name = "connectors", description = "Remote MCP servers and REST APIs, and how to reach them"),
        (name = "tools", description = "Each connector's tool catalog, and direct tool calls"),
        (name = "gateways", description = "MCP gateways: curated tools from many connectors behind one MCP endpoint"),
        (name = "proxy", description = "MCP pass-through to a connector's upstream, credential injected"),
        (name = "oauth", description = "Where authorization servers and browsers come back to"),
        (name = "api-keys", description = "A tenant's own API keys (admin scope)"),
        (name = "admin", description = "Operator API: tenants and keys (SWITCHBOARD_ADMIN_TOKEN)"),
        (name = "operations", description = "Health, readiness and metrics, without credentials"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components.add_security_scheme("api_key", bearer("Tenant API key: `Authorization: Bearer sk_...`"));
        components.add_security_scheme(
            "gateway_key",
            bearer("Gateway key: `Authorization: Bearer gk_...` (or `?apiKey=gk_...`)"),
        );
        components.add_security_scheme("operator_token", bearer("Operator token (SWITCHBOARD_ADMIN_TOKEN)"));
    }
}

/// Responses every operation can give because of what it declares, added where the handler
/// did not document them itself, and problem bodies under their real media type.
struct StandardResponses;

/// Operations that never touch the database (no 503 `database_unavailable`).
const WITHOUT_DATABASE: &[&str] = &["/healthz", "/metrics", "/api/v1/oauth/client-metadata.json"];

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            let shared = operations.iter().filter(|(_, op)| op.is_some()).count() > 1;
            for (method, operation) in operations.into_iter().filter_map(|(m, op)| Some((m, op.as_mut()?))) {
                // One handler serving several methods (the proxy) is documented once per
                // method, and each operation needs an id of its own.
                if shared
                    && let Some(id) = &mut operation.operation_id
                    && !id.ends_with(method)
                {
                    *id = format!("{id}_{method}");
                }
                problems_as_problem_json(operation);
                let standard = standard_responses(operation, !WITHOUT_DATABASE.contains(&path.as_str()));
                for (status, response) in standard {
                    operation.responses.responses.entry(status.to_owned()).or_insert(response.into());
                }
            }
        }
    }
}

/// The standard responses of `operation`, from its security, body and parameters.
fn standard_responses(operation: &Operation, uses_database: bool) -> Vec<(&'static str, Response)> {
    // A requirement serialises as `{scheme: [scopes]}`; its fields are private.
    let schemes: Vec<String> = operation
        .security
        .iter()
        .flatten()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    let tenant_key = schemes.iter().any(|s| s == "api_key");
    let params = operation.parameters.iter().flatten();
    let (mut path_id, mut query) = (false, false);
    for p in params {
        path_id |= p.parameter_in == ParameterIn::Path;
        query |= p.parameter_in == ParameterIn::Query;
    }
    let body = operation.request_body.is_some();
    let mut out = Vec::new();
    let mut add = |when: bool, status, description| {
        if when {
            out.push((status, problem(description)));
        }
    };
    add(
        body || query,
        "400",
        "Invalid input (`validation_failed` names every bad field, `invalid_json`, `invalid_query`)",
    );
    add(!schemes.is_empty(), "401", "No credential, or not a valid one (`unauthorized`)");
    add(tenant_key, "403", "The API key lacks the operation's scope (`insufficient_scope`)");
    add(path_id, "404", "No such resource in the caller's tenant (`not_found`)");
    add(body, "408", "The request body stopped arriving (`request_timeout`)");
    add(body, "413", "The body is larger than the limit (`payload_too_large`)");
    add(body, "415", "The body is not JSON (`unsupported_media_type`)");
    if tenant_key {
        out.push(("429", with_retry_after(problem("The tenant's rate limit is exhausted (`rate_limited`)"))));
    }
    if uses_database {
        out.push((
            "503",
            with_retry_after(problem(
                "`database_unavailable` (or `unavailable`); retry after `Retry-After` seconds",
            )),
        ));
    }
    out
}

fn problem_content() -> Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build()
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", problem_content())
        .build()
}

fn with_retry_after(mut response: Response) -> Response {
    let seconds = Header::new(ObjectBuilder::new().schema_type(Type::Integer));
    response.headers.insert("Retry-After".into(), seconds);
    response
}

/// A `Problem` body documented as `application/json` (utoipa's default) is served as
/// `application/problem+json`.
fn problems_as_problem_json(operation: &mut Operation) {
    let is_problem =
        |c: &Content| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"));
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        if response.content.get("application/json").is_some_and(is_problem) {
            let content = response.content.swap_remove("application/json").expect("checked above");
            response.content.insert("application/problem+json".into(), content);
        }
    }
}

/// The document, rendered once and held as `Bytes` (cheap to hand to every request).
fn rendered() -> Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            Bytes::from(ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serialises"))
        })
        .clone()
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)),
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], rendered())
}

pub fn routes() -> Router<AppState> {
    let reference = SwaggerUi::new("/api/v1/docs").config(Config::new(["/api/v1/openapi.json"]));
    Router::new().route("/api/v1/openapi.json", get(openapi_json)).merge(Router::from(reference))
}
