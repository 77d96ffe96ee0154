//! Everything HTTP, and the only place axum is used: the app (state, router, layers,
//! serving), extractors, the mapping of errors to problem responses, the REST handlers
//! (`api/`), the MCP pass-through (`proxy/`) and the MCP endpoints Switchboard serves itself
//! (`mcp_server/`: gateways), and the authorization server of gateway endpoints (`authz/`). Handlers parse, check scopes, call one
//! service function and shape the view; nothing below imports this module.

pub mod api;
pub mod app;
pub mod authz;
pub mod conn;
pub mod extract;
pub mod mcp_server;
pub mod metrics;
pub mod problem;
pub mod proxy;

pub use app::{AppState, app, serve};
