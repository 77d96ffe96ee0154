//! Where a proxied request goes and with which credential. Opened credentials are cached in
//! process, keyed by connector and `version` (bumped by a trigger on every change to the
//! connector or its secrets): the one read each request makes anyway says whether the entry
//! is current, on every replica, with nothing to invalidate.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

use super::store::{self, Head};
use crate::AppState;
use crate::connectors::credentials::{bearer, upstream_headers};
use crate::connectors::model::AuthSettings;
use crate::connectors::{SecretField, Status, Transport, service};
use crate::crypto::hash_api_key;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{Scope, bearer_token};

/// A connector ready to receive proxied traffic.
pub struct Target {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub version: i64,
    pub url: Url,
    pub transport: Transport,
    /// The credential headers to inject.
    pub credential: HeaderMap,
    /// OAuth connectors: the access token in `credential`, to name it when asking for a refresh.
    pub access_token: Option<SecretString>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl Target {
    pub fn is_oauth(&self) -> bool {
        self.access_token.is_some()
    }

    pub fn token_expired(&self) -> bool {
        self.token_expires_at.is_some_and(|t| t <= Utc::now())
    }
}

#[derive(Default)]
pub struct TargetCache {
    entries: RwLock<HashMap<Uuid, Arc<Target>>>,
}

impl TargetCache {
    fn get(&self, id: Uuid, version: i64) -> Option<Arc<Target>> {
        let entries = self.entries.read().expect("target cache lock");
        entries.get(&id).filter(|t| t.version == version).cloned()
    }

    fn put(&self, target: Arc<Target>) {
        self.entries.write().expect("target cache lock").insert(target.connector_id, target);
    }
}

/// Authenticates the caller (proxy scope) and finds the connector in its tenant; checks that
/// it is connected and speaks `transport`. One database read, plus one more to fill the
/// cache after a change.
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    raw_id: &str,
    transport: Transport,
) -> ApiResult<Arc<Target>> {
    let key = bearer_token(headers)
        .ok_or(ApiError::Unauthorized("send an API key as `Authorization: Bearer sk_...`"))?;
    let id: Uuid = raw_id.parse().map_err(|_| ApiError::NotFound("connector"))?;
    let head = store::head(&state.db, &hash_api_key(key), id)
        .await?
        .ok_or(ApiError::Unauthorized("unknown or revoked API key"))?;
    if !head.scopes.iter().any(|s| s == Scope::Proxy.as_str()) {
        return Err(ApiError::MissingScope(Scope::Proxy.as_str()));
    }
    let Head {
        connector_version: Some(version), status: Some(status), transport: Some(kind), tenant_id, ..
    } = head
    else {
        return Err(ApiError::NotFound("connector"));
    };
    check_usable(id, &status, &kind, transport)?;
    if let Some(target) = state.proxy_targets.get(id, version) {
        return Ok(target);
    }
    load(state, tenant_id, id).await
}

fn check_usable(id: Uuid, status: &str, kind: &str, transport: Transport) -> ApiResult<()> {
    if status != Status::Connected.as_str() {
        return Err(ApiError::conflict(
            "connector_not_connected",
            format!("the connector is {status}; connect it first (POST /api/v1/connectors/{id}/connect)"),
        ));
    }
    if kind != transport.as_str() {
        let endpoint = match Transport::parse(kind) {
            Some(Transport::Sse) => "sse",
            _ => "mcp",
        };
        return Err(ApiError::conflict(
            "wrong_transport",
            format!("this connector's upstream speaks {kind}; use /api/v1/connectors/{id}/{endpoint}"),
        ));
    }
    Ok(())
}

/// Reads the connector, opens its credential, and caches the result under its version.
pub async fn load(state: &AppState, tenant_id: Uuid, id: Uuid) -> ApiResult<Arc<Target>> {
    let mut tx = state.db.begin().await?;
    // Read the version with the row it describes, so a concurrent change cannot be cached
    // under the older version number.
    let version: i64 = sqlx::query_scalar("SELECT version FROM connectors WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    let connector = crate::connectors::store::get(&mut *tx, tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    let oauth = matches!(
        connector.auth,
        Some(AuthSettings::Oauth2AuthorizationCode(_) | AuthSettings::Oauth2ClientCredentials(_))
    );
    let (credential, access_token) = if oauth {
        let token = service::open_secret(&mut *tx, &state.keyring, &connector, SecretField::AccessToken)
            .await?
            .ok_or_else(|| {
                ApiError::conflict(
                    "credential_missing",
                    "the connector holds no access token; connect it again",
                )
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer(&token)?);
        (headers, Some(token))
    } else {
        (upstream_headers(&mut *tx, &state.keyring, &connector).await?, None)
    };
    tx.commit().await?;
    let target = Arc::new(Target {
        tenant_id,
        connector_id: id,
        version,
        url: Url::parse(&connector.url).map_err(|e| ApiError::Internal(e.into()))?,
        transport: connector.transport,
        credential,
        access_token,
        token_expires_at: connector.token_expires_at,
    });
    state.proxy_targets.put(target.clone());
    Ok(target)
}
