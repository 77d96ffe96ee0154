//! OAuth's own types: how a client authenticates at a token endpoint, where a grant's client
//! comes from, and everything a grant fixes when it starts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

/// Where the OAuth client of a grant comes from, and so where its secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum OAuthClientRef {
    /// The connector's own client (request or preset); secret in `connector_secrets`.
    Connector { client_id: String, method: TokenEndpointAuthMethod },
    /// A client Switchboard registered (RFC 7591); secret in `oauth_clients`.
    Registered { id: Uuid, client_id: String, method: TokenEndpointAuthMethod },
    /// A Client ID Metadata Document URL: a public client.
    MetadataDocument { client_id: String },
}

impl OAuthClientRef {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Connector { client_id, .. }
            | Self::Registered { client_id, .. }
            | Self::MetadataDocument { client_id } => client_id,
        }
    }
}

/// How a connector's OAuth tokens were obtained: everything a refresh, a revocation or a
/// callback needs, fixed when the flow starts (mix-up defence: the code and refresh tokens
/// go only to this token endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthGrant {
    pub issuer: Option<String>,
    pub token_url: String,
    pub revocation_url: Option<String>,
    /// RFC 8707 resource sent on every authorization and token request; empty for a REST
    /// connector's grant, which has no resource identifier to give (none is sent).
    pub resource: String,
    pub scopes: Vec<String>,
    pub client: OAuthClientRef,
    /// Authorization code flow: the redirect URI of the authorization request.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// RFC 9207: the authorization response must carry `iss`.
    #[serde(default)]
    pub iss_required: bool,
}
