//! A REST connector's tool call, the runtime path (issue 15): the tool's operation is built
//! into a request (arguments un-mapped and placed by location, auth headers filled from the
//! sealed credentials), counted against the descriptor's `per_account` rate limits, and sent
//! through the guarded client within the tool call timeout and the response cap. Whatever the
//! REST API does — answers non-2xx, hangs, is unreachable — is a tool result with `isError`,
//! never a failure of the call itself.
//!
//! An OAuth 2 client-credentials auth type gets its access token from the token URL on first
//! use, keeps it in process ([`TokenCache`]) until 30 s before it expires, and fetches a new
//! one once when the API answers 401.
//!
//! An OAuth 2 authorization-code auth type uses the connector's stored access token (the
//! grant a person authorized at connect): refreshed through the connectors' single-flight
//! refresh when known to be expired, and once more when the API answers 401.
//!
//! A call with the caller's own token (`X-Switchboard-User-Token`, seed 004 "Per-request
//! authentication") bypasses the cached target: the connector is read afresh, its stored
//! credential left sealed, and the token fills the operation's auth type's token slot
//! ([`crate::rest::descriptor::AuthType::token_slot`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rmcp::model::CallToolResult;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::target::{self, Target};
use super::{Context, send as upstream_send, store};
use crate::connectors::rest as connector_rest;
use crate::error::{Error, Result};
use crate::platform::net::{Fetched, NetError, Outbound};
use crate::rest::Descriptor;
use crate::rest::descriptor::{ACCESS_TOKEN_FIELD, AuthType, OAuth2Grant, Operation};
use crate::rest::request::{self, Call, Credentials, OutboundRequest, RequestError};
use crate::rest::response::{self, HttpResponse};
use crate::rest::schema::{self, RestTool};

/// How long before its `expires_in` runs out a client-credentials access token is renewed:
/// the call it is sent with must still find it valid at the API.
const RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// A REST connector as calls need it: its generated tools, by name, and its credentials.
pub struct RestTarget {
    pub descriptor: Descriptor,
    pub tools: BTreeMap<String, RestTool>,
    pub credentials: Credentials,
}

impl RestTarget {
    /// `secret` is the opened sealed credentials (none while not connected); `access_token`
    /// the stored one of an authorization code grant.
    pub fn new(
        descriptor: Descriptor,
        secret: Option<&SecretString>,
        access_token: Option<SecretString>,
    ) -> Result<Self> {
        let mut credentials: Credentials = secret.map(connector_rest::parse).transpose()?.unwrap_or_default();
        if let Some(token) = access_token {
            credentials.insert(ACCESS_TOKEN_FIELD.to_owned(), token);
        }
        let tools = schema::tools(&descriptor).into_iter().map(|t| (t.name.clone(), t)).collect();
        Ok(Self { descriptor, tools, credentials })
    }
}

/// The access tokens of REST connectors' OAuth 2 client-credentials auth types, in process:
/// by connector and auth type, each for the client credentials it was fetched with (a
/// fingerprint of client id, secret, token URL and scopes). A rotated secret or another token
/// URL never uses an old token, while other changes to the connector — which drop its cached
/// target — keep it. Held across a fetch: one token request at a time per replica.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<HashMap<(Uuid, String), CachedToken>>);

/// A client-credentials access token, and when to fetch the next one (never, without an
/// `expires_in`: until the API refuses it).
struct CachedToken {
    fingerprint: [u8; 32],
    token: SecretString,
    renew_at: Option<DateTime<Utc>>,
}

