//! In-process caches kept true by invalidation (decision 0005). A [`Cache`] is a map whose
//! inserts lose any race with an invalidation; an [`Invalidation`] hub tells every cache
//! registered under a kind that a row of that kind changed. Changes reach the hub from two
//! sources:
//! - Postgres `NOTIFY` on [`CHANNEL`] (triggers of migration 0005 announce `kind:<uuid>`),
//!   which [`listen`] applies: other replicas and other processes (the CLI's key
//!   revocation, re-encryption);
//! - this replica's own writes, right after commit ([`Invalidation::forget`]), so a caller
//!   who changes something and then uses it never sees the old value, however late the
//!   notification is.
//!
//! While the listener is not connected, notifications can be missed. Nothing new is stored
//! then, and what is cached is served only for a bounded *outage grace* from the moment the
//! connection was lost (decision 0020): a proxy request whose key and target are warm keeps
//! working through a short database outage, and what it may miss is bounded by the grace.
//! Once `LISTEN` is in place again every cache is emptied before it is used: a change
//! committed while the listener was away was never announced to it, so nothing cached before
//! the reconnect can be proven fresh.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

/// The notification channel the triggers of migration 0005 announce changes on.
pub const CHANNEL: &str = "switchboard_changes";

/// Entries per cache. Beyond it the cache starts over: crude, but it bounds memory without
/// bookkeeping on the hot path, and a full cache means far more entries than one replica
/// serves at once.
const MAX_ENTRIES: usize = 100_000;

/// How long the caches serve what they hold after the listener is lost, unless configured.
pub const DEFAULT_OUTAGE_GRACE: Duration = Duration::from_secs(30);

/// Whether the caches of one hub may be used; shared by the hub and its caches.
#[derive(Clone)]
pub struct Liveness(Arc<LiveState>);

struct LiveState {
    /// The listener is connected: entries are fresh and may be stored.
    live: AtomicBool,
    /// When the listener was lost (`None` before it ever connected).
    lost_at: Mutex<Option<Instant>>,
    grace: Duration,
}

impl Liveness {
    fn new(grace: Duration) -> Self {
        Self(Arc::new(LiveState { live: AtomicBool::new(false), lost_at: Mutex::new(None), grace }))
    }

    pub fn is_live(&self) -> bool {
        self.0.live.load(Ordering::Acquire)
    }

    /// Whether entries may be served: while live, and for the grace after the listener was lost.
    fn may_serve(&self) -> bool {
        self.is_live() || self.serving_stale_until().is_some_and(|until| Instant::now() < until)
    }

    /// While the listener is down: until when what was cached before is still served.
    pub fn serving_stale_until(&self) -> Option<Instant> {
        if self.is_live() {
            return None;
        }
        self.0.lost_at.lock().expect("liveness lock").map(|at| at + self.0.grace)
    }
}

/// A map whose inserts lose any race with an invalidation: [`Cache::ticket`] is taken before
/// reading from the database, and [`Cache::put`] stores only if nothing was invalidated
/// since. Otherwise a value read just before a change could be stored just after that
/// change's invalidation, and stay stale. Stores nothing while its hub is not live, and
/// serves nothing once the hub's outage grace is over.
pub struct Cache<K, V> {
    entries: RwLock<HashMap<K, V>>,
    generation: AtomicU64,
    live: Liveness,
}

/// Taken before a database read whose result may be cached.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub fn new(live: Liveness) -> Self {
        Self { entries: RwLock::default(), generation: AtomicU64::new(0), live }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.live.may_serve().then(|| self.entries.read().expect("cache lock").get(key).cloned()).flatten()
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// The value for `key`: the cached one, else what `load` reads, kept under a ticket taken
    /// before the read (so a value read before a change is not kept after it).
    pub async fn get_or_load<E, Fut>(&self, key: K, load: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let ticket = self.ticket();
        // Boxed: a read's future is large, and a hit (the common case) need not carry it.
        let value = Box::pin(load()).await?;
        self.put(ticket, key, value.clone());
        Ok(value)
    }

    pub fn put(&self, ticket: Ticket, key: K, value: V) {
        if !self.live.is_live() {
            return;
        }
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

    pub fn remove(&self, key: &K) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    pub fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(keep);
    }

    pub fn clear(&self) {
        self.retain(|_, _| false);
    }
}

