//! MCP servers Switchboard is itself (rmcp's server side): one generic [`server::ToolServer`]
//! over a [`server::ToolSource`], served by [`endpoint`] — a gateway's
//! `/api/v1/gateways/{slug}/mcp` ([`gateway`]) and a REST connector's
//! `/api/v1/connectors/{id}/mcp` ([`rest`], routed by the proxy).

pub(crate) mod auth;
mod direct;
pub(crate) mod endpoint;
pub(crate) mod gateway;
mod listen;
mod refusal;
pub(crate) mod rest;
mod server;

use axum::Router;
use axum::routing::get;

use super::AppState;

// One line per route: tests/it/openapi.rs reads them.
#[rustfmt::skip]
pub fn routes() -> Router<AppState> {
    Router::new().route("/gateways/{slug}/mcp", get(endpoint::gateway_mcp).post(endpoint::gateway_mcp).delete(endpoint::gateway_mcp))
}
