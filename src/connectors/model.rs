//! The connector and its auth configuration. Secrets never live on these types except on
//! [`AuthInput`], the write-only form a caller sends; [`AuthInput::split`] separates what is
//! stored in clear from what is sealed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{Error, Validator};
use crate::mcp::{ServerInfo, Transport};
use crate::oauth::{OAuthGrant, TokenEndpointAuthMethod};

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 2000;
pub const MAX_OWNER_LEN: usize = 256;
pub const MAX_METADATA_KEYS: usize = 16;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 512;
const MAX_SECRET_LEN: usize = 8192;
const MAX_CLIENT_ID_LEN: usize = 512;
const MAX_SCOPES: usize = 50;
const MAX_SCOPE_LEN: usize = 256;

pub type Metadata = BTreeMap<String, String>;

/// The OpenAPI schema of a [`Metadata`] input, with the limits [`validate_metadata`] enforces.
pub fn metadata_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let text = |min: usize, max: usize| {
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(min)).max_length(Some(max))
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .max_properties(Some(MAX_METADATA_KEYS))
        .property_names(Some(text(1, MAX_METADATA_KEY_LEN)))
        .additional_properties(Some(text(0, MAX_METADATA_VALUE_LEN)))
        .build()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Saved, never connected.
    Created,
    /// Waiting for a person to complete the OAuth authorization.
    PendingAuthorization,
    /// Credentials are in place and the upstream accepted them.
    Connected,
    /// Not usable until connected again; `disconnect_reason` says why.
    Disconnected,
}

impl Status {
    /// Fails with [`Error::NotConnected`], naming the status, unless connected.
    pub fn require_connected(self, connector_id: Uuid) -> Result<(), Error> {
        if self == Status::Connected {
            return Ok(());
        }
        Err(Error::NotConnected { connector_id, status: self.as_str() })
    }

    pub const ALL: [Status; 4] =
        [Status::Created, Status::PendingAuthorization, Status::Connected, Status::Disconnected];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::PendingAuthorization => "pending_authorization",
            Status::Connected => "connected",
            Status::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// OAuth client settings shared by both OAuth modes (non-secret part).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OAuthSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// RFC 8707 resource indicator; defaults to the one discovered for the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
}

/// How Switchboard authenticates to the upstream: the part stored in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum AuthSettings {
    None,
    Bearer,
    Basic { username: String },
    Header { header_name: String },
    Oauth2ClientCredentials(OAuthSettings),
    Oauth2AuthorizationCode(OAuthSettings),
}

impl AuthSettings {
    /// Static modes carry one credential that a PATCH may replace.
    pub fn is_static_credential(&self) -> bool {
        matches!(self, Self::Bearer | Self::Basic { .. } | Self::Header { .. })
    }
}

/// Names of the sealed values a connector can hold. The name is part of each ciphertext's
/// associated data, so a value sealed as one field cannot be opened as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretField {
    /// The static credential: bearer token, basic password, or custom header value.
    Credential,
    ClientSecret,
    AccessToken,
    RefreshToken,
    /// A REST connector's credential: every field of its descriptor's `authentication`, as
    /// one sealed JSON object (`{"api_key": "…"}`), so a rotation re-seals it like any other.
    RestCredentials,
}

impl SecretField {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretField::Credential => "credential",
            SecretField::ClientSecret => "client_secret",
            SecretField::AccessToken => "access_token",
            SecretField::RefreshToken => "refresh_token",
            SecretField::RestCredentials => "rest_credentials",
        }
    }

    pub const ALL: [SecretField; 5] = [
        SecretField::Credential,
        SecretField::ClientSecret,
        SecretField::AccessToken,
        SecretField::RefreshToken,
        SecretField::RestCredentials,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Associated data binding a sealed value to its tenant, connector and field.
    pub fn aad(self, tenant_id: Uuid, connector_id: Uuid) -> Vec<u8> {
        format!("switchboard/v1/{tenant_id}/connector/{connector_id}/{}", self.as_str()).into_bytes()
    }
}

