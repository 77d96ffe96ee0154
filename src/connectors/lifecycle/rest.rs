//! Connect for REST connectors: each auth type with a `test_endpoint` is tried with the stored
//! credentials through the guarded client (an OAuth 2 client-credentials type first gets an
//! access token with them); its `expected_status` means the credentials work (`connected`),
//! anything else is 422 `credentials_rejected` naming the status, and the connector stays as
//! it was. An auth type with the OAuth 2 `authorization_code` grant instead starts the
//! authorization every connector uses ([`super::authorize`]), at the descriptor's endpoints
//! with the client in its credentials; the callback tries the test endpoints with the new
//! access token ([`verify_token`]).

use std::borrow::Cow;

use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::authorize::{Authorization, start_authorization};
use super::finish_connected;
use crate::connectors::Context;
use crate::connectors::model::{Connector, OAuthSettings, SecretField};
use crate::connectors::rest;
use crate::connectors::service::open_secret;
use crate::error::{Error, Result};
use crate::mcp::ServerInfo;
use crate::oauth::TokenEndpointAuthMethod;
use crate::oauth::discovery::DiscoveryResult;
use crate::rest::Descriptor;
use crate::rest::descriptor::{ACCESS_TOKEN_FIELD, AuthType, OAuth2Grant};
use crate::rest::request::{self, Credentials, RequestError};

pub(super) async fn connect(ctx: &Context, connector: Connector, asked: Authorization) -> Result<Connector> {
    let descriptor = &connector.rest.as_ref().expect("a REST connector").descriptor;
    let credentials = stored_credentials(ctx, &connector).await?;
    for auth in used_auth_types(descriptor).chain(rest::authorization_code_auth(descriptor)) {
        check_usable(auth, &credentials)?;
    }
    if let Some(auth) = rest::authorization_code_auth(descriptor) {
        let asked = asked_of(auth, &credentials, asked)?;
        let discovery = descriptor_endpoints(auth);
        let url = Url::parse(&connector.url).map_err(|e| Error::Internal(e.into()))?;
        return start_authorization(ctx, connector, &url, asked, discovery).await;
    }
    test_all(ctx, descriptor, &credentials).await?;
    let info = rest::server_info(descriptor);
    finish_connected(ctx, connector, info, None).await
}

/// After the authorization code grant: the test endpoints tried with the new access token
/// (and the other stored credentials), as a connect tries them; what the connector then says
/// of itself.
pub(super) async fn verify_token(
    ctx: &Context,
    connector: &Connector,
    access_token: &SecretString,
) -> Result<ServerInfo> {
    let descriptor = &connector.rest.as_ref().expect("a REST connector").descriptor;
    let mut credentials = stored_credentials(ctx, connector).await?;
    credentials.insert(ACCESS_TOKEN_FIELD.to_owned(), access_token.clone());
    test_all(ctx, descriptor, &credentials).await?;
    Ok(rest::server_info(descriptor))
}

/// The connector's sealed credentials, opened (none set: empty).
async fn stored_credentials(ctx: &Context, connector: &Connector) -> Result<Credentials> {
    match open_secret(&ctx.db, &ctx.keyring, connector, SecretField::RestCredentials).await? {
        Some(secret) => rest::parse(&secret),
        None => Ok(Credentials::new()),
    }
}

/// The descriptor's endpoints in place of discovery: a descriptor names no metadata to read.
/// PKCE S256 is sent all the same (a server without it ignores the parameters, RFC 7636 §5).
fn descriptor_endpoints(auth: &AuthType) -> DiscoveryResult {
    DiscoveryResult {
        auth_url: auth.authorization_url.clone(),
        token_url: auth.token_url.clone(),
        code_challenge_methods_supported: vec!["S256".to_owned()],
        ..DiscoveryResult::default()
    }
}

