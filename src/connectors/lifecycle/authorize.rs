//! Starting an OAuth authorization (authorization code flow): the client is the connector's
//! own (request or preset), else our Client ID Metadata Document, else one registered by DCR
//! (one per tenant and issuer); the authorization URL carries PKCE S256, a 256-bit `state`
//! and the `resource`; a state record fixes the grant's parameters for the callback; the
//! connector waits in `pending_authorization` for a person to finish.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use url::Url;
use uuid::Uuid;

use super::connect::{discovery_failed, grant_from, own_client_method};
use super::{grant_failed, reread};
use crate::connectors::events::Change;
use crate::connectors::model::{AuthSettings, Connector, OAuthSettings, SecretField};
use crate::connectors::{Context, store};
use crate::error::{Error, FieldError, Result};
use crate::oauth::discovery::DiscoveryResult;
use crate::oauth::grant;
use crate::oauth::registration;
use crate::oauth::store::{
    self as oauth_store, RegisteredClient, StateRecord, client_secret_aad, verifier_aad,
};
use crate::oauth::{OAuthClientRef, OAuthGrant};
use crate::platform::crypto::Keyring;

/// What a connect asks of an authorization: the connector's OAuth settings, scopes in place
/// of its own, and where to send the browser afterwards.
pub struct Authorization {
    pub settings: OAuthSettings,
    pub scopes: Option<Vec<String>>,
    pub redirect_url: Option<String>,
}

/// Starts the authorization code flow: PKCE S256, `state`, `resource`; the person finishes it.
pub(super) async fn start_authorization(
    ctx: &Context,
    mut connector: Connector,
    url: &Url,
    asked: Authorization,
    discovery: DiscoveryResult,
) -> Result<Connector> {
    let (auth_url, token_url) = endpoints(&discovery)?;
    let redirect_uri = ctx.settings.oauth_callback_url().to_string();
    let client = resolve_client(ctx, &connector, &asked.settings, &discovery, &redirect_uri).await?;
    let mut grant = OAuthGrant {
        redirect_uri: Some(redirect_uri.clone()),
        iss_required: discovery.authorization_response_iss_parameter_supported,
        ..grant_from(&discovery, token_url, &asked.settings, url, asked.scopes, client)
    };
    if connector.rest.is_some() {
        // A REST API named by a descriptor has no resource identifier (as for its client
        // credentials): no `resource` is sent.
        grant.resource.clear();
    }
    let state_value = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
    let (authorize, verifier) = grant::authorize_url(
        grant.client.client_id(),
        &auth_url,
        &redirect_uri,
        &grant.scopes,
        &grant.resource,
        &state_value,
    )
    .map_err(|e| grant_failed(e, "building the authorization URL"))?;
    let expires_at = Utc::now() + ctx.settings.authorization_ttl;
    let pending = Pending { state_value, verifier, grant, redirect_url: asked.redirect_url, expires_at };
    let record = pending.record(&ctx.keyring, &connector);
    // A REST connector's auth lives in its descriptor: it keeps no auth settings.
    if connector.rest.is_none() {
        connector.auth.get_or_insert(AuthSettings::Oauth2AuthorizationCode(asked.settings));
    }
    connector.mark_pending(authorize.to_string(), expires_at);
    record_pending(ctx, connector, &record).await
}

/// The authorization and token endpoints, if discovery found usable ones and PKCE S256.
fn endpoints(discovery: &DiscoveryResult) -> Result<(String, String)> {
    let auth_url = discovery.auth_url.clone().ok_or_else(|| discovery_failed(discovery))?;
    let token_url = discovery.token_url.clone().ok_or_else(|| discovery_failed(discovery))?;
    // The browser is sent to this URL: never javascript:, data:, file: and the like.
    if !Url::parse(&auth_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(Error::upstream("discovery_failed", "the authorization endpoint is not an http(s) URL"));
    }
    if !discovery.supports_s256() {
        return Err(Error::unprocessable(
            "pkce_unsupported",
            "the authorization server does not advertise PKCE S256 (code_challenge_methods_supported); refusing to start an authorization without it",
        ));
    }
    Ok((auth_url, token_url))
}

/// An authorization just started: what its state record keeps for the callback.
struct Pending {
    state_value: String,
    verifier: secrecy::SecretString,
    grant: OAuthGrant,
    redirect_url: Option<String>,
    expires_at: DateTime<Utc>,
}