/// Secrets that go with an [`AuthSettings`], to be sealed before storage.
pub type AuthSecrets = Vec<(SecretField, SecretString)>;

/// OAuth client fields a caller may send (write-only `client_secret`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientInput {
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
}

/// Auth configuration as a caller sends it. Secret fields are write-only: responses say
/// `has_token`, `has_password`, `has_header_value` or `has_client_secret` instead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthInput {
    None,
    Bearer {
        #[schema(value_type = String, format = Password)]
        token: SecretString,
    },
    Basic {
        username: String,
        #[schema(value_type = String, format = Password)]
        password: SecretString,
    },
    Header {
        header_name: String,
        #[schema(value_type = String, format = Password)]
        value: SecretString,
    },
    Oauth2ClientCredentials(OAuthClientInput),
    Oauth2AuthorizationCode(OAuthClientInput),
}

impl AuthInput {
    pub fn is_static_credential(&self) -> bool {
        matches!(self, Self::Bearer { .. } | Self::Basic { .. } | Self::Header { .. })
    }

    pub fn oauth_client_mut(&mut self) -> Option<&mut OAuthClientInput> {
        match self {
            Self::Oauth2ClientCredentials(c) | Self::Oauth2AuthorizationCode(c) => Some(c),
            _ => None,
        }
    }

    pub fn validate(&self, v: &mut Validator, field: &str) {
        use secrecy::ExposeSecret as _;
        let at = |name: &str| format!("{field}.{name}");
        match self {
            Self::None => {}
            Self::Bearer { token } => validate_header_secret(v, &at("token"), token.expose_secret()),
            Self::Basic { username, password } => {
                v.check(!username.is_empty(), at("username"), "must not be empty");
                v.check(!username.contains(':'), at("username"), "must not contain ':' (RFC 7617)");
                v.check(username.len() <= MAX_CLIENT_ID_LEN, at("username"), "too long");
                v.check(!username.chars().any(char::is_control), at("username"), "control characters");
                validate_header_secret(v, &at("password"), password.expose_secret());
            }
            Self::Header { header_name, value } => {
                validate_header_name(v, &at("header_name"), header_name);
                validate_header_secret(v, &at("value"), value.expose_secret());
            }
            Self::Oauth2ClientCredentials(c) | Self::Oauth2AuthorizationCode(c) => {
                c.validate(v, field);
                if matches!(self, Self::Oauth2ClientCredentials(_)) {
                    v.check(c.client_id.is_some(), at("client_id"), "required for oauth2_client_credentials");
                }
            }
        }
    }

    /// Splits into what is stored in clear and what is sealed.
    pub fn split(self) -> (AuthSettings, AuthSecrets) {
        let credential = |s| vec![(SecretField::Credential, s)];
        match self {
            Self::None => (AuthSettings::None, vec![]),
            Self::Bearer { token } => (AuthSettings::Bearer, credential(token)),
            Self::Basic { username, password } => (AuthSettings::Basic { username }, credential(password)),
            Self::Header { header_name, value } => (AuthSettings::Header { header_name }, credential(value)),
            Self::Oauth2ClientCredentials(c) => {
                let (settings, secrets) = c.split();
                (AuthSettings::Oauth2ClientCredentials(settings), secrets)
            }
            Self::Oauth2AuthorizationCode(c) => {
                let (settings, secrets) = c.split();
                (AuthSettings::Oauth2AuthorizationCode(settings), secrets)
            }
        }
    }
}

impl OAuthClientInput {
    fn validate(&self, v: &mut Validator, field: &str) {
        use secrecy::ExposeSecret as _;
        let at = |name: &str| format!("{field}.{name}");
        if let Some(id) = &self.client_id {
            v.check(!id.trim().is_empty(), at("client_id"), "must not be empty");
            v.check(id.len() <= MAX_CLIENT_ID_LEN, at("client_id"), "too long");
        }
        if let Some(secret) = &self.client_secret {
            v.check(self.client_id.is_some(), at("client_secret"), "client_secret requires client_id");
            v.check(!secret.expose_secret().is_empty(), at("client_secret"), "must not be empty");
            v.check(secret.expose_secret().len() <= MAX_SECRET_LEN, at("client_secret"), "too long");
        }
        validate_scopes(v, &at("scopes"), &self.scopes);
        if let Some(resource) = &self.resource {
            let ok = Url::parse(resource).is_ok_and(|u| u.has_host() && u.fragment().is_none());
            v.check(ok, at("resource"), "must be an absolute URL without a fragment");
        }
    }

