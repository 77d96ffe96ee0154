//! What the authorization server and each gateway publish about themselves: the issuer and
//! its endpoints (RFC 8414), each gateway's Protected Resource Metadata (RFC 9728), and the
//! rule that ties a `resource` (RFC 8707) to a gateway: it is the gateway's MCP URL.

use serde::Serialize;
use url::Url;

use crate::config::Settings;
use crate::gateway::model::is_slug;
use crate::gateway::scopes::McpScope;

/// Where the endpoints live, under the public URL.
const AUTHORIZE: &str = "oauth/authorize";
const TOKEN: &str = "oauth/token";
const REGISTER: &str = "oauth/register";
const REVOKE: &str = "oauth/revoke";
const GATEWAYS: &str = "api/v1/gateways/";

/// The issuer: the public URL, without a trailing slash (RFC 8414 §2: no query, no fragment).
pub fn issuer(settings: &Settings) -> String {
    settings.public_endpoint("").as_str().trim_end_matches('/').to_owned()
}

/// A gateway's MCP URL: the `resource` its tokens are for.
pub fn gateway_resource(settings: &Settings, slug: &str) -> Url {
    settings.public_endpoint(&format!("{GATEWAYS}{slug}/mcp"))
}

/// The slug of the gateway whose MCP URL `resource` is (a trailing slash tolerated).
pub fn slug_of_resource(settings: &Settings, resource: &str) -> Option<String> {
    let prefix = settings.public_endpoint(GATEWAYS);
    let rest = resource.trim_end_matches('/').strip_prefix(prefix.as_str())?;
    let slug = rest.strip_suffix("/mcp")?;
    is_slug(slug).then(|| slug.to_owned())
}

/// Where a gateway's Protected Resource Metadata is: `/.well-known/oauth-protected-resource`
/// inserted before the MCP URL's path (RFC 9728 §3.1).
pub fn resource_metadata_url(settings: &Settings, slug: &str) -> Url {
    let resource = gateway_resource(settings, slug);
    let mut url = resource.clone();
    url.set_path(&format!("/.well-known/oauth-protected-resource{}", resource.path()));
    url
}

/// The slug named by the path after `/.well-known/oauth-protected-resource/`, which is the MCP
/// URL's path (with the public URL's prefix, if it has one).
pub fn slug_of_metadata_path(settings: &Settings, path: &str) -> Option<String> {
    let mut resource = settings.public_endpoint("");
    resource.set_path(&format!("/{}", path.trim_start_matches('/')));
    slug_of_resource(settings, resource.as_str())
}

pub fn authorization_endpoint(settings: &Settings) -> Url {
    settings.public_endpoint(AUTHORIZE)
}

pub fn token_endpoint(settings: &Settings) -> Url {
    settings.public_endpoint(TOKEN)
}

fn scope_names() -> Vec<&'static str> {
    McpScope::ALL.iter().map(|s| s.as_str()).collect()
}

/// RFC 8414 authorization server metadata (also served as an OpenID configuration for
/// clients that look there first; it names no OpenID features).
#[derive(Debug, Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub revocation_endpoint: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: [&'static str; 1],
    pub response_modes_supported: [&'static str; 1],
    pub grant_types_supported: [&'static str; 2],
    pub code_challenge_methods_supported: [&'static str; 1],
    pub token_endpoint_auth_methods_supported: [&'static str; 1],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 1],
    pub client_id_metadata_document_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
}

pub fn server_metadata(settings: &Settings) -> ServerMetadata {
    ServerMetadata {
        issuer: issuer(settings),
        authorization_endpoint: authorization_endpoint(settings).into(),
        token_endpoint: token_endpoint(settings).into(),
        registration_endpoint: settings.public_endpoint(REGISTER).into(),
        revocation_endpoint: settings.public_endpoint(REVOKE).into(),
        scopes_supported: scope_names(),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        // Public clients only: PKCE binds the code, rotation guards the refresh token.
        token_endpoint_auth_methods_supported: ["none"],
        revocation_endpoint_auth_methods_supported: ["none"],
        client_id_metadata_document_supported: true,
        authorization_response_iss_parameter_supported: true,
    }
}

/// RFC 9728 Protected Resource Metadata of one gateway.
#[derive(Debug, Serialize)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: [String; 1],
    pub scopes_supported: Vec<&'static str>,
    pub bearer_methods_supported: [&'static str; 1],
    pub resource_name: String,
}

pub fn resource_metadata(settings: &Settings, slug: &str) -> ResourceMetadata {
    ResourceMetadata {
        resource: gateway_resource(settings, slug).into(),
        authorization_servers: [issuer(settings)],
        scopes_supported: scope_names(),
        bearer_methods_supported: ["header"],
        resource_name: format!("Switchboard gateway {slug}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_gateways_under_the_public_url_with_its_prefix() {
        let settings = Settings {
            public_url: Url::parse("https://sb.example.com/base").unwrap(),
            ..Settings::default()
        };
        assert_eq!(issuer(&settings), "https://sb.example.com/base");
        let resource = gateway_resource(&settings, "ops");
        assert_eq!(resource.as_str(), "https://sb.example.com/base/api/v1/gateways/ops/mcp");
        assert_eq!(slug_of_resource(&settings, resource.as_str()).as_deref(), Some("ops"));
        assert_eq!(
            slug_of_resource(&settings, "https://sb.example.com/base/api/v1/gateways/ops/mcp/").as_deref(),
            Some("ops")
        );
        for other in [
            "https://evil.example.com/base/api/v1/gateways/ops/mcp",
            "https://sb.example.com/api/v1/gateways/ops/mcp",
            "https://sb.example.com/base/api/v1/gateways/ops/mcp/x",
            "https://sb.example.com/base/api/v1/gateways/a/b/mcp",
        ] {
            assert_eq!(slug_of_resource(&settings, other), None, "{other}");
        }
        let prm = resource_metadata_url(&settings, "ops");
        assert_eq!(
            prm.as_str(),
            "https://sb.example.com/.well-known/oauth-protected-resource/base/api/v1/gateways/ops/mcp"
        );
        assert_eq!(slug_of_metadata_path(&settings, "base/api/v1/gateways/ops/mcp").as_deref(), Some("ops"));
        assert_eq!(slug_of_metadata_path(&settings, "api/v1/gateways/ops/mcp"), None);
    }
}
