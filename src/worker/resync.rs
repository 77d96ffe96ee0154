//! The periodic tool resync (`SWITCHBOARD_TOOL_RESYNC_INTERVAL`): every connected
//! connector whose catalog is older than the interval is synced again, a few at a time
//! (`catalog::sync::resync_due` claims them with a lease).

use std::time::Duration;

use crate::catalog;
use crate::catalog::sync::resync_due;
use crate::platform::shutdown::Shutdown;

/// Resyncs every connected connector whose catalog is older than `every`, checking each
/// `every` (at most a minute); stops when shutdown begins.
pub fn spawn(ctx: catalog::Context, shutdown: Shutdown, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every.min(Duration::from_secs(60)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.draining() => break,
            }
            if let Err(err) = resync_due(&ctx, every, &shutdown).await {
                tracing::warn!(error = %err, "periodic tool resync failed");
            }
        }
    })
}
