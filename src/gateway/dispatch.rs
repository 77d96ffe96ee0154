//! What an MCP client of a gateway can do: list the enabled tools under their aliases, and
//! call one, which goes to the connector's tool through the catalog's call path and is
//! logged. Failures past finding the tool are tool results with `isError: true` and a clear
//! text (MCP 2025-11-25, "Error Handling": the model can read and react to them), never a
//! protocol error that would stop the client.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use rmcp::model::{CallToolResult, ContentBlock};
use secrecy::SecretString;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::{CallOutcome, Gateway, GatewayTool, NewCall};
use super::scopes::{self, Scopes};
use super::store;
use super::{Context, cache};
use crate::catalog::model::truncated;
use crate::catalog::service as catalog;
use crate::error::{Error, Result};
use crate::platform::page;

/// Who is calling: a gateway key, or a tenant API key with the `proxy` scope; with the
/// scopes that decide which tools exist for them.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub gateway_key_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub scopes: Scopes,
}

/// Every enabled tool the catalog still lists that `scopes` open, by alias.
pub async fn exposed_tools(ctx: &Context, gateway: &Gateway, scopes: Scopes) -> Result<Vec<GatewayTool>> {
    let list = cache::tool_list(&ctx.cache, ctx.db(), gateway.id).await?;
    Ok(list.exposed.iter().filter(|tool| scopes::allows(scopes, tool)).cloned().collect())
}

/// The enabled tool named `alias` that `scopes` open, if there is one: what a call of
/// `alias` calls. A tool outside the caller's scopes is as unknown as one that is not there.
pub async fn callable_tool(
    ctx: &Context,
    gateway: &Gateway,
    scopes: Scopes,
    alias: &str,
) -> Result<Option<Arc<GatewayTool>>> {
    let tool = cache::tool(&ctx.cache, ctx.db(), gateway.id, alias).await?;
    Ok(tool.filter(|t| t.enabled && scopes::allows(scopes, t)))
}

/// Tools read per query while a page of exposed tools is filled: the scopes are applied
/// here, not in SQL, so a page may take more rows than it shows.
const SCAN: i64 = 500;

/// Up to `limit` of the enabled tools the catalog still lists that `scopes` open, by alias,
/// after the alias `after`; with the alias the next page starts after, if there is one.
pub async fn exposed_page(
    ctx: &Context,
    gateway: &Gateway,
    scopes: Scopes,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<GatewayTool>, Option<String>)> {
    let mut page = Vec::new();
    let mut scanned_to = after;
    loop {
        let rows = store::list_tools(ctx.db(), gateway.id, true, scanned_to.as_deref(), SCAN).await?;
        let exhausted = (rows.len() as i64) < SCAN;
        scanned_to = rows.last().map(|t| t.alias.clone()).or(scanned_to);
        page.extend(rows.into_iter().filter(|t| scopes::allows(scopes, t)));
        // One more than the page: whether a next page exists.
        if exhausted || page.len() as i64 > limit {
            return Ok(page::split(page, limit, |t| t.alias.clone()));
        }
    }
}

/// Calls `tool`, the caller's [`callable_tool`] named `alias`, with the caller's own
/// `user_token` when given (a REST tool uses it in place of its connector's credential; an
/// MCP tool refuses it as a tool error); `Err` only when there is no such tool (the MCP
/// layer answers that as the protocol says: an unknown tool).
pub async fn call(
    ctx: &Context,
    caller: Caller,
    gateway: &Gateway,
    (alias, tool, arguments): (&str, Option<&GatewayTool>, Map<String, Value>),
    user_token: Option<&SecretString>,
) -> Result<CallToolResult> {
    let started = Instant::now();
    let log_payloads = ctx.catalog.logs_tool_payloads(gateway.tenant_id).await?;
    let arguments_text = log_payloads.then(|| truncated(Value::Object(arguments.clone()).to_string()));
    let answer = match tool {
        None => Err(Error::NotFound("tool")),
        Some(tool) => Ok(run(ctx, gateway, tool, arguments, user_token).await),
    };
    let mut row = NewCall {
        id: Uuid::now_v7(),
        at: Utc::now(),
        tenant_id: gateway.tenant_id,
        gateway_id: gateway.id,
        alias: alias.to_owned(),
        connector_id: tool.map(|t| t.connector_id),
        tool_name: tool.map(|t| t.tool.clone()),
        gateway_key_id: caller.gateway_key_id,
        api_key_id: caller.api_key_id,
        status: CallOutcome::Error.as_str(),
        duration_ms: started.elapsed().as_millis() as i32,
        error: None,
        arguments: arguments_text,
        result: None,
    };
    match &answer {
        Err(err) => row.error = Some(err.to_string()),
        Ok(result) => {
            if result.is_error == Some(true) {
                row.error = Some(error_text(result));
            } else {
                row.status = CallOutcome::Success.as_str();
            }
            row.result = log_payloads.then(|| truncated(serde_json::to_string(result).unwrap_or_default()));
        }
    }
    ctx.calls.record(row).await;
    answer
}

/// The upstream's result unchanged, or a tool error saying why there is none.
async fn run(
    ctx: &Context,
    gateway: &Gateway,
    tool: &GatewayTool,
    arguments: Map<String, Value>,
    user_token: Option<&SecretString>,
) -> CallToolResult {
    // The catalog entry came with the tool (the gateway's copy); `None` while the catalog
    // no longer lists it.
    let found = match &tool.input_schema {
        None => Err(Error::NotFound("tool")),
        Some(schema) => {
            let (tenant_id, name) = (gateway.tenant_id, tool.tool.clone());
            catalog::callable(&ctx.catalog, tenant_id, tool.connector_id, name, schema.clone()).await
        }
    };
    let callable = match found {
        Ok(callable) => callable,
        Err(err) => return tool_error(&format!("this tool is unavailable: {err}")),
    };
    match catalog::execute(&ctx.catalog, &callable, arguments, user_token).await {
        Ok(result) => result,
        Err((_, Error::Invalid(errors))) => {
            let problems: Vec<String> =
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            tool_error(&format!("invalid arguments: {}", problems.join("; ")))
        }
        Err((_, err @ Error::Internal(_))) => {
            tracing::error!(alias = %tool.alias, error = %err, "gateway call failed");
            tool_error("the call failed inside Switchboard")
        }
        Err((_, err)) => tool_error(&format!("{} ({})", err, err.code())),
    }
}

fn tool_error(text: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// The text of a tool error, for the log.
fn error_text(result: &CallToolResult) -> String {
    let texts: Vec<&str> = result.content.iter().filter_map(|c| Some(c.as_text()?.text.as_str())).collect();
    let text = texts.join("\n");
    if text.is_empty() { "the tool reported an error".into() } else { truncated(text) }
}
