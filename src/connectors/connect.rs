//! Connect, the OAuth callback, and disconnect: the connector's state machine, driven by
//! what upstream servers and authorization servers answer.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand::Rng as _;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::{bearer, upstream_headers};
use super::model::{AuthSettings, Connector, OAuthSettings, SecretField, Status};
use super::service::{get, open_secret};
use super::store;
use super::tokens::{self, RefreshTokenAbsent};
use crate::error::{Error, Result, Validator};
use crate::http::AppState;
use crate::mcp::ServerInfo;
use crate::mcp::probe::{self, ProbeError, ProbeOutcome};
use crate::oauth::GrantError;
use crate::oauth::discovery::{DiscoveryResult, discover};
use crate::oauth::grant::{self, ClientCredentials, Tokens};
use crate::oauth::registration::{self, choose_auth_method};
use crate::oauth::store::{
    self as oauth_store, RegisteredClient, StateRecord, client_secret_aad, verifier_aad,
};
use crate::oauth::{OAuthClientRef, OAuthGrant, TokenEndpointAuthMethod};

/// Optional parameters of a connect.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// Where to send the browser after an OAuth authorization; its origin must be allow-listed.
    pub redirect_url: Option<String>,
    /// Scopes to request instead of the connector's or the discovered ones.
    pub scopes: Option<Vec<String>>,
}

pub async fn connect(state: &AppState, tenant_id: Uuid, id: Uuid, req: ConnectRequest) -> Result<Connector> {
    let connector = get(&state.db, tenant_id, id).await?;
    let redirect_url = match &req.redirect_url {
        Some(raw) => Some(allowed_redirect_url(state, tenant_id, raw).await?),
        None => None,
    };
    if let Some(scopes) = &req.scopes {
        let mut v = Validator::default();
        super::model::validate_scopes(&mut v, "scopes", scopes);
        v.finish()?;
    }
    let url = Url::parse(&connector.url).context("stored connector URL")?;
    match connector.auth.clone() {
        None => connect_discovered(state, connector, &url, req.scopes, redirect_url).await,
        Some(AuthSettings::Oauth2AuthorizationCode(settings)) => {
            let discovery = discover(&state.net, &url, connector.transport).await?;
            start_authorization(state, connector, &url, settings, req.scopes, redirect_url, discovery).await
        }
        Some(AuthSettings::Oauth2ClientCredentials(settings)) => {
            connect_client_credentials(state, connector, &url, settings, req.scopes).await
        }
        Some(_) => {
            let headers = upstream_headers(&state.db, &state.keyring, &connector).await?;
            let info = probe_upstream(state, &connector, &url, &headers).await?;
            finish_connected(state, connector, info, None).await
        }
    }
}

/// No auth configured: let discovery decide between `none` and OAuth.
async fn connect_discovered(
    state: &AppState,
    mut connector: Connector,
    url: &Url,
    scopes: Option<Vec<String>>,
    redirect_url: Option<String>,
) -> Result<Connector> {
    let discovery = discover(&state.net, url, connector.transport).await?;
    if let Some(info) = discovery.server_info.clone() {
        connector.auth = Some(AuthSettings::None);
        return finish_connected(state, connector, info, None).await;
    }
    if discovery.requires_auth() && discovery.auth_url.is_some() {
        let settings = OAuthSettings::default();
        return start_authorization(state, connector, url, settings, scopes, redirect_url, discovery).await;
    }
    Err(discovery_failed(&discovery))
}

fn discovery_failed(d: &DiscoveryResult) -> Error {
    let why =
        d.error.clone().or_else(|| d.warnings.last().cloned()).unwrap_or_else(|| "no usable answer".into());
    Error::upstream("discovery_failed", format!("authorization discovery failed: {why}"))
}

/// Probes with credentials; any failure leaves the connector as it was.
async fn probe_upstream(
    state: &AppState,
    c: &Connector,
    url: &Url,
    headers: &HeaderMap,
) -> Result<ServerInfo> {
    match probe::initialize(&state.net, url, c.transport, headers).await {
        Ok(ProbeOutcome::Ready(info)) => Ok(info),
        Ok(ProbeOutcome::AuthRequired { status, .. }) => Err(Error::unprocessable(
            "credentials_rejected",
            format!(
                "the upstream answered HTTP {} to initialize with the configured credentials",
                status.as_u16()
            ),
        )),
        Ok(ProbeOutcome::Refused { status }) => Err(Error::upstream(
            "upstream_error",
            format!("the upstream answered initialize with HTTP {}", status.as_u16()),
        )),
        Err(ProbeError::Net(err)) => Err(err.into()),
        Err(err @ ProbeError::Protocol(_)) => {
            Err(Error::upstream("upstream_protocol_error", err.to_string()))
        }
    }
}

