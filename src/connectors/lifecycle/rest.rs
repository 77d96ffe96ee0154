//! Connect for REST connectors: each auth type with a `test_endpoint` is tried with the stored
//! credentials through the guarded client (an OAuth 2 client-credentials type first gets an
//! access token with them); its `expected_status` means the credentials work (`connected`),
//! anything else is 422 `credentials_rejected` naming the status, and the connector stays as
//! it was.

use std::borrow::Cow;

use super::finish_connected;
use crate::connectors::Context;
use crate::connectors::model::{Connector, SecretField};
use crate::connectors::rest;
use crate::connectors::service::open_secret;
use crate::error::{Error, Result};
use crate::rest::Descriptor;
use crate::rest::descriptor::{ACCESS_TOKEN_FIELD, AuthType, OAuth2Grant};
use crate::rest::request::{self, Credentials, RequestError};

pub(super) async fn connect(ctx: &Context, connector: Connector) -> Result<Connector> {
    let descriptor = &connector.rest.as_ref().expect("a REST connector").descriptor;
    let credentials =
        match open_secret(&ctx.db, &ctx.keyring, &connector, SecretField::RestCredentials).await? {
            Some(secret) => rest::parse(&secret)?,
            None => Credentials::new(),
        };
    for auth in used_auth_types(descriptor) {
        check_usable(auth, &credentials)?;
    }
    for auth in &descriptor.authentication {
        let used = used_auth_types(descriptor).any(|u| std::ptr::eq(u, auth));
        if auth.test_endpoint.is_none() && !used {
            continue;
        }
        let credentials = with_access_token(ctx, auth, &credentials).await?;
        if auth.test_endpoint.is_some() {
            run_test(ctx, descriptor, auth, &credentials).await?;
        }
    }
    let info = rest::server_info(descriptor);
    finish_connected(ctx, connector, info, None).await
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

/// Every required field is set; the OAuth 2 authorization code grant is not served yet (a
/// descriptor saved before it was refused on save may still name it).
fn check_usable(auth: &AuthType, credentials: &Credentials) -> Result<()> {
    rest::check_grant(auth)?;
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
