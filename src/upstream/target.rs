//! Where a connector's requests go and with which credential. Targets are cached in process
//! ([`crate::platform::cache`]), so a request with a warm cache reads nothing from the
//! database; any change to the connector or its secrets drops its target.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

use super::Context;
use super::rest::RestTarget;
use crate::connectors::{Connector, SecretField, Status, credential, service};
use crate::error::{Error, Result};
use crate::mcp::Transport;
use crate::platform::cache::{Cache, Invalidation};

/// Targets by connector id, told by the hub of every change to a connector.
pub type TargetCache = Cache<Uuid, Arc<Target>>;

pub fn target_cache(hub: &Invalidation) -> Arc<TargetCache> {
    let cache = Arc::new(Cache::new(hub.liveness()));
    hub.register(crate::connectors::NOTIFY_KIND, cache.clone());
    cache
}

/// A connector as the upstream path needs it: where, how, and with which credential.
pub struct Target {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub status: Status,
    pub url: Url,
    pub transport: Transport,
    /// The credential headers to inject.
    pub credential: HeaderMap,
    /// OAuth connectors: the access token in `credential`, to name it when asking for a refresh.
    pub access_token: Option<SecretString>,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// OAuth connectors: the issuer of the grant, to notice an upstream that moved to
    /// another authorization server.
    pub issuer: Option<String>,
    /// The MCP revision last spoken with the upstream (which lifecycle a session uses).
    pub protocol_version: Option<String>,
    /// REST connectors: the generated tools and the opened credentials (seed 004's cached
    /// server), dropped with the rest of the target on any change to the connector.
    pub rest: Option<RestTarget>,
}

impl Target {
    /// The target of `connector`, whose credential's secret (when connected) is `secret`; a
    /// REST connector authorized by a person also has the grant's `rest_token`.
    fn of(
        mut connector: Connector,
        mut secret: Option<SecretString>,
        rest_token: Option<SecretString>,
    ) -> Result<Self> {
        let rest = match connector.rest.take() {
            Some(config) => {
                Some(RestTarget::new(config.descriptor, secret.take().as_ref(), rest_token.clone())?)
            }
            None => None,
        };
        let auth = connector.auth.as_ref();
        let (credential, access_token) = if connector.status != Status::Connected {
            // Never used: `check_usable` refuses the connector. Cached all the same, so
            // requests to it do not reach the database either.
            (HeaderMap::new(), None)
        } else {
            let headers = credential::headers(auth, secret.as_ref())?;
            (headers, secret.filter(|_| credential::is_oauth(auth)).or(rest_token))
        };
        Ok(Self {
            tenant_id: connector.tenant_id,
            connector_id: connector.id,
            status: connector.status,
            url: Url::parse(&connector.url).map_err(|e| Error::Internal(e.into()))?,
            transport: connector.transport,
            credential,
            access_token,
            token_expires_at: connector.token_expires_at,
            issuer: connector.oauth_grant.as_ref().and_then(|g| g.issuer.clone()),
            protocol_version: connector.server_info.as_ref().and_then(|i| i.protocol_version.clone()),
            rest,
        })
    }

    pub fn is_oauth(&self) -> bool {
        self.access_token.is_some()
    }

    /// Whether a session opened with `other` may carry this target's requests: the same
    /// upstream, transport and MCP revision, and the same credential — for OAuth, the same
    /// grant's issuer (a refreshed token rides the same session: [`super::mcp_client`] sends
    /// each request with the current token); for a static credential, the same headers and
    /// values (a replaced key may belong to someone else, and a session can be bound to it).
    pub fn shares_session_with(&self, other: &Target) -> bool {
        let same_credential = match (self.is_oauth(), other.is_oauth()) {
            (true, true) => self.issuer == other.issuer && self.credential.keys().eq(other.credential.keys()),
            (false, false) => self.credential == other.credential,
            _ => false,
        };
        self.connector_id == other.connector_id
            && self.status == other.status
            && self.url == other.url
            && self.transport == other.transport
            && self.protocol_version == other.protocol_version
            && same_credential
    }

    pub fn token_expired(&self) -> bool {
        self.token_expires_at.is_some_and(|t| t <= Utc::now())
    }

    /// Fails unless the connector is connected and speaks `transport` (a REST connector:
    /// Streamable HTTP, which Switchboard serves itself).
    fn check_usable(&self, transport: Transport) -> Result<()> {
        let connector_id = self.connector_id;
        // Switchboard serves a REST connector's MCP endpoint itself, over Streamable HTTP only.
        if self.rest.is_some() && transport != Transport::StreamableHttp {
            let transport = Transport::StreamableHttp.as_str();
            return Err(Error::WrongTransport { connector_id, transport });
        }
        self.status.require_connected(connector_id)?;
        if self.transport != transport {
            return Err(Error::WrongTransport { connector_id, transport: self.transport.as_str() });
        }
        Ok(())
    }
}

/// The connector `id` of `tenant_id` as a target, from the cache when it is there; fails
/// unless it is connected and speaks `transport`.
pub async fn resolve(ctx: &Context, tenant_id: Uuid, id: Uuid, transport: Transport) -> Result<Arc<Target>> {
    // Another tenant's connector: the same answer as a missing one.
    let target = get(ctx, tenant_id, id).await?;
    target.check_usable(transport)?;
    Ok(target)
}

/// The connector `id` of `tenant_id` as a target, from the cache when it is there.
pub async fn get(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<Arc<Target>> {
    match ctx.targets.get(&id) {
        Some(target) if target.tenant_id == tenant_id => Ok(target),
        Some(_) => Err(Error::NotFound("connector")),
        // Boxed: the load's database futures are large, and every caller's future would
        // carry them (and be copied with them) even when the cache answers.
        None => Box::pin(load(ctx, tenant_id, id)).await,
    }
}

/// The connector `id` read now, bypassing the cache, with no credential opened (nor
/// cached): the target of a call made with the caller's own token.
pub async fn load_unopened(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<Target> {
    Target::of(service::get(&ctx.connectors.db, tenant_id, id).await?, None, None)
}

/// Reads the connector, opens its credential, and caches the result.
pub async fn load(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<Arc<Target>> {
    let ticket = ctx.targets.ticket();
    let c = &ctx.connectors;
    let (connector, secret) = service::get_with_credential(&c.db, &c.keyring, tenant_id, id).await?;
    let rest_token = match connector.rest.is_some() && connector.has_secret(SecretField::AccessToken) {
        true => service::open_secret(&c.db, &c.keyring, &connector, SecretField::AccessToken).await?,
        false => None,
    };
    let target = Arc::new(Target::of(connector, secret, rest_token)?);
    ctx.targets.put(ticket, id, target.clone());
    Ok(target)
}
