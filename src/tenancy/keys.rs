//! API keys at request time: which active key a bearer token names, with the keys cached
//! in process by their hash.

use std::sync::Arc;

use uuid::Uuid;

use super::{ApiKey, service};
use crate::error::Error;
use crate::platform::cache::{Cache, Invalidate, Invalidation};
use crate::platform::crypto::{API_KEY_PREFIX, hash_api_key};

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
) -> Result<Arc<ApiKey>, Error> {
    const UNKNOWN: Error = Error::Unauthenticated("unknown or revoked API key");
    if !token.starts_with(API_KEY_PREFIX) {
        return Err(UNKNOWN);
    }
    let hash = hash_api_key(token);
    let load =
        || async { Ok::<_, Error>(Arc::new(service::find_active_key(db, &hash).await?.ok_or(UNKNOWN)?)) };
    keys.0.get_or_load(hash, load).await
}