    fn split(self) -> (OAuthSettings, AuthSecrets) {
        let secrets = self.client_secret.map(|s| vec![(SecretField::ClientSecret, s)]).unwrap_or_default();
        let settings = OAuthSettings {
            client_id: self.client_id.map(|id| id.trim().to_owned()),
            scopes: self.scopes,
            resource: self.resource,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
        };
        (settings, secrets)
    }
}

/// OAuth scopes (RFC 6749 §3.3 scope-tokens): bounded in number and length, no spaces,
/// quotes or backslashes.
pub fn validate_scopes(v: &mut Validator, field: &str, scopes: &[String]) {
    v.check(scopes.len() <= MAX_SCOPES, field, format!("at most {MAX_SCOPES} scopes"));
    let scope_ok = |s: &String| {
        !s.is_empty()
            && s.len() <= MAX_SCOPE_LEN
            && s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    };
    v.check(scopes.iter().all(scope_ok), field, "each scope is a non-empty token without spaces or quotes");
}

/// Headers the proxy manages itself; a custom auth header may not replace them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "accept",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

fn validate_header_name(v: &mut Validator, field: &str, name: &str) {
    match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
        Ok(h) => {
            v.check(!RESERVED_HEADERS.contains(&h.as_str()), field, "this header is managed by the proxy")
        }
        Err(_) => v.push(field, "must be a valid HTTP header name"),
    }
}

/// Credentials end up in HTTP headers, so they must be valid header values.
fn validate_header_secret(v: &mut Validator, field: &str, value: &str) {
    v.check(!value.is_empty(), field, "must not be empty");
    v.check(value.len() <= MAX_SECRET_LEN, field, format!("at most {MAX_SECRET_LEN} bytes"));
    v.check(
        value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
        field,
        "must not contain control characters",
    );
}

/// Checks an upstream MCP URL: absolute http(s) with a host, bounded, no credentials or fragment.
pub fn validate_upstream_url(v: &mut Validator, field: &str, raw: &str) -> Option<Url> {
    if raw.len() > MAX_URL_LEN {
        v.push(field, format!("at most {MAX_URL_LEN} characters"));
        return None;
    }
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(e) => {
            v.push(field, format!("not a valid URL: {e}"));
            return None;
        }
    };
    let mut ok = true;
    let mut fail = |msg: &str| {
        v.push(field, msg);
        ok = false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        fail("scheme must be http or https");
    }
    if !url.has_host() {
        fail("must have a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        fail("must not contain credentials; put them in `auth`");
    }
    if url.fragment().is_some() {
        fail("must not have a fragment");
    }
    ok.then_some(url)
}

pub fn validate_metadata(v: &mut Validator, field: &str, metadata: &Metadata) {
    v.check(metadata.len() <= MAX_METADATA_KEYS, field, format!("at most {MAX_METADATA_KEYS} keys"));
    for (key, value) in metadata {
        let at = format!("{field}.{key}");
        v.check(
            !key.is_empty() && key.chars().count() <= MAX_METADATA_KEY_LEN,
            &at,
            format!("keys are 1 to {MAX_METADATA_KEY_LEN} characters"),
        );
        v.check(
            value.chars().count() <= MAX_METADATA_VALUE_LEN,
            &at,
            format!("values are at most {MAX_METADATA_VALUE_LEN} characters"),
        );
    }
}

pub fn validate_text(v: &mut Validator, field: &str, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        v.check(value.chars().count() <= max, field, format!("at most {max} characters"));
        v.check(
            !value.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            field,
            "must not contain control characters",
        );
    }
}

/// Why a connector is not connected: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusReason {
    pub code: String,
    pub message: String,
}

