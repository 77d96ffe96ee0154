//! SQL for gateways, their tools, keys and call log. Every read of a gateway names the
//! tenant, so another tenant's gateway finds nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::model::{Gateway, GatewayCall, GatewayFields, GatewayKey, GatewayTool, NewCall, ToolChanges};
use super::scopes::{McpScope, Scopes};

macro_rules! gateway_columns {
    () => {
        "id, tenant_id, slug, name, description, instructions, key_rps, key_burst, created_at, updated_at"
    };
}

pub async fn insert_gateway(
    db: &PgPool,
    id: Uuid,
    tenant_id: Uuid,
    f: &GatewayFields,
) -> sqlx::Result<Gateway> {
    sqlx::query_as(concat!(
        "INSERT INTO gateways (id, tenant_id, slug, name, description, instructions, key_rps, key_burst)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        gateway_columns!()
    ))
    .bind(id)
    .bind(tenant_id)
    .bind(&f.slug)
    .bind(&f.name)
    .bind(f.description.clone().flatten())
    .bind(f.instructions.clone().flatten())
    .bind(f.key_rps.flatten())
    .bind(f.key_burst.flatten())
    .fetch_one(db)
    .await
}

pub async fn list_gateways(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Gateway>> {
    sqlx::query_as(concat!(
        "SELECT ",
        gateway_columns!(),
        " FROM gateways WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get_gateway(db: &PgPool, tenant_id: Uuid, id: Uuid) -> sqlx::Result<Option<Gateway>> {
    sqlx::query_as(concat!("SELECT ", gateway_columns!(), " FROM gateways WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn gateway_by_slug(db: &PgPool, tenant_id: Uuid, slug: &str) -> sqlx::Result<Option<Gateway>> {
    sqlx::query_as(concat!(
        "SELECT ",
        gateway_columns!(),
        " FROM gateways WHERE tenant_id = $1 AND slug = $2"
    ))
    .bind(tenant_id)
    .bind(slug)
    .fetch_optional(db)
    .await
}

/// Applies the given fields; `None` when there is no such gateway in the tenant.
pub async fn update_gateway(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    f: &GatewayFields,
) -> sqlx::Result<Option<Gateway>> {
    sqlx::query_as(concat!(
        "UPDATE gateways SET slug = COALESCE($3, slug), name = COALESCE($4, name),
                description = CASE WHEN $5 THEN $6 ELSE description END,
                instructions = CASE WHEN $7 THEN $8 ELSE instructions END,
                key_rps = CASE WHEN $9 THEN $10 ELSE key_rps END,
                key_burst = CASE WHEN $11 THEN $12 ELSE key_burst END, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        gateway_columns!()
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(&f.slug)
    .bind(&f.name)
    .bind(f.description.is_some())
    .bind(f.description.clone().flatten())
    .bind(f.instructions.is_some())
    .bind(f.instructions.clone().flatten())
    .bind(f.key_rps.is_some())
    .bind(f.key_rps.flatten())
    .bind(f.key_burst.is_some())
    .bind(f.key_burst.flatten())
    .fetch_optional(db)
    .await
}

pub async fn delete_gateway(db: &PgPool, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM gateways WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A gateway tool joined with its catalog entry and its connector's status.
macro_rules! tool_select {
    () => {
        "SELECT g.id, g.gateway_id, g.connector_id, g.tool_name AS tool, g.alias, g.enabled, g.description,
                t.description AS upstream_description, t.input_schema, t.output_schema, t.title,
                t.annotations, g.required_scope AS scope_setting, g.annotation_scope,
                c.status = 'connected' AS connected, g.created_at, g.updated_at
         FROM gateway_tools g JOIN connectors c ON c.id = g.connector_id
         LEFT JOIN tools t ON t.connector_id = g.connector_id AND t.name = g.tool_name "
    };
}

pub struct NewTool<'a> {
    pub id: Uuid,
    pub gateway_id: Uuid,
    pub connector_id: Uuid,
    pub tool: &'a str,
    pub alias: &'a str,
    pub enabled: bool,
    /// What the upstream's annotations say of the tool now.
    pub annotation_scope: Option<McpScope>,
}

pub async fn insert_tool(db: impl PgExecutor<'_>, t: &NewTool<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO gateway_tools (id, gateway_id, connector_id, tool_name, alias, enabled, annotation_scope)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(t.id)
    .bind(t.gateway_id)
    .bind(t.connector_id)
    .bind(t.tool)
    .bind(t.alias)
    .bind(t.enabled)
    .bind(t.annotation_scope.map(McpScope::as_str))
    .execute(db)
    .await?;
    Ok(())
}

/// Locks the gateway's row until the transaction ends; `false` when it is gone.
pub async fn lock_gateway(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let row =
        sqlx::query("SELECT 1 FROM gateways WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(db).await?;
    Ok(row.is_some())
}

/// The connector's catalog tools the gateway does not expose yet, by name, with their
/// annotations.
pub async fn tools_not_in_gateway(
    db: impl PgExecutor<'_>,
    gateway_id: Uuid,
    connector_id: Uuid,
) -> sqlx::Result<Vec<(String, Option<serde_json::Value>)>> {
    sqlx::query_as(
        "SELECT t.name, t.annotations FROM tools t
         WHERE t.connector_id = $2 AND NOT EXISTS (
             SELECT 1 FROM gateway_tools g
             WHERE g.gateway_id = $1 AND g.connector_id = t.connector_id AND g.tool_name = t.name)
         ORDER BY t.name",
    )
    .bind(gateway_id)
    .bind(connector_id)
    .fetch_all(db)
    .await
}

/// Adds these tools of a connector (name, and what its annotations say: `annotation_scope`),
/// each under its own name, skipping those whose name is already an alias in the gateway.
/// Returns how many were added.
pub async fn insert_tools(
    db: impl PgExecutor<'_>,
    gateway_id: Uuid,
    connector_id: Uuid,
    tools: &[(String, Option<McpScope>)],
    enabled: bool,
) -> sqlx::Result<u64> {
    let names: Vec<&str> = tools.iter().map(|(name, _)| name.as_str()).collect();
    let scopes: Vec<Option<&str>> = tools.iter().map(|(_, scope)| scope.map(McpScope::as_str)).collect();
    let done = sqlx::query(
        "INSERT INTO gateway_tools (id, gateway_id, connector_id, tool_name, alias, enabled, annotation_scope)
         SELECT gen_random_uuid(), $1, $2, name, name, $4, scope FROM unnest($3::text[], $5::text[]) AS t (name, scope)
         ON CONFLICT DO NOTHING",
    )
    .bind(gateway_id)
    .bind(connector_id)
    .bind(names)
    .bind(enabled)
    .bind(scopes)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The connectors a gateway draws tools from.
pub async fn connectors_of(db: &PgPool, gateway_id: Uuid) -> sqlx::Result<std::collections::HashSet<Uuid>> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT connector_id FROM gateway_tools WHERE gateway_id = $1")
            .bind(gateway_id)
            .fetch_all(db)
            .await?;
    Ok(ids.into_iter().collect())
}

pub async fn count_tools(db: impl PgExecutor<'_>, gateway_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM gateway_tools WHERE gateway_id = $1")
        .bind(gateway_id)
        .fetch_one(db)
        .await
}

/// A page of a gateway's tools by alias; `enabled_only` for what MCP clients see.
pub async fn list_tools(
    db: &PgPool,
    gateway_id: Uuid,
    enabled_only: bool,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<GatewayTool>> {
    sqlx::query_as(concat!(
        tool_select!(),
        "WHERE g.gateway_id = $1 AND (NOT $2 OR (g.enabled AND t.name IS NOT NULL))
           AND ($3::text IS NULL OR g.alias > $3) ORDER BY g.alias LIMIT $4"
    ))
    .bind(gateway_id)
    .bind(enabled_only)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get_tool(db: &PgPool, gateway_id: Uuid, id: Uuid) -> sqlx::Result<Option<GatewayTool>> {
    sqlx::query_as(concat!(tool_select!(), "WHERE g.gateway_id = $1 AND g.id = $2"))
        .bind(gateway_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn tool_by_alias(db: &PgPool, gateway_id: Uuid, alias: &str) -> sqlx::Result<Option<GatewayTool>> {
    sqlx::query_as(concat!(tool_select!(), "WHERE g.gateway_id = $1 AND g.alias = $2"))
        .bind(gateway_id)
        .bind(alias)
        .fetch_optional(db)
        .await
}

pub async fn update_tool(db: &PgPool, gateway_id: Uuid, id: Uuid, c: &ToolChanges) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE gateway_tools SET alias = COALESCE($3, alias), enabled = COALESCE($4, enabled),
                description = CASE WHEN $5 THEN $6 ELSE description END,
                required_scope = CASE WHEN $7 THEN $8 ELSE required_scope END, updated_at = now()
         WHERE gateway_id = $1 AND id = $2",
    )
    .bind(gateway_id)
    .bind(id)
    .bind(&c.alias)
    .bind(c.enabled)
    .bind(c.description.is_some())
    .bind(c.description.clone().flatten())
    .bind(c.required_scope.is_some())
    .bind(c.required_scope.clone().flatten())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_tool(db: &PgPool, gateway_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM gateway_tools WHERE gateway_id = $1 AND id = $2")
        .bind(gateway_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

macro_rules! key_columns {
    () => {
        "id, gateway_id, tenant_id, name, prefix, scopes, expires_at, created_at, revoked_at"
    };
}

pub struct NewKey<'a> {
    pub id: Uuid,
    pub gateway: &'a Gateway,
    pub name: Option<&'a str>,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert_key(db: &PgPool, k: &NewKey<'_>) -> sqlx::Result<GatewayKey> {
    sqlx::query_as(concat!(
        "INSERT INTO gateway_keys (id, gateway_id, tenant_id, name, prefix, key_hash, expires_at, scopes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        key_columns!()
    ))
    .bind(k.id)
    .bind(k.gateway.id)
    .bind(k.gateway.tenant_id)
    .bind(k.name)
    .bind(k.prefix)
    .bind(k.hash)
    .bind(k.expires_at)
    .bind(k.scopes.names())
    .fetch_one(db)
    .await
}

pub async fn list_keys(db: &PgPool, gateway_id: Uuid) -> sqlx::Result<Vec<GatewayKey>> {
    sqlx::query_as(concat!("SELECT ", key_columns!(), " FROM gateway_keys WHERE gateway_id = $1 ORDER BY id"))
        .bind(gateway_id)
        .fetch_all(db)
        .await
}

pub async fn get_key(db: &PgPool, gateway_id: Uuid, id: Uuid) -> sqlx::Result<Option<GatewayKey>> {
    sqlx::query_as(concat!("SELECT ", key_columns!(), " FROM gateway_keys WHERE gateway_id = $1 AND id = $2"))
        .bind(gateway_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn revoke_key(db: &PgPool, gateway_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE gateway_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE gateway_id = $1 AND id = $2",
    )
    .bind(gateway_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The unrevoked key with this hash (expiry is the caller's check: a cached key expires too).
pub async fn find_active_key(db: &PgPool, hash: &[u8]) -> sqlx::Result<Option<GatewayKey>> {
    sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM gateway_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Writes `calls` in one statement; a call of a gateway deleted meanwhile is left out (its
/// log went with it).
pub async fn insert_calls(db: impl PgExecutor<'_>, calls: &[NewCall]) -> sqlx::Result<()> {
    fn column<'a, T>(calls: &'a [NewCall], f: impl Fn(&'a NewCall) -> T) -> Vec<T> {
        calls.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO gateway_calls (id, created_at, tenant_id, gateway_id, alias, connector_id, tool_name,
                                    gateway_key_id, api_key_id, status, duration_ms, error, arguments, result)
         SELECT c.* FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[],
                                $7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::int4[], $12::text[],
                                $13::text[], $14::text[])
              AS c (id, created_at, tenant_id, gateway_id, alias, connector_id, tool_name, gateway_key_id,
                    api_key_id, status, duration_ms, error, arguments, result)
         WHERE EXISTS (SELECT 1 FROM gateways g WHERE g.id = c.gateway_id AND g.tenant_id = c.tenant_id)",
    )
    .bind(column(calls, |c| c.id))
    .bind(column(calls, |c| c.at))
    .bind(column(calls, |c| c.tenant_id))
    .bind(column(calls, |c| c.gateway_id))
    .bind(column(calls, |c| c.alias.as_str()))
    .bind(column(calls, |c| c.connector_id))
    .bind(column(calls, |c| c.tool_name.as_deref()))
    .bind(column(calls, |c| c.gateway_key_id))
    .bind(column(calls, |c| c.api_key_id))
    .bind(column(calls, |c| c.status))
    .bind(column(calls, |c| c.duration_ms))
    .bind(column(calls, |c| c.error.as_deref()))
    .bind(column(calls, |c| c.arguments.as_deref()))
    .bind(column(calls, |c| c.result.as_deref()))
    .execute(db)
    .await?;
    Ok(())
}

/// Filters of the call log; `before` is the cursor (ids are time-ordered).
#[derive(Debug, Clone, Copy)]
pub struct CallFilter<'a> {
    pub status: Option<&'static str>,
    pub tool: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// A page of a gateway's calls, newest first; `tool` matches the alias or the upstream name.
pub async fn list_calls(db: &PgPool, gateway_id: Uuid, f: CallFilter<'_>) -> sqlx::Result<Vec<GatewayCall>> {
    sqlx::query_as(
        "SELECT id, alias, connector_id, tool_name, gateway_key_id, api_key_id, status, duration_ms, error,
                arguments, result, created_at
         FROM gateway_calls
         WHERE gateway_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR alias = $3 OR tool_name = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
           AND ($6::uuid IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7",
    )
    .bind(gateway_id)
    .bind(f.status)
    .bind(f.tool)
    .bind(f.since)
    .bind(f.until)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

/// Deletes up to `batch` calls older than `days` days; returns how many went.
pub async fn purge_calls(db: &PgPool, days: i32, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM gateway_calls WHERE id IN (
             SELECT id FROM gateway_calls WHERE created_at < now() - make_interval(days => $1) LIMIT $2)",
    )
    .bind(days)
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
