//! Authorization discovery for an MCP server (MCP 2025-11-25 §Authorization):
//! 1. probe with `initialize`; a 401/403 challenge may name `resource_metadata` and `scope`;
//! 2. protected resource metadata (RFC 9728): the challenge's URL (same origin only), else
//!    `/.well-known/oauth-protected-resource/<path>`, then the root form; its `resource` must
//!    be on the server's origin and a prefix of its path;
//! 3. authorization server metadata in the mandated order (RFC 8414 path-insert, OIDC
//!    path-insert, OIDC path-append), accepting a document only if its `issuer` matches.
//!
//! Failures never abort: the result carries `error` and `warnings` so a console can say
//! what happened.

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use crate::mcp::ServerInfo;
use crate::mcp::Transport;
use crate::mcp::probe::{self, ProbeError, ProbeOutcome};
use crate::platform::challenge::Challenge;
use crate::platform::net::{MAX_CONTROL_BODY, NetError, Outbound};

/// What discovery learned about how to authenticate to an MCP server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiscoveryResult {
    /// `true`: the server refused `initialize` without credentials (or publishes protected
    /// resource metadata); `false`: it answered `initialize` without any; `null`: unknown,
    /// because the server could not be reached or gave no usable answer.
    pub requires_auth: Option<bool>,
    /// `none`, `oauth2_authorization_code`, `oauth2_client_credentials` or `bearer`.
    pub recommended_auth_mode: Option<String>,
    /// The RFC 8707 resource indicator to request tokens for.
    pub resource: Option<String>,
    pub resource_metadata_url: Option<String>,
    pub authorization_servers: Vec<String>,
    pub issuer: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub register_url: Option<String>,
    pub revocation_url: Option<String>,
    /// The challenge's `scope` if it had one, else the resource's `scopes_supported`.
    pub scopes: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: the AS promises `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: bool,
    /// Present when the server answered `initialize` without credentials.
    pub server_info: Option<ServerInfo>,
    pub warnings: Vec<String>,
    /// Why discovery could not complete, if it could not.
    pub error: Option<String>,
}

impl DiscoveryResult {
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported.iter().any(|m| m == "S256")
    }

    /// Discovery that could not even start: what is known is why.
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self { error: Some(format!("could not reach the server: {error}")), ..Self::default() }
    }

    /// Known to need credentials.
    pub fn requires_auth(&self) -> bool {
        self.requires_auth == Some(true)
    }
}

/// RFC 9728 protected resource metadata (the members we use).
#[derive(Debug, Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
}

/// RFC 8414 / OIDC discovery metadata (the members we use).
#[derive(Debug, Deserialize)]
struct AuthServerMetadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    registration_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    grant_types_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    client_id_metadata_document_supported: bool,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Runs discovery for the MCP server at `url`. Fails only when the destination guard refuses
/// the server (an internal address, or a name that resolves only to internal addresses): that
/// is the caller's mistake, answered like an IP literal would be. Every other failure is in
/// the result (`error`, `warnings`).
pub async fn discover(net: &Outbound, url: &Url, transport: Transport) -> Result<DiscoveryResult, NetError> {
    let mut result = DiscoveryResult::default();
    let challenge = match probe::probe(net, url, transport, &Default::default()).await {
        Ok(ProbeOutcome::Ready(info)) => {
            result.requires_auth = Some(false);
            result.server_info = Some(info);
            result.recommended_auth_mode = Some("none".into());
            return Ok(result);
        }
        Ok(ProbeOutcome::AuthRequired { challenges, .. }) => {
            result.requires_auth = Some(true);
            challenges.into_iter().find(Challenge::is_bearer)
        }
        Ok(ProbeOutcome::Refused { status }) => {
            let hint = match (transport, status.as_u16()) {
                (Transport::StreamableHttp, 400 | 404 | 405) => {
                    "; if this is a legacy HTTP+SSE server, use transport `sse`"
                }
                _ => "",
            };
            result.warnings.push(format!("the server answered initialize with HTTP {status}{hint}"));
            None
        }
        Err(ProbeError::Net(err @ NetError::DestinationNotAllowed(_))) => return Err(err),
        Err(ProbeError::Net(err)) => return Ok(DiscoveryResult::failed(err)),
        Err(err @ ProbeError::Protocol(_)) => {
            result.warnings.push(err.to_string());
            None
        }
    };
    if let Some(scope) = challenge.as_ref().and_then(|c| c.param("scope")) {
        result.scopes = scope.split_whitespace().map(str::to_owned).collect();
    }
    let challenge_url = challenge.as_ref().and_then(|c| c.param("resource_metadata")).map(str::to_owned);

    let Some((metadata_url, prm)) = resource_metadata(net, url, challenge_url, &mut result).await else {
        no_resource_metadata(&mut result);
        return Ok(result);
    };
    apply_resource(&mut result, metadata_url, &prm);
    let Some(issuer) = prm.authorization_servers.first() else {
        result.error = Some("the protected resource metadata lists no authorization server".into());
        return Ok(result);
    };
    match auth_server_metadata(net, issuer, &mut result).await {
        Some(metadata) => apply_auth_server(&mut result, metadata),
        None => result.error = Some(format!("no usable authorization server metadata for {issuer}")),
    }
    Ok(result)
}

/// The authorization servers an upstream names when it answers with `challenge` (a 401 or
/// 403 to a later request): from its protected resource metadata, found as discovery finds
/// it. Empty when it publishes none.
pub async fn authorization_servers(net: &Outbound, url: &Url, challenge: Option<&Challenge>) -> Vec<String> {
    let from_challenge = challenge.and_then(|c| c.param("resource_metadata")).map(str::to_owned);
    let mut ignored = DiscoveryResult::default();
    match resource_metadata(net, url, from_challenge, &mut ignored).await {
        Some((_, prm)) => prm.authorization_servers,
        None => Vec::new(),
    }
}

/// Whether `issuer` is one of `servers` (a trailing slash on the root path aside).
pub fn names_issuer(servers: &[String], issuer: &str) -> bool {
    servers.iter().any(|s| issuer_matches(s, issuer))
}

async fn get_json<T: DeserializeOwned>(net: &Outbound, url: &Url) -> Result<T, String> {
    let request =
        net.request(Method::GET, url).map_err(|e| e.to_string())?.header(ACCEPT, "application/json");
    let fetched = net.fetch(request, MAX_CONTROL_BODY).await.map_err(|e: NetError| e.to_string())?;
    if !fetched.status.is_success() {
        return Err(format!("HTTP {}", fetched.status));
    }
    serde_json::from_slice(&fetched.body).map_err(|e| format!("not a valid document: {e}"))
}

/// Candidate PRM URLs in order: the challenge's (if same-origin), path-insert, root.
fn resource_metadata_urls(
    url: &Url,
    from_challenge: Option<String>,
    result: &mut DiscoveryResult,
) -> Vec<Url> {
    let mut candidates = Vec::new();
    if let Some(raw) = from_challenge {
        match Url::parse(&raw) {
            Ok(u) if u.origin() == url.origin() => candidates.push(u),
            Ok(_) => {
                result.warnings.push(format!("ignored resource_metadata {raw}: not on the server's origin"))
            }
            Err(_) => result.warnings.push(format!("ignored resource_metadata {raw}: not a URL")),
        }
    }
    let path = url.path().trim_end_matches('/');
    if !path.is_empty() {
        candidates.push(well_known(url, "oauth-protected-resource", path));
    }
    candidates.push(well_known(url, "oauth-protected-resource", ""));
    candidates
}

fn well_known(base: &Url, name: &str, suffix: &str) -> Url {
    let mut u = base.clone();
    u.set_path(&format!("/.well-known/{name}{suffix}"));
    u.set_query(None);
    u.set_fragment(None);
    u
}

async fn resource_metadata(
    net: &Outbound,
    url: &Url,
    from_challenge: Option<String>,
    result: &mut DiscoveryResult,
) -> Option<(String, ResourceMetadata)> {
    for candidate in resource_metadata_urls(url, from_challenge, result) {
        match get_json::<ResourceMetadata>(net, &candidate).await {
            Ok(prm) if resource_matches(url, &prm.resource) => return Some((candidate.to_string(), prm)),
            Ok(prm) => result
                .warnings
                .push(format!("ignored {candidate}: its resource {} does not cover {url}", prm.resource)),
            Err(why) => result.warnings.push(format!("no protected resource metadata at {candidate}: {why}")),
        }
    }
    None
}

/// The PRM `resource` must name this server: same origin, and a path prefix of its URL
/// (many servers publish `https://host` for `https://host/mcp`).
fn resource_matches(server: &Url, resource: &str) -> bool {
    let Ok(resource) = Url::parse(resource) else { return false };
    if resource.origin() != server.origin() || resource.fragment().is_some() {
        return false;
    }
    let prefix = resource.path().trim_end_matches('/');
    let path = server.path();
    path.starts_with(prefix) && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

/// AS metadata URLs in the order MCP mandates.
pub fn auth_server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        return vec![
            well_known(issuer, "oauth-authorization-server", ""),
            well_known(issuer, "openid-configuration", ""),
        ];
    }
    let mut appended = issuer.clone();
    appended.set_path(&format!("{path}/.well-known/openid-configuration"));
    appended.set_query(None);
    vec![
        well_known(issuer, "oauth-authorization-server", path),
        well_known(issuer, "openid-configuration", path),
        appended,
    ]
}

