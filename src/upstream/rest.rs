//! A REST connector's tool call, the runtime path (issue 15): the tool's operation is built
//! into a request (arguments un-mapped and placed by location, auth headers filled from the
//! sealed credentials), counted against the descriptor's `per_account` rate limits, and sent
//! through the guarded client within the tool call timeout and the response cap. Whatever the
//! REST API does — answers non-2xx, hangs, is unreachable — is a tool result with `isError`,
//! never a failure of the call itself.

use std::collections::BTreeMap;
use std::time::Duration;

use rmcp::model::CallToolResult;
use secrecy::SecretString;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Context, store, target};
use crate::connectors::rest as connector_rest;
use crate::error::{Error, Result};
use crate::platform::net::NetError;
use crate::rest::Descriptor;
use crate::rest::request::{self, Call, Credentials};
use crate::rest::response::{self, HttpResponse};
use crate::rest::schema::{self, RestTool};

/// A REST connector as calls need it: its generated tools, by name, and its credentials.
pub struct RestTarget {
    pub descriptor: Descriptor,
    pub tools: BTreeMap<String, RestTool>,
    pub credentials: Credentials,
}

impl RestTarget {
    /// `secret` is the opened sealed credentials (none while not connected).
    pub fn new(descriptor: Descriptor, secret: Option<&SecretString>) -> Result<Self> {
        let credentials = secret.map(connector_rest::parse).transpose()?.unwrap_or_default();
        let tools = schema::tools(&descriptor).into_iter().map(|t| (t.name.clone(), t)).collect();
        Ok(Self { descriptor, tools, credentials })
    }
}

/// Calls tool `name` of the REST connector `id`. `Err` only for what is wrong on our side
/// (no such connector or tool, not connected, the database).
pub async fn call(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    arguments: &Map<String, Value>,
) -> Result<CallToolResult> {
    let target = target::get(ctx, tenant_id, id).await?;
    target.status.require_connected(id)?;
    let rest = target.rest.as_ref().ok_or(Error::NotFound("tool"))?;
    let tool = rest.tools.get(name).ok_or(Error::NotFound("tool"))?;
    let operation = rest.descriptor.operation(&tool.operation_id).ok_or(Error::NotFound("tool"))?;
    let auth = operation.auth_type_ref.as_deref().and_then(|r| rest.descriptor.auth_type(r));
    let call =
        Call { operation, auth, credentials: &rest.credentials, arguments, argument_map: &tool.arguments };
    let built = match request::build(&call) {
        Ok(built) => built,
        Err(err) => return Ok(response::error_result(err.to_string())),
    };
    if let Some(refusal) = over_rate_limit(ctx, id, &rest.descriptor).await? {
        return Ok(response::error_result(refusal));
    }
    let limit = ctx.connectors.settings.tool_call_timeout;
    let sent = connector_rest::send(&ctx.connectors.net, built, connector_rest::MAX_RESPONSE_BODY);
    Ok(match tokio::time::timeout(limit, sent).await {
        Err(_) | Ok(Err(NetError::Timeout)) => response::error_result(format!(
            "the REST API did not answer within {}",
            humantime::format_duration(limit.min(crate::platform::net::CONTROL_TIMEOUT))
        )),
        Ok(Err(err)) => response::error_result(format!("the REST API could not be called: {err}")),
        Ok(Ok(fetched)) => response::tool_result(&HttpResponse {
            status: fetched.status.as_u16(),
            content_type: fetched.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            body: &fetched.body,
            truncated: false,
        }),
    })
}

/// Counts the call against every `per_account` rule; a refusal when one is exceeded.
/// The windows live in the database, so all replicas count together.
async fn over_rate_limit(ctx: &Context, id: Uuid, descriptor: &Descriptor) -> Result<Option<String>> {
    for (rule, limit) in descriptor.rate_limits.iter().enumerate() {
        let interval = Duration::from_secs(limit.interval_seconds.into());
        let (calls, left) = store::count_call(&ctx.connectors.db, id, rule as i16, interval).await?;
        if calls > i64::from(limit.limit) {
            return Ok(Some(format!(
                "rate limited: at most {} calls per {} s to this API; retry in {} s",
                limit.limit,
                limit.interval_seconds,
                left.as_secs().max(1)
            )));
        }
    }
    Ok(None)
}
