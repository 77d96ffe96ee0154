//! The one credential resolver: a connector's auth settings and its opened secret become the
//! headers that authenticate a request to its upstream. Pure — the caller opens the secret
//! ([`secret_field`] says which) — so connect's probe (with a token just obtained), the
//! proxy's targets and the MCP client all inject exactly the same thing.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use super::model::{AuthSettings, SecretField};
use crate::error::{Error, Result};

/// The sealed secret a mode's credential is made of; `None` for a mode without one.
pub fn secret_field(auth: Option<&AuthSettings>) -> Option<SecretField> {
    match auth? {
        AuthSettings::None => None,
        AuthSettings::Bearer | AuthSettings::Basic { .. } | AuthSettings::Header { .. } => {
            Some(SecretField::Credential)
        }
        AuthSettings::Oauth2ClientCredentials(_) | AuthSettings::Oauth2AuthorizationCode(_) => {
            Some(SecretField::AccessToken)
        }
    }
}

/// Whether the mode's credential is an OAuth access token (refreshed, not rejected, on 401).
pub fn is_oauth(auth: Option<&AuthSettings>) -> bool {
    secret_field(auth) == Some(SecretField::AccessToken)
}

/// The headers that authenticate requests to the upstream: `secret` is the opened value of
/// [`secret_field`] (the static credential, or the OAuth access token).
pub fn headers(auth: Option<&AuthSettings>, secret: Option<&SecretString>) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(field) = secret_field(auth) else { return Ok(headers) };
    let secret = secret.ok_or_else(|| {
        Error::conflict("credential_missing", format!("the connector has no stored {}", field.as_str()))
    })?;
    let (name, value) = match auth {
        Some(AuthSettings::Basic { username }) => {
            let pair = BASE64.encode(format!("{username}:{}", secret.expose_secret()));
            (AUTHORIZATION, format!("Basic {pair}"))
        }
        Some(AuthSettings::Header { header_name }) => {
            let name = HeaderName::from_bytes(header_name.as_bytes()).context("stored header name")?;
            (name, secret.expose_secret().to_owned())
        }
        // Bearer, and both OAuth modes: the token as a bearer credential.
        _ => (AUTHORIZATION, format!("Bearer {}", secret.expose_secret())),
    };
    headers.insert(name, sensitive(value)?);
    Ok(headers)
}

/// A header value that is never printed (`Debug` of a HeaderMap would show it otherwise).
fn sensitive(value: String) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&value).context("stored credential is not a valid header value")?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::model::OAuthSettings;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn each_mode_becomes_its_header() {
        let one = |auth: AuthSettings, s: &str| {
            let headers = headers(Some(&auth), Some(&secret(s))).unwrap();
            assert_eq!(headers.len(), 1);
            let (name, value) = headers.iter().next().unwrap();
            assert!(value.is_sensitive());
            (name.as_str().to_owned(), value.to_str().unwrap().to_owned())
        };
        assert_eq!(one(AuthSettings::Bearer, "t"), ("authorization".into(), "Bearer t".into()));
        assert_eq!(
            one(AuthSettings::Basic { username: "u".into() }, "p"),
            ("authorization".into(), "Basic dTpw".into())
        );
        assert_eq!(
            one(AuthSettings::Header { header_name: "X-Api-Key".into() }, "k"),
            ("x-api-key".into(), "k".into())
        );
        for oauth in [
            AuthSettings::Oauth2ClientCredentials(OAuthSettings::default()),
            AuthSettings::Oauth2AuthorizationCode(OAuthSettings::default()),
        ] {
            assert!(is_oauth(Some(&oauth)));
            assert_eq!(one(oauth, "at"), ("authorization".into(), "Bearer at".into()));
        }
    }

    #[test]
    fn no_credential_means_no_header_and_a_missing_secret_is_a_conflict() {
        assert!(headers(None, None).unwrap().is_empty());
        assert!(headers(Some(&AuthSettings::None), None).unwrap().is_empty());
        assert_eq!(secret_field(Some(&AuthSettings::Bearer)), Some(SecretField::Credential));
        let missing = headers(Some(&AuthSettings::Bearer), None).unwrap_err();
        assert_eq!(missing.code(), "credential_missing");
        assert!(headers(Some(&AuthSettings::Bearer), Some(&secret("bad\nvalue"))).is_err());
    }
}
