//! Syncing a connector's tools from its upstream: on request, after every connect (the
//! catalog follows `connectors::events`), on `notifications/tools/list_changed` (debounced),
//! and periodically (the worker runs [`resync_due`]). One sync at a time per connector in a
//! process; across replicas the connector's row lock orders the writes, and an older list
//! never overwrites a newer one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::PaginatedRequestParams;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::Context;
use super::model::{Diff, MAX_CATALOG_BYTES, MAX_TOOLS, SyncReport, Tool, json_has_nul};
use super::store;
use crate::connectors::events::{Change, Event};
use crate::connectors::rest;
use crate::connectors::service as connectors;
use crate::error::{Error, Result};
use crate::platform::shutdown::Shutdown;
use crate::platform::single_flight::KeyedLocks;
use crate::upstream::mcp_client::{Lifetime, Session, SessionHandler, protocol_error};
use crate::upstream::target;

/// A whole sync (connect, every page, close) must finish within this.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Notifications arriving together cause one resync.
const RESYNC_DEBOUNCE: Duration = Duration::from_millis(250);
/// Periodic resyncs running at once (per replica).
const RESYNC_CONCURRENCY: i64 = 4;
/// A server that keeps handing out cursors is cut off here.
const MAX_PAGES: usize = 1_000;

/// When a connector's catalog is due again: `every` after its last sync, or after the
/// `ttlMs` its server gave with the list (MCP 2026-07-28 caching hints), but never sooner
/// than `ttl_floor` after it.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub every: Duration,
    pub ttl_floor: Duration,
}

/// Why a sync runs (for logs, and to keep a list_changed resync from scheduling another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Request,
    Connect,
    ListChanged,
    Periodic,
}

/// Syncs in this process: one at a time per connector, and the resyncs scheduled by
/// `notifications/tools/list_changed` (value: another notification arrived meanwhile).
#[derive(Default)]
pub struct Resyncs {
    running: KeyedLocks,
    pending: Mutex<HashMap<Uuid, bool>>,
}

