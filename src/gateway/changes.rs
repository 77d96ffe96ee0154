//! When a gateway's tool list may have changed, for the MCP clients that wait to hear it
//! (`notifications/tools/list_changed`): a tool of the gateway was added, changed or removed,
//! or a connector it draws tools from was synced with a different catalog. Triggers announce
//! both on the change channel (migration 0015: `gateway_tools:<gateway id>`,
//! `connector_tools:<connector id>`), so a change made through any replica reaches the
//! clients every replica holds open. A lost listener may have missed changes: its reconnect
//! tells every open watch that everything may have changed.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast;
use uuid::Uuid;

use super::store;
use crate::error::Result;
use crate::platform::cache::{Invalidate, Invalidation};

/// The kinds the triggers of migration 0015 announce.
pub(super) const GATEWAY_TOOLS: &str = "gateway_tools";
pub(super) const CONNECTOR_TOOLS: &str = "connector_tools";

/// Changes a slow watcher may fall behind by before it is told "everything" instead.
const CAPACITY: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Gateway(Uuid),
    Connector(Uuid),
    /// Changes may have been missed.
    Everything,
}

/// The tool-list changes this replica hears of; one per process.
pub struct ToolListChanges {
    sender: broadcast::Sender<Change>,
}

/// Forwards the hub's notices of one kind as changes.
struct Announced(broadcast::Sender<Change>, fn(Uuid) -> Change);

impl Invalidate for Announced {
    fn forget(&self, id: Uuid) {
        // No receiver means nobody is watching: nothing to tell.
        let _ = self.0.send((self.1)(id));
    }

    fn clear(&self) {
        let _ = self.0.send(Change::Everything);
    }
}

impl ToolListChanges {
    pub fn new(hub: &Invalidation) -> Arc<Self> {
        let sender = broadcast::channel(CAPACITY).0;
        hub.register(GATEWAY_TOOLS, Arc::new(Announced(sender.clone(), Change::Gateway)));
        hub.register(CONNECTOR_TOOLS, Arc::new(Announced(sender.clone(), Change::Connector)));
        Arc::new(Self { sender })
    }

    /// A watch on `gateway_id`'s tool list, from now on.
    pub async fn watch(&self, db: &sqlx::PgPool, gateway_id: Uuid) -> Result<Watch> {
        let changes = self.sender.subscribe();
        let connectors = store::connectors_of(db, gateway_id).await?;
        Ok(Watch { db: db.clone(), gateway_id, connectors, changes, heard: None })
    }
}

/// One client's wait for its gateway's tool list to change.
pub struct Watch {
    db: sqlx::PgPool,
    gateway_id: Uuid,
    /// The connectors the gateway draws tools from (reread when its tools change).
    connectors: HashSet<Uuid>,
    changes: broadcast::Receiver<Change>,
    /// A change heard but not yet returned (the wait was dropped while rereading).
    heard: Option<Change>,
}

impl Watch {
    /// Returns once the gateway's tool list may have changed since the last return.
    /// Cancel-safe: a change heard by a dropped wait is returned by the next one, so a
    /// caller may race this against a keep-alive timer.
    pub async fn changed(&mut self) {
        let change = match self.heard {
            Some(change) => change,
            None => {
                let change = self.next_of_ours().await;
                self.heard = Some(change);
                change
            }
        };
        if matches!(change, Change::Gateway(_) | Change::Everything) {
            self.reread_connectors().await;
        }
        self.heard = None;
    }

    /// The next change that concerns this gateway (each `recv` is cancel-safe).
    async fn next_of_ours(&mut self) -> Change {
        loop {
            let change = match self.changes.recv().await {
                Ok(change) => change,
                Err(broadcast::error::RecvError::Lagged(_)) => Change::Everything,
                // The process is going away; the stream ends with it.
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            };
            let ours = match change {
                Change::Gateway(id) => id == self.gateway_id,
                Change::Connector(id) => self.connectors.contains(&id),
                Change::Everything => true,
            };
            if ours {
                return change;
            }
        }
    }

    /// A failed reread keeps the connectors known: the change is announced either way.
    async fn reread_connectors(&mut self) {
        match store::connectors_of(&self.db, self.gateway_id).await {
            Ok(connectors) => self.connectors = connectors,
            Err(err) => tracing::debug!(%err, "re-reading a watched gateway's connectors failed"),
        }
    }
}
