//! Executing a tool call once its arguments passed the stored schema: the connector's kind
//! chooses the path — an MCP `tools/call` through the upstream session, or a REST request
//! built from the descriptor (`upstream::rest`). Both answer an MCP tool result as JSON.

use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Context;
use super::model::CallStatus;
use super::sync::{schedule_resync, timed_out};
use crate::connectors::{Connector, Kind};
use crate::error::Error;
use crate::upstream::mcp_client::{Session, SessionHandler};
use crate::upstream::{rest, target};

/// Runs tool `name` of `connector` (connected, arguments checked).
pub(super) async fn invoke(
    ctx: &Context,
    connector: &Connector,
    name: &str,
    arguments: Map<String, Value>,
) -> Result<Value, (CallStatus, Error)> {
    let (tenant_id, id) = (connector.tenant_id, connector.id);
    match connector.kind() {
        Kind::Mcp => mcp(ctx, tenant_id, id, name, arguments).await,
        Kind::Rest => {
            // Timeouts and failures of the REST API are tool results already (`isError`).
            let result = rest::call(&ctx.upstream, tenant_id, id, name, &arguments)
                .await
                .map_err(|e| (CallStatus::UpstreamError, e))?;
            serde_json::to_value(result).map_err(|e| (CallStatus::UpstreamError, Error::Internal(e.into())))
        }
    }
}

/// An MCP connector's `tools/call`; a list_changed seen meanwhile schedules a resync.
async fn mcp(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    arguments: Map<String, Value>,
) -> Result<Value, (CallStatus, Error)> {
    let limit = ctx.upstream.connectors.settings.tool_call_timeout;
    let resync = {
        let ctx = ctx.clone();
        move || schedule_resync(&ctx, tenant_id, id)
    };
    let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
    let call = async {
        let target = target::load(&ctx.upstream, tenant_id, id).await?;
        let session = Session::open(&ctx.upstream, target, SessionHandler::new(resync)).await?;
        let result = session.call_tool(params).await;
        session.close().await;
        result
    };
    match tokio::time::timeout(limit, call).await {
        Err(_) => Err((CallStatus::Timeout, timed_out("the tool's result", limit))),
        Ok(Err(e @ Error::UpstreamTimeout(_))) => Err((CallStatus::Timeout, e)),
        Ok(Err(e)) => Err((CallStatus::UpstreamError, e)),
        Ok(Ok(result)) => {
            serde_json::to_value(result).map_err(|e| (CallStatus::UpstreamError, Error::Internal(e.into())))
        }
    }
}
