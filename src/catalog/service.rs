//! Sync, list and call: the catalog's operations.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, PaginatedRequestParams};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::client::{CatalogClient, Session};
use super::model::{
    CallRecord, CallStatus, Diff, MAX_CATALOG_BYTES, MAX_TOOLS, SyncReport, Tool, check_arguments,
    json_has_nul, truncated,
};
use super::store::{self, CallFilter, ToolCallView, ToolDetail, ToolSummary};
use crate::connectors::service as connectors;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::platform::page;
use crate::platform::single_flight::KeyedLocks;
use crate::upstream::target;

/// A whole sync (connect, every page, close) must finish within this.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connect waits for its first sync before answering (the sync goes on).
pub const CONNECT_SYNC_WAIT: Duration = Duration::from_secs(3);
/// Notifications arriving together cause one resync.
const RESYNC_DEBOUNCE: Duration = Duration::from_millis(250);
/// Periodic resyncs running at once (per replica).
const RESYNC_CONCURRENCY: i64 = 4;
/// A server that keeps handing out cursors is cut off here.
const MAX_PAGES: usize = 1_000;

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
pub async fn sync(state: &AppState, tenant_id: Uuid, id: Uuid, trigger: Trigger) -> Result<SyncReport> {
    // One at a time per connector here; across replicas the row lock below orders the writes.
    let _running = state.catalog.running.hold(id).await;
    let started = Instant::now();
    let connector = connectors::get(&state.db, tenant_id, id).await?;
    connector.require_connected()?;
    let changed = Arc::new(AtomicBool::new(false));
    let flag = changed.clone();
    let handler = CatalogClient::new(move || flag.store(true, Ordering::Relaxed));
    let read_at = store::now(&state.db).await?;
    let (tools, server_info) = tokio::time::timeout(SYNC_TIMEOUT, fetch(state, tenant_id, id, handler))
        .await
        .map_err(|_| timed_out("the tool list", SYNC_TIMEOUT))??;

    let mut tx = state.db.begin().await?;
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
    let tools_synced_at = store::mark_synced(&mut tx, id, info_json, read_at).await?;
    tx.commit().await?;

    // The list changed while we read it: read it again (but a resync caused by a
    // notification does not cause another, so a server that always notifies cannot loop us).
    if changed.load(Ordering::Relaxed) && trigger != Trigger::ListChanged {
        schedule_resync(state, tenant_id, id);
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

/// Opens a session and pages through `tools/list`, within the catalog bounds.
async fn fetch(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    handler: CatalogClient,
) -> Result<(Vec<Tool>, Option<crate::mcp::ServerInfo>)> {
    let target = target::load(state, tenant_id, id).await?;
    let session = Session::open(state, target, handler).await?;
    // A server without the tools capability has no tools to list (and may not know the method).
    let result = if session.offers_tools() { list_all(&session).await } else { Ok(Vec::new()) };
    let server_info = session.server_info();
    session.close().await;
    Ok((result?, server_info))
}

async fn list_all(session: &Session) -> Result<Vec<Tool>> {
    let (mut tools, mut bytes, mut cursor, mut seen_names) = (Vec::new(), 0, None, HashSet::new());
    for _ in 0..MAX_PAGES {
        let params = PaginatedRequestParams::default().with_cursor(cursor.take());
        let page = session.peer().list_tools(Some(params)).await.map_err(|e| session.error(e))?;
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
            None => return Ok(tools),
        }
    }
    Err(super::client::protocol_error(format!("tools/list did not end within {MAX_PAGES} pages")))
}

fn nul_in(what: &str) -> Error {
    super::client::protocol_error(format!("{what} contains a NUL character, which cannot be stored"))
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

fn timed_out(what: &str, limit: Duration) -> Error {
    Error::UpstreamTimeout(format!("{what} did not arrive within {}", humantime::format_duration(limit)))
}

/// Called when a connector has just connected: syncs in a task and waits a little for it,
/// so a fast upstream's tools are there when the connect answers; a slow one finishes later.
pub async fn sync_after_connect(state: &AppState, tenant_id: Uuid, id: Uuid) {
    let task = tokio::spawn(run_sync(state.clone(), tenant_id, id, Trigger::Connect));
    let _ = tokio::time::timeout(CONNECT_SYNC_WAIT, task).await;
}

/// A sync nobody waits for: failures are logged.
async fn run_sync(state: AppState, tenant_id: Uuid, id: Uuid, trigger: Trigger) {
    if let Err(err) = sync(&state, tenant_id, id, trigger).await {
        tracing::warn!(connector_id = %id, ?trigger, code = err.code(), error = %err, "tool sync failed");
    }
}

/// Schedules a resync after a `notifications/tools/list_changed`; notifications arriving
/// while one is scheduled are folded into it.
pub fn schedule_resync(state: &AppState, tenant_id: Uuid, id: Uuid) {
    if let Some(again) = state.catalog.pending.lock().expect("resync set").get_mut(&id) {
        *again = true; // the scheduled resync runs once more when it is done
        return;
    }
    state.catalog.pending.lock().expect("resync set").insert(id, false);
    let state = state.clone();
    // At most one such task per connector: a server that notifies on every session cannot
    // pile up syncs.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RESYNC_DEBOUNCE).await;
            run_sync(state.clone(), tenant_id, id, Trigger::ListChanged).await;
            let mut pending = state.catalog.pending.lock().expect("resync set");
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

/// Resyncs every connected connector whose catalog is older than `every`, checking each
/// `every` (at most a minute); runs with the worker and stops when shutdown begins.
pub fn spawn_periodic(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every.min(Duration::from_secs(60)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = state.shutdown.draining() => break,
            }
            if let Err(err) = resync_due(&state, every).await {
                tracing::warn!(error = %err, "periodic tool resync failed");
            }
        }
    })
}