/// Issuers are compared exactly, tolerating only a trailing slash on the root path.
fn issuer_matches(expected: &str, actual: &str) -> bool {
    expected == actual || expected.trim_end_matches('/') == actual.trim_end_matches('/')
}

async fn auth_server_metadata(
    net: &Outbound,
    issuer: &str,
    result: &mut DiscoveryResult,
) -> Option<AuthServerMetadata> {
    let issuer_url = match Url::parse(issuer) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => {
            result.warnings.push(format!("authorization server {issuer} is not an http(s) URL"));
            return None;
        }
    };
    for candidate in auth_server_metadata_urls(&issuer_url) {
        match get_json::<AuthServerMetadata>(net, &candidate).await {
            Ok(md) if issuer_matches(issuer, &md.issuer) => return Some(md),
            Ok(md) => {
                result.warnings.push(format!("ignored {candidate}: its issuer {} is not {issuer}", md.issuer))
            }
            Err(why) => {
                result.warnings.push(format!("no authorization server metadata at {candidate}: {why}"))
            }
        }
    }
    None
}

/// No usable protected resource metadata: say what that means for authenticating.
fn no_resource_metadata(result: &mut DiscoveryResult) {
    if result.requires_auth() {
        result.error = Some(
            "the server requires authorization but publishes no usable protected resource metadata".into(),
        );
        result.recommended_auth_mode = Some("bearer".into());
    } else if result.error.is_none() {
        result.error = Some("the server did not complete initialize".into());
    }
}

