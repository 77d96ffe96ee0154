//! The gateway's call log, written off the call's path (decision 0071): a call hands its row
//! to this replica's writer and answers; the writer inserts whatever has queued meanwhile as
//! one statement. At one call at a time that is still a row per insert, but no client waits
//! for it; at many, a few hundred rows cost one round trip instead of one each.
//!
//! Bounded: a full queue makes a caller wait up to [`WAIT_FOR_ROOM`] (the database is slower
//! than the calls: they slow down with it), then the row is dropped and counted, so a
//! database outage cannot stall tool calls nor grow memory. While the database is
//! unreachable the writer keeps its batch and retries. Reading the log first flushes this
//! replica's queue (a caller reads its own calls); shutdown flushes it after the last
//! request.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::model::NewCall;
use super::store;
use crate::error::database_unreachable;
use crate::platform::metrics::UNLOGGED_CALLS;

/// Rows queued before callers wait: with payloads (two 16 KiB texts at most) ~32 MiB.
const QUEUE: usize = 1024;
/// Rows per insert.
const BATCH: usize = 256;
/// How long a call waits for room in a full queue before its row is dropped.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(1);
/// The longest pause between retries while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

enum Entry {
    Call(Box<NewCall>),
    /// Answered once every call queued before it is written (or given up on).
    Flush(oneshot::Sender<()>),
}

/// This replica's writer of gateway calls; cheap to clone.
#[derive(Clone)]
pub struct CallLog {
    queue: mpsc::Sender<Entry>,
}

impl CallLog {
    /// Starts the writer (within a Tokio runtime); it ends when every handle is dropped.
    pub fn spawn(db: PgPool) -> Self {
        let (queue, entries) = mpsc::channel(QUEUE);
        tokio::spawn(write(db, entries));
        Self { queue }
    }

    /// Queues `call`; waits for room while the queue is full, up to [`WAIT_FOR_ROOM`].
    pub async fn record(&self, call: NewCall) {
        let entry = Entry::Call(Box::new(call));
        let queued = match self.queue.try_send(entry) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(entry)) => {
                match tokio::time::timeout(WAIT_FOR_ROOM, self.queue.send(entry)).await {
                    Ok(sent) => sent.map_err(|_| "the writer has stopped"),
                    Err(_) => Err("the queue stayed full"),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err("the writer has stopped"),
        };
        if let Err(why) = queued {
            unlogged(why);
        }
    }

    /// Waits until every call queued before now is written, for up to `within`.
    pub async fn flush(&self, within: Duration) {
        let (done, written) = oneshot::channel();
        let flushed = async {
            if self.queue.send(Entry::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        };
        if tokio::time::timeout(within, flushed).await.is_err() {
            tracing::warn!(?within, "the gateway call log was not flushed in time");
        }
    }
}

async fn write(db: PgPool, mut entries: mpsc::Receiver<Entry>) {
    let mut taken = Vec::with_capacity(BATCH);
    while entries.recv_many(&mut taken, BATCH).await > 0 {
        let mut calls = Vec::with_capacity(taken.len());
        let mut flushes = Vec::new();
        for entry in taken.drain(..) {
            match entry {
                Entry::Call(call) => calls.push(*call),
                Entry::Flush(done) => flushes.push(done),
            }
        }
        if !calls.is_empty() {
            insert(&db, &calls).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Inserts `calls`, retrying while the database is unreachable; a batch the database
/// refuses (a gateway deleted meanwhile) is written row by row, so one row cannot cost the
/// others.
async fn insert(db: &PgPool, calls: &[NewCall]) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match store::insert_calls(db, calls).await {
            Ok(()) => return,
            Err(err) if database_unreachable(&err) && !db.is_closed() => {
                tracing::warn!(error = %err, rows = calls.len(), "gateway call log: database unreachable, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(err) if calls.len() > 1 => {
                tracing::warn!(error = %err, rows = calls.len(), "gateway call log: batch refused, writing row by row");
                for call in calls {
                    Box::pin(insert(db, std::slice::from_ref(call))).await;
                }
                return;
            }
            Err(err) => return unlogged(&err.to_string()),
        }
    }
}

/// The call happened; only its log row is lost: reported, never the call's answer (a
/// client would retry a call that may not be safe to repeat).
fn unlogged(why: &str) {
    metrics::counter!(UNLOGGED_CALLS).increment(1);
    tracing::error!(why, "could not log a gateway call");
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn call() -> NewCall {
        NewCall {
            id: Uuid::now_v7(),
            at: Utc::now(),
            tenant_id: Uuid::nil(),
            gateway_id: Uuid::nil(),
            alias: "say".into(),
            connector_id: None,
            tool_name: None,
            gateway_key_id: None,
            api_key_id: None,
            status: "success",
            duration_ms: 1,
            error: None,
            arguments: None,
            result: None,
        }
    }

    /// With the database unreachable the writer holds its batch and the queue fills: a call
    /// then waits for room, but only so long, and a flush gives up in time too.
    #[tokio::test]
    async fn a_full_queue_slows_calls_down_but_never_stalls_them() {
        let unreachable = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(50))
            .connect_lazy("postgres://postgres@127.0.0.1:1/none")
            .unwrap();
        let log = CallLog::spawn(unreachable);
        let started = Instant::now();
        // The writer takes at most a batch; the rest fills the queue; the last waits.
        for _ in 0..QUEUE + BATCH + 1 {
            log.record(call()).await;
        }
        let waited = started.elapsed();
        assert!(waited >= WAIT_FOR_ROOM, "the last call waited for room: {waited:?}");
        assert!(waited < WAIT_FOR_ROOM * 5, "and then went on: {waited:?}");
        let started = Instant::now();
        log.flush(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(1), "a flush gives up at its bound");
    }
}
