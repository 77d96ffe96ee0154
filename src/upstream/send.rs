//! Sending one request upstream with the connector's credential: what happens on an
//! expired token and on an upstream 401 is decided here, and only here.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use tracing::Instrument as _;
use url::Url;

use super::target::{Target, load};
use super::{Context, headers};
use crate::connectors::lifecycle::{disconnect_refused, reject_credentials};
use crate::connectors::refresh::{RefreshOutcome, Trigger, refresh};
use crate::connectors::service::require_scopes;
use crate::error::{Error, Result};
use crate::oauth::discovery;
use crate::platform::challenge::{self, Challenge};
use crate::platform::metrics::{UPSTREAM_DURATION, UPSTREAM_REQUESTS};

/// Sends with the target's credential. An OAuth token known to be expired is refreshed
/// first; an upstream 401 on an OAuth connector triggers one refresh (single flight) and one
/// retry, unless the upstream now names another authorization server. A static credential
/// that gets a 401 disconnects the connector; a connector without one gets
/// `needs_authorization`, and a 403 `insufficient_scope` becomes that problem. The upstream's own
/// 401 and its `WWW-Authenticate` never reach the caller: they name the upstream's
/// authorization server, which is none of the caller's business. Neither does a redirect:
/// followed, it would carry the credential elsewhere; passed on, it would point the caller
/// around Switchboard; so it is `upstream_redirect`.
pub async fn send(
    ctx: &Context,
    target: Arc<Target>,
    method: Method,
    url: &Url,
    incoming: &HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response> {
    let response = send_authorized(ctx, target, method, url, incoming, body).await?;
    let status = response.status();
    // 304 is no redirect: it points nowhere and carries no body.
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        return Err(Error::upstream(
            "upstream_redirect",
            format!(
                "the upstream answered with a redirect (HTTP {}), which is not followed or passed on",
                status.as_u16()
            ),
        ));
    }
    Ok(response)
}

