//! Graceful shutdown in two phases. *Draining*: `/readyz` answers 503 so load balancers stop
//! sending new traffic, the worker stops after its current refreshes, requests are still
//! served. *Stopping* (after `SWITCHBOARD_SHUTDOWN_DELAY`): no new connections, standalone
//! event streams end cleanly, in-flight requests get until `SWITCHBOARD_SHUTDOWN_TIMEOUT`.
//! How long each phase lasts is `config::ShutdownPolicy`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The process-wide shutdown signal; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    draining: CancellationToken,
    stopping: CancellationToken,
    stopped_at: Arc<OnceLock<Instant>>,
}

impl Shutdown {
    pub fn begin_draining(&self) {
        self.draining.cancel();
    }

    pub fn stop(&self) {
        self.stopped_at.get_or_init(Instant::now);
        self.draining.cancel();
        self.stopping.cancel();
    }

    /// What is left of `timeout` counted from when stopping began (all of it before then).
    pub fn time_left(&self, timeout: Duration) -> Duration {
        let stopped_at = self.stopped_at.get().copied().unwrap_or_else(Instant::now);
        (stopped_at + timeout).saturating_duration_since(Instant::now())
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    pub async fn draining(&self) {
        self.draining.cancelled().await
    }

    pub async fn stopping(&self) {
        self.stopping.cancelled().await
    }

    /// Completes when stopping begins; for streams that must end then.
    pub fn stopping_owned(&self) -> WaitForCancellationFutureOwned {
        self.stopping.clone().cancelled_owned()
    }
}
