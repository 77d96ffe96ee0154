//! The OpenAPI document (generated from the handlers) and a browsable reference page.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::header::Header;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::Scalar;

use super::{admin, api_keys, connectors, oauth, tools};
use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Control plane for remote MCP servers."),
    paths(
        connectors::create_connector, connectors::list_connectors, connectors::get_connector,
        connectors::update_connector, connectors::delete_connector, connectors::list_presets,
        connectors::connect_connector, connectors::disconnect_connector, oauth::discover_url,
        connectors::list_events,
        tools::sync_tools, tools::list_tools, tools::get_tool, tools::call_tool, tools::list_tool_calls,
        api_keys::list_keys, api_keys::create_key, api_keys::revoke_key,
        admin::create_tenant, admin::list_tenants, admin::get_tenant, admin::list_tenant_keys,
        admin::create_tenant_key, admin::revoke_key, admin::update_tenant,
    ),
    modifiers(&SecuritySchemes, &RateLimited),
    tags(
        (name = "connectors", description = "Remote MCP servers and how to reach them"),
        (name = "tools", description = "Each connector's tool catalog, and direct tool calls"),
        (name = "api-keys", description = "A tenant's own API keys (admin scope)"),
        (name = "admin", description = "Operator API: tenants and keys (SWITCHBOARD_ADMIN_TOKEN)"),
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
        components.add_security_scheme("operator_token", bearer("Operator token (SWITCHBOARD_ADMIN_TOKEN)"));
    }
}

/// Every API-key endpoint may answer 429 (per-tenant rate limit, `tenancy::limits`); declared
/// once here rather than on each handler. Operator endpoints (tag `admin`) are not limited.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        let response = ResponseBuilder::new()
            .description("The tenant's rate limit is exhausted; retry after `Retry-After` seconds")
            .header("Retry-After", Header::new(ObjectBuilder::new().schema_type(Type::Integer)))
            .content("application/problem+json", problem)
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let operator_only = operation.tags.iter().flatten().any(|t| t == "admin");
                if !operator_only && operation.responses.responses.contains_key("401") {
                    operation.responses.responses.insert("429".into(), response.clone().into());
                }
            }
        }
    }
}

pub fn routes() -> Router<AppState> {
    // Rendered once and held as `Bytes`: axum clones the router for every connection, and a
    // captured `String` would copy these ~170 KB each time.
    let doc = ApiDoc::openapi();
    let json = Bytes::from(doc.to_pretty_json().expect("the OpenAPI document serialises"));
    let page = Bytes::from(Scalar::new(doc).to_html());
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route(
            "/api/v1/docs",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }),
        )
}
