//! Connect: static credentials are probed with MCP `initialize`; an OAuth client
//! credentials connector gets its token and is probed with it; an authorization-code
//! connector starts an authorization ([`super::authorize`]); a connector without auth lets
//! discovery decide between `none` and OAuth.

use anyhow::Context as _;
use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use super::authorize::{Authorization, start_authorization};
use super::{client_credentials_of, finish_connected, grant_failed, probe_upstream};
use crate::connectors::Context;
use crate::connectors::model::{AuthSettings, Connector, OAuthSettings, SecretField, validate_scopes};
use crate::connectors::service::{get, open_credential};
use crate::connectors::{credential, lifecycle};
use crate::error::{Error, Result, Validator};
use crate::oauth::discovery::{DiscoveryResult, discover};
use crate::oauth::grant;
use crate::oauth::registration::choose_auth_method;
use crate::oauth::{OAuthClientRef, OAuthGrant, TokenEndpointAuthMethod};

/// Optional parameters of a connect.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// Where to send the browser after an OAuth authorization; its origin must be allow-listed.
    pub redirect_url: Option<String>,
    /// Scopes to request instead of the connector's or the discovered ones.
    #[schema(max_items = 50)]
    pub scopes: Option<Vec<String>>,
}

pub async fn connect(ctx: &Context, tenant_id: Uuid, id: Uuid, req: ConnectRequest) -> Result<Connector> {
    let connector = get(&ctx.db, tenant_id, id).await?;
    let redirect_url = match &req.redirect_url {
        Some(raw) => Some(lifecycle::authorize::allowed_redirect_url(ctx, tenant_id, raw).await?),
        None => None,
    };
    if let Some(scopes) = &req.scopes {
        let mut v = Validator::default();
        validate_scopes(&mut v, "scopes", scopes);
        v.finish()?;
    }
    let asked =
        |settings| Authorization { settings, scopes: req.scopes.clone(), redirect_url: redirect_url.clone() };
    if connector.rest.is_some() {
        return lifecycle::rest::connect(ctx, connector, asked(OAuthSettings::default())).await;
    }
    let url = Url::parse(&connector.url).context("stored connector URL")?;
    match connector.auth.clone() {
        None => connect_discovered(ctx, connector, &url, asked(OAuthSettings::default())).await,
        Some(AuthSettings::Oauth2AuthorizationCode(settings)) => {
            let discovery = discover(&ctx.net, &url, connector.transport).await?;
            let mut asked = asked(settings);
            if asked.scopes.is_none() {
                asked.scopes = step_up_scopes(&connector)?;
            }
            start_authorization(ctx, connector, &url, asked, discovery).await
        }
        Some(AuthSettings::Oauth2ClientCredentials(settings)) => {
            connect_client_credentials(ctx, connector, &url, settings, req.scopes).await
        }
        Some(_) => {
            let secret = open_credential(&ctx.db, &ctx.keyring, &connector).await?;
            let headers = credential::headers(connector.auth.as_ref(), secret.as_ref())?;
            let info = probe_upstream(ctx, &connector, &url, &headers).await?;
            finish_connected(ctx, connector, info, None).await
        }
    }
}

/// No auth configured: let discovery decide between `none` and OAuth.
async fn connect_discovered(
    ctx: &Context,
    mut connector: Connector,
    url: &Url,
    asked: Authorization,
) -> Result<Connector> {
    let discovery = discover(&ctx.net, url, connector.transport).await?;
    if let Some(info) = discovery.server_info.clone() {
        connector.auth = Some(AuthSettings::None);
        return finish_connected(ctx, connector, info, None).await;
    }
    if discovery.requires_auth() && discovery.auth_url.is_some() {
        return start_authorization(ctx, connector, url, asked, discovery).await;
    }
    Err(discovery_failed(&discovery))
}

/// After a 403 `insufficient_scope`: the scopes held plus those the upstream asked for
/// (SEP-835), or `None` when no step-up is pending. Asking again for scopes the grant
/// already holds would loop (the authorization server does not grant them, or the upstream
/// never accepts them), so that is refused: each step-up must ask for something new, which
/// bounds them. `{"scopes": [...]}` on the connect still asks for exactly those.
fn step_up_scopes(connector: &Connector) -> Result<Option<Vec<String>>> {
    if connector.scope_required.is_empty() {
        return Ok(None);
    }
    let held = connector.oauth_grant.as_ref().map(|g| g.scopes.clone()).unwrap_or_default();
    let new: Vec<&String> = connector.scope_required.iter().filter(|s| !held.contains(s)).collect();
    if new.is_empty() {
        return Err(Error::unprocessable(
            "scope_step_up_exhausted",
            format!(
                "the upstream still requires {} although the connector's authorization already asked for them; authorizing again would not help (send {{\"scopes\": [...]}} to ask for other scopes)",
                connector.scope_required.join(" ")
            ),
        ));
    }
    let union = held.iter().cloned().chain(new.into_iter().cloned()).collect();
    Ok(Some(union))
}

pub(super) fn discovery_failed(d: &DiscoveryResult) -> Error {
    let why =
        d.error.clone().or_else(|| d.warnings.last().cloned()).unwrap_or_else(|| "no usable answer".into());
    Error::upstream("discovery_failed", format!("authorization discovery failed: {why}"))
}

