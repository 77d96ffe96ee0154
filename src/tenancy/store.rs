//! SQL for tenants and API keys.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{ApiKey, LimitOverrides, Scope, Tenant};

/// The select list for [`Tenant`], as a macro so queries stay `&'static str`.
macro_rules! tenant_columns {
    () => {
        "id, name, redirect_allowlist, log_tool_payloads, created_at, limit_api_rps, limit_api_burst, limit_proxy_rps,
         limit_proxy_burst, limit_proxy_streams"
    };
}

pub async fn insert_tenant(db: impl PgExecutor<'_>, id: Uuid, name: &str) -> sqlx::Result<Tenant> {
    sqlx::query_as(concat!("INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING ", tenant_columns!()))
        .bind(id)
        .bind(name)
        .fetch_one(db)
        .await
}

pub async fn get_tenant(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn list_tenants(db: &PgPool, after: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<Tenant>> {
    sqlx::query_as(concat!(
        "SELECT ",
        tenant_columns!(),
        " FROM tenants WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn set_redirect_allowlist(
    db: impl PgExecutor<'_>,
    id: Uuid,
    origins: &[String],
) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as(concat!(
        "UPDATE tenants SET redirect_allowlist = $2 WHERE id = $1 RETURNING ",
        tenant_columns!()
    ))
    .bind(id)
    .bind(origins)
    .fetch_optional(db)
    .await
}

pub async fn set_log_tool_payloads(
    db: impl PgExecutor<'_>,
    id: Uuid,
    on: bool,
) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as(concat!(
        "UPDATE tenants SET log_tool_payloads = $2 WHERE id = $1 RETURNING ",
        tenant_columns!()
    ))
    .bind(id)
    .bind(on)
    .fetch_optional(db)
    .await
}

/// Replaces a tenant's limit overrides.
pub async fn set_limits(
    db: impl PgExecutor<'_>,
    id: Uuid,
    limits: &LimitOverrides,
) -> sqlx::Result<Option<Tenant>> {
    sqlx::query_as(concat!(
        "UPDATE tenants SET limit_api_rps = $2, limit_api_burst = $3, limit_proxy_rps = $4,
                limit_proxy_burst = $5, limit_proxy_streams = $6
         WHERE id = $1 RETURNING ",
        tenant_columns!()
    ))
    .bind(id)
    .bind(limits.api_rps)
    .bind(limits.api_burst)
    .bind(limits.proxy_rps)
    .bind(limits.proxy_burst)
    .bind(limits.proxy_streams)
    .fetch_optional(db)
    .await
}

/// Whether the tenant keeps call arguments and results in the log (no for an unknown one).
pub async fn logs_tool_payloads(db: &PgPool, tenant_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT log_tool_payloads FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(db)
        .await
        .map(|v| v.unwrap_or(false))
}

/// A tenant's limit overrides; none for an unknown tenant.
pub async fn limit_overrides(db: &PgPool, id: Uuid) -> sqlx::Result<Option<LimitOverrides>> {
    sqlx::query_as(
        "SELECT limit_api_rps, limit_api_burst, limit_proxy_rps, limit_proxy_burst, limit_proxy_streams
         FROM tenants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    tenant_id: Uuid,
    name: Option<String>,
    prefix: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            prefix: row.prefix,
            // Unknown scope names (from a newer release) grant nothing here.
            scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// The select list for [`ApiKeyRow`], as a macro so queries stay `&'static str`.
macro_rules! api_key_columns {
    () => {
        "id, tenant_id, name, prefix, scopes, created_at, revoked_at"
    };
}

pub struct NewApiKeyRow<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: Option<&'a str>,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    pub scopes: &'a [Scope],
}

pub async fn insert_api_key(db: impl PgExecutor<'_>, key: NewApiKeyRow<'_>) -> sqlx::Result<ApiKey> {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let sql = concat!(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        api_key_columns!()
    );
    let row: ApiKeyRow = sqlx::query_as(sql)
        .bind(key.id)
        .bind(key.tenant_id)
        .bind(key.name)
        .bind(key.prefix)
        .bind(key.hash)
        .bind(&scopes)
        .fetch_one(db)
        .await?;
    Ok(row.into())
}

pub async fn list_api_keys(db: &PgPool, tenant_id: Uuid) -> sqlx::Result<Vec<ApiKey>> {
    let sql = concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE tenant_id = $1 ORDER BY id");
    let rows: Vec<ApiKeyRow> = sqlx::query_as(sql).bind(tenant_id).fetch_all(db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Revokes a key; `tenant_id` limits the revocation to one tenant's keys when given.
/// Returns false when no such (unrevoked or revoked) key exists for that scope.
pub async fn revoke_api_key(db: &PgPool, id: Uuid, tenant_id: Option<Uuid>) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
         WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)",
    )
    .bind(id)
    .bind(tenant_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The live (unrevoked) key with this hash, if any.
pub async fn find_active_key(db: &PgPool, hash: &[u8]) -> sqlx::Result<Option<ApiKey>> {
    let sql =
        concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
    let row: Option<ApiKeyRow> = sqlx::query_as(sql).bind(hash).fetch_optional(db).await?;
    Ok(row.map(Into::into))
}
