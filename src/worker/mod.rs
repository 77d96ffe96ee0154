//! The background worker: expires pending authorizations, keeps OAuth tokens fresh, purges
//! gateway call logs past their retention and the authorization server's spent rows; and,
//! when configured, resyncs tool catalogs ([`resync`]). It runs on every replica (unless
//! `SWITCHBOARD_WORKER=false`); replicas split the work by claiming batches with
//! `FOR UPDATE SKIP LOCKED` and short leases, and every refresh is single-flight per
//! connector (see `connectors::refresh`).

pub mod resync;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::connectors;
use crate::connectors::lifecycle::expire_overdue;
use crate::connectors::refresh::{self, RefreshOutcome, Trigger, refresh};
use crate::error::Result;
use crate::platform::metrics::{EXPIRED_AUTHORIZATIONS, WORKER_BATCH, WORKER_LAG};
use crate::platform::shutdown::Shutdown;

/// Connectors claimed per round.
const BATCH: i64 = 100;
/// How long a claim holds; a replica that dies mid-batch frees its claims after this.
const LEASE: Duration = Duration::from_secs(120);
/// Refreshes in flight at once per replica: one slow authorization server cannot stall the
/// rest, and database connections stay available for the API.
const CONCURRENCY: usize = 8;

/// What the worker needs: the connector use cases, and when to stop.
#[derive(Clone)]
pub struct Context {
    pub connectors: connectors::Context,
    pub shutdown: Shutdown,
}

/// What one pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub expired_authorizations: usize,
    pub claimed: usize,
    pub refreshed: usize,
    pub not_needed: usize,
    pub disconnected: usize,
    pub retrying: usize,
    pub errors: usize,
    /// Gateway call log rows past the retention period, deleted.
    pub purged_gateway_calls: u64,
    /// The authorization server's tokens and grants finished past the grace, deleted (a
    /// grant's own tokens go with it, uncounted).
    pub purged_authz_rows: u64,
}

/// Runs the worker every `interval` until the process starts shutting down; a pass under
/// way finishes its refreshes first (see [`refresh_all`]).
pub fn spawn(ctx: Context, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let scheduled = tokio::select! {
                scheduled = ticker.tick() => scheduled,
                () = ctx.shutdown.draining() => break,
            };
            metrics::histogram!(WORKER_LAG).record(scheduled.elapsed().as_secs_f64());
            match tick(&ctx).await {
                Ok(report) if report != TickReport::default() => tracing::info!(?report, "worker pass"),
                Ok(_) => {}
                Err(err) => tracing::warn!(code = err.code(), error = %err, "worker pass failed"),
            }
        }
        tracing::info!("worker stopped");
    })
}

/// One pass: expire what is overdue, then refresh everything due, batch after batch (no new
/// batch once shutdown has begun).
pub async fn tick(ctx: &Context) -> Result<TickReport> {
    let expired = expire_overdue(&ctx.connectors).await?;
    metrics::counter!(EXPIRED_AUTHORIZATIONS).increment(expired as u64);
    let db = &ctx.connectors.db;
    let retention = ctx.connectors.settings.gateway_log_retention;
    let mut report = TickReport {
        expired_authorizations: expired,
        purged_gateway_calls: housekeeping("old gateway calls", crate::gateway::logs::purge(db, retention))
            .await,
        purged_authz_rows: housekeeping("spent OAuth tokens", crate::authz::tokens::purge(db)).await,
        ..TickReport::default()
    };
    loop {
        let claimed = refresh::claim_due(&ctx.connectors.db, BATCH, LEASE).await?;
        metrics::histogram!(WORKER_BATCH).record(claimed.len() as f64);
        report.claimed += claimed.len();
        refresh_all(ctx, &claimed, &mut report).await?;
        if (claimed.len() as i64) < BATCH || ctx.shutdown.is_draining() {
            return Ok(report);
        }
    }
}

/// Runs one purge. Purges are housekeeping: one that fails must not hold up token refreshes.
async fn housekeeping(what: &str, purge: impl std::future::Future<Output = Result<u64>>) -> u64 {
    purge.await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not purge {what}");
        0
    })
}

/// Refreshes the claimed connectors, [`CONCURRENCY`] at a time. Once shutdown begins, no
/// new refresh starts: the ones running finish (each is one transaction), the claims not yet
/// started are released so another replica takes them at once.
async fn refresh_all(
    ctx: &Context,
    claimed: &[(uuid::Uuid, uuid::Uuid)],
    report: &mut TickReport,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut running = JoinSet::new();
    for (started, &(tenant_id, id)) in claimed.iter().enumerate() {
        let permit = tokio::select! {
            biased; // once shutdown has begun, start nothing more
            () = ctx.shutdown.draining() => {
                let unstarted: Vec<uuid::Uuid> = claimed[started..].iter().map(|&(_, id)| id).collect();
                let released = refresh::release_claims(&ctx.connectors.db, &unstarted).await?;
                tracing::info!(released, "worker stopping: released claims not yet started");
                break;
            }
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let connectors = ctx.connectors.clone();
        running.spawn(async move {
            let _permit = permit;
            refresh(&connectors, tenant_id, id, Trigger::Due).await
        });
    }
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(Ok(RefreshOutcome::Refreshed)) => report.refreshed += 1,
            Ok(Ok(RefreshOutcome::NotNeeded)) => report.not_needed += 1,
            Ok(Ok(RefreshOutcome::Disconnected)) => report.disconnected += 1,
            Ok(Ok(RefreshOutcome::Retrying)) => report.retrying += 1,
            Ok(Err(err)) => {
                report.errors += 1;
                tracing::warn!(error = %err, "refresh failed");
            }
            Err(err) => {
                report.errors += 1;
                tracing::error!(error = %err, "refresh task panicked");
            }
        }
    }
    Ok(())
}
