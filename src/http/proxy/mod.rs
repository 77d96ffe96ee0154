//! The MCP proxy: MCP clients talk to `/api/v1/connectors/{id}/mcp` (or `/sse` for legacy
//! upstreams) with a tenant API key; Switchboard forwards to the upstream with the
//! connector's credential injected (`upstream::send`), streaming both ways.

pub(crate) mod legacy;
mod metered;
pub(crate) mod relay;
pub(crate) mod session;
pub(crate) mod streamable;

pub use relay::Relayed;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use uuid::Uuid;

use super::AppState;
use super::extract::{bearer_token, user_token};
use crate::error::Error;
use crate::http::problem::{ApiError, ApiResult};
use crate::mcp::Transport;
use crate::tenancy::Scope;
use crate::tenancy::keys::authenticate;
use crate::upstream::{
    self,
    target::{self, Target},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors/{id}/mcp", get(streamable::mcp).post(streamable::mcp).delete(streamable::mcp))
        .route("/connectors/{id}/sse", get(legacy::open_stream))
        .route("/connectors/{id}/messages", post(legacy::post_message))
}

/// Authenticates the caller (proxy scope) and finds the connector in its tenant; checks that
/// it is connected and speaks `transport`, and that a user token (valid) is for a REST
/// connector. Returns it with the caller's key id.
async fn resolve(
    state: &AppState,
    upstream: &upstream::Context,
    headers: &HeaderMap,
    raw_id: &str,
    transport: Transport,
) -> ApiResult<(Arc<Target>, Uuid)> {
    let token = bearer_token(headers)
        .ok_or(Error::Unauthenticated("send an API key as `Authorization: Bearer sk_...`"))?;
    let key = authenticate(&state.db, &state.caches.keys, token).await?;
    if !key.scopes.contains(&Scope::Proxy) {
        return Err(ApiError::MissingScope(Scope::Proxy.as_str()));
    }
    let id: Uuid = raw_id.parse().map_err(|_| ApiError::from(Error::NotFound("connector")))?;
    let target = target::resolve(upstream, key.tenant_id, id, transport).await?;
    // A caller's own token is for REST connectors; an MCP upstream gets the stored credential.
    if target.rest.is_none() && user_token(headers)?.is_some() {
        return Err(upstream::rest::user_token_unsupported_for_mcp().into());
    }
    Ok((target, key.id))
}
