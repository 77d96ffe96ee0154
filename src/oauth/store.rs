//! SQL for pending authorizations (`oauth_states`) and registered clients (`oauth_clients`).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::model::{OAuthGrant, TokenEndpointAuthMethod};
use crate::oauth::registration::{auth_method_name, parse_auth_method};
use crate::platform::crypto::Sealed;

/// Associated data of a registered client's sealed secret: bound to tenant and issuer.
pub fn client_secret_aad(tenant_id: Uuid, issuer: &str) -> Vec<u8> {
    format!("switchboard/v1/{tenant_id}/oauth_client/{issuer}/client_secret").into_bytes()
}

/// Associated data of a pending authorization's sealed PKCE verifier.
pub fn verifier_aad(tenant_id: Uuid, state_hash: &[u8]) -> Vec<u8> {
    let hex: String = state_hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("switchboard/v1/{tenant_id}/oauth_state/{hex}/verifier").into_bytes()
}

/// A pending authorization, keyed by the SHA-256 of its `state`.
#[derive(Debug)]
pub struct StateRecord {
    pub state_hash: Vec<u8>,
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub grant: OAuthGrant,
    pub redirect_url: Option<String>,
    pub verifier: Sealed,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    state_hash: Vec<u8>,
    tenant_id: Uuid,
    connector_id: Uuid,
    grant_params: serde_json::Value,
    redirect_url: Option<String>,
    verifier_key_id: String,
    verifier_ciphertext: Vec<u8>,
    expires_at: DateTime<Utc>,
}

impl TryFrom<StateRow> for StateRecord {
    type Error = anyhow::Error;
    fn try_from(r: StateRow) -> anyhow::Result<Self> {
        Ok(StateRecord {
            state_hash: r.state_hash,
            tenant_id: r.tenant_id,
            connector_id: r.connector_id,
            grant: serde_json::from_value(r.grant_params).context("state grant parameters")?,
            redirect_url: r.redirect_url,
            verifier: Sealed { key_id: r.verifier_key_id, ciphertext: r.verifier_ciphertext },
            expires_at: r.expires_at,
        })
    }
}

pub async fn insert_state(db: &mut PgConnection, s: &StateRecord) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, tenant_id, connector_id, grant_params, redirect_url,
                                   verifier_key_id, verifier_ciphertext, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.state_hash)
    .bind(s.tenant_id)
    .bind(s.connector_id)
    .bind(serde_json::to_value(&s.grant)?)
    .bind(&s.redirect_url)
    .bind(&s.verifier.key_id)
    .bind(&s.verifier.ciphertext)
    .bind(s.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find_state(db: impl PgExecutor<'_>, hash: &[u8]) -> anyhow::Result<Option<StateRecord>> {
    let row: Option<StateRow> = sqlx::query_as("SELECT * FROM oauth_states WHERE state_hash = $1")
        .bind(hash)
        .fetch_optional(db)
        .await?;
    row.map(StateRecord::try_from).transpose()
}

/// Consumes a state: only one caller ever gets the record.
pub async fn take_state(db: &mut PgConnection, hash: &[u8]) -> anyhow::Result<Option<StateRecord>> {
    let row: Option<StateRow> = sqlx::query_as("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING *")
        .bind(hash)
        .fetch_optional(db)
        .await?;
    row.map(StateRecord::try_from).transpose()
}

/// A new connect replaces any authorization still pending for the connector.
pub async fn delete_states_of(db: &mut PgConnection, connector_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oauth_states WHERE connector_id = $1").bind(connector_id).execute(db).await?;
    Ok(())
}

/// Deletes the pending authorizations of `connector_ids` and every expired one.
pub async fn delete_states_of_or_expired(db: &mut PgConnection, connector_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oauth_states WHERE connector_id = ANY($1) OR expires_at < now()")
        .bind(connector_ids)
        .execute(db)
        .await?;
    Ok(())
}

/// A client registered at an authorization server for a tenant.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub issuer: String,
    pub redirect_uri: String,
    pub client_id: String,
    pub method: TokenEndpointAuthMethod,
    pub secret: Option<Sealed>,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: Uuid,
    tenant_id: Uuid,
    issuer: String,
    redirect_uri: String,
    client_id: String,
    token_endpoint_auth_method: String,
    secret_key_id: Option<String>,
    secret_ciphertext: Option<Vec<u8>>,
    client_secret_expires_at: Option<DateTime<Utc>>,
}