impl TokenCache {
    /// The access token of connector `id`'s client-credentials auth type `auth`: the cached
    /// one until 30 s before it expires, else a new one from the token URL. `refused`: the
    /// token the API just answered 401 to, replaced unless another call already replaced it.
    async fn access_token(
        &self,
        net: &Outbound,
        (id, auth): (Uuid, &AuthType),
        credentials: &Credentials,
        refused: Option<&SecretString>,
    ) -> Result<SecretString> {
        let fingerprint = fingerprint(auth, credentials);
        let key = (id, auth.reference().to_owned());
        let mut tokens = self.0.lock().await;
        if let Some(cached) = tokens.get(&key).filter(|c| c.fingerprint == fingerprint) {
            let fresh = cached.renew_at.is_none_or(|at| Utc::now() < at);
            let is_refused = refused.is_some_and(|r| r.expose_secret() == cached.token.expose_secret());
            if fresh && !is_refused {
                return Ok(cached.token.clone());
            }
        }
        let fetched = connector_rest::client_credentials(net, auth, credentials).await?;
        let renew_at = fetched.expires_at.map(|at| at - RENEW_BEFORE);
        tokens.insert(key, CachedToken { fingerprint, token: fetched.access_token.clone(), renew_at });
        Ok(fetched.access_token)
    }
}