/// One pass of the periodic resync: claim what is due, sync a few at a time.
/// Claims a few at a time, so a claim's lease (two sync timeouts) always covers its syncs.
pub async fn resync_due(state: &AppState, every: Duration) -> Result<usize> {
    let mut count = 0;
    while !state.shutdown.is_draining() {
        let due = store::claim_due_resyncs(&state.db, every, 2 * SYNC_TIMEOUT, RESYNC_CONCURRENCY).await?;
        if due.is_empty() {
            break;
        }
        count += due.len();
        futures_util::future::join_all(due.into_iter().map(|(tenant_id, id)| async move {
            if let Err(err) = sync(state, tenant_id, id, Trigger::Periodic).await {
                tracing::warn!(connector_id = %id, code = err.code(), error = %err, "periodic tool resync failed");
                if let Err(err) = store::defer_resync(&state.db, id, every).await {
                    tracing::warn!(connector_id = %id, error = %err, "could not defer the next resync");
                }
            }
        }))
        .await;
    }
    Ok(count)
}

/// A page of a connector's tools by name; `q` filters on name and description.
pub async fn list(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    q: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<ToolSummary>, Option<String>)> {
    connectors::get(&state.db, tenant_id, id).await?;
    let pattern = q.filter(|q| !q.is_empty()).map(|q| format!("%{}%", escape_like(q)));
    let rows = store::list(&state.db, tenant_id, id, pattern.as_deref(), after.as_deref(), limit + 1).await?;
    Ok(page::split(rows, limit, |t| t.name.clone()))
}