/// Records a successful connection; with `tokens`, stores them sealed in the same transaction.
async fn finish_connected(
    state: &AppState,
    mut connector: Connector,
    info: ServerInfo,
    tokens: Option<(Tokens, OAuthGrant)>,
) -> Result<Connector> {
    let mut tx = state.db.begin().await?;
    if let Some((tokens, grant)) = tokens {
        tokens::store(&mut tx, state, &mut connector, &tokens, RefreshTokenAbsent::Erase).await?;
        connector.oauth_grant = Some(grant);
    }
    connector.mark_connected(info);
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    store::save_state(&mut tx, &connector).await?;
    state.commit_connector_change(tx, connector.id).await?;
    crate::catalog::service::sync_after_connect(state, connector.tenant_id, connector.id).await;
    reread(state, &connector).await
}

async fn reread(state: &AppState, c: &Connector) -> Result<Connector> {
    get(&state.db, c.tenant_id, c.id).await
}

/// The RFC 8707 resource: configured, else discovered, else the server URL made canonical.
fn resource_for(settings: &OAuthSettings, discovery: &DiscoveryResult, url: &Url) -> String {
    settings.resource.clone().or_else(|| discovery.resource.clone()).unwrap_or_else(|| {
        let mut canonical = url.clone();
        canonical.set_fragment(None);
        canonical.to_string().trim_end_matches('/').to_owned()
    })
}

/// The grant parameters discovery and the connector's settings fix for a token request.
fn grant_from(
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

fn scopes_for(
    requested: Option<Vec<String>>,
    settings: &OAuthSettings,
    discovery: &DiscoveryResult,
) -> Vec<String> {
    requested
        .or_else(|| (!settings.scopes.is_empty()).then(|| settings.scopes.clone()))
        .unwrap_or_else(|| discovery.scopes.clone())
}

fn grant_failed(err: GrantError, what: &str) -> Error {
    match err {
        GrantError::Refused(net) => net.into(),
        GrantError::OAuth { ref error, .. }
            if error == "invalid_client" || error == "unauthorized_client" =>
        {
            Error::unprocessable(
                "credentials_rejected",
                format!("the authorization server rejected the client during {what}: {err}"),
            )
        }
        GrantError::Unsupported(_) => {
            Error::unprocessable("client_registration_unavailable", err.to_string())
        }
        other => Error::upstream("authorization_server_error", format!("{what} failed: {other}")),
    }
}

async fn connect_client_credentials(
    state: &AppState,
    connector: Connector,
    url: &Url,
    settings: OAuthSettings,
    scopes: Option<Vec<String>>,
) -> Result<Connector> {
    let discovery = discover(&state.net, url, connector.transport).await?;
    let token_url = discovery.token_url.clone().ok_or_else(|| discovery_failed(&discovery))?;
    let client_id = settings.client_id.clone().context("client credentials connector without client_id")?;
    let has_secret = connector.has_secret(SecretField::ClientSecret);
    let method = own_client_method(&settings, has_secret, &discovery);
    let client = OAuthClientRef::Connector { client_id, method };
    let grant = grant_from(&discovery, token_url, &settings, url, scopes, client);
    let credentials = client_credentials_of(&state.db, state, &connector, &grant.client).await?;
    let tokens =
        grant::client_credentials(&state.net, &credentials, &grant.token_url, &grant.scopes, &grant.resource)
            .await
            .map_err(|e| grant_failed(e, "the client credentials grant"))?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(&tokens.access_token)?);
    let info = probe_upstream(state, &connector, url, &headers).await?;
    finish_connected(state, connector, info, Some((tokens, grant))).await
}

