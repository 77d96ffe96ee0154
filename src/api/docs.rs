//! The OpenAPI document (generated from the handlers) and a browsable reference page.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::Scalar;

use super::{admin, api_keys, connectors, oauth, tools};
use crate::AppState;

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
    modifiers(&SecuritySchemes),
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
