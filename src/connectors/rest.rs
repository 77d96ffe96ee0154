//! REST connectors (issue 15, seed 004), the connector side: a descriptor is checked on save
//! (every rule of [`crate::rest::validate`] plus the SSRF rules on every URL it would make
//! Switchboard call, all reported at once), credentials are checked against the descriptor's
//! fields and sealed as one value, and a built request is sent through the guarded client.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::model::{Connector, RestConfig, SecretField};
use crate::error::{Error, Result, Validator};
use crate::mcp::ServerInfo;
use crate::oauth::grant::{self, ClientCredentials, Tokens};
use crate::oauth::{GrantError, TokenEndpointAuthMethod};
use crate::platform::crypto::{Keyring, Sealed};
use crate::platform::net::{Fetched, NetError, Outbound};
use crate::rest::descriptor::{AuthType, OAuth2Grant};
use crate::rest::request::{Credentials, OutboundRequest};
use crate::rest::{Descriptor, headers, rules};

/// Longest value of one credential field.
pub const MAX_CREDENTIAL_LEN: usize = 8192;

/// Credentials as a create or PATCH gives them: field key → value; `null` (PATCH) clears one.
pub type CredentialsInput = BTreeMap<String, Option<SecretString>>;

/// Checks a request's `descriptor` (errors named `descriptor.…`); the descriptor when it has
/// the right shape, even if it breaks rules, so the caller can report every problem at once.
pub fn check_descriptor(net: &Outbound, value: Value, v: &mut Validator) -> Option<Descriptor> {
    let (descriptor, errors) = match crate::rest::read(value) {
        Ok(read) => read,
        Err(errors) => {
            errors.into_iter().for_each(|e| v.push(under_descriptor(&e.field), e.message));
            return None;
        }
    };
    errors.into_iter().for_each(|e| v.push(under_descriptor(&e.field), e.message));
    for (field, template) in descriptor.urls() {
        if let Some(Err(NetError::DestinationNotAllowed(why))) =
            probe_url(template).map(|u| net.check_url(&u))
        {
            v.push(under_descriptor(&field), format!("destination not allowed: {why}"));
        }
    }
    Some(descriptor)
}

fn under_descriptor(field: &str) -> String {
    if field == "descriptor" { field.to_owned() } else { format!("descriptor.{field}") }
}

/// The URL a template stands for, with each `{placeholder}` filled by a dummy segment; `None`
/// when it is no URL (validation reports that).
fn probe_url(template: &str) -> Option<Url> {
    let filled = rules::fill(template, |_| Ok::<_, ()>("x".to_owned())).ok()?;
    Url::parse(&filled).ok()
}

/// What a valid descriptor may say that REST connectors cannot do: more than one auth type
/// with the OAuth 2 `authorization_code` grant (a connector holds one grant, from one
/// person's consent). 422 `rest_oauth2_unsupported` naming them, checked on create and PATCH
/// after the rules, so nothing is saved that could never connect.
pub fn check_supported(descriptor: &Descriptor) -> Result<()> {
    let code: Vec<&str> = descriptor
        .authentication
        .iter()
        .filter(|a| a.grant_type == Some(OAuth2Grant::AuthorizationCode))
        .map(AuthType::reference)
        .collect();
    if code.len() <= 1 {
        return Ok(());
    }
    Err(Error::unprocessable(
        "rest_oauth2_unsupported",
        format!(
            "auth types `{}` all use the OAuth 2 `authorization_code` grant; a REST connector holds one authorization, so at most one auth type may use that grant",
            code.join("`, `")
        ),
    ))
}

/// The descriptor's auth type with the OAuth 2 `authorization_code` grant (at most one, by
/// [`check_supported`]): the connector is authorized by a person for it, and its token is
/// the connector's stored OAuth access token.
pub fn authorization_code_auth(descriptor: &Descriptor) -> Option<&AuthType> {
    descriptor.authentication.iter().find(|a| a.grant_type == Some(OAuth2Grant::AuthorizationCode))
}

/// The connector's display URL: the origin of the first URL the descriptor calls.
pub fn display_url(descriptor: &Descriptor, v: &mut Validator) -> Option<Url> {
    let first = descriptor.urls().into_iter().find_map(|(_, template)| probe_url(template));
    v.check(first.is_some(), "descriptor.operations", "a REST connector needs at least one operation");
    first.and_then(|url| Url::parse(&url.origin().ascii_serialization()).ok())
}

