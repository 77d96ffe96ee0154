//! SQL for connectors and their sealed secrets. Every query that reads or changes a
//! connector names the tenant, so another tenant's id simply finds nothing.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::model::{AuthSettings, Connector, RefreshState, SecretField, Status, StatusReason};
use crate::mcp::Transport;
use crate::platform::crypto::Sealed;

/// The select list for [`ConnectorRow`], as a macro so queries stay `&'static str`.
macro_rules! connector_columns {
    () => {
        "c.id, c.tenant_id, c.name, c.description, c.url, c.transport, c.rest, c.owner, c.metadata, c.auth, \
         c.preset_id, c.status, c.status_code, c.status_message, c.created_at, c.updated_at, \
         c.server_info, c.oauth_grant, c.token_expires_at, c.authorization_url, c.authorization_expires_at, \
         c.next_refresh_at, c.last_refreshed_at, c.refresh_attempts, c.last_refresh_error, c.tools_synced_at, \
         c.scope_required, \
         ARRAY(SELECT s.field FROM connector_secrets s WHERE s.connector_id = c.id ORDER BY s.field) AS secret_fields"
    };
}

#[derive(sqlx::FromRow)]
struct ConnectorRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    description: Option<String>,
    url: String,
    transport: String,
    rest: Option<serde_json::Value>,
    owner: Option<String>,
    metadata: serde_json::Value,
    auth: Option<serde_json::Value>,
    preset_id: Option<String>,
    status: String,
    status_code: Option<String>,
    status_message: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    server_info: Option<serde_json::Value>,
    oauth_grant: Option<serde_json::Value>,
    token_expires_at: Option<DateTime<Utc>>,
    authorization_url: Option<String>,
    authorization_expires_at: Option<DateTime<Utc>>,
    next_refresh_at: Option<DateTime<Utc>>,
    last_refreshed_at: Option<DateTime<Utc>>,
    refresh_attempts: i32,
    last_refresh_error: Option<String>,
    tools_synced_at: Option<DateTime<Utc>>,
    scope_required: Vec<String>,
    secret_fields: Vec<String>,
}

impl TryFrom<ConnectorRow> for Connector {
    type Error = anyhow::Error;