/// Lists every tool of the upstream and stores the result in one transaction.
pub async fn sync(ctx: &Context, tenant_id: Uuid, id: Uuid, trigger: Trigger) -> Result<SyncReport> {
    // One at a time per connector here; across replicas the row lock below orders the writes.
    let _running = ctx.resyncs.running.hold(id).await;
    let started = Instant::now();
    let connector = connectors::get(ctx.db(), tenant_id, id).await?;
    connector.require_connected()?;
    let changed = Arc::new(AtomicBool::new(false));
    let flag = changed.clone();
    let handler = SessionHandler::new(move || flag.store(true, Ordering::Relaxed));
    let read_at = store::now(ctx.db()).await?;
    let (tools, server_info, ttl_ms) = match &connector.rest {
        // A REST connector's tools are its descriptor's route mappings: nothing to ask.
        Some(config) => (rest_tools(&config.descriptor), Some(rest::server_info(&config.descriptor)), None),
        None => tokio::time::timeout(SYNC_TIMEOUT, fetch(ctx, tenant_id, id, handler))
            .await
            .map_err(|_| timed_out("the tool list", SYNC_TIMEOUT))??,
    };

    let mut tx = ctx.db().begin().await?;
    let last_read =
        store::lock_for_sync(&mut tx, tenant_id, id).await?.ok_or(Error::NotFound("connector"))?;
    // A sync that began reading later (on another replica) has committed already: storing
    // this older list over it would bring back removed tools.
    if last_read.is_some_and(|last| last >= read_at) {
        return Err(Error::conflict(
            "sync_superseded",
            "a sync that read the tool list later finished first; the catalog is current",
        ));
    }
    let diff = Diff::between(&store::hashes(&mut tx, id).await?, &tools);
    let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    store::delete_others(&mut tx, id, &names).await?;
    store::upsert(&mut tx, id, &diff.changed(&tools)).await?;
    let info_json =
        server_info.as_ref().map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?;
    if info_json.as_ref().is_some_and(json_has_nul) {
        return Err(nul_in("the server info"));
    }
    let tools_synced_at = store::mark_synced(&mut tx, id, info_json, read_at, ttl_ms).await?;
    // The connector's row changed too (marked synced): this replica forgets its copies at
    // once (a gateway's tools among them), the others when they hear of it.
    ctx.upstream.connectors.commit(tx, id).await?;

    // The list changed while we read it: read it again (but a resync caused by a
    // notification does not cause another, so a server that always notifies cannot loop us).
    if changed.load(Ordering::Relaxed) && trigger != Trigger::ListChanged {
        schedule_resync(ctx, tenant_id, id);
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(connector_id = %id, ?trigger, tools = tools.len(), duration_ms, "tools synced");
    Ok(SyncReport {
        connector_id: id,
        tools_synced_at,
        server_info,
        tool_count: tools.len(),
        duration_ms,
        diff,
    })
}

/// The tools a descriptor's route mappings generate, as the catalog stores them.
fn rest_tools(descriptor: &crate::rest::Descriptor) -> Vec<Tool> {
    crate::rest::schema::tools(descriptor).iter().map(|t| Tool::from_mcp(t.to_mcp())).collect()
}

/// What a sync read: the tools, what the server said about itself, and how long the list
/// stays fresh (`ttlMs`, MCP 2026-07-28), if it said.
type Fetched = (Vec<Tool>, Option<crate::mcp::ServerInfo>, Option<u64>);

/// Opens a session and pages through `tools/list`, within the catalog bounds.
async fn fetch(ctx: &Context, tenant_id: Uuid, id: Uuid, handler: SessionHandler) -> Result<Fetched> {
    let target = target::load(&ctx.upstream, tenant_id, id).await?;
    let session = Session::open(&ctx.upstream, target, handler, Lifetime::Short).await?;
    // A server without the tools capability has no tools to list (and may not know the method).
    let result = if session.offers_tools() { list_all(&session).await } else { Ok((Vec::new(), None)) };
    let server_info = session.server_info();
    session.close().await;
    let (tools, ttl_ms) = result?;
    Ok((tools, server_info, ttl_ms))
}

/// Every page of `tools/list`, and the shortest `ttlMs` among them (the whole list is only
/// as fresh as its stalest page).
async fn list_all(session: &Session) -> Result<(Vec<Tool>, Option<u64>)> {
    let (mut tools, mut bytes, mut cursor, mut seen_names) = (Vec::new(), 0, None, HashSet::new());
    let mut ttl_ms: Option<u64> = None;
    for _ in 0..MAX_PAGES {
        let params = PaginatedRequestParams::default().with_cursor(cursor.take());
        let page = session.request(session.peer().list_tools(Some(params))).await?;
        if let Some(ttl) = page.ttl_ms {
            ttl_ms = Some(ttl_ms.map_or(ttl, |t| t.min(ttl)));
        }
        for tool in page.tools {
            let tool = Tool::from_mcp(tool);
            if tool.has_nul() {
                return Err(nul_in("the tool list"));
            }
            bytes += tool.size();
            if tools.len() >= MAX_TOOLS || bytes > MAX_CATALOG_BYTES {
                return Err(catalog_too_large());
            }
            // A name listed twice keeps its first description.
            if seen_names.insert(tool.name.clone()) {
                tools.push(tool);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((tools, ttl_ms)),
        }
    }
    Err(protocol_error(format!("tools/list did not end within {MAX_PAGES} pages")))
}

fn nul_in(what: &str) -> Error {
    protocol_error(format!("{what} contains a NUL character, which cannot be stored"))
}

fn catalog_too_large() -> Error {
    Error::upstream(
        "tool_catalog_too_large",
        format!(
            "the upstream lists more than {MAX_TOOLS} tools or {} MiB of tool descriptions; nothing was stored",
            MAX_CATALOG_BYTES / (1024 * 1024)
        ),
    )
}

pub(super) fn timed_out(what: &str, limit: Duration) -> Error {
    Error::UpstreamTimeout(format!("{what} did not arrive within {}", humantime::format_duration(limit)))
}

/// A sync nobody waits for: failures are logged.
async fn run_sync(ctx: &Context, tenant_id: Uuid, id: Uuid, trigger: Trigger) {
    if let Err(err) = sync(ctx, tenant_id, id, trigger).await {
        tracing::warn!(connector_id = %id, ?trigger, code = err.code(), error = %err, "tool sync failed");
    }
}

/// Schedules a resync after a `notifications/tools/list_changed`; notifications arriving
/// while one is scheduled are folded into it.
pub fn schedule_resync(ctx: &Context, tenant_id: Uuid, id: Uuid) {
    if let Some(again) = ctx.resyncs.pending.lock().expect("resync set").get_mut(&id) {
        *again = true; // the scheduled resync runs once more when it is done
        return;
    }
    ctx.resyncs.pending.lock().expect("resync set").insert(id, false);
    let ctx = ctx.clone();
    // At most one such task per connector: a server that notifies on every session cannot
    // pile up syncs.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RESYNC_DEBOUNCE).await;
            run_sync(&ctx, tenant_id, id, Trigger::ListChanged).await;
            let mut pending = ctx.resyncs.pending.lock().expect("resync set");
            match pending.get_mut(&id) {
                Some(again) if *again => *again = false,
                _ => {
                    pending.remove(&id);
                    return;
                }
            }
        }
    });
}

/// One pass of the periodic resync: claim what is due, sync a few at a time.
/// Claims a few at a time, so a claim's lease (two sync timeouts) always covers its syncs.
pub async fn resync_due(ctx: &Context, schedule: Schedule, shutdown: &Shutdown) -> Result<usize> {
    let every = schedule.every;
    let mut count = 0;
    while !shutdown.is_draining() {
        let due = store::claim_due_resyncs(ctx.db(), schedule, 2 * SYNC_TIMEOUT, RESYNC_CONCURRENCY).await?;
        if due.is_empty() {
            break;
        }
        count += due.len();
        futures_util::future::join_all(due.into_iter().map(|(tenant_id, id)| async move {
            if let Err(err) = sync(ctx, tenant_id, id, Trigger::Periodic).await {
                tracing::warn!(connector_id = %id, code = err.code(), error = %err, "periodic tool resync failed");
                if let Err(err) = store::defer_resync(ctx.db(), id, every).await {
                    tracing::warn!(connector_id = %id, error = %err, "could not defer the next resync");
                }
            }
        }))
        .await;
    }
    Ok(count)
}

/// The catalog's subscription to connector events: every connect syncs the connector's
/// tools. The event is held until that sync ends, so the connect can wait for it.
pub fn follow(ctx: Context, mut events: broadcast::Receiver<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if matches!(event.change, Change::Connected | Change::Reconfigured) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        run_sync(&ctx, event.tenant_id, event.connector_id, Trigger::Connect).await;
                        drop(event); // handled
                    });
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "the tool catalog missed connector events; their syncs wait for the next trigger"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
