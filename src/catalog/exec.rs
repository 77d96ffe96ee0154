//! Executing a tool call once its arguments passed the stored schema: the connector's kind
//! chooses the path — an MCP `tools/call` through the upstream session, or a REST request
//! built from the descriptor (`upstream::rest`). Both answer an MCP tool result.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use secrecy::SecretString;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Context;
use super::model::CallStatus;
use super::sync::{schedule_resync, timed_out};
use crate::error::Error;
use crate::upstream::mcp_client::SessionHandler;
use crate::upstream::rest;
use crate::upstream::target::{self, Target};

/// Whether a tool's input schema maps arguments to `Mcp-Param-*` headers (`x-mcp-header`,
/// MCP 2026-07-28 / SEP-2243), anywhere in it.
pub fn has_param_headers(schema: &Map<String, Value>) -> bool {
    fn within(value: &Value) -> bool {
        match value {
            Value::Object(map) => has_param_headers(map),
            Value::Array(items) => items.iter().any(within),
            _ => false,
        }
    }
    schema.contains_key("x-mcp-header") || schema.values().any(within)
}

/// Runs tool `name` of the connector `target` stands for (connected, arguments checked);
/// `param_headers`: its schema has `x-mcp-header` arguments; `user_token`: the caller's own
/// (REST connectors only).
pub(super) async fn invoke(
    ctx: &Context,
    target: &Target,
    name: &str,
    arguments: Map<String, Value>,
    (param_headers, user_token): (bool, Option<&SecretString>),
) -> Result<CallToolResult, (CallStatus, Error)> {
    let (tenant_id, id) = (target.tenant_id, target.connector_id);
    match &target.rest {
        None if user_token.is_some() => {
            Err((CallStatus::UpstreamError, rest::user_token_unsupported_for_mcp()))
        }
        None => mcp(ctx, tenant_id, id, (name, param_headers), arguments).await,
        Some(_) => {
            // Timeouts and failures of the REST API are tool results already (`isError`).
            Box::pin(rest::call(&ctx.upstream, tenant_id, id, name, &arguments, user_token))
                .await
                .map_err(|e| (CallStatus::UpstreamError, e))
        }
    }
}

/// An MCP connector's `tools/call` on the connector's pooled session (`upstream::pool`); a
/// list_changed seen on it schedules a resync. rmcp sends `x-mcp-header` arguments as
/// `Mcp-Param-*` headers only for a schema it saw in the same session's `tools/list` (its
/// header builder is not public), so a call to such a tool lists tools first, until the
/// tool appears (once per session).
async fn mcp(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    (name, param_headers): (&str, bool),
    arguments: Map<String, Value>,
) -> Result<CallToolResult, (CallStatus, Error)> {
    let limit = ctx.upstream.connectors.settings.tool_call_timeout;
    let handler = || {
        let ctx = ctx.clone();
        SessionHandler::new(move || schedule_resync(&ctx, tenant_id, id))
    };
    let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
    let call = async {
        let target = target::get(&ctx.upstream, tenant_id, id).await?;
        let pool = &ctx.upstream.pool;
        let session = pool.lease(&ctx.upstream, target, handler).await?;
        let listed = if param_headers { Box::pin(session.list_until(name)).await } else { Ok(()) };
        let result = match listed {
            Ok(()) => session.call_tool(params, param_headers).await,
            Err(e) => Err(e),
        };
        // Not retried: the request may have reached the upstream before the session ended.
        if result.is_err() && session.is_closed() {
            pool.forget(&session);
        }
        result
    };
    match tokio::time::timeout(limit, call).await {
        Err(_) => Err((CallStatus::Timeout, timed_out("the tool's result", limit))),
        Ok(Err(e @ Error::UpstreamTimeout(_))) => Err((CallStatus::Timeout, e)),
        Ok(Err(e)) => Err((CallStatus::UpstreamError, e)),
        Ok(Ok(result)) => Ok(result),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::has_param_headers;

    #[test]
    fn header_annotations_are_found_at_any_depth() {
        let nested = json!({"type": "object", "properties": {"a": {"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}});
        assert!(has_param_headers(nested.as_object().unwrap()));
        let plain =
            json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}});
        assert!(!has_param_headers(plain.as_object().unwrap()));
    }
}
