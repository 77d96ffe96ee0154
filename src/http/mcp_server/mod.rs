//! MCP endpoints Switchboard serves itself (rmcp's server side): a gateway's
//! `/api/v1/gateways/{slug}/mcp` ([`gateway`]).

pub(crate) mod auth;
pub(crate) mod gateway;
mod server;

use axum::Router;
use axum::routing::get;

use super::AppState;

// One line per route: tests/it/openapi.rs reads them.
#[rustfmt::skip]
pub fn routes() -> Router<AppState> {
    Router::new().route("/gateways/{slug}/mcp", get(gateway::gateway_mcp).post(gateway::gateway_mcp).delete(gateway::gateway_mcp))
}
