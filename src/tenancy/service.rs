//! Creating tenants and issuing API keys; shared by the CLI and the admin API.

use std::sync::Arc;

use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, NewApiKeyRow};
use super::{ApiKey, LimitOverrides, Scope, Tenant};
use crate::error::{Error, Result, Validator};
use crate::platform::cache::{Cache, Invalidation};
use crate::platform::crypto::generate_api_key;

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
pub async fn create_tenant(db: &PgPool, name: &str) -> Result<(Tenant, IssuedApiKey)> {
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
) -> Result<IssuedApiKey> {
    let mut v = Validator::default();
    v.check(!scopes.is_empty(), "scopes", "give at least one of read, write, proxy, admin");
    if let Some(name) = name {
        validate_name(&mut v, "name", name);
    }
    v.finish()?;
    if store::get_tenant(db, tenant_id).await?.is_none() {
        return Err(Error::NotFound("tenant"));
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
) -> Result<IssuedApiKey> {
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

pub async fn get_tenant(db: &PgPool, id: Uuid) -> Result<Tenant> {
    store::get_tenant(db, id).await?.ok_or(Error::NotFound("tenant"))
}

/// A change to a tenant's settings; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct TenantChanges<'a> {
    /// Origins a `redirect_url` may point to; each must be an http(s) origin.
    pub redirect_allowlist: Option<&'a [String]>,
    /// Rate-limit overrides (`None` fields go back to the defaults).
    pub limits: Option<&'a LimitOverrides>,
    /// Whether direct tool calls keep their arguments and results in the log.
    pub log_tool_payloads: Option<bool>,
}

/// Validates every change, then applies them together in one transaction.
pub async fn update_tenant(db: &PgPool, id: Uuid, changes: TenantChanges<'_>) -> Result<Tenant> {
    let origins = changes.redirect_allowlist.map(allowlist_origins).transpose()?;
    if let Some(limits) = changes.limits {
        validate_limits(limits)?;
    }
    let unknown = || Error::NotFound("tenant");
    let mut tx = db.begin().await?;
    let mut tenant = store::get_tenant(&mut *tx, id).await?.ok_or_else(unknown)?;
    if let Some(origins) = &origins {
        tenant = store::set_redirect_allowlist(&mut *tx, id, origins).await?.ok_or_else(unknown)?;
    }
    if let Some(limits) = changes.limits {
        tenant = store::set_limits(&mut *tx, id, limits).await?.ok_or_else(unknown)?;
    }
    if let Some(on) = changes.log_tool_payloads {
        tenant = store::set_log_tool_payloads(&mut *tx, id, on).await?.ok_or_else(unknown)?;
    }
    tx.commit().await?;
    Ok(tenant)
}

fn allowlist_origins(entries: &[String]) -> Result<Vec<String>> {
    let mut v = Validator::default();
    let mut origins = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match super::parse_origin(entry) {
            Ok(origin) => origins.push(origin),
            Err(e) => v.push(format!("redirect_allowlist[{i}]"), e.to_string()),
        }
    }
    v.check(entries.len() <= 50, "redirect_allowlist", "at most 50 origins");
    v.finish()?;
    Ok(origins)
}

/// Largest value a limit override may take.
const MAX_LIMIT: i32 = 1_000_000;

/// Each override is unset or between 0 (unlimited) and [`MAX_LIMIT`].
fn validate_limits(limits: &LimitOverrides) -> Result<()> {
    let mut v = Validator::default();
    let fields = [
        ("api_rps", limits.api_rps),
        ("api_burst", limits.api_burst),
        ("proxy_rps", limits.proxy_rps),
        ("proxy_burst", limits.proxy_burst),
        ("proxy_streams", limits.proxy_streams),
    ];
    for (name, value) in fields {
        let ok = value.is_none_or(|n| (0..=MAX_LIMIT).contains(&n));
        v.check(ok, format!("limits.{name}"), format!("must be between 0 (unlimited) and {MAX_LIMIT}"));
    }
    v.finish()
}

/// Whether the tenant's tool calls keep their arguments and results in the log, from the
/// cache when it is there.
pub async fn logs_tool_payloads(db: &PgPool, cache: &PayloadLogging, tenant_id: Uuid) -> Result<bool> {
    cache.get_or_load(tenant_id, || async { Ok(store::logs_tool_payloads(db, tenant_id).await?) }).await
}

/// Whether each tenant logs tool payloads, in process: read on every tool call, dropped on
/// any change to the tenant (migration 0024 announces them).
pub type PayloadLogging = Cache<Uuid, bool>;

pub fn payload_logging(hub: &Invalidation) -> Arc<PayloadLogging> {
    let cache = Arc::new(Cache::new(hub.liveness()));
    hub.register(super::TENANT_NOTIFY_KIND, cache.clone());
    cache
}

/// A tenant's limit overrides (none for an unknown tenant).
pub async fn limit_overrides(db: &PgPool, id: Uuid) -> Result<LimitOverrides> {
    Ok(store::limit_overrides(db, id).await?.unwrap_or_default())
}

pub async fn list_tenants(db: &PgPool, after: Option<Uuid>, limit: i64) -> Result<Vec<Tenant>> {
    Ok(store::list_tenants(db, after, limit).await?)
}

pub async fn list_api_keys(db: &PgPool, tenant_id: Uuid) -> Result<Vec<ApiKey>> {
    Ok(store::list_api_keys(db, tenant_id).await?)
}

/// Revokes a key. With `tenant_id`, only that tenant's keys are reachable (others are 404).
pub async fn revoke_api_key(db: &PgPool, id: Uuid, tenant_id: Option<Uuid>) -> Result<()> {
    if store::revoke_api_key(db, id, tenant_id).await? { Ok(()) } else { Err(Error::NotFound("api key")) }
}

pub(super) async fn find_active_key(db: &PgPool, hash: &[u8]) -> Result<Option<ApiKey>> {
    Ok(store::find_active_key(db, hash).await?)
}
