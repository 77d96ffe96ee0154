//! Single flight within a process: one async mutex per key in use (a connector's token
//! refresh, its tool sync), so a second caller waits for the first instead of repeating its
//! work. Entries go away when nobody holds or waits for them, so the map stays as small as
//! the work in flight. Across replicas, callers add a database row lock of their own.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// One async mutex per key in use.
pub struct KeyedLocks<K = Uuid> {
    locks: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self { locks: Mutex::default() }
    }
}

/// Held while the work runs; removes the key's mutex when nobody else waits on it.
pub struct Flight<'a, K: Eq + Hash> {
    locks: &'a KeyedLocks<K>,
    key: K,
    guard: Option<OwnedMutexGuard<()>>,
}

impl<K: Eq + Hash + Clone> KeyedLocks<K> {
    /// Waits until no other flight holds `key`, then holds it.
    pub async fn hold(&self, key: K) -> Flight<'_, K> {
        let mutex = self.locks.lock().expect("single-flight map").entry(key.clone()).or_default().clone();
        let guard = mutex.lock_owned().await;
        Flight { locks: self, key, guard: Some(guard) }
    }

    /// Keys with a flight held or awaited.
    pub fn in_use(&self) -> usize {
        self.locks.lock().expect("single-flight map").len()
    }
}

impl<K: Eq + Hash> Drop for Flight<'_, K> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.locks.lock().expect("single-flight map");
        if map.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_flight_waits_and_finished_keys_are_forgotten() {
        let locks: Arc<KeyedLocks<u8>> = Arc::default();
        let first = locks.hold(1).await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move {
                let _second = locks.hold(1).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second flight waits for the first");
        let _other = locks.hold(2).await; // another key does not wait
        drop(first);
        waiting.await.unwrap();
        drop(_other);
        assert_eq!(locks.in_use(), 0);
    }
}
