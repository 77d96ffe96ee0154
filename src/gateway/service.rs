//! Gateways and their tools: create, read, change, delete, each within one tenant.

use sqlx::PgPool;
use uuid::Uuid;

use super::model::{
    Gateway, GatewayFields, GatewayTool, MAX_TOOLS, TOOL_NAME_RULE, ToolChanges, is_tool_name,
};
use super::scopes;
use super::store::{self, NewTool};
use crate::catalog::service as catalog;
use crate::error::{Error, Result, Validator};
use crate::platform::page;

/// Which unique constraint a write broke, if that is why it failed.
fn broken_unique(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    }
}

/// A duplicate slug or alias is the client's conflict, anything else the database's error.
fn conflict_or(err: sqlx::Error) -> Error {
    match broken_unique(&err) {
        Some("gateways_tenant_id_slug_key") => {
            Error::conflict("slug_taken", "another gateway of this tenant has this slug")
        }
        Some("gateway_tools_gateway_id_alias_key") => {
            Error::conflict("alias_taken", "another tool of this gateway has this alias")
        }
        Some("gateway_tools_gateway_id_connector_id_tool_name_key") => {
            Error::conflict("tool_already_added", "this gateway already exposes that tool")
        }
        _ => err.into(),
    }
}

pub async fn create(db: &PgPool, tenant_id: Uuid, fields: &GatewayFields) -> Result<Gateway> {
    fields.validate(true)?;
    store::insert_gateway(db, Uuid::now_v7(), tenant_id, fields).await.map_err(conflict_or)
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<(Vec<Gateway>, Option<Uuid>)> {
    let rows = store::list_gateways(db, tenant_id, after, limit + 1).await?;
    Ok(page::split(rows, limit, |g| g.id))
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Gateway> {
    store::get_gateway(db, tenant_id, id).await?.ok_or(Error::NotFound("gateway"))
}

pub async fn update(db: &PgPool, tenant_id: Uuid, id: Uuid, fields: &GatewayFields) -> Result<Gateway> {
    fields.validate(false)?;
    store::update_gateway(db, tenant_id, id, fields)
        .await
        .map_err(conflict_or)?
        .ok_or(Error::NotFound("gateway"))
}

/// Deletes the gateway with its tools, keys (revoked with it on every replica) and log.
pub async fn delete(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<()> {
    if store::delete_gateway(db, tenant_id, id).await? { Ok(()) } else { Err(Error::NotFound("gateway")) }
}

/// Where tools come from and how they start: a connector, an alias (one tool only), enabled.
#[derive(Debug, Clone)]
pub struct AddTools {
    pub connector_id: Uuid,
    pub alias: Option<String>,
    pub enabled: bool,
}

/// Adds one catalog tool (which must exist) under its alias; returns it.
pub async fn add_tool(db: &PgPool, gateway: &Gateway, add: &AddTools, tool: &str) -> Result<GatewayTool> {
    let alias = add.alias.as_deref().unwrap_or(tool);
    let mut v = Validator::default();
    v.check(is_tool_name(alias), "alias", TOOL_NAME_RULE);
    v.finish()?;
    // The tool must be in the connector's catalog (of this tenant: another's is a 404).
    let detail = catalog::get(db, gateway.tenant_id, add.connector_id, tool).await?;
    let id = Uuid::now_v7();
    let row = NewTool {
        id,
        gateway_id: gateway.id,
        connector_id: add.connector_id,
        tool,
        alias,
        enabled: add.enabled,
        annotation_scope: scopes::by_annotations(detail.summary.annotations.as_ref()),
    };
    let mut tx = locked(db, gateway).await?;
    ensure_room(&mut *tx, gateway.id, 1).await?;
    store::insert_tool(&mut *tx, &row).await.map_err(conflict_or)?;
    tx.commit().await?;
    get_tool(db, gateway, id).await
}

/// What a bulk add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkAdded {
    pub added: u64,
    /// Catalog tools not added because their names are not valid MCP tool names (add them
    /// one by one, with an alias).
    pub invalid_names: Vec<String>,
}

/// Adds every tool of the connector's catalog that the gateway lacks, under their own names
/// where those are valid aliases; skips those whose name is already an alias there.
pub async fn add_all_tools(db: &PgPool, gateway: &Gateway, add: &AddTools) -> Result<BulkAdded> {
    let mut v = Validator::default();
    v.check(add.alias.is_none(), "alias", "an alias names one tool: give `tool` too");
    v.finish()?;
    crate::connectors::service::get(db, gateway.tenant_id, add.connector_id).await?;
    // Added and counted in one transaction: a bulk add that would overfill is undone whole.
    let mut tx = locked(db, gateway).await?;
    let missing = store::tools_not_in_gateway(&mut *tx, gateway.id, add.connector_id).await?;
    let (valid, invalid): (Vec<_>, Vec<_>) = missing.into_iter().partition(|(name, _)| is_tool_name(name));
    let invalid_names = invalid.into_iter().map(|(name, _)| name).collect();
    let valid: Vec<_> = valid
        .into_iter()
        .map(|(name, annotations)| (name, scopes::by_annotations(annotations.as_ref())))
        .collect();
    let added = store::insert_tools(&mut *tx, gateway.id, add.connector_id, &valid, add.enabled).await?;
    ensure_room(&mut *tx, gateway.id, 0).await?;
    tx.commit().await?;
    Ok(BulkAdded { added, invalid_names })
}

/// A transaction holding the gateway's row lock: adds to one gateway run one at a time, so
/// the tool count each checks is still true when it commits (concurrent adds cannot pass
/// [`MAX_TOOLS`] together).
async fn locked(db: &PgPool, gateway: &Gateway) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = db.begin().await?;
    if !store::lock_gateway(&mut *tx, gateway.id).await? {
        return Err(Error::NotFound("gateway"));
    }
    Ok(tx)
}

/// Refuses when the gateway would hold more than [`MAX_TOOLS`] with `more` added.
async fn ensure_room(db: impl sqlx::PgExecutor<'_>, gateway_id: Uuid, more: i64) -> Result<()> {
    let count = store::count_tools(db, gateway_id).await?;
    if count + more > MAX_TOOLS {
        return Err(Error::conflict("too_many_tools", format!("a gateway holds at most {MAX_TOOLS} tools")));
    }
    Ok(())
}

/// A page of the gateway's tools by alias, enabled or not.
pub async fn list_tools(
    db: &PgPool,
    gateway: &Gateway,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<GatewayTool>, Option<String>)> {
    let rows = store::list_tools(db, gateway.id, false, after.as_deref(), limit + 1).await?;
    Ok(page::split(rows, limit, |t| t.alias.clone()))
}

pub async fn get_tool(db: &PgPool, gateway: &Gateway, id: Uuid) -> Result<GatewayTool> {
    store::get_tool(db, gateway.id, id).await?.ok_or(Error::NotFound("gateway tool"))
}

pub async fn update_tool(
    db: &PgPool,
    gateway: &Gateway,
    id: Uuid,
    changes: &ToolChanges,
) -> Result<GatewayTool> {
    changes.validate()?;
    if !store::update_tool(db, gateway.id, id, changes).await.map_err(conflict_or)? {
        return Err(Error::NotFound("gateway tool"));
    }
    get_tool(db, gateway, id).await
}

pub async fn delete_tool(db: &PgPool, gateway: &Gateway, id: Uuid) -> Result<()> {
    if store::delete_tool(db, gateway.id, id).await? { Ok(()) } else { Err(Error::NotFound("gateway tool")) }
}