/// The origins (scheme, host, port) of every URL the descriptor calls.
pub fn origins(descriptor: &Descriptor) -> BTreeSet<String> {
    let urls = descriptor.urls().into_iter().filter_map(|(_, template)| probe_url(template));
    urls.map(|url| url.origin().ascii_serialization()).collect()
}

/// Stored credentials never follow a connector to a host its old descriptor did not call: a
/// key with write scope could otherwise send them to a server of its own. A new descriptor
/// that calls other hosts needs every stored credential given again (or cleared).
pub fn check_credentials_follow(
    old: &Descriptor,
    new: &Descriptor,
    stored: &Credentials,
    changes: &CredentialsInput,
    v: &mut Validator,
) {
    if origins(new).is_subset(&origins(old)) {
        return;
    }
    for key in stored.keys().filter(|key| !changes.contains_key(*key)) {
        v.push(
            format!("credentials.{key}"),
            "the new descriptor calls hosts the old one did not: give this credential again",
        );
    }
}

/// Every credential key names a field of the descriptor's `authentication`, and every value
/// can travel in a header.
pub fn check_credentials(descriptor: &Descriptor, credentials: &CredentialsInput, v: &mut Validator) {
    let known: Vec<String> =
        descriptor.authentication.iter().flat_map(|a| a.effective_fields()).map(|f| f.key).collect();
    for (key, value) in credentials {
        let field = format!("credentials.{key}");
        v.check(known.contains(key), &field, "the descriptor's authentication has no such field");
        let Some(value) = value else { continue };
        let value = value.expose_secret();
        v.check(!value.is_empty(), &field, "must not be empty");
        v.check(value.len() <= MAX_CREDENTIAL_LEN, &field, format!("at most {MAX_CREDENTIAL_LEN} bytes"));
        v.check(headers::is_header_value(value), &field, "must not contain control characters");
    }
}

/// `stored` with `changes` applied, keeping only the fields `descriptor` still declares.
pub fn merge(descriptor: &Descriptor, mut stored: Credentials, changes: CredentialsInput) -> Credentials {
    for (key, value) in changes {
        match value {
            Some(value) => stored.insert(key, value),
            None => stored.remove(&key),
        };
    }
    let known: Vec<String> =
        descriptor.authentication.iter().flat_map(|a| a.effective_fields()).map(|f| f.key).collect();
    stored.retain(|key, _| known.contains(key));
    stored
}

/// The configuration stored in clear for `descriptor` and `credentials`.
pub fn config(descriptor: Descriptor, credentials: &Credentials) -> RestConfig {
    RestConfig { descriptor, credential_fields: credentials.keys().cloned().collect() }
}

/// The credentials sealed as one value, bound to the connector.
pub fn seal(keyring: &Keyring, connector: &Connector, credentials: &Credentials) -> Sealed {
    let plain: BTreeMap<&str, &str> =
        credentials.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
    let json = SecretString::from(serde_json::to_string(&plain).expect("a string map serialises"));
    let field = SecretField::RestCredentials;
    keyring.seal_str(&json, &field.aad(connector.tenant_id, connector.id))
}

/// The credentials from their opened sealed value.
pub fn parse(secret: &SecretString) -> Result<Credentials> {
    let plain: BTreeMap<String, String> = serde_json::from_str(secret.expose_secret())
        .map_err(|_| Error::Internal(anyhow::anyhow!("stored REST credentials are not a JSON object")))?;
    Ok(plain.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect())
}

/// An access token for the OAuth 2 client-credentials auth type `auth`, from its token URL
/// through the guarded client (the SSRF rules, no redirects), the client authenticating with
/// HTTP Basic (RFC 6749 §2.3.1: the one method every server must support). No `resource` is
/// sent: a REST API named by a descriptor has no resource identifier to give.
pub async fn client_credentials(
    net: &Outbound,
    auth: &AuthType,
    credentials: &Credentials,
) -> Result<Tokens> {
    let field = |key: &str| {
        credentials.get(key).ok_or_else(|| {
            Error::unprocessable("credentials_missing", format!("set credentials.{key} first"))
        })
    };
    let client = ClientCredentials {
        client_id: field(auth.client_id_field())?.expose_secret().to_owned(),
        secret: Some(field(auth.client_secret_field())?.clone()),
        method: TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let token_url = auth
        .token_url
        .as_deref()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("a validated oauth2 auth type has a token_url")))?;
    let reference = auth.reference();
    grant::client_credentials(net, &client, token_url, &auth.scopes, None).await.map_err(|err| match err {
        GrantError::Refused(refused) => Error::from(refused),
        GrantError::OAuth { .. } => Error::unprocessable(
            "credentials_rejected",
            format!("the token endpoint of auth type `{reference}` refused the client: {err}"),
        ),
        other => Error::upstream(
            "token_request_failed",
            format!("the token endpoint of auth type `{reference}` failed: {other}"),
        ),
    })
}