/// A cache that can be told that the row `id` of its kind changed.
pub trait Invalidate: Send + Sync {
    fn forget(&self, id: Uuid);
    fn clear(&self);
}

/// A cache keyed by the id that changes name: forgetting removes that entry.
impl<V: Clone + Send + Sync> Invalidate for Cache<Uuid, V> {
    fn forget(&self, id: Uuid) {
        self.remove(&id);
    }

    fn clear(&self) {
        Cache::clear(self);
    }
}

/// The caches of this process by the kind of row they hold, and whether they may be used.
pub struct Invalidation {
    live: Liveness,
    caches: RwLock<Vec<(&'static str, Arc<dyn Invalidate>)>>,
}

impl Default for Invalidation {
    fn default() -> Self {
        Self::new(DEFAULT_OUTAGE_GRACE)
    }
}

impl Invalidation {
    /// A hub whose caches serve what they hold for `outage_grace` after the listener is lost.
    pub fn new(outage_grace: Duration) -> Self {
        Self { live: Liveness::new(outage_grace), caches: RwLock::default() }
    }

    /// While the listener is down: until when cached entries are still served.
    pub fn serving_stale_until(&self) -> Option<Instant> {
        self.live.serving_stale_until()
    }

    /// The liveness a new cache of this hub shares.
    pub fn liveness(&self) -> Liveness {
        self.live.clone()
    }

    /// Whether the caches are in use: only while the invalidation listener is connected.
    pub fn is_live(&self) -> bool {
        self.live.is_live()
    }

    /// `cache` is told of every change to a row of `kind` (the prefix of the notifications).
    pub fn register(&self, kind: &'static str, cache: Arc<dyn Invalidate>) {
        self.caches.write().expect("hub lock").push((kind, cache));
    }

    /// The row `id` of `kind` changed (this replica's own write, just committed).
    pub fn forget(&self, kind: &str, id: Uuid) {
        for (_, cache) in self.caches.read().expect("hub lock").iter().filter(|(k, _)| *k == kind) {
            cache.forget(id);
        }
    }

    fn clear(&self) {
        for (_, cache) in self.caches.read().expect("hub lock").iter() {
            cache.clear();
        }
    }

    /// Applies one notification payload, `kind:<uuid>`. Anything else empties every cache,
    /// which is always safe.
    fn apply(&self, payload: &str) {
        match parse(payload) {
            Some((kind, id)) => self.forget(kind, id),
            None => self.clear(),
        }
    }