/// `%`, `_` and `\` match themselves in a user's search text.
fn escape_like(q: &str) -> String {
    q.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

pub async fn get(state: &AppState, tenant_id: Uuid, id: Uuid, name: &str) -> Result<ToolDetail> {
    connectors::get(&state.db, tenant_id, id).await?;
    store::get(&state.db, tenant_id, id, name).await?.ok_or(Error::NotFound("tool"))
}

/// Who calls a tool, for the log.
#[derive(Debug, Clone, Copy)]
pub struct CallerRef {
    pub tenant_id: Uuid,
    pub api_key_id: Uuid,
}

/// The upstream's result, as returned by the API.
#[derive(Debug)]
pub struct CallOutcome {
    pub result: Value,
    pub duration_ms: u64,
}

/// Validates the arguments against the stored schema, then calls the tool upstream through
/// the proxy's credential path, within the configured timeout. Every call is logged.
pub async fn call(
    state: &AppState,
    caller: CallerRef,
    id: Uuid,
    name: &str,
    arguments: Map<String, Value>,
) -> Result<CallOutcome> {
    let connector = connectors::get(&state.db, caller.tenant_id, id).await?;
    let tool = store::get(&state.db, caller.tenant_id, id, name).await?.ok_or(Error::NotFound("tool"))?;
    let log_payloads = store::logs_payloads(&state.db, caller.tenant_id).await?;
    let started = Instant::now();
    let arguments_text = Value::Object(arguments.clone()).to_string();
    let mut record = CallRecord {
        tenant_id: caller.tenant_id,
        connector_id: id,
        tool_name: name.to_owned(),
        api_key_id: caller.api_key_id,
        status: CallStatus::Ok,
        duration_ms: 0,
        error: None,
        request_bytes: arguments_text.len() as i32,
        response_bytes: None,
        arguments: log_payloads.then(|| truncated(arguments_text)),
        result: None,
    };
    let outcome = match check_arguments(&tool.input_schema, &arguments) {
        Err(errors) => Err((CallStatus::InvalidArguments, Error::Invalid(errors))),
        Ok(()) => match connector.require_connected() {
            Err(not_connected) => Err((CallStatus::UpstreamError, not_connected)),
            Ok(()) => invoke(state, caller.tenant_id, id, name, arguments).await,
        },
    };
    record.duration_ms = started.elapsed().as_millis() as i32;
    let answer = match outcome {
        Ok(result) => {
            record.succeeded(&result, log_payloads);
            Ok(CallOutcome { result, duration_ms: record.duration_ms as u64 })
        }
        Err((status, err)) => {
            record.status = status;
            record.error = Some(err.to_string().replace('\0', ""));
            Err(err)
        }
    };
    // The tool has run: a log that cannot be written must not turn its answer into an error
    // (a caller would retry a call that may not be safe to repeat).
    if let Err(err) = store::insert_call(&state.db, &record).await {
        tracing::error!(connector_id = %id, tool = name, error = %err, "could not log a tool call");
    }
    answer
}

/// The `tools/call` itself; a list_changed seen meanwhile schedules a resync.
async fn invoke(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    arguments: Map<String, Value>,
) -> Result<Value, (CallStatus, Error)> {
    let limit = state.settings.tool_call_timeout;
    let resync = {
        let state = state.clone();
        move || schedule_resync(&state, tenant_id, id)
    };
    let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
    let call = async {
        let target = target::load(state, tenant_id, id).await?;
        let session = Session::open(state, target, CatalogClient::new(resync)).await?;
        let result = session.call_tool(params).await;
        session.close().await;
        result
    };
    match tokio::time::timeout(limit, call).await {
        Err(_) => Err((CallStatus::Timeout, timed_out("the tool's result", limit))),
        Ok(Err(e @ Error::UpstreamTimeout(_))) => Err((CallStatus::Timeout, e)),
        Ok(Err(e)) => Err((CallStatus::UpstreamError, e)),
        Ok(Ok(result)) => {
            serde_json::to_value(result).map_err(|e| (CallStatus::UpstreamError, Error::Internal(e.into())))
        }
    }
}

/// A page of a connector's call log, newest first.
pub async fn calls(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    filter: CallFilter<'_>,
) -> Result<(Vec<ToolCallView>, Option<Uuid>)> {
    connectors::get(&state.db, tenant_id, id).await?;
    let limit = filter.limit;
    let rows = store::list_calls(&state.db, tenant_id, id, CallFilter { limit: limit + 1, ..filter }).await?;
    Ok(page::split(rows, limit, |c| c.id))
}
