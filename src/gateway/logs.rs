//! The gateway's call log: a row for every `tools/call` (written by [`CallLog`]), read back
//! with filters and cursors, and purged after the retention period by the worker.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::call_log::CallLog;
use super::model::{Gateway, GatewayCall};
use super::store::{self, CallFilter};
use crate::error::Result;
use crate::platform::db::purge_in_batches;
use crate::platform::page;

/// How long a read of the log waits for this replica's queued calls to be written.
const FLUSH_WITHIN: Duration = Duration::from_secs(2);

/// A page of the gateway's calls, newest first; with the calls this replica has queued.
pub async fn list(
    db: &PgPool,
    calls: &CallLog,
    gateway: &Gateway,
    filter: CallFilter<'_>,
) -> Result<(Vec<GatewayCall>, Option<Uuid>)> {
    calls.flush(FLUSH_WITHIN).await;
    let limit = filter.limit;
    let rows = store::list_calls(db, gateway.id, CallFilter { limit: limit + 1, ..filter }).await?;
    Ok(page::split(rows, limit, |c| c.id))
}

/// Deletes calls older than `retention` (whole days, at least one); returns how many.
pub async fn purge(db: &PgPool, retention: Duration) -> Result<u64> {
    let days = (retention.as_secs() / 86_400).max(1) as i32;
    Ok(purge_in_batches(|batch| store::purge_calls(db, days, batch)).await?)
}