impl TryFrom<ClientRow> for RegisteredClient {
    type Error = anyhow::Error;
    fn try_from(r: ClientRow) -> anyhow::Result<Self> {
        Ok(RegisteredClient {
            id: r.id,
            tenant_id: r.tenant_id,
            issuer: r.issuer,
            redirect_uri: r.redirect_uri,
            client_id: r.client_id,
            method: parse_auth_method(&r.token_endpoint_auth_method)
                .context("stored token endpoint auth method")?,
            secret: match (r.secret_key_id, r.secret_ciphertext) {
                (Some(key_id), Some(ciphertext)) => Some(Sealed { key_id, ciphertext }),
                _ => None,
            },
            client_secret_expires_at: r.client_secret_expires_at,
        })
    }
}

pub async fn find_client(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    issuer: &str,
) -> anyhow::Result<Option<RegisteredClient>> {
    let row: Option<ClientRow> =
        sqlx::query_as("SELECT * FROM oauth_clients WHERE tenant_id = $1 AND issuer = $2")
            .bind(tenant_id)
            .bind(issuer)
            .fetch_optional(db)
            .await?;
    row.map(RegisteredClient::try_from).transpose()
}

pub async fn get_client(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> anyhow::Result<Option<RegisteredClient>> {
    let row: Option<ClientRow> =
        sqlx::query_as("SELECT * FROM oauth_clients WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(RegisteredClient::try_from).transpose()
}

/// Stores a registration, replacing an older one for the same tenant and issuer. The row
/// keeps its id, so grants that reference it follow the new credentials.
pub async fn upsert_client(db: impl PgExecutor<'_>, c: &RegisteredClient) -> anyhow::Result<Uuid> {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO oauth_clients (id, tenant_id, issuer, redirect_uri, client_id, token_endpoint_auth_method,
                                    secret_key_id, secret_ciphertext, client_secret_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, issuer) DO UPDATE SET
            redirect_uri = EXCLUDED.redirect_uri, client_id = EXCLUDED.client_id,
            token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
            secret_key_id = EXCLUDED.secret_key_id, secret_ciphertext = EXCLUDED.secret_ciphertext,
            client_secret_expires_at = EXCLUDED.client_secret_expires_at, created_at = now()
         RETURNING id",
    )
    .bind(c.id)
    .bind(c.tenant_id)
    .bind(&c.issuer)
    .bind(&c.redirect_uri)
    .bind(&c.client_id)
    .bind(auth_method_name(c.method))
    .bind(c.secret.as_ref().map(|s| s.key_id.as_str()))
    .bind(c.secret.as_ref().map(|s| s.ciphertext.as_slice()))
    .bind(c.client_secret_expires_at)
    .fetch_one(db)
    .await?;
    Ok(id)
}

pub async fn delete_client(db: impl PgExecutor<'_>, tenant_id: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oauth_clients WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Every key id that sealed a registered client's secret or a pending PKCE verifier.
pub async fn key_ids(db: &sqlx::PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT secret_key_id FROM oauth_clients WHERE secret_key_id IS NOT NULL
         UNION SELECT verifier_key_id FROM oauth_states",
    )
    .fetch_all(db)
    .await
}

/// Registered-client secrets sealed under a key other than `current_key_id`, locked.
pub async fn lock_client_secrets_not_under(
    db: &mut PgConnection,
    current_key_id: &str,
    limit: i64,
) -> anyhow::Result<Vec<RegisteredClient>> {
    let rows: Vec<ClientRow> = sqlx::query_as(
        "SELECT * FROM oauth_clients WHERE secret_key_id <> $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(current_key_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(RegisteredClient::try_from).collect()
}

pub async fn set_client_secret(db: &mut PgConnection, id: Uuid, sealed: &Sealed) -> sqlx::Result<()> {
    sqlx::query("UPDATE oauth_clients SET secret_key_id = $2, secret_ciphertext = $3 WHERE id = $1")
        .bind(id)
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .execute(db)
        .await?;
    Ok(())
}

/// Pending authorizations whose verifier is sealed under an old key, locked.
pub async fn lock_states_not_under(
    db: &mut PgConnection,
    current_key_id: &str,
    limit: i64,
) -> anyhow::Result<Vec<StateRecord>> {
    let rows: Vec<StateRow> = sqlx::query_as(
        "SELECT * FROM oauth_states WHERE verifier_key_id <> $1 ORDER BY state_hash LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(current_key_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(StateRecord::try_from).collect()
}

pub async fn set_state_verifier(
    db: &mut PgConnection,
    state_hash: &[u8],
    sealed: &Sealed,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE oauth_states SET verifier_key_id = $2, verifier_ciphertext = $3 WHERE state_hash = $1",
    )
    .bind(state_hash)
    .bind(&sealed.key_id)
    .bind(&sealed.ciphertext)
    .execute(db)
    .await?;
    Ok(())
}
