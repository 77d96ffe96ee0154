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
use crate::crypto::{API_KEY_PREFIX, hash_api_key, secrets_equal};
use crate::error::ApiError;

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
        let key = authenticate(state, token).await?;
        crate::ops::admit(state, key.tenant_id, crate::ops::limits::Surface::Api).await?;
        Ok(Caller { tenant_id: key.tenant_id, key_id: key.id, scopes: key.scopes.clone() })
    }
}

/// The active key `token` names: from the in-process cache ([`crate::cache`]) when it is
/// there, else from the database (and then cached). Unknown keys are not cached.
pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<Arc<ApiKey>, ApiError> {
    const UNKNOWN: ApiError = ApiError::Unauthorized("unknown or revoked API key");
    if !token.starts_with(API_KEY_PREFIX) {
        return Err(UNKNOWN);
    }
    let hash = hash_api_key(token);
    if let Some(key) = state.caches.key(&hash) {
        return Ok(key);
    }
    let ticket = state.caches.key_ticket();
    let key = Arc::new(service::find_active_key(&state.db, &hash).await?.ok_or(UNKNOWN)?);
    state.caches.put_key(ticket, hash, key.clone());
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
