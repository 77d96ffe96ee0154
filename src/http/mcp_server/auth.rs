//! Who may use a gateway's MCP endpoint: the bearer of one of *its* keys (`gk_…`), of an
//! OAuth access token issued for it (`oat_…`, [`crate::authz`]), or of a tenant API key with
//! the `proxy` scope, sent as `Authorization: Bearer` or, for clients that cannot set
//! headers, as `?apiKey=` / `?api_key=`. The key is taken out of the request before anything
//! else sees it (rmcp, its logs): only the path is ever logged.
//!
//! A request without a credential, or with a dead access token, is answered 401 with the
//! challenge that sends OAuth clients to the gateway's Protected Resource Metadata (MCP
//! authorization, RFC 9728 §5.1); a bad key gets the plain 401 it always got.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};

use crate::authz;
use crate::error::Error;
use crate::gateway::dispatch::Caller;
use crate::gateway::model::Gateway;
use crate::gateway::scopes::Scopes;
use crate::gateway::{cache, keys};
use crate::http::AppState;
use crate::http::extract::{admit, bearer_token};
use crate::http::problem::{ApiError, ApiResult};
use crate::tenancy::Scope;
use crate::tenancy::limits::Surface;
use uuid::Uuid;

const QUERY_KEYS: [&str; 2] = ["apiKey", "api_key"];

/// The key of the request, removed from it: the header wins over the query.
pub fn take_credential(parts: &mut Parts) -> Option<String> {
    let from_header = bearer_token(&parts.headers).map(str::to_owned);
    parts.headers.remove(AUTHORIZATION);
    let from_query = strip_query_key(&mut parts.uri);
    from_header.or(from_query)
}

/// Takes `apiKey` / `api_key` out of the URI's query; returns its value.
fn strip_query_key(uri: &mut Uri) -> Option<String> {
    let query = uri.query()?;
    let mut found = None;
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if QUERY_KEYS.contains(&name.as_ref()) {
            found.get_or_insert_with(|| value.into_owned());
        } else {
            kept.append_pair(&name, &value);
        }
    }
    let kept = kept.finish();
    let path_and_query =
        if kept.is_empty() { uri.path().to_owned() } else { format!("{}?{kept}", uri.path()) };
    let mut builder = Uri::builder().path_and_query(path_and_query);
    if let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) {
        builder = builder.scheme(scheme.clone()).authority(authority.clone());
    }
    if let Ok(stripped) = builder.build() {
        *uri = stripped;
    }
    found
}

/// The 401 that names the gateway's Protected Resource Metadata; `invalid_token` when a
/// token was sent (RFC 6750 §3.1).
fn challenge(state: &AppState, slug: &str, invalid_token: bool, error: ApiError) -> ApiError {
    let ApiError::Domain(error @ Error::Unauthenticated(_)) = error else { return error };
    let metadata = authz::metadata::resource_metadata_url(&state.settings, slug);
    let mut challenge = format!("Bearer resource_metadata=\"{metadata}\"");
    if invalid_token {
        challenge.push_str(", error=\"invalid_token\"");
    }
    ApiError::Challenge { error, challenge }
}

/// The gateway and caller an OAuth access token names: its grant's gateway, which must be
/// the one `slug` names now, with the scopes granted.
async fn oauth_caller(state: &AppState, slug: &str, token: &str) -> ApiResult<(Arc<Gateway>, Caller, Uuid)> {
    const OTHER: Error = Error::Unauthenticated("this access token is for another gateway");
    let access = authz::tokens::authenticate(&state.authz(), token).await?;
    let gateways = &state.caches.gateways;
    let gateway = match cache::gateway(gateways, &state.db, access.tenant_id, access.gateway_id).await {
        Err(Error::NotFound(_)) => return Err(OTHER.into()),
        found => found?,
    };
    if gateway.slug != slug {
        return Err(OTHER.into());
    }
    let scopes = Scopes::parse(access.scopes.iter().map(String::as_str)).unwrap_or_default();
    let caller = Caller { gateway_key_id: Some(access.gateway_key_id), api_key_id: None, scopes };
    Ok((gateway, caller, access.gateway_key_id))
}