impl Pending {
    /// The state record: keyed by the SHA-256 of `state`, the PKCE verifier sealed.
    fn record(self, keyring: &Keyring, connector: &Connector) -> StateRecord {
        let hash = state_hash(&self.state_value);
        StateRecord {
            verifier: keyring.seal_str(&self.verifier, &verifier_aad(connector.tenant_id, &hash)),
            state_hash: hash,
            tenant_id: connector.tenant_id,
            connector_id: connector.id,
            grant: self.grant,
            redirect_url: self.redirect_url,
            expires_at: self.expires_at,
        }
    }
}

/// Replaces any pending authorization of the connector with `record`, and announces it.
async fn record_pending(ctx: &Context, connector: Connector, record: &StateRecord) -> Result<Connector> {
    let mut tx = ctx.db.begin().await?;
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    oauth_store::insert_state(&mut tx, record).await?;
    store::save_state(&mut tx, &connector).await?;
    ctx.commit_change(tx, &connector, Change::PendingAuthorization).await?;
    reread(ctx, &connector).await
}

/// The key of a state record.
pub(super) fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Pre-registered (request or preset), else a Client ID Metadata Document, else DCR.
async fn resolve_client(
    ctx: &Context,
    connector: &Connector,
    settings: &OAuthSettings,
    d: &DiscoveryResult,
    redirect_uri: &str,
) -> Result<OAuthClientRef> {
    let has_secret = connector.has_secret(SecretField::ClientSecret);
    if let Some(client) = unregistered_client(settings, has_secret, d, &ctx.settings.client_metadata_url()) {
        return Ok(client);
    }
    let (Some(register_url), Some(issuer)) = (&d.register_url, &d.issuer) else {
        return Err(Error::unprocessable(
            "client_registration_unavailable",
            "the authorization server supports neither dynamic client registration nor client metadata documents; set auth.client_id (and client_secret) on the connector",
        ));
    };
    if let Some(existing) = oauth_store::find_client(&ctx.db, connector.tenant_id, issuer).await?
        && reusable(&existing, redirect_uri, Utc::now())
    {
        return Ok(OAuthClientRef::Registered {
            id: existing.id,
            client_id: existing.client_id,
            method: existing.method,
        });
    }
    register(ctx, connector.tenant_id, d, register_url, issuer, redirect_uri).await
}

/// A client that needs no registration: the connector's own, or our metadata document
/// where the AS supports it and our public URL is https.
fn unregistered_client(
    settings: &OAuthSettings,
    has_secret: bool,
    d: &DiscoveryResult,
    metadata_url: &Url,
) -> Option<OAuthClientRef> {
    if let Some(client_id) = &settings.client_id {
        let method = own_client_method(settings, has_secret, d);
        return Some(OAuthClientRef::Connector { client_id: client_id.clone(), method });
    }
    (d.client_id_metadata_document_supported && metadata_url.scheme() == "https")
        .then(|| OAuthClientRef::MetadataDocument { client_id: metadata_url.to_string() })
}

/// Registers a client at the AS (RFC 7591) and stores it for the tenant and issuer.
async fn register(
    ctx: &Context,
    tenant_id: Uuid,
    d: &DiscoveryResult,
    register_url: &str,
    issuer: &str,
    redirect_uri: &str,
) -> Result<OAuthClientRef> {
    let register_url = Url::parse(register_url)
        .map_err(|_| Error::upstream("discovery_failed", "registration endpoint is not a URL"))?;
    let registration = registration::register(
        &ctx.net,
        &register_url,
        redirect_uri,
        &d.token_endpoint_auth_methods_supported,
    )
    .await
    .map_err(|e| grant_failed(e, "client registration"))?;
    let client = RegisteredClient {
        id: Uuid::now_v7(),
        tenant_id,
        issuer: issuer.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        client_id: registration.client_id,
        method: registration.token_endpoint_auth_method,
        secret: registration
            .client_secret
            .as_ref()
            .map(|s| ctx.keyring.seal_str(s, &client_secret_aad(tenant_id, issuer))),
        client_secret_expires_at: registration.client_secret_expires_at,
    };
    let id = oauth_store::upsert_client(&ctx.db, &client).await?;
    Ok(OAuthClientRef::Registered { id, client_id: client.client_id, method: client.method })
}

/// A stored registration serves while it has our redirect URI and its secret is not about
/// to expire.
fn reusable(client: &RegisteredClient, redirect_uri: &str, now: DateTime<Utc>) -> bool {
    let fresh = client.client_secret_expires_at.is_none_or(|t| t > now + chrono::Duration::hours(1));
    client.redirect_uri == redirect_uri && fresh
}

