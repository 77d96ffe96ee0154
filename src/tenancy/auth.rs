//! Request extractors: [`Caller`] for tenant API keys, [`Operator`] for the admin token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::ExposeSecret as _;
use uuid::Uuid;

use super::{ApiKey, Scope, service};
use crate::AppState;
use crate::error::ApiError;
use crate::platform::cache::{Cache, Invalidate, Invalidation};
use crate::platform::crypto::{API_KEY_PREFIX, hash_api_key, secrets_equal};

/// The tenant and key behind a request's `Authorization: Bearer sk_...`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    scopes: Vec<Scope>,
}

impl Caller {
    /// Fails with 403 unless this key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) { Ok(()) } else { Err(ApiError::MissingScope(scope.as_str())) }
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .ok_or(ApiError::Unauthorized("send an API key as `Authorization: Bearer sk_...`"))?;
        let key = authenticate(&state.db, &state.caches.keys, token).await?;
        crate::ops::admit(state, key.tenant_id, super::limits::Surface::Api).await?;
        Ok(Caller { tenant_id: key.tenant_id, key_id: key.id, scopes: key.scopes.clone() })
    }
}

/// Active API keys by the SHA-256 of the key, in process ([`crate::platform::cache`]); a
/// change to a key (revocation) drops it by its id.
pub struct KeyCache(Cache<[u8; 32], Arc<ApiKey>>);

impl KeyCache {
    /// A cache told by `hub` of every change to an API key.
    pub fn new(hub: &Invalidation) -> Arc<Self> {
        let cache = Arc::new(Self(Cache::new(hub.liveness())));
        hub.register(super::NOTIFY_KIND, cache.clone());
        cache
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<ApiKey>> {
        self.0.get(hash)
    }
}

impl Invalidate for KeyCache {
    fn forget(&self, id: Uuid) {
        self.0.retain(|_, key| key.id != id);
    }

    fn clear(&self) {
        self.0.clear();
    }
}

/// The active key `token` names: from the in-process cache when it is there, else from the
/// database (and then cached). Unknown keys are not cached.
pub(crate) async fn authenticate(
    db: &sqlx::PgPool,
    keys: &KeyCache,
    token: &str,
) -> Result<Arc<ApiKey>, ApiError> {
    const UNKNOWN: ApiError = ApiError::Unauthorized("unknown or revoked API key");
    if !token.starts_with(API_KEY_PREFIX) {
        return Err(UNKNOWN);
    }
    let hash = hash_api_key(token);
    if let Some(key) = keys.0.get(&hash) {
        return Ok(key);
    }
    let ticket = keys.0.ticket();
    let key = Arc::new(service::find_active_key(db, &hash).await?.ok_or(UNKNOWN)?);
    keys.0.put(ticket, hash, key.clone());
    Ok(key)
}

/// A request bearing the operator token (`SWITCHBOARD_ADMIN_TOKEN`).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state
            .settings
            .admin_token
            .as_ref()
            .ok_or(ApiError::Unauthorized("the admin API is off: set SWITCHBOARD_ADMIN_TOKEN"))?;
        match bearer_token(&parts.headers) {
            Some(token) if secrets_equal(token, expected.expose_secret()) => Ok(Operator),
            _ => Err(ApiError::Unauthorized("send the operator token as `Authorization: Bearer ...`")),
        }
    }
}
