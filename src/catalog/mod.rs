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

use crate::upstream;
pub use sync::{Resyncs, follow};

/// What the catalog needs: the upstream path (and through it the connectors) and this
/// process's sync bookkeeping.
#[derive(Clone)]
pub struct Context {
    pub upstream: upstream::Context,
    pub resyncs: Arc<Resyncs>,
}

impl Context {
    fn db(&self) -> &PgPool {
        &self.upstream.connectors.db
    }
}
