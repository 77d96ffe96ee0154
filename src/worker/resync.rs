//! The periodic tool resync (`SWITCHBOARD_TOOL_RESYNC_INTERVAL`): every connected
//! connector whose catalog is older than the interval is synced again, a few at a time
//! (`catalog::sync::resync_due` claims them with a lease). A connector whose server gave
//! `ttlMs` with its tool list is due when that runs out instead, but never sooner than
//! [`TTL_FLOOR`] after its last sync: a server answering `ttlMs: 0` ("do not cache") must
//! not have us list its tools every tick.

use std::time::Duration;

use crate::catalog;
use crate::catalog::sync::{Schedule, resync_due};

/// The shortest time between periodic resyncs of one connector, whatever its `ttlMs`.
/// rmcp and other SDKs send `ttlMs: 0` ("do not cache") by default, so this is how often a
/// typical modern server's tools are listed again while the resync is on.
pub const TTL_FLOOR: Duration = Duration::from_secs(300);
use crate::platform::shutdown::Shutdown;

/// Resyncs every connected connector whose catalog is due (older than `every`, or than its
/// `ttlMs` but at least [`TTL_FLOOR`]), checking each `every` (at most a minute); stops
/// when shutdown begins.
pub fn spawn(ctx: catalog::Context, shutdown: Shutdown, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let schedule = Schedule { every, ttl_floor: TTL_FLOOR };
        let mut ticker = tokio::time::interval(every.min(Duration::from_secs(60)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.draining() => break,
            }
            if let Err(err) = resync_due(&ctx, schedule, &shutdown).await {
                tracing::warn!(error = %err, "periodic tool resync failed");
            }
        }
    })
}
