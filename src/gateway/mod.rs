//! MCP gateways: one MCP endpoint per gateway that exposes tools picked from a tenant's
//! connectors under aliases ([`service`]), reached with gateway keys ([`keys`]) whose scopes
//! decide which tools exist for them ([`scopes`]), every call dispatched through the
//! catalog's call path and logged ([`dispatch`], [`logs`]; written off the call's path by
//! [`call_log`]). The MCP protocol itself is served in `http::mcp_server`.

pub mod cache;
pub mod call_log;
pub mod changes;
pub mod dispatch;
pub mod keys;
pub mod logs;
pub mod model;
pub mod scopes;
pub mod service;
pub mod store;

use std::sync::Arc;

use sqlx::PgPool;

use crate::catalog;
pub use keys::KeyCache;

/// What the gateway needs: the catalog's call path, the tool-list changes this replica
/// hears of (for the clients waiting to be told), its copy of gateways and their tools, and
/// the writer of their call logs.
#[derive(Clone)]
pub struct Context {
    pub catalog: catalog::Context,
    pub tool_lists: Arc<changes::ToolListChanges>,
    pub cache: Arc<cache::GatewayCache>,
    pub calls: call_log::CallLog,
}

impl Context {
    pub fn db(&self) -> &PgPool {
        &self.catalog.upstream.connectors.db
    }
}