/// What a connector connects to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A remote MCP server at `url`, proxied.
    #[default]
    Mcp,
    /// A REST API described by a `descriptor`; Switchboard serves its operations as tools.
    Rest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mcp => "mcp",
            Self::Rest => "rest",
        }
    }
}

/// A REST connector's configuration, stored in clear: the validated descriptor and which
/// credential fields are set (their values are sealed as [`SecretField::RestCredentials`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestConfig {
    pub descriptor: crate::rest::Descriptor,
    #[serde(default)]
    pub credential_fields: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Connector {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// MCP: the upstream server. REST: the origin of the descriptor's first operation, for
    /// display (each operation names its own endpoint).
    pub url: String,
    pub transport: Transport,
    /// `Some` exactly for REST connectors.
    pub rest: Option<RestConfig>,
    pub owner: Option<String>,
    pub metadata: Metadata,
    /// `None` until discovery decides (the caller sent no `auth`).
    pub auth: Option<AuthSettings>,
    pub preset_id: Option<String>,
    pub status: Status,
    pub status_reason: Option<StatusReason>,
    /// Which sealed fields are stored (never their values).
    pub secret_fields: Vec<SecretField>,
    /// What the upstream said in its last successful `initialize`.
    pub server_info: Option<ServerInfo>,
    pub oauth_grant: Option<OAuthGrant>,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Set while `pending_authorization`: where to send the person, and until when.
    pub authorization_url: Option<String>,
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub refresh: RefreshState,
    /// When the tool catalog was last synced from the upstream.
    pub tools_synced_at: Option<DateTime<Utc>>,
    /// Scopes the upstream said a request needs that the grant lacks (a 403
    /// `insufficient_scope`); the next connect asks for them with the held ones.
    pub scope_required: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Token upkeep: when the next refresh is due and how the last attempts went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshState {
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Whether a connected connector can serve right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// The access token has expired and refreshing keeps failing for a transient reason; the
    /// connector stays connected and recovers when the authorization server does.
    Degraded,
}

impl Connector {
    pub fn kind(&self) -> Kind {
        if self.rest.is_some() { Kind::Rest } else { Kind::Mcp }
    }

    pub fn has_secret(&self, field: SecretField) -> bool {
        self.secret_fields.contains(&field)
    }

    /// Records that a sealed value for `field` is now stored.
    pub fn note_secret(&mut self, field: SecretField) {
        if !self.has_secret(field) {
            self.secret_fields.push(field);
        }
    }

    /// [`Error::NotConnected`] unless connected: only then can the upstream be used.
    pub fn require_connected(&self) -> Result<(), Error> {
        self.status.require_connected(self.id)
    }

    /// The upstream accepted our credentials.
    pub fn mark_connected(&mut self, server_info: ServerInfo) {
        self.status = Status::Connected;
        self.status_reason = None;
        self.server_info = Some(server_info);
        self.scope_required.clear();
        self.clear_authorization();
    }

    /// Waiting for a person to authorize at `url` before `expires_at`.
    pub fn mark_pending(&mut self, url: String, expires_at: DateTime<Utc>) {
        self.status = Status::PendingAuthorization;
        self.status_reason = None;
        self.authorization_url = Some(url);
        self.authorization_expires_at = Some(expires_at);
    }

    /// Not usable until connected again, for the given reason.
    pub fn mark_disconnected(&mut self, code: &str, message: impl Into<String>) {
        self.status = Status::Disconnected;
        self.status_reason = Some(StatusReason { code: code.to_owned(), message: message.into() });
        self.clear_authorization();
    }

    pub fn health(&self, now: DateTime<Utc>) -> Health {
        let expired = self.token_expires_at.is_some_and(|t| t <= now);
        if self.status == Status::Connected && expired && self.refresh.last_error.is_some() {
            Health::Degraded
        } else {
            Health::Ok
        }
    }

    fn clear_authorization(&mut self) {
        self.authorization_url = None;
        self.authorization_expires_at = None;
    }
}

/// A default display name when the caller gives none: the upstream's host.
pub fn default_name(url: &Url) -> String {
    url.host_str().unwrap_or("connector").to_owned()
}