/// Largest response body read from a REST API (a tool result or a test endpoint's answer).
pub const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

/// Sends `request` through the guarded client (SSRF guard, no redirects, connect and total
/// timeouts), reading at most `max_body` bytes of the answer.
pub async fn send(net: &Outbound, request: OutboundRequest, max_body: usize) -> Result<Fetched, NetError> {
    let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes()).expect("a known method");
    let mut builder = net.request(method, &request.url)?;
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    for (name, value) in &request.auth_headers {
        let mut value = reqwest::header::HeaderValue::from_str(value.expose_secret())
            .map_err(|_| NetError::Unreachable(format!("header `{name}` is not a valid value")))?;
        value.set_sensitive(true);
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.to_string());
    }
    net.fetch(builder, max_body).await
}

/// What a REST connector says of itself in place of an MCP server's `initialize` answer.
pub fn server_info(descriptor: &Descriptor) -> ServerInfo {
    let metadata = &descriptor.metadata;
    let name = descriptor.mcp_config.server_name.clone().or_else(|| metadata.slug.clone());
    ServerInfo {
        name: name.or_else(|| Some(metadata.name.clone())),
        title: Some(metadata.name.clone()),
        version: metadata.version.clone(),
        protocol_version: None,
        capabilities: json!({ "tools": {} }),
        instructions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket_system() -> Value {
        let text = include_str!("../../tests/fixtures/rest/ticket-system.yaml");
        crate::rest::parse::read_value(text, crate::rest::Format::Yaml, 1 << 20).unwrap()
    }

    fn fields(v: Validator) -> Vec<String> {
        match v.finish() {
            Err(Error::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn private_endpoints_are_refused_with_the_rule_errors() {
        let mut value = ticket_system();
        value["operations"][1]["endpoint"] = "http://127.0.0.1:8080/tickets/{ticket_id}".into();
        value["mcp_config"]["server_name"] = Value::Null;
        let mut v = Validator::default();
        let descriptor = check_descriptor(&Outbound::new(false), value, &mut v);
        assert!(descriptor.is_some());
        assert_eq!(fields(v), ["descriptor.mcp_config.server_name", "descriptor.operations[1].endpoint"]);
    }

    #[test]
    fn credentials_must_name_declared_fields_and_fit_a_header() {
        let mut v = Validator::default();
        let descriptor = check_descriptor(&Outbound::new(false), ticket_system(), &mut v).unwrap();
        let given: CredentialsInput = [
            ("api_key".to_owned(), Some(SecretString::from("k\r\nX-Evil: 1"))),
            ("token".to_owned(), Some(SecretString::from("t"))),
        ]
        .into();
        check_credentials(&descriptor, &given, &mut v);
        assert_eq!(fields(v), ["credentials.api_key", "credentials.token"]);
    }

    #[test]
    fn a_merge_applies_changes_and_drops_undeclared_fields() {
        let descriptor = check_descriptor(&Outbound::new(false), ticket_system(), &mut Validator::default());
        let stored: Credentials = [("old".to_owned(), SecretString::from("o"))].into();
        let changes: CredentialsInput = [("api_key".to_owned(), Some(SecretString::from("k")))].into();
        let merged = merge(&descriptor.unwrap(), stored, changes);
        assert_eq!(merged.keys().collect::<Vec<_>>(), ["api_key"]);
    }

    #[test]
    fn the_display_url_is_the_first_endpoints_origin() {
        let descriptor = check_descriptor(&Outbound::new(false), ticket_system(), &mut Validator::default());
        let url = display_url(&descriptor.unwrap(), &mut Validator::default()).unwrap();
        assert_eq!(url.as_str(), "https://tickets.internal.com/");
    }
}