/// What the protected resource metadata at `metadata_url` says (scopes only when the
/// challenge named none).
fn apply_resource(result: &mut DiscoveryResult, metadata_url: String, prm: &ResourceMetadata) {
    result.requires_auth = Some(true);
    result.resource_metadata_url = Some(metadata_url);
    result.resource = Some(prm.resource.clone());
    if result.scopes.is_empty() {
        result.scopes = prm.scopes_supported.clone().unwrap_or_default();
    }
    result.authorization_servers = prm.authorization_servers.clone();
}

fn apply_auth_server(result: &mut DiscoveryResult, md: AuthServerMetadata) {
    result.issuer = Some(md.issuer);
    result.auth_url = md.authorization_endpoint;
    result.token_url = md.token_endpoint;
    result.register_url = md.registration_endpoint;
    result.revocation_url = md.revocation_endpoint;
    // RFC 8414 §2: when omitted, the default is client_secret_basic.
    result.token_endpoint_auth_methods_supported =
        md.token_endpoint_auth_methods_supported.unwrap_or_else(|| vec!["client_secret_basic".into()]);
    result.code_challenge_methods_supported = md.code_challenge_methods_supported.unwrap_or_default();
    result.client_id_metadata_document_supported = md.client_id_metadata_document_supported;
    result.authorization_response_iss_parameter_supported = md.authorization_response_iss_parameter_supported;
    if !result.supports_s256() {
        result.warnings.push(
            "the authorization server does not advertise PKCE S256; authorization code flow will be refused"
                .into(),
        );
    }
    for (name, endpoint) in
        [("authorization_endpoint", &result.auth_url), ("token_endpoint", &result.token_url)]
    {
        if endpoint
            .as_deref()
            .is_some_and(|e| !Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        {
            result.warnings.push(format!("{name} is not an http(s) URL and will not be used"));
        }
    }
    let grants = md.grant_types_supported.unwrap_or_default();
    result.recommended_auth_mode = Some(
        if result.auth_url.is_some() {
            "oauth2_authorization_code"
        } else if grants.iter().any(|g| g == "client_credentials") {
            "oauth2_client_credentials"
        } else {
            "bearer"
        }
        .into(),
    );
    if result.register_url.is_none() && !result.client_id_metadata_document_supported {
        result.warnings.push("the authorization server offers neither dynamic registration nor client metadata documents; a pre-registered client_id is needed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        auth_server_metadata_urls(&Url::parse(issuer).unwrap()).iter().map(Url::to_string).collect()
    }

    #[test]
    fn auth_server_metadata_order_follows_the_spec() {
        assert_eq!(
            urls("https://auth.example.com/tenant1/"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://auth.example.com"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn resource_metadata_candidates_prefer_the_challenge_then_path_then_root() {
        let url = Url::parse("https://mcp.example.com/public/mcp/").unwrap();
        let mut r = DiscoveryResult::default();
        let got: Vec<String> =
            resource_metadata_urls(&url, Some("https://mcp.example.com/prm".into()), &mut r)
                .iter()
                .map(Url::to_string)
                .collect();
        assert_eq!(
            got,
            [
                "https://mcp.example.com/prm",
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        let got = resource_metadata_urls(&url, Some("https://evil.example.com/prm".into()), &mut r);
        assert_eq!(got.len(), 2, "cross-origin resource_metadata is ignored");
        assert!(r.warnings[0].contains("evil.example.com"));
        let root = Url::parse("https://mcp.example.com").unwrap();
        assert_eq!(resource_metadata_urls(&root, None, &mut r).len(), 1);
    }

    #[test]
    fn resource_must_be_same_origin_and_a_path_prefix() {
        let server = Url::parse("https://mcp.example.com/mcp/v1").unwrap();
        for ok in [
            "https://mcp.example.com",
            "https://mcp.example.com/",
            "https://mcp.example.com/mcp",
            "https://MCP.example.com/mcp/v1",
        ] {
            assert!(resource_matches(&server, ok), "{ok}");
        }
        for bad in [
            "https://other.example.com/mcp",
            "http://mcp.example.com/mcp",
            "https://mcp.example.com/mc",
            "https://mcp.example.com/mcp/v2",
            "not a url",
        ] {
            assert!(!resource_matches(&server, bad), "{bad}");
        }
    }

    #[test]
    fn issuers_match_exactly_but_for_a_trailing_slash() {
        assert!(issuer_matches("https://a.example.com", "https://a.example.com/"));
        assert!(!issuer_matches("https://a.example.com", "https://A.example.com"));
        assert!(!issuer_matches("https://a.example.com/t1", "https://a.example.com/t2"));
    }
}