/// What a token was fetched with, hashed (the secret is never kept in clear beside it).
fn fingerprint(auth: &AuthType, credentials: &Credentials) -> [u8; 32] {
    let mut hash = Sha256::new();
    let field = |key: &str| credentials.get(key).map(|v| v.expose_secret().to_owned()).unwrap_or_default();
    let parts = [field(auth.client_id_field()), field(auth.client_secret_field())];
    let settings = [auth.token_url.clone().unwrap_or_default(), auth.scopes.join(" ")];
    for part in parts.iter().chain(&settings) {
        hash.update(part.len().to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

/// One tool call, resolved to its operation.
struct Prepared<'a> {
    rest: &'a RestTarget,
    tool: &'a RestTool,
    operation: &'a Operation,
    auth: Option<&'a AuthType>,
    arguments: &'a Map<String, Value>,
}

impl Prepared<'_> {
    fn build(&self, credentials: &Credentials) -> std::result::Result<OutboundRequest, RequestError> {
        let (operation, auth, arguments) = (self.operation, self.auth, self.arguments);
        request::build(&Call { operation, auth, credentials, arguments, argument_map: &self.tool.arguments })
    }

    /// The client-credentials auth type this call gets a token for (none with a user token:
    /// that is the access token).
    fn grant(&self, user_token: Option<&SecretString>) -> Option<&AuthType> {
        self.auth.filter(|a| a.grant_type == Some(OAuth2Grant::ClientCredentials) && user_token.is_none())
    }

    /// Whether this call sends the connector's stored authorization-code access token.
    fn uses_stored_token(&self, user_token: Option<&SecretString>) -> bool {
        user_token.is_none()
            && self.auth.is_some_and(|a| a.grant_type == Some(OAuth2Grant::AuthorizationCode))
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
    let target = match unexpired(ctx, target).await {
        Ok(target) => target,
        Err(result) => return Ok(result),
    };
    let rest = target.rest.as_ref().ok_or(Error::NotFound("tool"))?;
    let tool = rest.tools.get(name).ok_or(Error::NotFound("tool"))?;
    let operation = rest.descriptor.operation(&tool.operation_id).ok_or(Error::NotFound("tool"))?;
    let auth = operation.auth_type_ref.as_deref().and_then(|r| rest.descriptor.auth_type(r));
    let call = Prepared { rest, tool, operation, auth, arguments };
    let mut credentials = match user_token {
        None => Cow::Borrowed(&rest.credentials),
        Some(token) => Cow::Owned(user_credentials(name, auth, token)?),
    };
    if let Some(auth) = call.grant(user_token) {
        let net = &ctx.connectors.net;
        match ctx.rest_tokens.access_token(net, (id, auth), &rest.credentials, None).await {
            Ok(token) => credentials.to_mut().insert(ACCESS_TOKEN_FIELD.to_owned(), token),
            Err(err) => return Ok(no_token(&err)),
        };
    }
    let built = match call.build(&credentials) {
        Ok(built) => built,
        Err(err) => return Ok(response::error_result(err.to_string())),
    };
    if let Some(refusal) = over_rate_limit(ctx, id, &rest.descriptor).await? {
        return Ok(response::error_result(refusal));
    }
    let sent = send(ctx, built).await;
    let sent = match (call.grant(user_token), sent) {
        (Some(auth), Ok(fetched)) if fetched.status == reqwest::StatusCode::UNAUTHORIZED => {
            retry_with_new_token(ctx, (id, &call), auth, credentials.into_owned()).await
        }
        (None, Ok(fetched))
            if fetched.status == reqwest::StatusCode::UNAUTHORIZED && call.uses_stored_token(user_token) =>
        {
            retry_with_refreshed_grant(ctx, &target, &call, credentials.into_owned()).await
        }
        (_, sent) => sent,
    };
    Ok(match sent {
        Ok(fetched) => response::tool_result(&HttpResponse {
            status: fetched.status.as_u16(),
            content_type: fetched.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            body: &fetched.body,
            truncated: false,
        }),
        Err(result) => result,
    })
}

/// The API refused the access token (revoked, or expired before its `expires_in`): one new
/// token, one more try, whose answer stands.
async fn retry_with_new_token(
    ctx: &Context,
    (id, call): (Uuid, &Prepared<'_>),
    auth: &AuthType,
    credentials: Credentials,
) -> std::result::Result<Fetched, CallToolResult> {
    let refused = credentials.get(ACCESS_TOKEN_FIELD).cloned();
    let net = &ctx.connectors.net;
    let token = ctx.rest_tokens.access_token(net, (id, auth), &call.rest.credentials, refused.as_ref()).await;
    resend(ctx, call, credentials, token.map_err(|err| no_token(&err))?).await
}

/// The target, its stored authorization-code access token refreshed first when it is known to
/// have expired (a target read for a user token holds none); why not, as the tool result.
async fn unexpired(ctx: &Context, target: Arc<Target>) -> std::result::Result<Arc<Target>, CallToolResult> {
    if !(target.is_oauth() && target.token_expired()) {
        return Ok(target);
    }
    upstream_send::refreshed(ctx, &target).await.map_err(|err| no_token(&err))
}

/// The API refused the stored authorization-code access token: the grant refreshed (unless
/// another call already did), one more try with the new token, whose answer stands.
async fn retry_with_refreshed_grant(
    ctx: &Context,
    target: &Target,
    call: &Prepared<'_>,
    credentials: Credentials,
) -> std::result::Result<Fetched, CallToolResult> {
    let fresh = upstream_send::refreshed(ctx, target).await.map_err(|err| no_token(&err))?;
    let token = fresh.rest.as_ref().and_then(|r| r.credentials.get(ACCESS_TOKEN_FIELD)).cloned();
    let token =
        token.ok_or_else(|| response::error_result("no access token for the REST API: connect again"))?;
    resend(ctx, call, credentials, token).await
}

/// `call` once more with `token` as its access token; its answer stands.
async fn resend(
    ctx: &Context,
    call: &Prepared<'_>,
    mut credentials: Credentials,
    token: SecretString,
) -> std::result::Result<Fetched, CallToolResult> {
    credentials.insert(ACCESS_TOKEN_FIELD.to_owned(), token);
    let built = call.build(&credentials).map_err(|err| response::error_result(err.to_string()))?;
    send(ctx, built).await
}

fn no_token(err: &Error) -> CallToolResult {
    response::error_result(format!("no access token for the REST API: {err}"))
}

/// Sends `built` within the tool call timeout; what goes wrong is the tool result to answer.
async fn send(ctx: &Context, built: OutboundRequest) -> std::result::Result<Fetched, CallToolResult> {
    let limit = ctx.connectors.settings.tool_call_timeout;
    let sent = connector_rest::send(&ctx.connectors.net, built, connector_rest::MAX_RESPONSE_BODY);
    match tokio::time::timeout(limit, sent).await {
        Err(_) | Ok(Err(NetError::Timeout)) => Err(response::error_result(format!(
            "the REST API did not answer within {}",
            humantime::format_duration(limit.min(crate::platform::net::CONTROL_TIMEOUT))
        ))),
        Ok(Err(err)) => Err(response::error_result(format!("the REST API could not be called: {err}"))),
        Ok(Ok(fetched)) => Ok(fetched),
    }
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
