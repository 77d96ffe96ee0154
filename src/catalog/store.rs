//! SQL for the tool catalog and the call log. Every read names the tenant (through the
//! connector), so another tenant's connector finds nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{CallRecord, Tool};

/// Locks the connector row for the rest of the transaction (concurrent syncs of one
/// connector, on any replica, take turns) and returns when its stored tool list was read
/// from the upstream; `None` when the connector does not exist in the tenant.
pub async fn lock_for_sync(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Option<DateTime<Utc>>>> {
    sqlx::query_scalar("SELECT tools_synced_at FROM connectors WHERE id = $1 AND tenant_id = $2 FOR UPDATE")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
}

/// The database's clock: every replica compares sync times on the same one.
pub async fn now(db: impl PgExecutor<'_>) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar("SELECT now()").fetch_one(db).await
}

/// Name → content hash of every stored tool of a connector.
pub async fn hashes(tx: &mut PgConnection, connector_id: Uuid) -> sqlx::Result<HashMap<String, Vec<u8>>> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT name, content_hash FROM tools WHERE connector_id = $1")
            .bind(connector_id)
            .fetch_all(&mut *tx)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Deletes the tools not in `keep`.
pub async fn delete_others(tx: &mut PgConnection, connector_id: Uuid, keep: &[String]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tools WHERE connector_id = $1 AND name <> ALL($2)")
        .bind(connector_id)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Inserts or replaces these tools, in one statement.
pub async fn upsert(tx: &mut PgConnection, connector_id: Uuid, tools: &[&Tool]) -> sqlx::Result<()> {
    if tools.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Tool) -> Option<Value>| tools.iter().map(|t| f(t)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO tools (connector_id, name, title, description, input_schema, output_schema,
                            annotations, content_hash)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[],
                                  $7::jsonb[], $8::bytea[])
         ON CONFLICT (connector_id, name) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description,
             input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema,
             annotations = EXCLUDED.annotations, content_hash = EXCLUDED.content_hash,
             updated_at = now()",
    )
    .bind(connector_id)
    .bind(tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
    .bind(tools.iter().map(|t| t.title.clone()).collect::<Vec<_>>())
    .bind(tools.iter().map(|t| t.description.clone()).collect::<Vec<_>>())
    .bind(tools.iter().map(|t| t.input_schema.clone()).collect::<Vec<_>>())
    .bind(column(|t| t.output_schema.clone()))
    .bind(column(|t| t.annotations.clone()))
    .bind(tools.iter().map(|t| t.content_hash.clone()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records the sync on the connector: when, and what the server said about itself.
pub async fn mark_synced(
    tx: &mut PgConnection,
    connector_id: Uuid,
    server_info: Option<Value>,
    read_at: DateTime<Utc>,
    ttl_ms: Option<u64>,
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar(
        "UPDATE connectors SET tools_synced_at = $3, server_info = COALESCE($2, server_info), tools_ttl_ms = $4
         WHERE id = $1 RETURNING tools_synced_at",
    )
    .bind(connector_id)
    .bind(server_info)
    .bind(read_at)
    .bind(ttl_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
    .fetch_one(&mut *tx)
    .await
}

/// Holds a connector back from the periodic resync for `wait` (after a failed sync, so
/// failing connectors do not crowd out the rest at the head of every batch).
pub async fn defer_resync(db: impl PgExecutor<'_>, id: Uuid, wait: std::time::Duration) -> sqlx::Result<()> {
    sqlx::query("UPDATE connectors SET tools_resync_lease_until = now() + $2 WHERE id = $1")
        .bind(id)
        .bind(wait)
        .execute(db)
        .await?;
    Ok(())
}

/// Claims up to `limit` connected connectors whose tools were last synced more than `every`
/// ago, for `lease` (replicas split the work; a dead replica's claims lapse).
pub async fn claim_due_resyncs(
    db: impl PgExecutor<'_>,
    schedule: super::sync::Schedule,
    lease: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    // Due `every` after the last sync, or after the list's ttlMs (never under the floor).
    sqlx::query_as(
        "UPDATE connectors SET tools_resync_lease_until = now() + $2
         WHERE id IN (
             SELECT id FROM connectors
             WHERE status = 'connected'
               AND (tools_synced_at IS NULL OR tools_synced_at < now() - CASE
                   WHEN tools_ttl_ms IS NULL THEN $1
                   ELSE GREATEST($4, tools_ttl_ms * interval '1 millisecond') END)
               AND (tools_resync_lease_until IS NULL OR tools_resync_lease_until < now())
             ORDER BY tools_synced_at NULLS FIRST LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING tenant_id, id",
    )
    .bind(schedule.every)
    .bind(lease)
    .bind(limit)
    .bind(schedule.ttl_floor)
    .fetch_all(db)
    .await
}

/// A tool as listed: no schemas.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ToolSummary {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Value>,
    /// Changes whenever anything about the tool changes (hex SHA-256).
    pub content_hash: String,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tool with its schemas.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ToolDetail {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub summary: ToolSummary,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
}

macro_rules! summary_columns {
    () => {
        "t.name, t.title, t.description, t.annotations, encode(t.content_hash, 'hex') AS content_hash, \
         t.first_seen_at, t.updated_at"
    };
}

/// A page of a connector's tools by name; `pattern` is an ILIKE pattern on name or description.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    connector_id: Uuid,
    pattern: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ToolSummary>> {
    sqlx::query_as(concat!(
        "SELECT ",
        summary_columns!(),
        " FROM tools t JOIN connectors c ON c.id = t.connector_id
         WHERE c.tenant_id = $1 AND t.connector_id = $2
           AND ($3::text IS NULL OR t.name ILIKE $3 OR t.description ILIKE $3)
           AND ($4::text IS NULL OR t.name > $4)
         ORDER BY t.name LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(connector_id)
    .bind(pattern)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    connector_id: Uuid,
    name: &str,
) -> sqlx::Result<Option<ToolDetail>> {
    sqlx::query_as(concat!(
        "SELECT ",
        summary_columns!(),
        ", t.input_schema, t.output_schema
         FROM tools t JOIN connectors c ON c.id = t.connector_id
         WHERE c.tenant_id = $1 AND t.connector_id = $2 AND t.name = $3"
    ))
    .bind(tenant_id)
    .bind(connector_id)
    .bind(name)
    .fetch_optional(db)
    .await
}

pub async fn insert_call(db: impl PgExecutor<'_>, r: &CallRecord) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tool_calls (id, tenant_id, connector_id, tool_name, api_key_id, status,
                                 duration_ms, error, request_bytes, response_bytes, arguments, result)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(Uuid::now_v7())
    .bind(r.tenant_id)
    .bind(r.connector_id)
    .bind(&r.tool_name)
    .bind(r.api_key_id)
    .bind(r.status.as_str())
    .bind(r.duration_ms)
    .bind(&r.error)
    .bind(r.request_bytes)
    .bind(r.response_bytes)
    .bind(&r.arguments)
    .bind(&r.result)
    .execute(db)
    .await?;
    Ok(())
}

/// A logged call as listed.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ToolCallView {
    pub id: Uuid,
    pub tool_name: String,
    /// The API key that made the call (`null` once the key is deleted).
    pub api_key_id: Option<Uuid>,
    /// `ok`, `tool_error`, `invalid_arguments`, `upstream_error` or `timeout`.
    pub status: String,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub request_bytes: i32,
    pub response_bytes: Option<i32>,
    /// Only when the tenant logs payloads; cut to 16 KiB.
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What to list of the call log.
pub struct CallFilter<'a> {
    pub status: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// A page of a connector's call log, newest first.
pub async fn list_calls(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    connector_id: Uuid,
    f: CallFilter<'_>,
) -> sqlx::Result<Vec<ToolCallView>> {
    sqlx::query_as(
        "SELECT id, tool_name, api_key_id, status, duration_ms, error, request_bytes, response_bytes,
                arguments, result, created_at
         FROM tool_calls
         WHERE tenant_id = $1 AND connector_id = $2
           AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
           AND ($6::uuid IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7",
    )
    .bind(tenant_id)
    .bind(connector_id)
    .bind(f.status)
    .bind(f.since)
    .bind(f.until)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(db)
    .await
}
