//! The MCP proxy: MCP clients talk to `/api/v1/connectors/{id}/mcp` (or `/sse` for legacy
//! upstreams) with a tenant API key; Switchboard forwards to the upstream with the
//! connector's credential injected, streaming both ways.

pub(crate) mod forward;
mod headers;
mod legacy;
mod metered;
mod session;
mod streamable;
pub mod target;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors/{id}/mcp", get(streamable::mcp).post(streamable::mcp).delete(streamable::mcp))
        .route("/connectors/{id}/sse", get(legacy::open_stream))
        .route("/connectors/{id}/messages", post(legacy::post_message))
}