async fn connect_client_credentials(
    ctx: &Context,
    connector: Connector,
    url: &Url,
    settings: OAuthSettings,
    scopes: Option<Vec<String>>,
) -> Result<Connector> {
    let discovery = discover(&ctx.net, url, connector.transport).await?;
    let token_url = discovery.token_url.clone().ok_or_else(|| discovery_failed(&discovery))?;
    let client_id = settings.client_id.clone().context("client credentials connector without client_id")?;
    let has_secret = connector.has_secret(SecretField::ClientSecret);
    let method = own_client_method(&settings, has_secret, &discovery);
    let client = OAuthClientRef::Connector { client_id, method };
    let grant = grant_from(&discovery, token_url, &settings, url, scopes, client);
    let credentials = client_credentials_of(&ctx.db, &ctx.keyring, &connector, &grant.client).await?;
    let tokens = grant::client_credentials(
        &ctx.net,
        &credentials,
        &grant.token_url,
        &grant.scopes,
        Some(&grant.resource),
    )
    .await
    .map_err(|e| grant_failed(e, "the client credentials grant"))?;
    let headers = credential::headers(connector.auth.as_ref(), Some(&tokens.access_token))?;
    let info = probe_upstream(ctx, &connector, url, &headers).await?;
    finish_connected(ctx, connector, info, Some((tokens, grant))).await
}

/// The token endpoint auth method for the connector's own client: as configured, else the
/// best the AS supports for a client with (or without) a secret.
pub(super) fn own_client_method(
    settings: &OAuthSettings,
    has_secret: bool,
    d: &DiscoveryResult,
) -> TokenEndpointAuthMethod {
    if let Some(method) = settings.token_endpoint_auth_method {
        return method;
    }
    if !has_secret {
        return TokenEndpointAuthMethod::None;
    }
    let confidential: Vec<String> =
        d.token_endpoint_auth_methods_supported.iter().filter(|m| *m != "none").cloned().collect();
    choose_auth_method(&confidential).unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic)
}

/// The grant parameters discovery and the connector's settings fix for a token request.
pub(super) fn grant_from(
    discovery: &DiscoveryResult,
    token_url: String,
    settings: &OAuthSettings,
    url: &Url,
    scopes: Option<Vec<String>>,
    client: OAuthClientRef,
) -> OAuthGrant {
    OAuthGrant {
        issuer: discovery.issuer.clone(),
        token_url,
        revocation_url: discovery.revocation_url.clone(),
        resource: resource_for(settings, discovery, url),
        scopes: scopes_for(scopes, settings, discovery),
        client,
        redirect_uri: None,
        iss_required: false,
    }
}

/// The RFC 8707 resource: configured, else discovered, else the server URL made canonical.
fn resource_for(settings: &OAuthSettings, discovery: &DiscoveryResult, url: &Url) -> String {
    settings.resource.clone().or_else(|| discovery.resource.clone()).unwrap_or_else(|| {
        let mut canonical = url.clone();
        canonical.set_fragment(None);
        canonical.to_string().trim_end_matches('/').to_owned()
    })
}

/// The scopes to ask for: the connect's, else the connector's, else the discovered ones.
fn scopes_for(
    requested: Option<Vec<String>>,
    settings: &OAuthSettings,
    discovery: &DiscoveryResult,
) -> Vec<String> {
    requested
        .or_else(|| (!settings.scopes.is_empty()).then(|| settings.scopes.clone()))
        .unwrap_or_else(|| discovery.scopes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> DiscoveryResult {
        DiscoveryResult {
            requires_auth: Some(true),
            resource: Some("https://mcp.example.com/found".into()),
            scopes: vec!["found".into()],
            token_endpoint_auth_methods_supported: vec!["none".into(), "client_secret_post".into()],
            ..DiscoveryResult::default()
        }
    }

    #[test]
    fn the_resource_and_scopes_come_from_the_request_then_the_connector_then_discovery() {
        let url = Url::parse("https://mcp.example.com/mcp/#x").unwrap();
        let d = discovery();
        let mut settings = OAuthSettings::default();
        assert_eq!(resource_for(&settings, &d, &url), "https://mcp.example.com/found");
        assert_eq!(resource_for(&settings, &DiscoveryResult::default(), &url), "https://mcp.example.com/mcp");
        settings.resource = Some("https://mine".into());
        assert_eq!(resource_for(&settings, &d, &url), "https://mine");
        assert_eq!(scopes_for(None, &settings, &d), ["found"]);
        settings.scopes = vec!["mine".into()];
        assert_eq!(scopes_for(None, &settings, &d), ["mine"]);
        assert_eq!(scopes_for(Some(vec!["asked".into()]), &settings, &d), ["asked"]);
    }

    #[test]
    fn the_connectors_own_client_authenticates_as_configured_or_as_best_supported() {
        let d = discovery();
        let mut settings = OAuthSettings::default();
        assert_eq!(own_client_method(&settings, false, &d), TokenEndpointAuthMethod::None);
        assert_eq!(own_client_method(&settings, true, &d), TokenEndpointAuthMethod::ClientSecretPost);
        settings.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::ClientSecretBasic);
        assert_eq!(own_client_method(&settings, false, &d), TokenEndpointAuthMethod::ClientSecretBasic);
    }
}
