//! Upstream MCP sessions kept open and shared (decision 0065): one per connector in this
//! replica, so a tool call costs one upstream request instead of a handshake, the call and a
//! DELETE. rmcp multiplexes requests by id, so concurrent calls share the session.
//!
//! A pooled session is used while the connector's current target (the in-process cache: no
//! database read when warm) [shares a session](Target::shares_session_with) with the one it
//! was opened with; otherwise, or once it has ended, a new one replaces it (opened once
//! however many callers ask at the same moment) and the old one is closed when its last
//! call is done. Bounded: [`MAX_IN_FLIGHT`] calls per session, [`MAX_SESSIONS`] sessions
//! (the least recently used goes), and [`Pool::sweep`] closes those idle for [`IDLE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::Context;
use super::mcp_client::{Lifetime, Session, SessionHandler};
use super::target::Target;
use crate::error::Result;
use crate::platform::shutdown::Shutdown;
use crate::platform::single_flight::KeyedLocks;

/// Calls in flight on one session at most; more wait for one to finish.
pub const MAX_IN_FLIGHT: usize = 128;
/// A session unused this long is closed.
pub const IDLE: Duration = Duration::from_secs(120);
/// Sessions kept per replica at most.
pub const MAX_SESSIONS: usize = 1_000;
/// How often [`Pool::sweep`] looks for idle sessions.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How long closing every session at stopping may take.
const CLOSE_AT_STOP: Duration = Duration::from_secs(5);

/// This replica's shared upstream sessions, by connector.
#[derive(Default)]
pub struct Pool {
    sessions: Mutex<HashMap<Uuid, Arc<Pooled>>>,
    opening: KeyedLocks,
}

struct Pooled {
    session: Session,
    permits: Arc<Semaphore>,
    last_used: Mutex<Instant>,
}

/// One call's use of a pooled session; holds one of its [`MAX_IN_FLIGHT`] places.
pub struct Lease {
    // Dropped before the permit: a closer that holds every permit holds the last reference.
    pooled: Arc<Pooled>,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Lease {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.pooled.session
    }
}

impl Pooled {
    fn new(session: Session) -> Arc<Self> {
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        Arc::new(Self { session, permits, last_used: Mutex::new(Instant::now()) })
    }

    async fn lease(self: Arc<Self>) -> Lease {
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        *self.last_used.lock().expect("last used") = Instant::now();
        Lease { pooled: self, _permit: permit }
    }

    fn last_used(&self) -> Instant {
        *self.last_used.lock().expect("last used")
    }

    fn is_busy(&self) -> bool {
        self.permits.available_permits() < MAX_IN_FLIGHT
    }
}

impl Pool {
    /// A session with the upstream of `target` (the connector's current one): the pooled
    /// one when it may carry `target`'s requests and is open, else a new one (`handler`
    /// answers its notifications), opened once for all who ask meanwhile.
    pub async fn lease(
        &self,
        ctx: &Context,
        target: Arc<Target>,
        handler: impl FnOnce() -> SessionHandler,
    ) -> Result<Lease> {
        if let Some(pooled) = self.usable(&target) {
            return Ok(pooled.lease().await);
        }
        let _opening = self.opening.hold(target.connector_id).await;
        // Whoever held the flight before us may have opened what we need.
        if let Some(pooled) = self.usable(&target) {
            return Ok(pooled.lease().await);
        }
        let id = target.connector_id;
        // Boxed: a handshake's future is large, and every call's would carry it.
        let opened = Box::pin(Session::open(ctx, target, handler(), Lifetime::Shared)).await?;
        let pooled = Pooled::new(opened);
        self.insert(id, pooled.clone());
        Ok(pooled.lease().await)
    }

    /// The pooled session for `target`'s connector if it may carry `target`'s requests;
    /// one that may not (or has ended) is dropped from the pool.
    fn usable(&self, target: &Target) -> Option<Arc<Pooled>> {
        let mut sessions = self.sessions.lock().expect("pool");
        let pooled = sessions.get(&target.connector_id)?;
        if !pooled.session.is_closed() && target.shares_session_with(pooled.session.target()) {
            return Some(pooled.clone());
        }
        retire(sessions.remove(&target.connector_id)?);
        None
    }

    fn insert(&self, id: Uuid, pooled: Arc<Pooled>) {
        let mut sessions = self.sessions.lock().expect("pool");
        if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(&id) {
            let oldest = sessions.iter().min_by_key(|(_, p)| p.last_used()).map(|(id, _)| *id);
            if let Some(evicted) = oldest.and_then(|id| sessions.remove(&id)) {
                retire(evicted);
            }
        }
        if let Some(replaced) = sessions.insert(id, pooled) {
            retire(replaced);
        }
    }

    /// Drops the lease's session from the pool (it ended under a call), so the next call
    /// opens a new one; a newer session already in its place stays.
    pub fn forget(&self, lease: &Lease) {
        let mut sessions = self.sessions.lock().expect("pool");
        let id = lease.target().connector_id;
        if sessions.get(&id).is_some_and(|p| Arc::ptr_eq(p, &lease.pooled)) {
            sessions.remove(&id);
        }
    }

    /// Closes sessions idle for [`IDLE`] every [`SWEEP_EVERY`] until the process stops,
    /// then closes them all (bounded by the close timeout of each).
    /// The sessions live only as long as this runs: when it ends (or its runtime goes) the
    /// pool is emptied. A session refers back to the pool (through the contexts its
    /// transport and its handler hold), so nothing else would ever let go of them.
    pub async fn sweep(self: Arc<Self>, shutdown: Shutdown) {
        let _empty_at_end = EmptyOnDrop(self.clone());
        loop {
            tokio::select! {
                () = tokio::time::sleep(SWEEP_EVERY) => self.close_idle(IDLE),
                () = shutdown.stopping() => break,
            }
        }
        let all: Vec<Arc<Pooled>> = self.sessions.lock().expect("pool").drain().map(|(_, p)| p).collect();
        let closing = futures_util::future::join_all(all.into_iter().map(close));
        // Calls still running then are past the shutdown timeout: not waited for.
        let _ = tokio::time::timeout(CLOSE_AT_STOP, closing).await;
    }

    /// Retires every session without a call in flight that was last used `idle` ago or more.
    fn close_idle(&self, idle: Duration) {
        let mut sessions = self.sessions.lock().expect("pool");
        let stale: Vec<Uuid> = sessions
            .iter()
            .filter(|(_, p)| !p.is_busy() && p.last_used().elapsed() >= idle)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(pooled) = sessions.remove(&id) {
                retire(pooled);
            }
        }
    }
}

struct EmptyOnDrop(Arc<Pool>);

impl Drop for EmptyOnDrop {
    fn drop(&mut self) {
        let sessions = std::mem::take(&mut *self.0.sessions.lock().expect("pool"));
        drop(sessions);
    }
}

/// Closes a session that left the pool, in the background.
fn retire(pooled: Arc<Pooled>) {
    tokio::spawn(close(pooled));
}

/// Closes the session once no call uses it: waits for every place, so the calls in flight
/// finish first (each within the tool call timeout).
async fn close(pooled: Arc<Pooled>) {
    let all = u32::try_from(MAX_IN_FLIGHT).expect("a small number");
    let Ok(_every_place) = pooled.permits.clone().acquire_many_owned(all).await else { return };
    // A caller that found the session just before it left the pool may still hold a
    // reference without a place: it gets one after us, and rmcp closes the session when
    // that last reference goes (in the background, DELETE included).
    if let Some(pooled) = Arc::into_inner(pooled) {
        pooled.session.close().await;
    }
}
