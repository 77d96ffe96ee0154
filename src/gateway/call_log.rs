//! The gateway's call log, written off the call's path (decision 0071): a call hands its row
//! to this replica's writer and answers; the writer inserts whatever has queued meanwhile as
//! one statement, gathering rows for a few milliseconds first ([`LINGER`]). No client waits
//! for it; a few hundred rows cost one round trip instead of one each.
//!
//! Bounded: a full queue makes a caller wait up to [`WAIT_FOR_ROOM`] (the database is slower
//! than the calls: they slow down with it), then the row is dropped and counted, so a
//! database outage cannot stall tool calls nor grow memory. While the database is
//! unreachable the writer keeps its batch and retries. Reading the log first flushes this
//! replica's queue (a caller reads its own calls); shutdown flushes it after the last
//! request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::model::NewCall;
use super::store;
use crate::error::database_unreachable;
use crate::platform::metrics::UNLOGGED_CALLS;

/// Rows queued before callers wait. A row holds at most three 16 KiB texts (arguments,
/// result, error): with a batch in hand, ~36 MiB at worst.
const QUEUE: usize = 512;
/// Rows per insert.
const BATCH: usize = 256;
/// How long the writer gathers rows after the first before it inserts: at one call at a
/// time, a few rows per insert instead of one (a database round trip and a commit each).
const LINGER: Duration = Duration::from_millis(10);
/// How long a call waits for room in a full queue before its row is dropped.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(1);
/// The longest pause between retries while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Lost rows are counted always, but reported in the log at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);

enum Entry {
    Call(Box<NewCall>),
    /// Answered once every call queued before it is written (or given up on).
    Flush(oneshot::Sender<()>),
}

/// This replica's writer of gateway calls; cheap to clone.
#[derive(Clone)]
pub struct CallLog {
    queue: mpsc::Sender<Entry>,
    shared: Arc<Shared>,
}

/// What the callers and the writer both see.
#[derive(Default)]
struct Shared {
    /// Set while the writer retries an unreachable database: a full queue will not drain
    /// soon, so a call does not wait for room.
    stalled: AtomicBool,
    losses: Losses,
}

impl CallLog {
    /// Starts the writer (within a Tokio runtime); it ends when every handle is dropped.
    pub fn spawn(db: PgPool) -> Self {
        let (queue, entries) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared::default());
        tokio::spawn(write(db, entries, shared.clone()));
        Self { queue, shared }
    }

    /// Queues `call`; while the queue is full, waits for room up to [`WAIT_FOR_ROOM`] (not
    /// at all while the database is unreachable).
    pub async fn record(&self, call: NewCall) {
        let refused = match self.queue.try_send(Entry::Call(Box::new(call))) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(entry)) => (entry, "the writer has stopped"),
            Err(mpsc::error::TrySendError::Full(entry)) if self.shared.stalled.load(Ordering::Relaxed) => {
                (entry, "the database is unreachable and the queue is full")
            }
            Err(mpsc::error::TrySendError::Full(entry)) => {
                match tokio::time::timeout(WAIT_FOR_ROOM, self.queue.reserve()).await {
                    Ok(Ok(room)) => return room.send(entry),
                    _ => (entry, "the queue stayed full"),
                }
            }
        };
        if let (Entry::Call(call), why) = refused {
            self.shared.losses.add(&call, why);
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

async fn write(db: PgPool, mut entries: mpsc::Receiver<Entry>, shared: Arc<Shared>) {
    let mut taken = Vec::with_capacity(BATCH);
    while gather(&mut entries, &mut taken).await {
        let mut calls = Vec::with_capacity(taken.len());
        let mut flushes = Vec::new();
        for entry in taken.drain(..) {
            match entry {
                Entry::Call(call) => calls.push(*call),
                Entry::Flush(done) => flushes.push(done),
            }
        }
        if !calls.is_empty() {
            insert(&db, &calls, &shared).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Waits for an entry, then gathers more for up to [`LINGER`] (less when a flush asks for
/// them, or a batch is full). `false` once every handle is gone and nothing is left.
async fn gather(entries: &mut mpsc::Receiver<Entry>, taken: &mut Vec<Entry>) -> bool {
    if entries.recv_many(taken, BATCH).await == 0 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    let flush_asked = |entries: &[Entry]| entries.iter().any(|e| matches!(e, Entry::Flush(_)));
    let mut seen = 0;
    while taken.len() < BATCH && !flush_asked(&taken[seen..]) {
        seen = taken.len();
        let more = tokio::time::timeout_at(deadline, entries.recv_many(taken, BATCH - seen));
        if !matches!(more.await, Ok(n) if n > 0) {
            break;
        }
    }
    true
}

/// Inserts `calls`, retrying while the database is unreachable. A batch refused for its
/// data (a gateway deleted meanwhile, a value the column refuses) is written row by row, so
/// one row cannot cost the others; anything else loses the batch.
async fn insert(db: &PgPool, calls: &[NewCall], shared: &Shared) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let err = match store::insert_calls(db, calls).await {
            Ok(()) => break,
            Err(err) => err,
        };
        match err {
            sqlx::Error::PoolClosed => calls.iter().for_each(|c| shared.losses.add(c, "the pool is closed")),
            err if database_unreachable(&err) => {
                shared.stalled.store(true, Ordering::Relaxed);
                tracing::warn!(error = %err, rows = calls.len(), "gateway call log: database unreachable, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            err if calls.len() > 1 && refuses_rows(&err) => {
                tracing::warn!(error = %err, rows = calls.len(), "gateway call log: batch refused, writing row by row");
                for call in calls {
                    Box::pin(insert(db, std::slice::from_ref(call), shared)).await;
                }
            }
            err => calls.iter().for_each(|c| shared.losses.add(c, &err.to_string())),
        }
        break;
    }
    shared.stalled.store(false, Ordering::Relaxed);
}

/// Whether the database refused the batch for what is in its rows (SQLSTATE classes 22,
/// data exception, and 23, integrity constraint violation).
fn refuses_rows(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else { return false };
    db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

/// Rows lost: counted in the metric, reported with the count since the last report.
#[derive(Default)]
struct Losses {
    since_report: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

impl Losses {
    /// The call happened; only its log row is lost: reported, never the call's answer (a
    /// client would retry a call that may not be safe to repeat).
    fn add(&self, call: &NewCall, why: &str) {
        metrics::counter!(UNLOGGED_CALLS).increment(1);
        self.since_report.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_report.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let lost = self.since_report.swap(0, Ordering::Relaxed);
        tracing::error!(
            lost, why, tenant_id = %call.tenant_id, gateway_id = %call.gateway_id, alias = %call.alias,
            "gateway calls were not logged (the last of them named here)"
        );
    }
}

#[cfg(test)]
mod tests {
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
    /// then waits for room, but only so long; once the writer is known to be retrying, calls
    /// do not wait at all; the lost rows are counted, reported once; a flush gives up in time.
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
        assert!(log.shared.stalled.load(Ordering::Relaxed), "the writer is retrying");
        let started = Instant::now();
        log.record(call()).await;
        assert!(started.elapsed() < WAIT_FOR_ROOM / 2, "no wait while the writer is stalled");
        // The first loss was reported at once; the second waits for the next report.
        assert_eq!(log.shared.losses.since_report.load(Ordering::Relaxed), 1);
        let started = Instant::now();
        log.flush(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(1), "a flush gives up at its bound");
    }
}
