//! Gateway keys (`gk_…`): issued once, kept as a SHA-256, revoked on every replica within
//! the invalidation hub's delay (their table announces changes, migration 0008), and looked
//! up at request time through an in-process cache.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{Gateway, GatewayKey, MAX_NAME};
use super::scopes::{self, Scopes};
use super::store::{self, NewKey};
use crate::error::{Error, Result, Validator};
use crate::platform::cache::{Cache, Invalidate, Invalidation};
use crate::platform::crypto::{GATEWAY_KEY_PREFIX, generate_key, hash_api_key};

/// The kind gateway keys are announced under (the trigger of migration 0008).
pub const NOTIFY_KIND: &str = "gateway_key";

/// A new key: `secret` is shown to its owner once.
pub struct IssuedKey {
    pub key: GatewayKey,
    pub secret: SecretString,
}

/// `scopes`: the default is read and write; `mcp:admin` only when named.
pub async fn issue(
    db: &PgPool,
    gateway: &Gateway,
    name: Option<&str>,
    scopes: Option<&[String]>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<IssuedKey> {
    let mut v = Validator::default();
    let scopes = match scopes {
        None => Scopes::DEFAULT,
        Some(names) => Scopes::parse(names.iter().map(String::as_str)).unwrap_or_else(|bad| {
            v.check(false, "scopes", format!("{bad:?}: {}", scopes::NOT_A_SCOPE));
            Scopes::DEFAULT
        }),
    };
    v.check(scopes.iter().next().is_some(), "scopes", "name at least one scope");
    v.check(
        name.is_none_or(|n| !n.is_empty() && n.len() <= MAX_NAME),
        "name",
        format!("1 to {MAX_NAME} characters"),
    );
    v.check(expires_at.is_none_or(|at| at > Utc::now()), "expires_at", "must be in the future");
    v.finish()?;
    let new = generate_key(GATEWAY_KEY_PREFIX);
    let row = NewKey {
        id: Uuid::now_v7(),
        gateway,
        name,
        prefix: &new.prefix,
        hash: &new.hash,
        scopes,
        expires_at,
    };
    let key = store::insert_key(db, &row).await?;
    Ok(IssuedKey { key, secret: new.secret })
}

pub async fn list(db: &PgPool, gateway: &Gateway) -> Result<Vec<GatewayKey>> {
    Ok(store::list_keys(db, gateway.id).await?)
}

pub async fn get(db: &PgPool, gateway: &Gateway, id: Uuid) -> Result<GatewayKey> {
    store::get_key(db, gateway.id, id).await?.ok_or(Error::NotFound("gateway key"))
}

/// Revokes the key here at once, and on other replicas when they hear of it.
pub async fn revoke(db: &PgPool, hub: &Invalidation, gateway: &Gateway, id: Uuid) -> Result<()> {
    if !store::revoke_key(db, gateway.id, id).await? {
        return Err(Error::NotFound("gateway key"));
    }
    hub.forget(NOTIFY_KIND, id);
    Ok(())
}

/// An active gateway key. Which URL it opens is checked against the gateway as it is now
/// (a renamed slug must not keep a cached key working at the old URL).
#[derive(Debug)]
pub struct ActiveKey {
    pub key: GatewayKey,
}

/// Active gateway keys by the SHA-256 of the key; a change to a key drops it by its id.
pub struct KeyCache(Cache<[u8; 32], Arc<ActiveKey>>);

impl KeyCache {
    pub fn new(hub: &Invalidation) -> Arc<Self> {
        let cache = Arc::new(Self(Cache::new(hub.liveness())));
        hub.register(NOTIFY_KIND, cache.clone());
        cache
    }
}

impl Invalidate for KeyCache {
    fn forget(&self, id: Uuid) {
        self.0.retain(|_, active| active.key.id != id);
    }

    fn clear(&self) {
        self.0.clear();
    }
}

/// Whether `token` looks like a gateway key (rather than a tenant API key).
pub fn is_gateway_key(token: &str) -> bool {
    token.starts_with(GATEWAY_KEY_PREFIX)
}

/// The active, unexpired key `token` names (cached by hash; unknown keys are not cached).
pub async fn authenticate(db: &PgPool, keys: &KeyCache, token: &str) -> Result<Arc<ActiveKey>> {
    const UNKNOWN: Error = Error::Unauthenticated("unknown, revoked or expired gateway key");
    if !is_gateway_key(token) {
        return Err(UNKNOWN);
    }
    let hash = hash_api_key(token);
    let load = || async {
        let key = store::find_active_key(db, &hash).await?.ok_or(UNKNOWN)?;
        Ok::<_, Error>(Arc::new(ActiveKey { key }))
    };
    let active = keys.0.get_or_load(hash, load).await?;
    if active.key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(UNKNOWN);
    }
    Ok(active)
}