/// The gateway `slug` names for this credential, and who is calling; counted against the
/// tenant's proxy rate limit and the key's rate at this gateway (an access token counts as
/// the key it was granted with; a tenant key has a rate at each gateway it is used at). A
/// gateway key or access token opens only its own gateway (any other → 401).
pub async fn authorize(
    state: &AppState,
    slug: &str,
    token: Option<&str>,
) -> ApiResult<(Arc<Gateway>, Caller)> {
    let (gateway, caller, key_id) = identify(state, slug, token).await?;
    admit(state, gateway.tenant_id, Surface::Proxy).await?;
    let rate = gateway.key_rate(state.limits.defaults().gateway_key);
    state.limits.check_key(gateway.id, key_id, rate)?;
    Ok((gateway, caller))
}

/// Whether the credential still opens the gateway `slug` (not revoked, not expired, the
/// gateway not renamed or deleted), without counting a request: for open streams.
pub async fn still_opens(state: &AppState, slug: &str, token: Option<&str>) -> bool {
    match identify(state, slug, token).await {
        Ok(_) => true,
        // An unavailable database is not a revocation: keep the stream, check again later.
        Err(err) => !matches!(err.status().as_u16(), 401 | 403 | 404),
    }
}

/// The gateway, the caller, and the key its rate is counted by (an access token: its key).
async fn identify(
    state: &AppState,
    slug: &str,
    token: Option<&str>,
) -> ApiResult<(Arc<Gateway>, Caller, Uuid)> {
    const MISSING: Error = Error::Unauthenticated(
        "send a gateway key as `Authorization: Bearer gk_...` or `?apiKey=`, or an OAuth access token",
    );
    let Some(token) = token else { return Err(challenge(state, slug, false, MISSING.into())) };
    let (gateway, caller, key_id) = if authz::tokens::is_access_token(token) {
        oauth_caller(state, slug, token).await.map_err(|e| challenge(state, slug, true, e))?
    } else if keys::is_gateway_key(token) {
        let active = keys::authenticate(&state.db, &state.caches.gateway_keys, token).await?;
        let (tenant_id, id) = (active.key.tenant_id, active.key.gateway_id);
        let gateway = cache::gateway(&state.caches.gateways, &state.db, tenant_id, id).await?;
        if gateway.slug != slug {
            return Err(Error::Unauthenticated("this key belongs to another gateway").into());
        }
        let scopes = active.key.active_scopes();
        let caller = Caller { gateway_key_id: Some(active.key.id), api_key_id: None, scopes };
        (gateway, caller, active.key.id)
    } else {
        let key = crate::tenancy::keys::authenticate(&state.db, &state.caches.keys, token).await?;
        if !key.scopes.contains(&Scope::Proxy) {
            return Err(ApiError::MissingScope(Scope::Proxy.as_str()));
        }
        let gateway = cache::by_slug(&state.caches.gateways, &state.db, key.tenant_id, slug).await?;
        let scopes = Scopes::of_tenant_key(&key.scopes);
        (gateway, Caller { gateway_key_id: None, api_key_id: Some(key.id), scopes }, key.id)
    };
    tracing::Span::current().record("gateway_id", tracing::field::display(gateway.id));
    Ok((gateway, caller, key_id))
}

/// Whether the request carries a session id at all.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_leaves_the_query_and_everything_else_stays() {
        let mut uri: Uri = "/api/v1/gateways/g/mcp?x=1&apiKey=gk_secret&y=a%20b".parse().unwrap();
        assert_eq!(strip_query_key(&mut uri).as_deref(), Some("gk_secret"));
        assert_eq!(uri.to_string(), "/api/v1/gateways/g/mcp?x=1&y=a+b");
        let mut uri: Uri = "/m?api_key=gk_other".parse().unwrap();
        assert_eq!(strip_query_key(&mut uri).as_deref(), Some("gk_other"));
        assert_eq!(uri.to_string(), "/m");
        let mut uri: Uri = "/m".parse().unwrap();
        assert_eq!(strip_query_key(&mut uri), None);
    }
}
