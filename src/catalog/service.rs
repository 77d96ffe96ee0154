//! Reading the catalog, and calling tools directly: arguments checked against the stored
//! schema before any upstream call, the call made over the upstream path within the
//! configured timeout, every call logged.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::CallToolResult;
use secrecy::SecretString;
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{CallRecord, CallStatus, MAX_TOOLS, truncated};
use super::store::{self, CallFilter, ToolCallView, ToolDetail, ToolSummary};
use super::{Context, exec};
use crate::connectors::service as connectors;
use crate::error::{Error, Result};
use crate::platform::page;
use crate::upstream::target::{self, Target};

/// A page of a connector's tools by name; `q` filters on name and description.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    q: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<ToolSummary>, Option<String>)> {
    connectors::get(db, tenant_id, id).await?;
    let pattern = q.filter(|q| !q.is_empty()).map(|q| format!("%{}%", escape_like(q)));
    let rows = store::list(db, tenant_id, id, pattern.as_deref(), after.as_deref(), limit + 1).await?;
    Ok(page::split(rows, limit, |t| t.name.clone()))
}

/// `%`, `_` and `\` match themselves in a user's search text.
fn escape_like(q: &str) -> String {
    q.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid, name: &str) -> Result<ToolDetail> {
    connectors::get(db, tenant_id, id).await?;
    store::get(db, tenant_id, id, name).await?.ok_or(Error::NotFound("tool"))
}

/// Who calls a tool, for the log.
#[derive(Debug, Clone, Copy)]
pub struct CallerRef {
    pub tenant_id: Uuid,
    pub api_key_id: Uuid,
}

/// The upstream's result, as returned by the API.
#[derive(Debug)]
pub struct CallOutcome {
    pub result: CallToolResult,
    pub duration_ms: u64,
}

/// Validates the arguments against the stored schema, then calls the tool upstream through
/// the proxy's credential path, within the configured timeout. Every call is logged (never
/// `user_token`, the caller's own credential for a REST connector's call).
pub async fn call(
    ctx: &Context,
    caller: CallerRef,
    id: Uuid,
    name: &str,
    arguments: Map<String, Value>,
    user_token: Option<&SecretString>,
) -> Result<CallOutcome> {
    let callable = find_callable(ctx, caller.tenant_id, id, name).await?;
    let log_payloads = ctx.logs_tool_payloads(caller.tenant_id).await?;
    let started = Instant::now();
    let arguments_text = Value::Object(arguments.clone()).to_string();
    let mut record = CallRecord {
        tenant_id: caller.tenant_id,
        connector_id: id,
        tool_name: name.to_owned(),
        api_key_id: caller.api_key_id,
        status: CallStatus::Ok,
        duration_ms: 0,
        error: None,
        request_bytes: arguments_text.len() as i32,
        response_bytes: None,
        arguments: log_payloads.then(|| truncated(arguments_text)),
        result: None,
    };
    let outcome = execute(ctx, &callable, arguments, user_token).await;
    record.duration_ms = started.elapsed().as_millis() as i32;
    let answer = match outcome {
        Ok(result) => {
            record.succeeded(&result, log_payloads);
            Ok(CallOutcome { result, duration_ms: record.duration_ms as u64 })
        }
        Err((status, err)) => {
            record.status = status;
            record.error = Some(err.to_string().replace('\0', ""));
            Err(err)
        }
    };
    // The tool has run: a log that cannot be written must not turn its answer into an error
    // (a caller would retry a call that may not be safe to repeat).
    if let Err(err) = store::insert_call(ctx.db(), &record).await {
        tracing::error!(connector_id = %id, tool = name, error = %err, "could not log a tool call");
    }
    answer
}

/// A tool of a connector's catalog, found and ready to be called: the connector as the
/// upstream path has it (from the target cache), the tool's name and stored input schema.
pub struct Callable {
    target: Arc<Target>,
    name: String,
    input_schema: Value,
}

/// The connector and its catalog entry for `name` (404 when either is unknown in the tenant).
pub async fn find_callable(ctx: &Context, tenant_id: Uuid, id: Uuid, name: &str) -> Result<Callable> {
    let tool = store::get(ctx.db(), tenant_id, id, name).await?.ok_or(Error::NotFound("tool"))?;
    callable(ctx, tenant_id, id, tool.summary.name, tool.input_schema).await
}

/// Tool `name` of connector `id`, whose catalog entry the caller has read already (a
/// gateway's copy of its tools): only the connector is looked up, in the target cache.
pub async fn callable(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    name: String,
    input_schema: Value,
) -> Result<Callable> {
    let target = target::get(&ctx.upstream, tenant_id, id).await?;
    Ok(Callable { target, name, input_schema })
}

/// Checks the arguments against the stored schema and the connector's status, then calls the
/// tool upstream, with the stored credential or `user_token` (REST connectors only; an MCP
/// connector refuses one). Not logged here: the REST direct call and the gateway each keep
/// their log.
pub async fn execute(
    ctx: &Context,
    callable: &Callable,
    arguments: Map<String, Value>,
    user_token: Option<&SecretString>,
) -> Result<CallToolResult, (CallStatus, Error)> {
    let Callable { target, name, input_schema } = callable;
    match ctx.validators.check((target.connector_id, name), input_schema, &arguments) {
        Err(errors) => Err((CallStatus::InvalidArguments, Error::Invalid(errors))),
        Ok(()) => match target.status.require_connected(target.connector_id) {
            Err(not_connected) => Err((CallStatus::UpstreamError, not_connected)),
            Ok(()) => {
                let annotated = input_schema.as_object().is_some_and(exec::has_param_headers);
                exec::invoke(ctx, target, name, arguments, (annotated, user_token)).await
            }
        },
    }
}

/// Every tool of a connector's catalog with its schemas, by name: what an MCP server serving
/// the connector lists.
pub async fn tools(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Vec<ToolDetail>> {
    Ok(store::details(db, tenant_id, id, MAX_TOOLS as i64).await?)
}

/// A page of a connector's call log, newest first.
pub async fn calls(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    filter: CallFilter<'_>,
) -> Result<(Vec<ToolCallView>, Option<Uuid>)> {
    connectors::get(db, tenant_id, id).await?;
    let limit = filter.limit;
    let rows = store::list_calls(db, tenant_id, id, CallFilter { limit: limit + 1, ..filter }).await?;
    Ok(page::split(rows, limit, |c| c.id))
}