async fn send_authorized(
    ctx: &Context,
    mut target: Arc<Target>,
    method: Method,
    url: &Url,
    incoming: &HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response> {
    // The rare paths (a refresh, a 401, a 403) are boxed: their futures are large, and
    // every request's would carry them (and be copied with them).
    if target.is_oauth() && target.token_expired() {
        target = Box::pin(refreshed(ctx, &target)).await?;
    }
    let response = send_once(ctx, &target, method.clone(), url, incoming, body.clone()).await?;
    match response.status() {
        StatusCode::UNAUTHORIZED => {
            Box::pin(unauthorized(ctx, target, (method, url, incoming, body), response)).await
        }
        StatusCode::FORBIDDEN => Box::pin(step_up(ctx, &target, response)).await,
        _ => Ok(response),
    }
}

/// An upstream 401: what [`send`] says about it, and the one retry after a refresh.
async fn unauthorized(
    ctx: &Context,
    mut target: Arc<Target>,
    (method, url, incoming, body): (Method, &Url, &HeaderMap, Bytes),
    response: reqwest::Response,
) -> Result<reqwest::Response> {
    let challenge = bearer_challenge(&response);
    if target.credential.is_empty() {
        // Nothing was presented: a server that let the connect through wants authorization
        // for this request (a late 401), which a person must give.
        return Err(late_authorization(ctx, &target, challenge.as_ref()).await);
    }
    if !target.is_oauth() {
        return Err(rejected_static(ctx, &target).await);
    }
    moved_authorization_server(ctx, &target, challenge.as_ref()).await?;
    target = refreshed(ctx, &target).await?;
    let retry = send_once(ctx, &target, method, url, incoming, body).await?;
    if retry.status() == StatusCode::UNAUTHORIZED {
        return Err(late_authorization(ctx, &target, bearer_challenge(&retry).as_ref()).await);
    }
    step_up(ctx, &target, retry).await
}

/// A static credential's 401: the connector is disconnected — unless the credential was
/// replaced while the request was out (a pooled session outlives it), which only says the
/// old one is no good.
async fn rejected_static(ctx: &Context, target: &Target) -> Error {
    match still_stored(ctx, target).await {
        Err(e) => e,
        Ok(false) => Error::upstream(
            "credentials_replaced",
            "the upstream rejected a credential the connector no longer holds (HTTP 401); retry",
        ),
        Ok(true) => match reject_credentials(&ctx.connectors, target.tenant_id, target.connector_id).await {
            Err(e) => e,
            Ok(()) => Error::upstream(
                "credentials_rejected",
                "the upstream rejected the connector's credentials (HTTP 401); the connector is now disconnected",
            ),
        },
    }
}

/// Whether the credential `target` was sent with is the one stored now (read afresh).
async fn still_stored(ctx: &Context, target: &Target) -> Result<bool> {
    let stored = load(ctx, target.tenant_id, target.connector_id).await?;
    Ok(stored.credential == target.credential)
}

/// The upstream's Bearer challenge on a 401 or 403, if it sent one.
fn bearer_challenge(response: &reqwest::Response) -> Option<Challenge> {
    let values = response.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
    challenge::parse(values).into_iter().find(Challenge::is_bearer)
}

/// A 401 that no credential of ours can answer: `needs_authorization`, naming the
/// authorization server the upstream's protected resource metadata lists. Answered, never
/// retried: nothing here starts an authorization by itself, so nothing can loop.
async fn late_authorization(ctx: &Context, target: &Target, challenge: Option<&Challenge>) -> Error {
    let servers = discovery::authorization_servers(&ctx.connectors.net, &target.url, challenge).await;
    let named = servers.first().map(|s| format!(" at {s}")).unwrap_or_default();
    Error::NeedsAuthorization {
        connector_id: target.connector_id,
        authorization_server: servers.into_iter().next(),
        detail: format!(
            "the upstream requires an authorization{named} the connector does not hold (HTTP 401); connect it to authorize"
        ),
    }
}

/// An OAuth connector's 401 whose protected resource metadata no longer names the grant's
/// issuer: the upstream moved to another authorization server. Its tokens and client
/// registration belong to the old one and are never offered to the new one (not even a
/// refresh): the connector is disconnected and a connect registers at the new server.
async fn moved_authorization_server(
    ctx: &Context,
    target: &Target,
    challenge: Option<&Challenge>,
) -> Result<()> {
    let Some(issuer) = &target.issuer else { return Ok(()) };
    let servers = discovery::authorization_servers(&ctx.connectors.net, &target.url, challenge).await;
    if servers.is_empty() || discovery::names_issuer(&servers, issuer) {
        return Ok(());
    }
    let new = servers[0].clone();
    let message =
        format!("the upstream's authorization server changed from {issuer} to {new}; connect again");
    let (tenant_id, id) = (target.tenant_id, target.connector_id);
    disconnect_refused(&ctx.connectors, tenant_id, id, "authorization_server_changed", &message).await?;
    Err(Error::NeedsAuthorization { connector_id: id, authorization_server: Some(new), detail: message })
}

/// A 403 `insufficient_scope` (SEP-835) becomes the problem naming the scopes, recorded on
/// the connector for the next connect; the tokens stay. Any other answer passes.
async fn step_up(ctx: &Context, target: &Target, response: reqwest::Response) -> Result<reqwest::Response> {
    if response.status() != StatusCode::FORBIDDEN {
        return Ok(response);
    }
    let Some(challenge) =
        bearer_challenge(&response).filter(|c| c.param("error") == Some("insufficient_scope"))
    else {
        return Ok(response);
    };
    let scopes: Vec<String> =
        challenge.param("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    require_scopes(&ctx.connectors, target.tenant_id, target.connector_id, &scopes).await?;
    Err(Error::InsufficientScope { connector_id: target.connector_id, scopes })
}

async fn send_once(
    ctx: &Context,
    target: &Target,
    method: Method,
    url: &Url,
    incoming: &HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response> {
    let mut outgoing = headers::upstream_request(incoming);
    for (name, value) in &target.credential {
        outgoing.insert(name.clone(), value.clone());
    }
    // At DEBUG, like the one event in it: at INFO the span was built (fields formatted) for
    // every proxied message and never used.
    let span = tracing::debug_span!("upstream", %method, host = url.host_str().unwrap_or_default());
    let request = ctx.connectors.net.stream_request(method, url)?.headers(outgoing).body(body);
    let started = Instant::now();
    let sent = ctx.connectors.net.send(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    ::metrics::histogram!(UPSTREAM_DURATION).record(elapsed.as_secs_f64());
    let outcome = match &sent {
        Ok(response) => upstream_outcome(response.status()),
        Err(crate::platform::net::NetError::Timeout) => "timeout",
        Err(_) => "unreachable",
    };
    ::metrics::counter!(UPSTREAM_REQUESTS, "outcome" => outcome).increment(1);
    span.in_scope(|| tracing::debug!(outcome, elapsed_ms = elapsed.as_millis() as u64, "upstream answered"));
    Ok(sent?)
}

/// Refreshes the target's token (unless someone else already did) and returns the target
/// with the new credential.
pub(super) async fn refreshed(ctx: &Context, target: &Target) -> Result<Arc<Target>> {
    let token = target.access_token.clone().expect("only OAuth targets are refreshed");
    let (owned, tenant_id, id) = (ctx.connectors.clone(), target.tenant_id, target.connector_id);
    // On a task of its own, so that a caller who goes away (a disconnect, a tool call's
    // timeout) cannot cancel it between the authorization server's answer and the commit:
    // a rotated refresh token would be lost, and the grant with it.
    let refreshing =
        tokio::spawn(async move { refresh(&owned, tenant_id, id, Trigger::Rejected(&token)).await });
    let outcome = refreshing.await.map_err(|e| Error::Internal(e.into()))??;
    match outcome {
        RefreshOutcome::Refreshed | RefreshOutcome::NotNeeded => {
            load(ctx, target.tenant_id, target.connector_id).await
        }
        RefreshOutcome::Disconnected => Err(Error::upstream(
            "refresh_failed",
            "the upstream token could not be refreshed and the connector is now disconnected; connect it again",
        )),
        RefreshOutcome::Retrying => Err(Error::upstream(
            "refresh_unavailable",
            "the upstream token expired and its authorization server is not answering; retry later",
        )),
    }
}

/// The label for an upstream answer: its status class, with 401 apart (it triggers a refresh).
pub fn upstream_outcome(status: reqwest::StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
