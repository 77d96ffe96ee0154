//! Opening a connector's credential and turning it into the headers an upstream expects.
//! The probe uses this today; the proxy will inject the same headers.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use super::model::{AuthSettings, Connector, SecretField};
use super::service::open_secret;
use crate::error::{Error, Result};
use crate::platform::crypto::Keyring;

/// A header value that is never printed (`Debug` of a HeaderMap would show it otherwise).
fn sensitive(value: String) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&value).context("stored credential is not a valid header value")?;
    v.set_sensitive(true);
    Ok(v)
}

pub fn bearer(token: &SecretString) -> Result<HeaderValue> {
    sensitive(format!("Bearer {}", token.expose_secret()))
}

async fn required(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    c: &Connector,
    field: SecretField,
) -> Result<SecretString> {
    open_secret(db, keyring, c, field).await?.ok_or_else(|| {
        Error::conflict("credential_missing", format!("the connector has no stored {}", field.as_str()))
    })
}

/// The headers that authenticate requests to this connector's upstream (one read on `db`).
pub async fn upstream_headers(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    c: &Connector,
) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    match &c.auth {
        None | Some(AuthSettings::None) => {}
        Some(AuthSettings::Bearer) => {
            headers.insert(AUTHORIZATION, bearer(&required(db, keyring, c, SecretField::Credential).await?)?);
        }
        Some(AuthSettings::Basic { username }) => {
            let password = required(db, keyring, c, SecretField::Credential).await?;
            let pair = BASE64.encode(format!("{username}:{}", password.expose_secret()));
            headers.insert(AUTHORIZATION, sensitive(format!("Basic {pair}"))?);
        }
        Some(AuthSettings::Header { header_name }) => {
            let value = required(db, keyring, c, SecretField::Credential).await?;
            let name = HeaderName::from_bytes(header_name.as_bytes()).context("stored header name")?;
            headers.insert(name, sensitive(value.expose_secret().to_owned())?);
        }
        Some(AuthSettings::Oauth2ClientCredentials(_) | AuthSettings::Oauth2AuthorizationCode(_)) => {
            headers
                .insert(AUTHORIZATION, bearer(&required(db, keyring, c, SecretField::AccessToken).await?)?);
        }
    }
    Ok(headers)
}
