//! Grant mechanics with the oauth2 crate: authorization URL with PKCE S256, code exchange,
//! client credentials, refresh; plus RFC 7009 revocation, written here because the crate
//! refuses non-https revocation URLs and treats a 204 answer as an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::GrantError;
use super::http::{OAuthHttp, OAuthHttpError};
use super::model::TokenEndpointAuthMethod;
use crate::platform::net::{MAX_CONTROL_BODY, Outbound};

/// The client identity presented to a token endpoint.
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<SecretString>,
    pub method: TokenEndpointAuthMethod,
}

/// Tokens from a token response, with the expiry made absolute at receipt.
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token response that tolerates what real servers send: `expires_in` as a string or
/// float, a missing `token_type` (bearer), any letter case.
#[derive(Debug, Serialize, Deserialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    #[serde(
        default = "bearer",
        deserialize_with = "oauth2::helpers::deserialize_untagged_enum_case_insensitive"
    )]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(
        default,
        rename = "scope",
        deserialize_with = "oauth2::helpers::deserialize_space_delimited_vec"
    )]
    scopes: Option<Vec<Scope>>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

impl TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

type TokenClient = Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn token_client(client: &ClientCredentials, token_url: &str) -> Result<TokenClient, GrantError> {
    let token_url = TokenUrl::new(token_url.to_owned())
        .map_err(|e| GrantError::InvalidResponse(format!("token endpoint: {e}")))?;
    let mut c = Client::new(ClientId::new(client.client_id.clone())).set_token_uri(token_url);
    c = match client.method {
        TokenEndpointAuthMethod::ClientSecretPost => c.set_auth_type(AuthType::RequestBody),
        _ => c.set_auth_type(AuthType::BasicAuth),
    };
    if client.method != TokenEndpointAuthMethod::None
        && let Some(secret) = &client.secret
    {
        c = c.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(c)
}

/// The authorization URL for the browser, and the PKCE verifier to keep for the callback.
pub fn authorize_url(
    client_id: &str,
    auth_url: &str,
    redirect_uri: &str,
    scopes: &[String],
    resource: &str,
    state: &str,
) -> Result<(Url, SecretString), GrantError> {
    let auth_url = AuthUrl::new(auth_url.to_owned())
        .map_err(|e| GrantError::InvalidResponse(format!("authorization endpoint: {e}")))?;
    let redirect =
        RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| GrantError::InvalidResponse(e.to_string()))?;
    let client = oauth2::basic::BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(auth_url)
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_owned();
    let mut request = client
        .authorize_url(move || CsrfToken::new(state))
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    if !resource.is_empty() {
        request = request.add_extra_param("resource", resource);
    }
    let (url, _) = request.url();
    Ok((url, SecretString::from(verifier.into_secret())))
}

fn tokens(response: LenientTokenResponse) -> Tokens {
    Tokens {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response.refresh_token().map(|t| SecretString::from(t.secret().to_owned())),
        expires_at: response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d),
    }
}

fn grant_error(err: RequestTokenError<OAuthHttpError, BasicErrorResponse>) -> GrantError {
    match err {
        RequestTokenError::ServerResponse(r) => GrantError::OAuth {
            error: r.error().as_ref().to_owned(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(e) => GrantError::Transport(e.to_string()),
        RequestTokenError::Parse(e, _) => GrantError::InvalidResponse(format!("token response: {e}")),
        RequestTokenError::Other(e) => GrantError::InvalidResponse(e),
    }
}

pub async fn exchange_code(
    net: &Outbound,
    client: &ClientCredentials,
    token_url: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &SecretString,
    resource: &str,
) -> Result<Tokens, GrantError> {
    let redirect =
        RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| GrantError::InvalidResponse(e.to_string()))?;
    let token_client = token_client(client, token_url)?.set_redirect_uri(redirect);
    let mut request = token_client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
    if !resource.is_empty() {
        request = request.add_extra_param("resource", resource);
    }
    let result = request.request_async(&OAuthHttp(net)).await.map(tokens).map_err(grant_error);
    super::record_token_request("authorization_code", &result);
    result
}

/// The client credentials grant; `resource` (RFC 8707) where the protected resource has an
/// identifier (an MCP server has; a plain REST API named by a descriptor has none).
pub async fn client_credentials(
    net: &Outbound,
    client: &ClientCredentials,
    token_url: &str,
    scopes: &[String],
    resource: Option<&str>,
) -> Result<Tokens, GrantError> {
    let token_client = token_client(client, token_url)?;
    let mut request =
        token_client.exchange_client_credentials().add_scopes(scopes.iter().cloned().map(Scope::new));
    if let Some(resource) = resource {
        request = request.add_extra_param("resource", resource);
    }
    let result = request.request_async(&OAuthHttp(net)).await.map(tokens).map_err(grant_error);
    super::record_token_request("client_credentials", &result);
    result
}

pub async fn refresh(
    net: &Outbound,
    client: &ClientCredentials,
    token_url: &str,
    refresh_token: &SecretString,
    resource: &str,
) -> Result<Tokens, GrantError> {
    let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    let token_client = token_client(client, token_url)?;
    let mut request = token_client.exchange_refresh_token(&refresh_token);
    if !resource.is_empty() {
        request = request.add_extra_param("resource", resource);
    }
    let result = request.request_async(&OAuthHttp(net)).await.map(tokens).map_err(grant_error);
    super::record_token_request("refresh_token", &result);
    result
}

/// RFC 7009 revocation. Any 2xx is success (servers answer 200 or 204).
pub async fn revoke(
    net: &Outbound,
    client: &ClientCredentials,
    revocation_url: &str,
    token: &SecretString,
    hint: &str,
) -> Result<(), GrantError> {
    let url = Url::parse(revocation_url)
        .map_err(|e| GrantError::InvalidResponse(format!("revocation endpoint: {e}")))?;
    let mut form = vec![("token", token.expose_secret().to_owned()), ("token_type_hint", hint.to_owned())];
    let mut request = net.request(Method::POST, &url)?;
    match (&client.method, &client.secret) {
        (TokenEndpointAuthMethod::ClientSecretBasic, Some(secret)) => {
            // RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&client.client_id), Some(enc(secret.expose_secret())));
        }
        (TokenEndpointAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", client.client_id.clone()));
            form.push(("client_secret", secret.expose_secret().to_owned()));
        }
        _ => form.push(("client_id", client.client_id.clone())),
    }
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    let request =
        request.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    let fetched = net.fetch(request, MAX_CONTROL_BODY).await?;
    if fetched.status.is_success() {
        Ok(())
    } else {
        Err(GrantError::from_error_body(fetched.status, &fetched.body, "revocation"))
    }
}