    fn set_live(&self, live: bool) {
        let state = &self.live.0;
        if live {
            // Empty first: anything cached before LISTEN was in place may have missed a change
            // (loads begun before this point hold older tickets, so they cannot store either).
            self.clear();
            state.live.store(true, Ordering::Release);
        } else if state.live.swap(false, Ordering::AcqRel) {
            // Kept, not cleared: valid when the connection was lost, served for the grace.
            *state.lost_at.lock().expect("liveness lock") = Some(Instant::now());
        }
    }
}

fn parse(payload: &str) -> Option<(&str, Uuid)> {
    let (kind, id) = payload.split_once(':')?;
    Some((kind, id.parse().ok()?))
}

/// Keeps the caches of `hub` in step with the database for as long as it runs, reconnecting
/// after losing the connection (caches off meanwhile).
pub async fn listen(db: PgPool, hub: Arc<Invalidation>) {
    loop {
        match subscribe(&db).await {
            Ok(mut listener) => {
                hub.set_live(true);
                tracing::debug!("cache invalidation listener connected");
                // `Ok(None)`: the connection dropped; notifications may have been lost.
                while let Ok(Some(notification)) = listener.try_recv().await {
                    hub.apply(notification.payload());
                }
                hub.set_live(false);
                tracing::warn!(
                    grace = ?hub.live.0.grace,
                    "cache invalidation listener lost its connection; caches serve what they hold for \
                     the outage grace, store nothing new, and are emptied once it is back"
                );
            }
            Err(error) => tracing::warn!(%error, "cache invalidation listener cannot connect"),
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

    type Shared = Arc<Cache<Uuid, u8>>;

    /// A hub with two kinds of cache, as the service has (connectors and API keys).
    fn hub() -> (Invalidation, Shared, Shared) {
        let hub = Invalidation::default();
        let connectors = Arc::new(Cache::new(hub.liveness()));
        let keys = Arc::new(Cache::new(hub.liveness()));
        hub.register("connector", connectors.clone());
        hub.register("api_key", keys.clone());
        (hub, connectors, keys)
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_stored_after_it() {
        let (hub, cache, _) = hub();
        hub.set_live(true);
        let ticket = cache.ticket();
        cache.retain(|_, _| true);
        let id = Uuid::new_v4();
        cache.put(ticket, id, 1);
        assert_eq!(cache.get(&id), None);
        cache.put(cache.ticket(), id, 2);
        assert_eq!(cache.get(&id), Some(2));
    }

    #[test]
    fn nothing_is_served_or_stored_before_the_listener_first_connects() {
        let (_, _, keys) = hub();
        let id = Uuid::new_v4();
        keys.put(keys.ticket(), id, 1);
        assert!(keys.get(&id).is_none());
    }

    #[test]
    fn an_outage_serves_what_was_cached_for_the_grace_and_a_reconnect_starts_empty() {
        let hub = Invalidation::new(Duration::from_millis(200));
        let keys: Shared = Arc::new(Cache::new(hub.liveness()));
        hub.register("api_key", keys.clone());
        hub.set_live(true);
        let (warm, late) = (Uuid::new_v4(), Uuid::new_v4());
        keys.put(keys.ticket(), warm, 1);
        let ticket = keys.ticket(); // a load that began before the connection was lost

        hub.set_live(false);
        assert_eq!(keys.get(&warm), Some(1), "valid when the outage began: served");
        assert!(hub.serving_stale_until().is_some());
        keys.put(ticket, late, 2);
        keys.put(keys.ticket(), late, 2);
        assert_eq!(keys.get(&late), None, "nothing new is stored while notifications may be missed");
        hub.set_live(false);
        hub.forget("api_key", Uuid::new_v4());
        assert_eq!(keys.get(&warm), Some(1), "a second loss report does not extend the grace");

        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(keys.get(&warm), None, "past the grace nothing is served");

        hub.set_live(true);
        assert_eq!(keys.get(&warm), None, "a reconnect drops everything cached before it");
        assert!(hub.serving_stale_until().is_none());
        keys.put(ticket, late, 2);
        assert_eq!(keys.get(&late), None, "a load begun before the reconnect cannot store");
    }

    #[test]
    fn a_reconnect_within_the_grace_still_starts_empty() {
        let (hub, _, keys) = hub();
        let id = Uuid::new_v4();
        hub.set_live(true);
        keys.put(keys.ticket(), id, 1);
        hub.set_live(false);
        assert!(keys.get(&id).is_some());
        hub.set_live(true);
        assert!(keys.get(&id).is_none(), "changes made meanwhile were never announced");
    }

    #[test]
    fn a_zero_grace_turns_the_caches_off_at_once() {
        let hub = Invalidation::new(Duration::ZERO);
        let keys: Shared = Arc::new(Cache::new(hub.liveness()));
        hub.set_live(true);
        let id = Uuid::new_v4();
        keys.put(keys.ticket(), id, 1);
        hub.set_live(false);
        assert_eq!(keys.get(&id), None);
    }

    #[test]
    fn notifications_drop_what_they_name() {
        let (hub, connectors, keys) = hub();
        hub.set_live(true);
        let (kept, revoked) = (Uuid::new_v4(), Uuid::new_v4());
        keys.put(keys.ticket(), kept, 1);
        keys.put(keys.ticket(), revoked, 2);
        connectors.put(connectors.ticket(), revoked, 3);
        hub.apply(&format!("api_key:{revoked}"));
        assert!(keys.get(&kept).is_some());
        assert!(keys.get(&revoked).is_none());
        assert!(connectors.get(&revoked).is_some(), "only the named kind forgets");
        hub.apply("something unexpected");
        assert!(keys.get(&kept).is_none(), "an unknown payload empties everything");
        assert!(connectors.get(&revoked).is_none());
    }
}