    fn try_from(row: ConnectorRow) -> anyhow::Result<Self> {
        let status_reason = match (row.status_code, row.status_message) {
            (Some(code), message) => Some(StatusReason { code, message: message.unwrap_or_default() }),
            (None, _) => None,
        };
        Ok(Connector {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            description: row.description,
            url: row.url,
            transport: Transport::parse(&row.transport).context("unknown transport in database")?,
            rest: row.rest.map(serde_json::from_value).transpose().context("connector rest config")?,
            owner: row.owner,
            metadata: serde_json::from_value(row.metadata).context("connector metadata")?,
            auth: row.auth.map(serde_json::from_value).transpose().context("connector auth")?,
            preset_id: row.preset_id,
            status: Status::parse(&row.status).context("unknown status in database")?,
            status_reason,
            secret_fields: row.secret_fields.iter().filter_map(|f| SecretField::parse(f)).collect(),
            server_info: row.server_info.map(serde_json::from_value).transpose().context("server_info")?,
            oauth_grant: row.oauth_grant.map(serde_json::from_value).transpose().context("oauth_grant")?,
            token_expires_at: row.token_expires_at,
            authorization_url: row.authorization_url,
            authorization_expires_at: row.authorization_expires_at,
            refresh: RefreshState {
                next_refresh_at: row.next_refresh_at,
                last_refreshed_at: row.last_refreshed_at,
                attempts: row.refresh_attempts,
                last_error: row.last_refresh_error,
            },
            tools_synced_at: row.tools_synced_at,
            scope_required: row.scope_required,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn rest_json(c: &Connector) -> anyhow::Result<Option<serde_json::Value>> {
    c.rest.as_ref().map(serde_json::to_value).transpose().context("serialising the rest config")
}

fn auth_json(auth: &Option<AuthSettings>) -> anyhow::Result<Option<serde_json::Value>> {
    auth.as_ref().map(serde_json::to_value).transpose().context("serialising auth")
}

pub async fn insert(db: &mut PgConnection, c: &Connector) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO connectors (id, tenant_id, name, description, url, transport, owner, metadata,
                                 auth, preset_id, status, created_at, updated_at, kind, rest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)",
    )
    .bind(c.id)
    .bind(c.tenant_id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.url)
    .bind(c.transport.as_str())
    .bind(&c.owner)
    .bind(serde_json::to_value(&c.metadata)?)
    .bind(auth_json(&c.auth)?)
    .bind(&c.preset_id)
    .bind(c.status.as_str())
    .bind(c.created_at)
    .bind(c.kind().as_str())
    .bind(rest_json(c)?)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes the fields a PATCH may change.
pub async fn update(db: &mut PgConnection, c: &Connector) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE connectors SET name = $3, description = $4, metadata = $5, auth = $6, rest = $7,
                url = $8, updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(c.tenant_id)
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(serde_json::to_value(&c.metadata)?)
    .bind(auth_json(&c.auth)?)
    .bind(rest_json(c)?)
    .bind(&c.url)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes the connection state: status and reason, auth (hydrated by discovery), server info,
/// grant, token expiry and pending authorization.
pub async fn save_state(db: &mut PgConnection, c: &Connector) -> anyhow::Result<()> {
    let reason = c.status_reason.as_ref();
    sqlx::query(
        "UPDATE connectors SET status = $3, status_code = $4, status_message = $5, auth = $6,
                server_info = $7, oauth_grant = $8, token_expires_at = $9, authorization_url = $10,
                authorization_expires_at = $11, next_refresh_at = $12, last_refreshed_at = $13,
                refresh_attempts = $14, last_refresh_error = $15, refresh_lease_until = NULL,
                scope_required = $16, updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(c.tenant_id)
    .bind(c.id)
    .bind(c.status.as_str())
    .bind(reason.map(|r| r.code.as_str()))
    .bind(reason.map(|r| r.message.as_str()))
    .bind(auth_json(&c.auth)?)
    .bind(c.server_info.as_ref().map(serde_json::to_value).transpose()?)
    .bind(c.oauth_grant.as_ref().map(serde_json::to_value).transpose()?)
    .bind(c.token_expires_at)
    .bind(&c.authorization_url)
    .bind(c.authorization_expires_at)
    .bind(c.refresh.next_refresh_at)
    .bind(c.refresh.last_refreshed_at)
    .bind(c.refresh.attempts)
    .bind(&c.refresh.last_error)
    .bind(&c.scope_required)
    .execute(db)
    .await?;
    Ok(())
}

/// Records the scopes an upstream asked for in a 403 `insufficient_scope`; false when they
/// were already recorded (nothing changed).
pub async fn set_scope_required(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
    scopes: &[String],
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE connectors SET scope_required = $3, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND scope_required IS DISTINCT FROM $3",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(scopes)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Claims up to `limit` connectors whose refresh is due, leasing them for `lease` so other
/// replicas skip them; a crashed replica's lease simply runs out.
pub async fn claim_due_refreshes(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease: std::time::Duration,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as(
        "UPDATE connectors SET refresh_lease_until = now() + $2
         WHERE id IN (
             SELECT id FROM connectors
             WHERE next_refresh_at <= now() AND status = 'connected'
               AND (refresh_lease_until IS NULL OR refresh_lease_until < now())
             ORDER BY next_refresh_at LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING tenant_id, id",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(db)
    .await
}

/// Gives claimed connectors back before their lease runs out (a worker stopping mid-batch),
/// so another replica refreshes them at once.
pub async fn release_refresh_claims(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<u64> {
    let result = sqlx::query("UPDATE connectors SET refresh_lease_until = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Every key id that sealed a stored connector secret.
pub async fn secret_key_ids(db: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT DISTINCT key_id FROM connector_secrets").fetch_all(db).await
}

/// How many connectors are in each status, over all tenants (for metrics).
pub async fn count_by_status(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT status, count(*) FROM connectors GROUP BY status").fetch_all(db).await
}

/// Marks pending authorizations whose window has passed as disconnected. Returns the
/// connectors changed (tenant, id); their state records are the caller's to delete.
pub async fn expire_pending_authorizations(
    db: &mut PgConnection,
    message: &str,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as(
        "UPDATE connectors c SET status = 'disconnected', status_code = 'authorization_expired',
                status_message = $1, authorization_url = NULL, authorization_expires_at = NULL, updated_at = now()
         WHERE c.id IN (
             SELECT id FROM connectors
             WHERE status = 'pending_authorization' AND authorization_expires_at < now()
             ORDER BY authorization_expires_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
         RETURNING c.tenant_id, c.id",
    )
    .bind(message)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A status change, as recorded by the `connector_events` trigger.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectorEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// A connector's events, newest first, below the `before` cursor.
pub async fn list_events(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    connector_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<ConnectorEvent>> {
    sqlx::query_as(
        "SELECT id, at, from_status, to_status, code, message FROM connector_events
         WHERE tenant_id = $1 AND connector_id = $2 AND ($3::bigint IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(connector_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, tenant_id: Uuid, id: Uuid) -> anyhow::Result<Option<Connector>> {
    let sql =
        concat!("SELECT ", connector_columns!(), " FROM connectors c WHERE c.tenant_id = $1 AND c.id = $2");
    let row: Option<ConnectorRow> = sqlx::query_as(sql).bind(tenant_id).bind(id).fetch_optional(db).await?;
    row.map(Connector::try_from).transpose()
}

/// Like [`get`], but locks the row until the transaction ends (read-modify-write).
pub async fn get_for_update(
    db: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> anyhow::Result<Option<Connector>> {
    let sql = concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors c WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE"
    );
    let row: Option<ConnectorRow> = sqlx::query_as(sql).bind(tenant_id).bind(id).fetch_optional(db).await?;
    row.map(Connector::try_from).transpose()
}

pub struct ListFilter<'a> {
    pub status: Option<Status>,
    pub owner: Option<&'a str>,
    /// Keyset cursor: list connectors with ids strictly below this one (newest first).
    pub before: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    f: &ListFilter<'_>,
) -> anyhow::Result<Vec<Connector>> {
    let sql = concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors c
         WHERE c.tenant_id = $1
           AND ($2::text IS NULL OR c.status = $2)
           AND ($3::text IS NULL OR c.owner = $3)
           AND ($4::uuid IS NULL OR c.id < $4)
         ORDER BY c.id DESC LIMIT $5"
    );
    let rows: Vec<ConnectorRow> = sqlx::query_as(sql)
        .bind(tenant_id)
        .bind(f.status.map(Status::as_str))
        .bind(f.owner)
        .bind(f.before)
        .bind(f.limit)
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Connector::try_from).collect()
}

pub async fn delete(db: impl PgExecutor<'_>, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query("DELETE FROM connectors WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn put_secret(
    db: &mut PgConnection,
    tenant_id: Uuid,
    connector_id: Uuid,
    field: SecretField,
    sealed: &Sealed,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO connector_secrets (connector_id, tenant_id, field, key_id, ciphertext)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (connector_id, field)
         DO UPDATE SET key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, updated_at = now()",
    )
    .bind(connector_id)
    .bind(tenant_id)
    .bind(field.as_str())
    .bind(&sealed.key_id)
    .bind(&sealed.ciphertext)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_secrets(
    db: &mut PgConnection,
    connector_id: Uuid,
    fields: &[SecretField],
) -> sqlx::Result<()> {
    let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
    sqlx::query("DELETE FROM connector_secrets WHERE connector_id = $1 AND field = ANY($2)")
        .bind(connector_id)
        .bind(&names)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn get_secret(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    connector_id: Uuid,
    field: SecretField,
) -> sqlx::Result<Option<Sealed>> {
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, ciphertext FROM connector_secrets
         WHERE tenant_id = $1 AND connector_id = $2 AND field = $3",
    )
    .bind(tenant_id)
    .bind(connector_id)
    .bind(field.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(key_id, ciphertext)| Sealed { key_id, ciphertext }))
}

/// A stored secret, with the identifiers that form its associated data.
pub struct SecretRow {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub field: String,
    pub sealed: Sealed,
}

/// Up to `limit` secrets sealed under a key other than `current_key_id`, locked so that
/// concurrent re-encryptions split the work instead of repeating it.
pub async fn lock_secrets_not_under(
    db: &mut PgConnection,
    current_key_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<SecretRow>> {
    let rows: Vec<(Uuid, Uuid, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT tenant_id, connector_id, field, key_id, ciphertext FROM connector_secrets
         WHERE key_id <> $1 ORDER BY connector_id, field LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(current_key_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, connector_id, field, key_id, ciphertext)| SecretRow {
            tenant_id,
            connector_id,
            field,
            sealed: Sealed { key_id, ciphertext },
        })
        .collect())
}
