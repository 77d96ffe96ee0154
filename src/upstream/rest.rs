//! A REST connector's tool call, the runtime path (issue 15): the tool's operation is built
//! into a request (arguments un-mapped and placed by location, auth headers filled from the
//! sealed credentials), counted against the descriptor's `per_account` rate limits, and sent
//! through the guarded client within the tool call timeout and the response cap. Whatever the
//! REST API does — answers non-2xx, hangs, is unreachable — is a tool result with `isError`,
//! never a failure of the call itself.
//!
//! A call with the caller's own token (`X-Switchboard-User-Token`, seed 004 "Per-request
//! authentication") bypasses the cached target: the connector is read afresh, its stored
//! credential left sealed, and the token fills the operation's auth type's token slot
//! ([`crate::rest::descriptor::AuthType::token_slot`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
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
use crate::rest::descriptor::AuthType;
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

/// Calls tool `name` of the REST connector `id`, with the stored credential or `user_token`.
/// `Err` only for what is wrong on our side or the caller's (no such connector or tool, not
/// connected, a user token the tool has no slot for, the database).
pub async fn call(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    arguments: &Map<String, Value>,
    user_token: Option<&SecretString>,
) -> Result<CallToolResult> {
    let target = match user_token {
        None => target::get(ctx, tenant_id, id).await?,
        Some(_) => Arc::new(target::load_unopened(ctx, tenant_id, id).await?),
    };
    target.status.require_connected(id)?;
    let rest = target.rest.as_ref().ok_or(Error::NotFound("tool"))?;
    let tool = rest.tools.get(name).ok_or(Error::NotFound("tool"))?;
    let operation = rest.descriptor.operation(&tool.operation_id).ok_or(Error::NotFound("tool"))?;
    let auth = operation.auth_type_ref.as_deref().and_then(|r| rest.descriptor.auth_type(r));
    let credentials = match user_token {
        None => Cow::Borrowed(&rest.credentials),
        Some(token) => Cow::Owned(user_credentials(name, auth, token)?),
    };
    let call = Call { operation, auth, credentials: &credentials, arguments, argument_map: &tool.arguments };
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

/// The credential `token` makes for a tool authenticating with `auth`.
fn user_credentials(tool: &str, auth: Option<&AuthType>, token: &SecretString) -> Result<Credentials> {
    let Some(auth) = auth else {
        return Err(Error::unprocessable(
            "user_token_unsupported",
            format!("tool `{tool}` sends no credential, so a user token has nowhere to go"),
        ));
    };
    match auth.token_slot() {
        Some(slot) => Ok([(slot.to_owned(), token.clone())].into()),
        None => Err(Error::unprocessable(
            "user_token_unsupported",
            format!(
                "tool `{tool}` authenticates with auth type `{}` ({}), which has no single token a user token could stand in for (bearer, oauth2 and api_key with one secret field have one)",
                auth.reference(),
                auth.kind.as_str()
            ),
        )),
    }
}

/// What an MCP connector answers a call carrying a user token: its upstream's requests
/// carry the connector's own credential, and a caller's token is never passed through.
pub fn user_token_unsupported_for_mcp() -> Error {
    Error::unprocessable(
        "user_token_unsupported",
        "a user token is for REST connectors; an MCP connector always uses its own credential",
    )
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