/// `redirect_url` must be http(s) on an allow-listed origin (global or the tenant's).
pub(super) async fn allowed_redirect_url(ctx: &Context, tenant_id: Uuid, raw: &str) -> Result<String> {
    let url = redirect_url_shape(raw)?;
    let origin = url.origin().ascii_serialization();
    let tenant = crate::tenancy::service::get_tenant(&ctx.db, tenant_id).await?;
    let allowed =
        ctx.settings.redirect_allowlist.iter().chain(&tenant.redirect_allowlist).any(|o| *o == origin);
    if !allowed {
        return Err(Error::rejected(
            "redirect_url_not_allowed",
            format!(
                "{origin} is not in the redirect allow-list (SWITCHBOARD_REDIRECT_ALLOWLIST or the tenant's list)"
            ),
        ));
    }
    Ok(url.to_string())
}

/// An absolute http(s) URL without a fragment, at most 2048 characters.
fn redirect_url_shape(raw: &str) -> Result<Url> {
    let invalid = |why: &str| Error::Invalid(vec![FieldError::new("redirect_url", why)]);
    let url = Url::parse(raw).map_err(|_| invalid("must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() || raw.len() > 2048 {
        return Err(invalid("must be an http(s) URL without a fragment, at most 2048 characters"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::TokenEndpointAuthMethod;

    fn discovery() -> DiscoveryResult {
        DiscoveryResult {
            auth_url: Some("https://as.example.com/authorize".into()),
            token_url: Some("https://as.example.com/token".into()),
            code_challenge_methods_supported: vec!["S256".into()],
            ..DiscoveryResult::default()
        }
    }

    #[test]
    fn an_authorization_needs_http_endpoints_and_pkce_s256() {
        assert!(endpoints(&discovery()).is_ok());
        let code = |d: DiscoveryResult| endpoints(&d).unwrap_err().code();
        assert_eq!(code(DiscoveryResult { token_url: None, ..discovery() }), "discovery_failed");
        let script = DiscoveryResult { auth_url: Some("javascript:alert(1)".into()), ..discovery() };
        assert_eq!(code(script), "discovery_failed");
        assert_eq!(
            code(DiscoveryResult { code_challenge_methods_supported: vec!["plain".into()], ..discovery() }),
            "pkce_unsupported"
        );
    }

    #[test]
    fn the_connectors_own_client_comes_first_then_the_metadata_document() {
        let https = Url::parse("https://sb.example.com/api/v1/oauth/client-metadata.json").unwrap();
        let http = Url::parse("http://127.0.0.1/api/v1/oauth/client-metadata.json").unwrap();
        let cimd = DiscoveryResult { client_id_metadata_document_supported: true, ..discovery() };
        let own = OAuthSettings { client_id: Some("mine".into()), ..OAuthSettings::default() };
        assert_eq!(
            unregistered_client(&own, false, &cimd, &https),
            Some(OAuthClientRef::Connector {
                client_id: "mine".into(),
                method: TokenEndpointAuthMethod::None
            })
        );
        let none = OAuthSettings::default();
        assert_eq!(
            unregistered_client(&none, false, &cimd, &https),
            Some(OAuthClientRef::MetadataDocument { client_id: https.to_string() })
        );
        assert_eq!(unregistered_client(&none, false, &cimd, &http), None, "CIMD needs https");
        assert_eq!(unregistered_client(&none, false, &discovery(), &https), None, "and the AS's support");
    }

    #[test]
    fn registrations_are_reused_while_they_fit_and_last() {
        let now = Utc::now();
        let client = RegisteredClient {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            issuer: "https://as".into(),
            redirect_uri: "https://sb/cb".into(),
            client_id: "c".into(),
            method: TokenEndpointAuthMethod::None,
            secret: None,
            client_secret_expires_at: None,
        };
        assert!(reusable(&client, "https://sb/cb", now));
        assert!(!reusable(&client, "https://other/cb", now));
        let expiring = RegisteredClient {
            client_secret_expires_at: Some(now + chrono::Duration::minutes(30)),
            ..client
        };
        assert!(!reusable(&expiring, "https://sb/cb", now));
    }

    #[test]
    fn redirect_urls_are_absolute_http_without_fragments() {
        assert!(redirect_url_shape("https://app.example.com/done?x=1").is_ok());
        for bad in ["/relative", "ftp://app.example.com/", "https://app.example.com/#frag"] {
            assert_eq!(redirect_url_shape(bad).unwrap_err().code(), "validation_failed", "{bad}");
        }
    }
}
