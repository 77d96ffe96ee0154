//! The authorization server's tables (migration 0016): registered clients, pending consent
//! requests, grants with their single-use codes, and the hashes of their tokens.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::gateway::scopes::McpScope;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
}

pub async fn insert_client(db: &PgPool, client: &ClientRow, source: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO authz_clients (client_id, client_name, redirect_uris, source) VALUES ($1, $2, $3, $4)",
    )
    .bind(&client.client_id)
    .bind(&client.client_name)
    .bind(&client.redirect_uris)
    .bind(source)
    .execute(db)
    .await?;
    Ok(())
}

/// How many clients `source` registered in the last hour.
pub async fn recent_registrations(db: &PgPool, source: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM authz_clients WHERE source = $1 AND created_at > now() - interval '1 hour'",
    )
    .bind(source)
    .fetch_one(db)
    .await
}

pub async fn get_client(db: &PgPool, client_id: &str) -> sqlx::Result<Option<ClientRow>> {
    sqlx::query_as("SELECT client_id, client_name, redirect_uris FROM authz_clients WHERE client_id = $1")
        .bind(client_id)
        .fetch_optional(db)
        .await
}

/// An authorization request waiting on the consent page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    pub id: Uuid,
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub slug: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    #[sqlx(flatten)]
    pub signed_in: SignedIn,
}

/// Who signed in on the consent page, and what approving would grant; all `None` until then.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct SignedIn {
    pub tenant_id: Option<Uuid>,
    pub gateway_id: Option<Uuid>,
    pub gateway_key_id: Option<Uuid>,
    pub granted: Option<Vec<String>>,
}

macro_rules! pending_columns {
    () => {
        "id, client_id, client_name, redirect_uri, state, code_challenge, resource, slug, scopes, expires_at, \
         tenant_id, gateway_id, gateway_key_id, granted"
    };
}

