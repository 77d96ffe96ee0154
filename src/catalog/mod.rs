//! The tool catalog: each connector's tools as its upstream lists them ([`sync`]: on
//! request, after every connect, on `notifications/tools/list_changed`, periodically), and
//! direct tool calls over REST, validated against the stored schema and logged
//! ([`service`]).

mod exec;
pub mod model;
pub mod service;
pub mod store;
pub mod sync;

use std::sync::Arc;

use sqlx::PgPool;

use uuid::Uuid;

use crate::error::Result;
use crate::tenancy::{self, service::PayloadLogging};
use crate::upstream;
pub use exec::has_param_headers;
pub use sync::{Resyncs, follow};

/// What the catalog needs: the upstream path (and through it the connectors), this
/// process's sync bookkeeping, and what every tool call reads: compiled input schemas and
/// whether the tenant logs payloads.
#[derive(Clone)]
pub struct Context {
    pub upstream: upstream::Context,
    pub resyncs: Arc<Resyncs>,
    pub validators: Arc<model::Validators>,
    pub payload_logging: Arc<PayloadLogging>,
}

impl Context {
    fn db(&self) -> &PgPool {
        &self.upstream.connectors.db
    }

    /// Whether the tenant keeps tool call arguments and results in the log.
    pub async fn logs_tool_payloads(&self, tenant_id: Uuid) -> Result<bool> {
        tenancy::service::logs_tool_payloads(self.db(), &self.payload_logging, tenant_id).await
    }
}