/// The token endpoint auth method for the connector's own client: as configured, else the
/// best the AS supports for a client with (or without) a secret.
fn own_client_method(
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

/// Opens whatever secret the grant's client needs.
/// Reads on `db` (a pool, or the connection of a transaction the caller holds).
pub(crate) async fn client_credentials_of(
    db: impl sqlx::PgExecutor<'_>,
    state: &AppState,
    c: &Connector,
    client: &OAuthClientRef,
) -> Result<ClientCredentials> {
    let (client_id, method, secret) = match client {
        OAuthClientRef::Connector { client_id, method } => {
            (client_id, *method, open_secret(db, &state.keyring, c, SecretField::ClientSecret).await?)
        }
        OAuthClientRef::Registered { id, client_id, method } => {
            let registered = oauth_store::get_client(db, c.tenant_id, *id).await?.ok_or_else(|| {
                Error::conflict(
                    "client_registration_lost",
                    "the registered OAuth client is gone; connect again",
                )
            })?;
            let secret = match &registered.secret {
                Some(sealed) => Some(
                    state.keyring.open_str(sealed, &client_secret_aad(c.tenant_id, &registered.issuer))?,
                ),
                None => None,
            };
            (client_id, *method, secret)
        }
        OAuthClientRef::MetadataDocument { client_id } => (client_id, TokenEndpointAuthMethod::None, None),
    };
    Ok(ClientCredentials { client_id: client_id.clone(), secret, method })
}

fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Starts the authorization code flow: PKCE S256, `state`, `resource`; the person finishes it.
async fn start_authorization(
    state: &AppState,
    mut connector: Connector,
    url: &Url,
    settings: OAuthSettings,
    scopes: Option<Vec<String>>,
    redirect_url: Option<String>,
    discovery: DiscoveryResult,
) -> Result<Connector> {
    let auth_url = discovery.auth_url.clone().ok_or_else(|| discovery_failed(&discovery))?;
    let token_url = discovery.token_url.clone().ok_or_else(|| discovery_failed(&discovery))?;
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
    let redirect_uri = state.settings.oauth_callback_url().to_string();
    let client = resolve_client(state, &connector, &settings, &discovery, &redirect_uri).await?;
    let grant = OAuthGrant {
        redirect_uri: Some(redirect_uri.clone()),
        iss_required: discovery.authorization_response_iss_parameter_supported,
        ..grant_from(&discovery, token_url, &settings, url, scopes, client)
    };
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

    let hash = state_hash(&state_value);
    let expires_at = Utc::now() + state.settings.authorization_ttl;
    let record = StateRecord {
        verifier: state.keyring.seal_str(&verifier, &verifier_aad(connector.tenant_id, &hash)),
        state_hash: hash,
        tenant_id: connector.tenant_id,
        connector_id: connector.id,
        grant,
        redirect_url,
        expires_at,
    };
    connector.auth.get_or_insert(AuthSettings::Oauth2AuthorizationCode(settings));
    connector.mark_pending(authorize.to_string(), expires_at);
    let mut tx = state.db.begin().await?;
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    oauth_store::insert_state(&mut tx, &record).await?;
    store::save_state(&mut tx, &connector).await?;
    state.commit_connector_change(tx, connector.id).await?;
    reread(state, &connector).await
}

/// Pre-registered (request or preset), else a Client ID Metadata Document, else DCR.
async fn resolve_client(
    state: &AppState,
    connector: &Connector,
    settings: &OAuthSettings,
    d: &DiscoveryResult,
    redirect_uri: &str,
) -> Result<OAuthClientRef> {
    if let Some(client_id) = &settings.client_id {
        let method = own_client_method(settings, connector.has_secret(SecretField::ClientSecret), d);
        return Ok(OAuthClientRef::Connector { client_id: client_id.clone(), method });
    }
    let metadata_url = state.settings.client_metadata_url();
    if d.client_id_metadata_document_supported && metadata_url.scheme() == "https" {
        return Ok(OAuthClientRef::MetadataDocument { client_id: metadata_url.to_string() });
    }
    let (Some(register_url), Some(issuer)) = (&d.register_url, &d.issuer) else {
        return Err(Error::unprocessable(
            "client_registration_unavailable",
            "the authorization server supports neither dynamic client registration nor client metadata documents; set auth.client_id (and client_secret) on the connector",
        ));
    };
    if let Some(existing) = oauth_store::find_client(&state.db, connector.tenant_id, issuer).await?
        && reusable(&existing, redirect_uri)
    {
        return Ok(OAuthClientRef::Registered {
            id: existing.id,
            client_id: existing.client_id,
            method: existing.method,
        });
    }
    let register_url = Url::parse(register_url)
        .map_err(|_| Error::upstream("discovery_failed", "registration endpoint is not a URL"))?;
    let registration = registration::register(
        &state.net,
        &register_url,
        redirect_uri,
        &d.token_endpoint_auth_methods_supported,
    )
    .await
    .map_err(|e| grant_failed(e, "client registration"))?;
    let client = RegisteredClient {
        id: Uuid::now_v7(),
        tenant_id: connector.tenant_id,
        issuer: issuer.clone(),
        redirect_uri: redirect_uri.to_owned(),
        client_id: registration.client_id,
        method: registration.token_endpoint_auth_method,
        secret: registration
            .client_secret
            .as_ref()
            .map(|s| state.keyring.seal_str(s, &client_secret_aad(connector.tenant_id, issuer))),
        client_secret_expires_at: registration.client_secret_expires_at,
    };
    let id = oauth_store::upsert_client(&state.db, &client).await?;
    Ok(OAuthClientRef::Registered { id, client_id: client.client_id, method: client.method })
}

/// A stored registration serves while it has our redirect URI and its secret is not about
/// to expire.
fn reusable(client: &RegisteredClient, redirect_uri: &str) -> bool {
    let fresh = client.client_secret_expires_at.is_none_or(|t| t > Utc::now() + chrono::Duration::hours(1));
    client.redirect_uri == redirect_uri && fresh
}

/// `redirect_url` must be http(s) on an allow-listed origin (global or the tenant's).
async fn allowed_redirect_url(state: &AppState, tenant_id: Uuid, raw: &str) -> Result<String> {
    let invalid = |why: &str| Error::Invalid(vec![crate::error::FieldError::new("redirect_url", why)]);
    let url = Url::parse(raw).map_err(|_| invalid("must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() || raw.len() > 2048 {
        return Err(invalid("must be an http(s) URL without a fragment, at most 2048 characters"));
    }
    let origin = url.origin().ascii_serialization();
    let tenant = crate::tenancy::service::get_tenant(&state.db, tenant_id).await?;
    let allowed =
        state.settings.redirect_allowlist.iter().chain(&tenant.redirect_allowlist).any(|o| *o == origin);
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

/// The query of the callback the authorization server redirects the browser to.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// How a callback ended, for the page or redirect that tells the person.
#[derive(Debug)]
pub struct CallbackOutcome {
    pub redirect_url: Option<String>,
    pub connector_id: Option<Uuid>,
    pub result: Result<Status, (String, String)>,
}

impl CallbackOutcome {
    fn rejected(
        redirect_url: Option<String>,
        connector_id: Option<Uuid>,
        code: &str,
        description: impl Into<String>,
    ) -> Self {
        Self { redirect_url, connector_id, result: Err((code.to_owned(), description.into())) }
    }
}

/// Completes an authorization: checks `state` and `iss`, consumes the state, exchanges the
/// code, probes the upstream with the new token. Never reports success that did not happen.
pub async fn complete_authorization(state: &AppState, params: CallbackParams) -> Result<CallbackOutcome> {
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Ok(CallbackOutcome::rejected(
            None,
            None,
            "invalid_request",
            "the callback has no state parameter",
        ));
    };
    let hash = state_hash(state_value);
    let unknown = "this authorization link is unknown, already used or expired; connect again";
    let Some(record) = oauth_store::find_state(&state.db, &hash).await? else {
        return Ok(CallbackOutcome::rejected(None, None, "invalid_state", unknown));
    };
    let (redirect, connector_id) = (record.redirect_url.clone(), Some(record.connector_id));
    if record.expires_at <= Utc::now() {
        return Ok(CallbackOutcome::rejected(
            redirect,
            connector_id,
            "authorization_expired",
            "the authorization window has passed; connect again",
        ));
    }
    // RFC 9207: check the issuer before acting on anything else in the response.
    let expected = record.grant.issuer.as_deref();
    let issuer_ok = match params.iss.as_deref() {
        Some(iss) => Some(iss) == expected,
        None => !record.grant.iss_required,
    };
    if !issuer_ok {
        return Ok(CallbackOutcome::rejected(
            redirect,
            connector_id,
            "invalid_issuer",
            "the authorization response did not come from the expected authorization server",
        ));
    }
    let mut tx = state.db.begin().await?;
    let Some(record) = oauth_store::take_state(&mut tx, &hash).await? else {
        return Ok(CallbackOutcome::rejected(None, None, "invalid_state", unknown));
    };
    tx.commit().await?;
    let Ok(mut connector) = get(&state.db, record.tenant_id, record.connector_id).await else {
        return Ok(CallbackOutcome::rejected(
            redirect,
            None,
            "invalid_state",
            "the connector no longer exists",
        ));
    };

    // (status code for the connector, error for the caller, message for both)
    let (status_code, error, message): (&str, String, String) = if let Some(error) = params.error {
        let description =
            params.error_description.unwrap_or_else(|| "the authorization server gave no reason".into());
        ("authorization_denied", error, truncate(&description, 500))
    } else {
        match params.code.as_deref().filter(|c| !c.is_empty()) {
            None => ("authorization_failed", "invalid_request".into(), "the callback has no code".into()),
            Some(code) => match exchange_and_probe(state, &connector, &record, code).await {
                Ok((info, tokens)) => {
                    let connected =
                        finish_connected(state, connector, info, Some((tokens, record.grant))).await?;
                    return Ok(CallbackOutcome {
                        redirect_url: redirect,
                        connector_id,
                        result: Ok(connected.status),
                    });
                }
                Err((code, message)) => (code, code.to_owned(), message),
            },
        }
    };
    connector.mark_disconnected(status_code, message.clone());
    let mut tx = state.db.begin().await?;
    store::save_state(&mut tx, &connector).await?;
    state.commit_connector_change(tx, connector.id).await?;
    Ok(CallbackOutcome::rejected(redirect, connector_id, &error, message))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Exchanges the code and checks the token works upstream. Errors are (status code, message).
async fn exchange_and_probe(
    state: &AppState,
    connector: &Connector,
    record: &StateRecord,
    code: &str,
) -> Result<(ServerInfo, Tokens), (&'static str, String)> {
    let internal = |e: Error| ("authorization_failed", e.to_string());
    let grant = &record.grant;
    let verifier = state
        .keyring
        .open_str(&record.verifier, &verifier_aad(record.tenant_id, &record.state_hash))
        .map_err(|e| internal(e.into()))?;
    let client = client_credentials_of(&state.db, state, connector, &grant.client).await.map_err(internal)?;
    let redirect_uri = grant.redirect_uri.as_deref().unwrap_or_default();
    let tokens = grant::exchange_code(
        &state.net,
        &client,
        &grant.token_url,
        redirect_uri,
        code,
        &verifier,
        &grant.resource,
    )
    .await
    .map_err(|e| ("token_exchange_failed", format!("the code exchange failed: {e}")))?;
    let url = Url::parse(&connector.url).map_err(|e| internal(anyhow::Error::from(e).into()))?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(&tokens.access_token).map_err(internal)?);
    match probe_upstream(state, connector, &url, &headers).await {
        Ok(info) => Ok((info, tokens)),
        Err(err) => Err((err.code(), format!("the new token did not work upstream: {err}"))),
    }
}

/// The upstream rejected a static credential in use: disconnect, so consoles show why.
pub async fn reject_credentials(state: &AppState, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(mut connector) = store::get_for_update(&mut tx, tenant_id, id).await? else { return Ok(()) };
    if connector.status == Status::Connected {
        connector.mark_disconnected(
            "credentials_rejected",
            "the upstream rejected the configured credentials (HTTP 401)",
        );
        store::save_state(&mut tx, &connector).await?;
    }
    state.commit_connector_change(tx, id).await?;
    Ok(())
}

/// Revokes (best effort), erases tokens, and marks the connector disconnected on request.
pub async fn disconnect(state: &AppState, tenant_id: Uuid, id: Uuid) -> Result<Connector> {
    let mut connector = get(&state.db, tenant_id, id).await?;
    if connector.status == Status::Created {
        return Err(Error::conflict("not_connected", "this connector was never connected"));
    }
    revoke_tokens(state, &connector).await;
    connector.mark_disconnected("user_requested", "disconnected on request");
    let mut tx = state.db.begin().await?;
    store::delete_secrets(&mut tx, connector.id, &[SecretField::AccessToken, SecretField::RefreshToken])
        .await?;
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    store::save_state(&mut tx, &connector).await?;
    state.commit_connector_change(tx, connector.id).await?;
    reread(state, &connector).await
}

/// RFC 7009, refresh token first (revoking it usually ends the whole grant). Failures are
/// logged and otherwise ignored: the tokens are erased on our side either way.
pub async fn revoke_tokens(state: &AppState, connector: &Connector) {
    let Some(grant) = &connector.oauth_grant else { return };
    let Some(revocation_url) = &grant.revocation_url else { return };
    let client = match client_credentials_of(&state.db, state, connector, &grant.client).await {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(connector_id = %connector.id, error = %err, "cannot revoke: client credentials unavailable");
            return;
        }
    };
    for (field, hint) in
        [(SecretField::RefreshToken, "refresh_token"), (SecretField::AccessToken, "access_token")]
    {
        let Ok(Some(token)) = open_secret(&state.db, &state.keyring, connector, field).await else {
            continue;
        };
        if let Err(err) = grant::revoke(&state.net, &client, revocation_url, &token, hint).await {
            tracing::warn!(connector_id = %connector.id, error = %err, "token revocation failed");
        }
    }
}