pub async fn insert_pending(db: &PgPool, p: &Pending, csrf_hash: &[u8]) -> sqlx::Result<()> {
    // Requests nobody finished are dropped as new ones arrive (there is one index on it).
    sqlx::query("DELETE FROM authz_pending WHERE expires_at < now()").execute(db).await?;
    sqlx::query(
        "INSERT INTO authz_pending (id, csrf_hash, client_id, client_name, redirect_uri, state, code_challenge, \
         resource, slug, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(p.id)
    .bind(csrf_hash)
    .bind(&p.client_id)
    .bind(&p.client_name)
    .bind(&p.redirect_uri)
    .bind(&p.state)
    .bind(&p.code_challenge)
    .bind(&p.resource)
    .bind(&p.slug)
    .bind(&p.scopes)
    .bind(p.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Spends the form token `csrf_hash` of a live request and gives the request a new one;
/// `signed_in` records who signed in, if anyone did.
pub async fn rotate_pending(
    db: &PgPool,
    csrf_hash: &[u8],
    new_hash: &[u8],
    signed_in: Option<&SignedIn>,
) -> sqlx::Result<Option<Pending>> {
    let s = signed_in.cloned().unwrap_or_default();
    sqlx::query_as(concat!(
        "UPDATE authz_pending SET csrf_hash = $2, tenant_id = coalesce($3, tenant_id), \
           gateway_id = coalesce($4, gateway_id), gateway_key_id = coalesce($5, gateway_key_id), \
           granted = coalesce($6, granted) \
         WHERE csrf_hash = $1 AND expires_at > now() RETURNING ",
        pending_columns!()
    ))
    .bind(csrf_hash)
    .bind(new_hash)
    .bind(s.tenant_id)
    .bind(s.gateway_id)
    .bind(s.gateway_key_id)
    .bind(s.granted)
    .fetch_optional(db)
    .await
}

pub async fn find_pending(db: &PgPool, csrf_hash: &[u8]) -> sqlx::Result<Option<Pending>> {
    sqlx::query_as(concat!(
        "SELECT ",
        pending_columns!(),
        " FROM authz_pending WHERE csrf_hash = $1 AND expires_at > now()"
    ))
    .bind(csrf_hash)
    .fetch_optional(db)
    .await
}

/// Ends a live request (its decision was made), returning it.
pub async fn take_pending(db: &PgPool, csrf_hash: &[u8]) -> sqlx::Result<Option<Pending>> {
    sqlx::query_as(concat!(
        "DELETE FROM authz_pending WHERE csrf_hash = $1 AND expires_at > now() RETURNING ",
        pending_columns!()
    ))
    .bind(csrf_hash)
    .fetch_optional(db)
    .await
}

/// A grant as the token endpoint needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub gateway_id: Uuid,
    pub gateway_key_id: Uuid,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub code_expires_at: DateTime<Utc>,
}

macro_rules! grant_columns {
    () => {
        "g.id, g.tenant_id, g.gateway_id, g.gateway_key_id, g.client_id, g.redirect_uri, g.resource, g.scopes, \
         g.code_challenge, g.code_expires_at"
    };
}

pub struct NewGrant<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub gateway_id: Uuid,
    pub gateway_key_id: Uuid,
    pub scopes: &'a [String],
    pub pending: &'a Pending,
    pub code_hash: &'a [u8],
    pub code_expires_at: DateTime<Utc>,
}

pub async fn insert_grant(db: &PgPool, g: &NewGrant<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO authz_grants (id, tenant_id, gateway_id, gateway_key_id, client_id, client_name, redirect_uri, \
         resource, scopes, code_hash, code_challenge, code_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(g.id)
    .bind(g.tenant_id)
    .bind(g.gateway_id)
    .bind(g.gateway_key_id)
    .bind(&g.pending.client_id)
    .bind(&g.pending.client_name)
    .bind(&g.pending.redirect_uri)
    .bind(&g.pending.resource)
    .bind(g.scopes)
    .bind(g.code_hash)
    .bind(&g.pending.code_challenge)
    .bind(g.code_expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// What presenting an authorization code found.
pub enum CodeUse {
    /// First use, of a live grant whose key is still active.
    First(Grant),
    /// Used before (or its grant or key is gone): the grant is now revoked.
    Again,
    Unknown,
}

/// Marks the code used; a second use revokes its grant and so every token issued from it.
pub async fn use_code(db: &PgPool, code_hash: &[u8]) -> sqlx::Result<CodeUse> {
    let first: Option<Grant> = sqlx::query_as(concat!(
        "UPDATE authz_grants g SET code_used_at = now() FROM gateway_keys k \
         WHERE g.code_hash = $1 AND g.code_used_at IS NULL AND g.revoked_at IS NULL \
           AND k.id = g.gateway_key_id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) \
         RETURNING ", grant_columns!()
    ))
    .bind(code_hash)
    .fetch_optional(db)
    .await?;
    if let Some(grant) = first {
        return Ok(CodeUse::First(grant));
    }
    let again =
        sqlx::query("UPDATE authz_grants SET revoked_at = coalesce(revoked_at, now()) WHERE code_hash = $1")
            .bind(code_hash)
            .execute(db)
            .await?;
    Ok(if again.rows_affected() > 0 { CodeUse::Again } else { CodeUse::Unknown })
}

/// Token kinds as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        }
    }
}

/// A token to store: `scopes` is `None` for the grant's own (decision 0063, migration 0023).
pub struct NewToken<'a> {
    pub grant_id: Uuid,
    pub kind: Kind,
    pub hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
    pub scopes: Option<&'a [String]>,
}

pub async fn insert_token(db: &PgPool, t: &NewToken<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO authz_tokens (token_hash, grant_id, kind, expires_at, scopes) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.hash)
    .bind(t.grant_id)
    .bind(t.kind.as_str())
    .bind(t.expires_at)
    .bind(t.scopes)
    .execute(db)
    .await?;
    Ok(())
}

