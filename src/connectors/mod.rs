//! Connectors: the model and its state transitions, the one credential resolver, presets,
//! the use cases (create, update, delete; connect, authorize, callback, disconnect; token
//! refresh) and their SQL. Connectors know nothing of what uses them (the catalog, the
//! proxy): those react to what this module announces.

pub mod credential;
pub mod events;
pub mod lifecycle;
pub mod model;
pub mod presets;
pub mod refresh;
pub mod rekey;
pub mod rest;
pub mod service;
mod store;
pub mod tokens;

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use self::events::{Change, Delivery, Events};
use crate::config::Settings;
use crate::error::Result;
use crate::platform::cache::Invalidation;
use crate::platform::crypto::Keyring;
use crate::platform::net::Outbound;
use crate::platform::single_flight::KeyedLocks;

pub use model::{AuthSettings, Connector, Kind, SecretField, Status};
pub use presets::Presets;
pub use service::{ConnectorPatch, NewConnector};
pub use store::{ConnectorEvent, ListFilter};

/// The kind of the change notifications (migration 0005) that name a connector: every
/// change to a connector or its secrets.
pub const NOTIFY_KIND: &str = "connector";

/// What the connector use cases need from the running process; cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub db: PgPool,
    pub keyring: Arc<Keyring>,
    /// The one guarded client for every outbound call.
    pub net: Outbound,
    pub settings: Arc<Settings>,
    /// In-process single flight for token refreshes.
    pub refresh_locks: Arc<KeyedLocks>,
    /// Where this replica's caches hear of a committed change.
    pub changes: Arc<Invalidation>,
    /// Where what reacts to connectors hears of their status changes.
    pub events: Events,
}

impl Context {
    /// Commits a transaction that changed connector `id`, then drops this replica's cached
    /// copies at once: other replicas hear of the change by NOTIFY, but a caller of this one
    /// must not be able to outrun its notification.
    pub(crate) async fn commit(&self, tx: Transaction<'_, Postgres>, id: Uuid) -> Result<()> {
        tx.commit().await?;
        self.forget(id);
        Ok(())
    }

    /// [`Context::commit`], then announces the connector's status `change`.
    pub(crate) async fn commit_change(
        &self,
        tx: Transaction<'_, Postgres>,
        connector: &Connector,
        change: Change,
    ) -> Result<Delivery> {
        self.commit(tx, connector.id).await?;
        Ok(self.events.publish(connector.tenant_id, connector.id, change))
    }

    /// Drops this replica's cached copies of connector `id` (after a change committed).
    pub(crate) fn forget(&self, id: Uuid) {
        self.changes.forget(NOTIFY_KIND, id);
    }
}
