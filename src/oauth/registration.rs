//! Dynamic client registration (RFC 7591).

use chrono::{DateTime, TimeZone as _, Utc};
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::GrantError;
use super::model::TokenEndpointAuthMethod;
use crate::platform::net::{MAX_CONTROL_BODY, Outbound};

/// A client the authorization server registered for us.
#[derive(Debug)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub client_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    client_secret_expires_at: Option<i64>,
}

/// Our preference among what the AS supports: a confidential client when possible.
pub fn choose_auth_method(supported: &[String]) -> Option<TokenEndpointAuthMethod> {
    [
        ("client_secret_basic", TokenEndpointAuthMethod::ClientSecretBasic),
        ("client_secret_post", TokenEndpointAuthMethod::ClientSecretPost),
        ("none", TokenEndpointAuthMethod::None),
    ]
    .into_iter()
    .find(|(name, _)| supported.iter().any(|s| s == name))
    .map(|(_, method)| method)
}

pub fn parse_auth_method(name: &str) -> Option<TokenEndpointAuthMethod> {
    match name {
        "client_secret_basic" => Some(TokenEndpointAuthMethod::ClientSecretBasic),
        "client_secret_post" => Some(TokenEndpointAuthMethod::ClientSecretPost),
        "none" => Some(TokenEndpointAuthMethod::None),
        _ => None,
    }
}

pub fn auth_method_name(method: TokenEndpointAuthMethod) -> &'static str {
    match method {
        TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
        TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
        TokenEndpointAuthMethod::None => "none",
    }
}

pub async fn register(
    net: &Outbound,
    register_url: &Url,
    redirect_uri: &str,
    supported_methods: &[String],
) -> Result<Registration, GrantError> {
    let result = register_once(net, register_url, redirect_uri, supported_methods).await;
    let outcome = super::grant_outcome(&result);
    metrics::counter!(crate::platform::metrics::REGISTRATIONS, "outcome" => outcome).increment(1);
    result
}

async fn register_once(
    net: &Outbound,
    register_url: &Url,
    redirect_uri: &str,
    supported_methods: &[String],
) -> Result<Registration, GrantError> {
    let requested = choose_auth_method(supported_methods).ok_or_else(|| {
        GrantError::Unsupported(format!(
            "the authorization server supports none of client_secret_basic, client_secret_post, none (it lists {supported_methods:?})"
        ))
    })?;
    let body = json!({
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Switchboard",
        "application_type": "web",
        "token_endpoint_auth_method": auth_method_name(requested),
    });
    let request = net.request(Method::POST, register_url)?.json(&body);
    let fetched = net.fetch(request, MAX_CONTROL_BODY).await?;
    if !fetched.status.is_success() {
        return Err(GrantError::from_error_body(fetched.status, &fetched.body, "registration"));
    }
    let response: RegistrationResponse = serde_json::from_slice(&fetched.body)
        .map_err(|e| GrantError::InvalidResponse(format!("registration response: {e}")))?;
    // RFC 7591: the server may change what we asked for; what it returns is what holds.
    let secret = response.client_secret.filter(|s| !s.is_empty());
    let method = match response.token_endpoint_auth_method.as_deref() {
        Some(name) => parse_auth_method(name).ok_or_else(|| {
            GrantError::Unsupported(format!(
                "the authorization server registered us with {name}, which we cannot use"
            ))
        })?,
        None if secret.is_some() => TokenEndpointAuthMethod::ClientSecretBasic,
        None => TokenEndpointAuthMethod::None,
    };
    if method != TokenEndpointAuthMethod::None && secret.is_none() {
        return Err(GrantError::InvalidResponse(
            "registered a confidential client without a client_secret".into(),
        ));
    }
    Ok(Registration {
        client_id: response.client_id,
        client_secret: secret.map(SecretString::from),
        token_endpoint_auth_method: method,
        client_secret_expires_at: response
            .client_secret_expires_at
            .filter(|&t| t > 0)
            .and_then(|t| Utc.timestamp_opt(t, 0).single()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_method_preference_is_basic_then_post_then_none() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            choose_auth_method(&s(&["none", "client_secret_post", "client_secret_basic"])),
            Some(TokenEndpointAuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            choose_auth_method(&s(&["none", "client_secret_post"])),
            Some(TokenEndpointAuthMethod::ClientSecretPost)
        );
        assert_eq!(choose_auth_method(&s(&["none", "private_key_jwt"])), Some(TokenEndpointAuthMethod::None));
        assert_eq!(choose_auth_method(&s(&["private_key_jwt"])), None);
    }
}