/// The scopes of the grant of a live, unspent refresh token: checking a narrowed `scope`
/// before spending the token leaves it usable when the request is refused.
pub async fn refresh_scopes(db: &PgPool, hash: &[u8]) -> sqlx::Result<Option<Vec<String>>> {
    sqlx::query_scalar(
        "SELECT g.scopes FROM authz_tokens t JOIN authz_grants g ON g.id = t.grant_id \
         WHERE t.token_hash = $1 AND t.kind = 'refresh' AND t.used_at IS NULL AND t.expires_at > now() \
           AND g.revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Spends a refresh token (rotation). A used one presented again revokes its grant.
pub async fn use_refresh(db: &PgPool, hash: &[u8]) -> sqlx::Result<CodeUse> {
    let first: Option<Grant> = sqlx::query_as(concat!(
        "WITH spent AS ( \
           UPDATE authz_tokens SET used_at = now() \
           WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL AND expires_at > now() \
           RETURNING grant_id) \
         SELECT ", grant_columns!(), " FROM spent JOIN authz_grants g ON g.id = spent.grant_id \
           JOIN gateway_keys k ON k.id = g.gateway_key_id \
         WHERE g.revoked_at IS NULL AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())"
    ))
    .bind(hash)
    .fetch_optional(db)
    .await?;
    if let Some(grant) = first {
        return Ok(CodeUse::First(grant));
    }
    let again = sqlx::query(
        "UPDATE authz_grants SET revoked_at = coalesce(revoked_at, now()) WHERE id = \
         (SELECT grant_id FROM authz_tokens WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NOT NULL)",
    )
    .bind(hash)
    .execute(db)
    .await?;
    Ok(if again.rows_affected() > 0 { CodeUse::Again } else { CodeUse::Unknown })
}

/// What a live access token opens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Access {
    pub grant_id: Uuid,
    pub tenant_id: Uuid,
    pub gateway_id: Uuid,
    pub gateway_key_id: Uuid,
    pub scopes: Vec<String>,
}

/// The access token `hash` names, if it is unexpired and its grant and key are live; its
/// scopes are its own when a refresh narrowed them.
pub async fn find_access(db: &PgPool, hash: &[u8]) -> sqlx::Result<Option<Access>> {
    sqlx::query_as(
        "SELECT g.id AS grant_id, g.tenant_id, g.gateway_id, g.gateway_key_id, coalesce(t.scopes, g.scopes) AS scopes \
         FROM authz_tokens t JOIN authz_grants g ON g.id = t.grant_id JOIN gateway_keys k ON k.id = g.gateway_key_id \
         WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > now() AND g.revoked_at IS NULL \
           AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Revokes the grant of the token `hash`, if `client_id` is the client it was issued to.
pub async fn revoke_by_token(db: &PgPool, hash: &[u8], client_id: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE authz_grants g SET revoked_at = now() FROM authz_tokens t \
         WHERE t.token_hash = $1 AND g.id = t.grant_id AND g.revoked_at IS NULL \
           AND ($2::text IS NULL OR g.client_id = $2)",
    )
    .bind(hash)
    .bind(client_id)
    .execute(db)
    .await?;
    Ok(())
}

/// A grant as the REST API lists it: never a token or code.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct GrantView {
    pub id: Uuid,
    pub gateway_id: Uuid,
    /// The gateway key that signed in on the consent page; revoking it ends the grant.
    pub gateway_key_id: Uuid,
    /// The OAuth client: a registered id, or the URL of its metadata document.
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uri: String,
    #[schema(value_type = Vec<McpScope>)]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// When its latest access token expires (none issued yet: null).
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// A gateway's live grants (not revoked, key active), newest first.
pub async fn list_grants(db: &PgPool, gateway_id: Uuid) -> sqlx::Result<Vec<GrantView>> {
    sqlx::query_as(
        "SELECT g.id, g.gateway_id, g.gateway_key_id, g.client_id, g.client_name, g.redirect_uri, g.scopes, \
                g.created_at, \
                (SELECT max(t.expires_at) FROM authz_tokens t WHERE t.grant_id = g.id AND t.kind = 'access') \
                  AS access_expires_at \
         FROM authz_grants g JOIN gateway_keys k ON k.id = g.gateway_key_id \
         WHERE g.gateway_id = $1 AND g.revoked_at IS NULL AND k.revoked_at IS NULL \
         ORDER BY g.id DESC LIMIT 1000",
    )
    .bind(gateway_id)
    .fetch_all(db)
    .await
}

pub async fn revoke_grant(db: &PgPool, gateway_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE authz_grants SET revoked_at = now() WHERE gateway_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(gateway_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes up to `batch` tokens expired more than `grace_days` ago (spent refresh tokens are
/// kept until then, to catch replays); returns how many.
pub async fn purge_tokens(db: &PgPool, grace_days: i32, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM authz_tokens WHERE token_hash IN (
             SELECT token_hash FROM authz_tokens WHERE expires_at < now() - make_interval(days => $1) LIMIT $2)",
    )
    .bind(grace_days)
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes up to `batch` finished grants, and with them their tokens: revoked more than
/// `grace_days` ago, a code never exchanged and expired that long, or a code used that long
/// ago whose tokens have all been purged. Returns how many.
pub async fn purge_grants(db: &PgPool, grace_days: i32, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM authz_grants WHERE id IN (
             SELECT g.id FROM authz_grants g, LATERAL (SELECT now() - make_interval(days => $1) AS cutoff) c
             WHERE g.revoked_at < c.cutoff
                OR (g.code_used_at IS NULL AND g.code_expires_at < c.cutoff)
                OR (g.code_used_at < c.cutoff AND NOT EXISTS (SELECT 1 FROM authz_tokens t WHERE t.grant_id = g.id))
             LIMIT $2)",
    )
    .bind(grace_days)
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