/// The authorization a connect asks for: the client in the credentials (HTTP Basic with a
/// secret, RFC 6749 §2.3.1, as for client credentials; public without), the descriptor's
/// scopes unless the connect names others.
fn asked_of(auth: &AuthType, credentials: &Credentials, asked: Authorization) -> Result<Authorization> {
    let client_id = credentials.get(auth.client_id_field()).ok_or_else(|| {
        Error::unprocessable(
            "credentials_missing",
            format!("set credentials.{} first", auth.client_id_field()),
        )
    })?;
    let method = match credentials.contains_key(auth.client_secret_field()) {
        true => TokenEndpointAuthMethod::ClientSecretBasic,
        false => TokenEndpointAuthMethod::None,
    };
    let settings = OAuthSettings {
        client_id: Some(client_id.expose_secret().to_owned()),
        scopes: auth.scopes.clone(),
        resource: None,
        token_endpoint_auth_method: Some(method),
    };
    Ok(Authorization { settings, ..asked })
}

/// Tries the test endpoint of every auth type that has one or that an operation uses (an
/// OAuth 2 client-credentials type gets a token first).
async fn test_all(ctx: &Context, descriptor: &Descriptor, credentials: &Credentials) -> Result<()> {
    for auth in &descriptor.authentication {
        let used = used_auth_types(descriptor).any(|u| std::ptr::eq(u, auth));
        if auth.test_endpoint.is_none() && !used {
            continue;
        }
        let credentials = with_access_token(ctx, auth, credentials).await?;
        if auth.test_endpoint.is_some() {
            run_test(ctx, descriptor, auth, &credentials).await?;
        }
    }
    Ok(())
}

/// The auth types some operation authenticates with.
fn used_auth_types(descriptor: &Descriptor) -> impl Iterator<Item = &AuthType> {
    descriptor
        .authentication
        .iter()
        .filter(|a| descriptor.operations.iter().any(|o| o.auth_type_ref.as_deref() == Some(a.reference())))
}

/// The credentials an OAuth 2 client-credentials auth type is used with: plus an access
/// token fetched now, which proves the client (a refused one is `credentials_rejected`). Not
/// kept: calls fetch and cache their own (`upstream::rest`). Other auth types: as they are.
async fn with_access_token<'c>(
    ctx: &Context,
    auth: &AuthType,
    credentials: &'c Credentials,
) -> Result<Cow<'c, Credentials>> {
    if auth.grant_type != Some(OAuth2Grant::ClientCredentials) {
        return Ok(Cow::Borrowed(credentials));
    }
    let tokens = rest::client_credentials(&ctx.net, auth, credentials).await?;
    let mut with_token = credentials.clone();
    with_token.insert(ACCESS_TOKEN_FIELD.to_owned(), tokens.access_token);
    Ok(Cow::Owned(with_token))
}

/// Every required field is set (the access token of an authorization code grant comes from
/// the authorization, not the credentials).
fn check_usable(auth: &AuthType, credentials: &Credentials) -> Result<()> {
    let missing: Vec<String> = auth
        .effective_fields()
        .into_iter()
        .filter(|f| f.required && !credentials.contains_key(&f.key))
        .map(|f| format!("credentials.{}", f.key))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::unprocessable("credentials_missing", format!("set {} first", missing.join(", "))))
}

/// Sends the test request of `auth`; its expected status is the only success.
async fn run_test(
    ctx: &Context,
    descriptor: &Descriptor,
    auth: &AuthType,
    credentials: &Credentials,
) -> Result<()> {
    let test = auth.test_endpoint.as_ref().expect("filtered on a test endpoint");
    let built =
        request::build_test(descriptor, auth, credentials).expect("the auth type has a test endpoint");
    let fetched = rest::send(&ctx.net, built.map_err(unusable)?, rest::MAX_RESPONSE_BODY).await?;
    let status = fetched.status.as_u16();
    if status == test.expected_status {
        return Ok(());
    }
    Err(Error::unprocessable(
        "credentials_rejected",
        format!(
            "the test endpoint of auth type `{}` answered HTTP {status}, not the expected {}",
            auth.reference(),
            test.expected_status
        ),
    ))
}

fn unusable(err: RequestError) -> Error {
    match err {
        RequestError::MissingCredential(key) => {
            Error::unprocessable("credentials_missing", format!("set credentials.{key} first"))
        }
        other => Error::unprocessable("credentials_invalid", other.to_string()),
    }
}
