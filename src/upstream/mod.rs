//! The credentialed runtime path to an upstream, one hop, and the only one: where a
//! connector's requests go and with which credential ([`target`]); sending with that
//! credential — refreshed before sending when expired, refreshed once and retried on a 401,
//! a static credential's 401 disconnecting the connector ([`send`]); which headers cross
//! ([`headers`]); an MCP client over that send path ([`mcp_client`], with the legacy
//! HTTP+SSE transport in [`legacy_sse`]), whose pooled sessions' tool calls take one POST of
//! ours ([`call`]); and the sessions tool calls share ([`pool`]).

mod call;
pub mod headers;
mod legacy_sse;
pub mod mcp_client;
pub mod pool;
pub mod rest;
pub mod send;
mod store;
pub mod target;

use std::sync::Arc;

use crate::connectors;
use target::TargetCache;

/// What the upstream path needs: the connector use cases (credentials, refresh,
/// disconnecting on a rejected credential), this process's cached targets and its shared
/// upstream sessions.
#[derive(Clone)]
pub struct Context {
    pub connectors: connectors::Context,
    pub targets: Arc<TargetCache>,
    /// REST connectors' client-credentials access tokens.
    pub rest_tokens: Arc<rest::TokenCache>,
    /// This replica's shared upstream MCP sessions.
    pub pool: Arc<pool::Pool>,
}
