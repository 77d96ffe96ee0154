//! In-process caches for the hot path: API keys by hash, and proxy targets (a connector with
//! its opened credential) by connector id. With both warm, a proxied request reads nothing
//! from the database.
//!
//! They stay true by invalidation, from two sources:
//! - Postgres `NOTIFY` (migration 0005): triggers on `connectors` (which every change to a
//!   connector's secrets touches too) and `api_keys` announce each changed id on
//!   [`CHANNEL`]; [`listen`] drops those entries. This covers other replicas and other
//!   processes (the CLI's key revocation and re-encryption).
//! - This replica's own writes drop their entries right after committing
//!   ([`crate::AppState::commit_connector_change`]), so a caller who changes a connector and
//!   then uses it never sees the old one, however late the notification is.
//!
//! While the listener is not connected, notifications can be missed, so the caches are off
//! (every lookup misses, nothing is stored); they are emptied and turned back on only once
//! `LISTEN` is in place again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::proxy::target::Target;
use crate::tenancy::ApiKey;

/// The notification channel the triggers of migration 0005 announce changes on.
pub const CHANNEL: &str = "switchboard_changes";

/// Entries per cache. Beyond it the cache starts over: crude, but it bounds memory without
/// bookkeeping on the hot path, and a full cache means far more connectors than one replica
/// serves at once.
const MAX_ENTRIES: usize = 100_000;

/// A map whose inserts lose any race with an invalidation: [`Cache::ticket`] is taken before
/// reading from the database, and [`Cache::put`] stores only if nothing was invalidated
/// since. Otherwise a value read just before a change could be stored just after that
/// change's invalidation, and stay stale.
pub struct Cache<K, V> {
    entries: RwLock<HashMap<K, V>>,
    generation: AtomicU64,
}

/// Taken before a database read whose result may be cached.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.entries.read().expect("cache lock").get(key).cloned()
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    fn put(&self, ticket: Ticket, key: K, value: V) {
        let mut entries = self.entries.write().expect("cache lock");
        // Checked under the write lock, which every invalidation also takes.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, value);
    }

    fn remove(&self, key: &K) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(keep);
    }

    fn clear(&self) {
        self.retain(|_, _| false);
    }
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Self { entries: RwLock::default(), generation: AtomicU64::new(0) }
    }
}

/// The hot path's caches, and whether they may be used.
#[derive(Default)]
pub struct Caches {
    keys: Cache<[u8; 32], Arc<ApiKey>>,
    targets: Cache<Uuid, Arc<Target>>,
    live: AtomicBool,
}

impl Caches {
    /// Whether the caches are in use: only while the invalidation listener is connected.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    pub fn key(&self, hash: &[u8; 32]) -> Option<Arc<ApiKey>> {
        self.is_live().then(|| self.keys.get(hash)).flatten()
    }

    pub fn key_ticket(&self) -> Ticket {
        self.keys.ticket()
    }

    pub fn put_key(&self, ticket: Ticket, hash: [u8; 32], key: Arc<ApiKey>) {
        if self.is_live() {
            self.keys.put(ticket, hash, key);
        }
    }

    pub fn target(&self, connector_id: Uuid) -> Option<Arc<Target>> {
        self.is_live().then(|| self.targets.get(&connector_id)).flatten()
    }

    pub fn target_ticket(&self) -> Ticket {
        self.targets.ticket()
    }

    pub fn put_target(&self, ticket: Ticket, target: Arc<Target>) {
        if self.is_live() {
            self.targets.put(ticket, target.connector_id, target);
        }
    }

    pub fn forget_connector(&self, id: Uuid) {
        self.targets.remove(&id);
    }

    pub fn forget_key(&self, id: Uuid) {
        self.keys.retain(|_, key| key.id != id);
    }

    /// Applies one notification payload: `connector:<uuid>` or `api_key:<uuid>`. Anything
    /// else empties both caches, which is always safe.
    fn apply(&self, payload: &str) {
        let parsed = payload.split_once(':').and_then(|(kind, id)| Some((kind, id.parse().ok()?)));
        match parsed {
            Some(("connector", id)) => self.forget_connector(id),
            Some(("api_key", id)) => self.forget_key(id),
            _ => self.clear(),
        }
    }

    fn clear(&self) {
        self.keys.clear();
        self.targets.clear();
    }

    fn set_live(&self, live: bool) {
        if live {
            // Empty first: anything cached before LISTEN was in place may have missed a change.
            self.clear();
            self.live.store(true, Ordering::Release);
        } else {
            self.live.store(false, Ordering::Release);
            self.clear();
        }
    }
}

/// Keeps `caches` in step with the database for as long as it runs, reconnecting after
/// losing the connection (caches off meanwhile).
pub async fn listen(db: PgPool, caches: Arc<Caches>) {
    loop {
        match subscribe(&db).await {
            Ok(mut listener) => {
                caches.set_live(true);
                tracing::debug!("cache invalidation listener connected");
                // `Ok(None)`: the connection dropped; notifications may have been lost.
                while let Ok(Some(notification)) = listener.try_recv().await {
                    caches.apply(notification.payload());
                }
                caches.set_live(false);
                tracing::warn!(
                    "cache invalidation listener lost its connection; caches off until it is back"
                );
            }
            Err(error) => tracing::warn!(%error, "cache invalidation listener cannot connect; caches off"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe(db: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Caches {
        let caches = Caches::default();
        caches.set_live(true);
        caches
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_stored_after_it() {
        let cache: Cache<u8, u8> = Cache::default();
        let ticket = cache.ticket();
        cache.retain(|_, _| true);
        cache.put(ticket, 1, 1);
        assert_eq!(cache.get(&1), None);
        cache.put(cache.ticket(), 1, 2);
        assert_eq!(cache.get(&1), Some(2));
    }

    #[test]
    fn nothing_is_served_or_stored_while_the_listener_is_down() {
        let caches = Caches::default();
        let id = Uuid::new_v4();
        caches.put_key(caches.key_ticket(), [1; 32], Arc::new(key(id)));
        assert!(caches.key(&[1; 32]).is_none());
        caches.set_live(true);
        caches.put_key(caches.key_ticket(), [1; 32], Arc::new(key(id)));
        assert!(caches.key(&[1; 32]).is_some());
        caches.set_live(false);
        caches.set_live(true);
        assert!(caches.key(&[1; 32]).is_none(), "a reconnect starts empty");
    }

    #[test]
    fn notifications_drop_what_they_name() {
        let caches = live();
        let (kept, revoked) = (Uuid::new_v4(), Uuid::new_v4());
        caches.put_key(caches.key_ticket(), [1; 32], Arc::new(key(kept)));
        caches.put_key(caches.key_ticket(), [2; 32], Arc::new(key(revoked)));
        caches.apply(&format!("api_key:{revoked}"));
        assert!(caches.key(&[1; 32]).is_some());
        assert!(caches.key(&[2; 32]).is_none());
        caches.apply("something unexpected");
        assert!(caches.key(&[1; 32]).is_none(), "an unknown payload empties everything");
    }

    fn key(id: Uuid) -> ApiKey {
        ApiKey {
            id,
            tenant_id: Uuid::new_v4(),
            name: None,
            prefix: "sk_test".into(),
            scopes: vec![],
            created_at: chrono::Utc::now(),
            revoked_at: None,
        }
    }
}
