//! Creating tenants and issuing API keys; shared by the CLI and the admin API.

use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, NewApiKeyRow};
use super::{ApiKey, Scope, Tenant};
use crate::crypto::generate_api_key;
use crate::error::{ApiError, ApiResult, Validator};

/// A key just created: the secret is here once and nowhere else afterwards.
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

const MAX_NAME_LEN: usize = 200;

fn validate_name(v: &mut Validator, field: &str, name: &str) {
    v.check(!name.trim().is_empty(), field, "must not be empty");
    v.check(name.chars().count() <= MAX_NAME_LEN, field, format!("at most {MAX_NAME_LEN} characters"));
}

/// Creates a tenant and its first key, which carries every scope.
pub async fn create_tenant(db: &PgPool, name: &str) -> ApiResult<(Tenant, IssuedApiKey)> {
    let mut v = Validator::default();
    validate_name(&mut v, "name", name);
    v.finish()?;
    let mut tx = db.begin().await?;
    let tenant = store::insert_tenant(&mut *tx, Uuid::now_v7(), name.trim()).await?;
    let issued = issue_key(&mut tx, tenant.id, &Scope::ALL, Some("initial")).await?;
    tx.commit().await?;
    Ok((tenant, issued))
}

pub async fn create_api_key(
    db: &PgPool,
    tenant_id: Uuid,
    scopes: &[Scope],
    name: Option<&str>,
) -> ApiResult<IssuedApiKey> {
    let mut v = Validator::default();
    v.check(!scopes.is_empty(), "scopes", "give at least one of read, write, proxy, admin");
    if let Some(name) = name {
        validate_name(&mut v, "name", name);
    }
    v.finish()?;
    if store::get_tenant(db, tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let mut tx = db.begin().await?;
    let issued = issue_key(&mut tx, tenant_id, scopes, name).await?;
    tx.commit().await?;
    Ok(issued)
}

async fn issue_key(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    scopes: &[Scope],
    name: Option<&str>,
) -> ApiResult<IssuedApiKey> {
    let mut unique: Vec<Scope> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if !unique.contains(scope) {
            unique.push(*scope);
        }
    }
    let minted = generate_api_key();
    let row = NewApiKeyRow {
        id: Uuid::now_v7(),
        tenant_id,
        name: name.map(str::trim),
        prefix: &minted.prefix,
        hash: &minted.hash,
        scopes: &unique,
    };
    let key = store::insert_api_key(tx, row).await?;
    Ok(IssuedApiKey { key, secret: minted.secret })
}

pub async fn get_tenant(db: &PgPool, id: Uuid) -> ApiResult<Tenant> {
    store::get_tenant(db, id).await?.ok_or(ApiError::NotFound("tenant"))
}

/// Changes a tenant's settings: the redirect allow-list (each entry an http(s) origin)
/// and whether tool call payloads are logged. `None` keeps a setting as it is.
pub async fn update_tenant(
    db: &PgPool,
    id: Uuid,
    redirect_allowlist: Option<&[String]>,
    log_tool_payloads: Option<bool>,
) -> ApiResult<Tenant> {
    let mut v = Validator::default();
    let mut origins = Vec::new();
    for (i, entry) in redirect_allowlist.unwrap_or_default().iter().enumerate() {
        match crate::config::parse_origin(entry) {
            Ok(origin) => origins.push(origin),
            Err(e) => v.push(format!("redirect_allowlist[{i}]"), e.to_string()),
        }
    }
    v.check(redirect_allowlist.map_or(0, <[String]>::len) <= 50, "redirect_allowlist", "at most 50 origins");
    v.finish()?;
    let origins = redirect_allowlist.map(|_| origins.as_slice());
    store::update_tenant(db, id, origins, log_tool_payloads).await?.ok_or(ApiError::NotFound("tenant"))
}

pub async fn list_tenants(db: &PgPool, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Tenant>> {
    Ok(store::list_tenants(db, after, limit).await?)
}

pub async fn list_api_keys(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<ApiKey>> {
    Ok(store::list_api_keys(db, tenant_id).await?)
}

/// Revokes a key. With `tenant_id`, only that tenant's keys are reachable (others are 404).
pub async fn revoke_api_key(db: &PgPool, id: Uuid, tenant_id: Option<Uuid>) -> ApiResult<()> {
    if store::revoke_api_key(db, id, tenant_id).await? { Ok(()) } else { Err(ApiError::NotFound("api key")) }
}

pub(super) async fn find_active_key(db: &PgPool, hash: &[u8]) -> ApiResult<Option<ApiKey>> {
    Ok(store::find_active_key(db, hash).await?)
}
