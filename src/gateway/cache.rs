//! This replica's copy of what a gateway's MCP endpoint reads on every request: the gateway's
//! row (by id, and by tenant and slug), its tools by alias (what a `tools/call` needs), and
//! the tools it exposes (what a `tools/list` needs), kept true by the invalidation hub
//! ([`crate::platform::cache`], decision 0068). Each read takes its ticket first, so a value
//! read before a change is never stored after that change was announced.
//!
//! What changes them, and how each replica hears of it:
//! - the gateway's row: `gateway:<id>` (migration 0025), and its deletion;
//! - its tools: `gateway_tools:<gateway id>` (migration 0015);
//! - the catalog of a connector it draws from: `connector_tools:<connector id>` (0015), and
//!   the connector itself, `connector:<id>` (0005: a sync marks the connector, whose commit
//!   this replica forgets at once; its deletion takes the gateway's tools with it).
//!
//! Keys are not here: they have their own cache ([`super::keys`]), so a revocation is as
//! quick as it was.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use super::changes::{CONNECTOR_TOOLS, GATEWAY_TOOLS};
use super::model::{Gateway, GatewayTool, MAX_TOOLS};
use super::store;
use crate::error::{Error, Result};
use crate::platform::cache::{Cache, Invalidate, Invalidation};

/// The kind gateways are announced under (the trigger of migration 0025).
pub const NOTIFY_KIND: &str = "gateway";

/// A gateway's tools as its MCP clients may see them (before the caller's scopes).
pub struct ToolList {
    /// The enabled tools the catalog still lists, by alias.
    pub exposed: Vec<GatewayTool>,
    /// Every connector the gateway draws a tool from, listed or not: a catalog change of any
    /// of them may change what is exposed.
    connectors: HashSet<Uuid>,
}

/// Gateways, their tools by alias and their tool lists, each dropped by what may change it.
pub struct GatewayCache {
    gateways: Cache<Uuid, Arc<Gateway>>,
    slugs: Cache<(Uuid, String), Uuid>,
    aliases: Cache<(Uuid, String), Arc<GatewayTool>>,
    lists: Cache<Uuid, Arc<ToolList>>,
}

/// Forwards the hub's notices of one kind to the cache's matching forget.
struct Forget(Arc<GatewayCache>, fn(&GatewayCache, Uuid));

impl Invalidate for Forget {
    fn forget(&self, id: Uuid) {
        (self.1)(&self.0, id);
    }

    fn clear(&self) {
        self.0.clear();
    }
}

impl GatewayCache {
    pub fn new(hub: &Invalidation) -> Arc<Self> {
        let cache = Arc::new(Self {
            gateways: Cache::new(hub.liveness()),
            slugs: Cache::new(hub.liveness()),
            aliases: Cache::new(hub.liveness()),
            lists: Cache::new(hub.liveness()),
        });
        let forget = |f: fn(&GatewayCache, Uuid)| Arc::new(Forget(cache.clone(), f));
        hub.register(NOTIFY_KIND, forget(Self::forget_gateway));
        hub.register(GATEWAY_TOOLS, forget(Self::forget_tools));
        hub.register(CONNECTOR_TOOLS, forget(Self::forget_connector));
        hub.register(crate::connectors::NOTIFY_KIND, forget(Self::forget_connector));
        cache
    }

    /// The gateway changed or went (its tools go with it).
    pub fn forget_gateway(&self, id: Uuid) {
        self.gateways.remove(&id);
        self.slugs.retain(|_, gateway_id| *gateway_id != id);
        self.forget_tools(id);
    }

    /// A tool of the gateway was added, changed or removed.
    pub fn forget_tools(&self, gateway_id: Uuid) {
        self.lists.remove(&gateway_id);
        self.aliases.retain(|(gateway, _), _| *gateway != gateway_id);
    }

    /// The connector, or its catalog, changed: every gateway drawing from it may show it.
    fn forget_connector(&self, connector_id: Uuid) {
        self.lists.retain(|_, list| !list.connectors.contains(&connector_id));
        self.aliases.retain(|_, tool| tool.connector_id != connector_id);
    }

    fn clear(&self) {
        self.gateways.clear();
        self.slugs.clear();
        self.aliases.clear();
        self.lists.clear();
    }
}

/// The gateway `id` of `tenant_id` (another tenant's: not found).
pub async fn gateway(cache: &GatewayCache, db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Arc<Gateway>> {
    let load = || async {
        let gateway = store::get_gateway(db, tenant_id, id).await?.ok_or(Error::NotFound("gateway"))?;
        Ok::<_, Error>(Arc::new(gateway))
    };
    let gateway = cache.gateways.get_or_load(id, load).await?;
    // Cached for whichever tenant asked first: another tenant's is as missing as none.
    if gateway.tenant_id == tenant_id { Ok(gateway) } else { Err(Error::NotFound("gateway")) }
}

/// The gateway of `tenant_id` whose slug is `slug`.
pub async fn by_slug(cache: &GatewayCache, db: &PgPool, tenant_id: Uuid, slug: &str) -> Result<Arc<Gateway>> {
    let key = (tenant_id, slug.to_owned());
    let cached = cache.slugs.get(&key).and_then(|id| cache.gateways.get(&id));
    // A renamed gateway's old slug is dropped with it; checked all the same.
    if let Some(gateway) = cached.filter(|g| g.slug == slug && g.tenant_id == tenant_id) {
        return Ok(gateway);
    }
    let tickets = (cache.slugs.ticket(), cache.gateways.ticket());
    let found = store::gateway_by_slug(db, tenant_id, slug).await?.ok_or(Error::NotFound("gateway"))?;
    let gateway = Arc::new(found);
    cache.slugs.put(tickets.0, key, gateway.id);
    cache.gateways.put(tickets.1, gateway.id, gateway.clone());
    Ok(gateway)
}

/// The gateway's tool named `alias`, enabled or not (`None`: no such alias).
pub async fn tool(
    cache: &GatewayCache,
    db: &PgPool,
    gateway_id: Uuid,
    alias: &str,
) -> Result<Option<Arc<GatewayTool>>> {
    let key = (gateway_id, alias.to_owned());
    if let Some(tool) = cache.aliases.get(&key) {
        return Ok(Some(tool));
    }
    let ticket = cache.aliases.ticket();
    // An unknown alias is not kept: adding it announces nothing this cache would need.
    let Some(tool) = store::tool_by_alias(db, gateway_id, alias).await? else { return Ok(None) };
    let tool = Arc::new(tool);
    cache.aliases.put(ticket, key, tool.clone());
    Ok(Some(tool))
}

/// The gateway's exposed tools (enabled and listed by the catalog), by alias.
pub async fn tool_list(cache: &GatewayCache, db: &PgPool, gateway_id: Uuid) -> Result<Arc<ToolList>> {
    let load = || async {
        // All of its tools, not just the exposed ones: the connectors of those the catalog
        // does not list (yet) are the ones a sync may bring back.
        let all = store::list_tools(db, gateway_id, false, None, MAX_TOOLS).await?;
        let connectors = all.iter().map(|t| t.connector_id).collect();
        let exposed = all.into_iter().filter(|t| t.enabled && t.input_schema.is_some()).collect();
        Ok::<_, Error>(Arc::new(ToolList { exposed, connectors }))
    };
    cache.lists.get_or_load(gateway_id, load).await
}
