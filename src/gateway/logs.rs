//! The gateway's call log: a row for every `tools/call`, read back with filters and cursors,
//! and purged after the retention period by the worker.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::model::{Gateway, GatewayCall};
use super::store::{self, CallFilter, CallRow};
use crate::error::Result;
use crate::platform::db::purge_in_batches;
use crate::platform::page;

/// A page of the gateway's calls, newest first.
pub async fn list(
    db: &PgPool,
    gateway: &Gateway,
    filter: CallFilter<'_>,
) -> Result<(Vec<GatewayCall>, Option<Uuid>)> {
    let limit = filter.limit;
    let rows = store::list_calls(db, gateway.id, CallFilter { limit: limit + 1, ..filter }).await?;
    Ok(page::split(rows, limit, |c| c.id))
}

/// Writes one call. The call has happened: a log that cannot be written is reported, never
/// turned into the call's answer (a client would retry a call that may not be safe to repeat).
pub async fn record(db: &PgPool, row: &CallRow<'_>) {
    if let Err(err) = store::insert_call(db, row).await {
        tracing::error!(gateway_id = %row.gateway_id, alias = row.alias, error = %err, "could not log a gateway call");
    }
}

/// Deletes calls older than `retention` (whole days, at least one); returns how many.
pub async fn purge(db: &PgPool, retention: Duration) -> Result<u64> {
    let days = (retention.as_secs() / 86_400).max(1) as i32;
    Ok(purge_in_batches(|batch| store::purge_calls(db, days, batch)).await?)
}
