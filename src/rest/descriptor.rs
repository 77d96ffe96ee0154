//! The REST connector descriptor (seed 004): what a REST API offers (`operations`), how to
//! authenticate to it (`authentication`), and which operations become MCP tools under which
//! names (`mcp_config`). Field names follow the seed exactly; where the seed is silent (OAuth 2
//! settings, bearer and basic fields) the additions are documented on the field.
//!
//! These types only describe shape. Every rule that needs more than one field (references,
//! placeholders, lengths, URLs) lives in [`super::validate`], which reports all problems at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The key under which the OAuth 2 access token appears among a credential's fields: it is
/// obtained by the grant, never typed in, but `auth_headers` may name it as `{access_token}`.
pub const ACCESS_TOKEN_FIELD: &str = "access_token";

/// A whole descriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Descriptor {
    pub metadata: Metadata,
    /// The ways of authenticating this API accepts; operations name one by `auth_type_ref`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication: Vec<AuthType>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// Free-form facts about the connector (the seed's `sync_modes`,
    /// `supports_schema_discovery`). Kept verbatim; Switchboard does not act on them, which is
    /// why this is the one object that accepts any key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    #[serde(default)]
    pub mcp_config: McpConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metadata {
    /// Display name, 1–100 characters.
    pub name: String,
    /// Lowercase letters, digits and dashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// Secrets placed in headers by each operation's `auth_headers`.
    ApiKey,
    /// `Authorization: Bearer <token_field>`.
    Bearer,
    /// `Authorization: Basic base64(<username_field>:<password_field>)`.
    Basic,
    /// `Authorization: Bearer <access token>`, the token obtained by `grant_type`.
    #[serde(rename = "oauth2")]
    OAuth2,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::OAuth2 => "oauth2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuth2Grant {
    /// Machine-to-machine: the client id and secret are exchanged at `token_url`.
    ClientCredentials,
    /// A person authorizes at `authorization_url` (PKCE), the code is exchanged at `token_url`.
    AuthorizationCode,
}

/// One way of authenticating. The seed's shape (`type`, `fields`, `test_endpoint`) plus
/// settings for the other kinds, flat rather than nested so a descriptor reads like the seed's.
/// Settings that belong to another kind are an error (see `validate`), not silently unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthType {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// What operations put in `auth_type_ref`; defaults to `type` (the seed writes
    /// `auth_type_ref: api_key`). Needed only when two auth types share a kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The credential's fields, given at create/PATCH as `credentials: {key: value}`. Bearer,
    /// basic and OAuth 2 imply the fields they name below when they are not declared here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AuthField>,
    /// Run by connect with the credential: `expected_status` means it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_endpoint: Option<TestEndpoint>,
    /// bearer: the field holding the token (default `token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_field: Option<String>,
    /// basic: the user name field (default `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_field: Option<String>,
    /// basic: the password field (default `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_field: Option<String>,
    /// oauth2: required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<OAuth2Grant>,
    /// oauth2: the token endpoint, required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// oauth2 authorization_code: the authorization endpoint, required for that grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// oauth2: scopes to request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// oauth2: the client id field (default `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_field: Option<String>,
    /// oauth2: the client secret field (default `client_secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_field: Option<String>,
}

impl AuthType {
    /// A new auth type of `kind` with nothing else set.
    pub fn new(kind: AuthKind) -> Self {
        Self {
            kind,
            id: None,
            label: None,
            fields: Vec::new(),
            test_endpoint: None,
            token_field: None,
            username_field: None,
            password_field: None,
            grant_type: None,
            token_url: None,
            authorization_url: None,
            scopes: Vec::new(),
            client_id_field: None,
            client_secret_field: None,
        }
    }

    /// The name `auth_type_ref` uses for this type.
    pub fn reference(&self) -> &str {
        self.id.as_deref().unwrap_or(self.kind.as_str())
    }

    pub fn token_field(&self) -> &str {
        self.token_field.as_deref().unwrap_or("token")
    }

    pub fn username_field(&self) -> &str {
        self.username_field.as_deref().unwrap_or("username")
    }

    pub fn password_field(&self) -> &str {
        self.password_field.as_deref().unwrap_or("password")
    }

    pub fn client_id_field(&self) -> &str {
        self.client_id_field.as_deref().unwrap_or("client_id")
    }

    pub fn client_secret_field(&self) -> &str {
        self.client_secret_field.as_deref().unwrap_or("client_secret")
    }

    /// The fields the kind itself needs, as (key, secret).
    fn implied_fields(&self) -> Vec<(&str, bool)> {
        match self.kind {
            AuthKind::ApiKey => Vec::new(),
            AuthKind::Bearer => vec![(self.token_field(), true)],
            AuthKind::Basic => vec![(self.username_field(), false), (self.password_field(), true)],
            AuthKind::OAuth2 => vec![(self.client_id_field(), false), (self.client_secret_field(), true)],
        }
    }

    /// Declared fields, then the implied ones not declared: what a credential may hold.
    pub fn effective_fields(&self) -> Vec<AuthField> {
        let mut fields = self.fields.clone();
        for (key, secret) in self.implied_fields() {
            if !fields.iter().any(|f| f.key == key) {
                fields.push(AuthField::implied(key, secret));
            }
        }
        fields
    }

    /// The credential field a caller's own token (`X-Switchboard-User-Token`) stands in for:
    /// bearer's token field, an api_key type's one secret field, OAuth 2's access token (the
    /// grant is not run). `None` when there is no single slot: basic (two fields), an api_key
    /// type with no secret field or several.
    pub fn token_slot(&self) -> Option<&str> {
        match self.kind {
            AuthKind::Bearer => Some(self.token_field()),
            AuthKind::OAuth2 => Some(ACCESS_TOKEN_FIELD),
            AuthKind::Basic => None,
            AuthKind::ApiKey => match self.fields.iter().filter(|f| f.is_secret()).collect::<Vec<_>>()[..] {
                [only] => Some(only.key.as_str()),
                _ => None,
            },
        }
    }

    /// Keys an `auth_headers` template may name: every field, and the access token for OAuth 2.
    pub fn placeholder_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.effective_fields().into_iter().map(|f| f.key).collect();
        if self.kind == AuthKind::OAuth2 {
            keys.push(ACCESS_TOKEN_FIELD.to_owned());
        }
        keys
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthFieldType {
    #[default]
    String,
    Secret,
}

/// One credential field an operator fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthField {
    /// Letters, digits and `_`; what `{key}` in `auth_headers` and `credentials.key` name.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub field_type: AuthFieldType,
    #[serde(default = "yes")]
    pub required: bool,
    /// Sealed and never echoed; defaults to `field_type == secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<bool>,
}

fn yes() -> bool {
    true
}

impl AuthField {
    fn implied(key: &str, secret: bool) -> Self {
        let field_type = if secret { AuthFieldType::Secret } else { AuthFieldType::String };
        Self { key: key.to_owned(), label: None, field_type, required: true, secret: Some(secret) }
    }

    pub fn is_secret(&self) -> bool {
        self.secret.unwrap_or(self.field_type == AuthFieldType::Secret)
    }
}

/// A request that proves a credential works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestEndpoint {
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default = "ok_status")]
    pub expected_status: u16,
    /// Headers to send, `{field}` placeholders as in operations. When absent, the
    /// `auth_headers` of the first operation using this auth type are sent (the seed's test
    /// endpoint carries none of its own, yet an API key must reach the API somehow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_headers: Option<BTreeMap<String, String>>,
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum HttpMethod {
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    #[serde(rename = "POST", alias = "post")]
    Post,
    #[serde(rename = "PUT", alias = "put")]
    Put,
    #[serde(rename = "PATCH", alias = "patch")]
    Patch,
    #[serde(rename = "DELETE", alias = "delete")]
    Delete,
    #[serde(rename = "HEAD", alias = "head")]
    Head,
    #[serde(rename = "OPTIONS", alias = "options")]
    Options,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
        }
    }

    /// Methods that carry no request body here (a GET body is ignored or refused by most
    /// servers and proxies).
    pub fn allows_body(self) -> bool {
        !matches!(self, Self::Get | Self::Head | Self::Options)
    }

    /// Methods that change nothing on the server, per RFC 9110 §9.2.1.
    pub fn is_safe(self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Options)
    }
}

/// One REST call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    pub operation_id: String,
    /// Absolute http(s) URL; `{name}` placeholders (path only) are filled from path parameters.
    pub endpoint: String,
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The auth type this operation authenticates with; none means an unauthenticated call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type_ref: Option<String>,
    /// Header name → value template with `{field}` placeholders of the referenced auth type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Path,
    Query,
    Header,
    /// A top-level property of the JSON request body.
    Body,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Body => "body",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

impl FieldType {
    /// The JSON Schema `type` keyword for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// Whether `value` is of this type, as JSON Schema judges it (an integer is a number;
    /// `2.0` is an integer).
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Array => value.is_array(),
            Self::Object => value.is_object(),
        }
    }
}

/// One input of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Parameter {
    /// The name on the wire (query key, header name, body property, path placeholder).
    pub name: String,
    pub location: Location,
    /// Defaults to `string`.
    #[serde(default)]
    pub field_type: FieldType,
    /// Path parameters are always required, whatever this says.
    #[serde(default)]
    pub required: bool,
    /// Sent when the caller gives no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub default_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Parameter {
    pub fn is_required(&self) -> bool {
        self.required || self.location == Location::Path
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// Per connector instance (one tenant's account at the API).
    PerAccount,
}

/// At most `limit` calls per `interval_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimit {
    pub scope: RateLimitScope,
    pub limit: u32,
    pub interval_seconds: u32,
}

/// What the API's operator promises; informational.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sla {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms_p95: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Required when `enabled`; 1–100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Required when `enabled`; 1–500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_mappings: Vec<RouteMapping>,
}

/// One operation exposed as one MCP tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RouteMapping {
    pub operation_id: String,
    pub mcp_tool_name: String,
    pub mcp_tool_description: String,
    /// Operation parameter name → the argument name the tool shows instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameter_mappings: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn operation(&self, operation_id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.operation_id == operation_id)
    }

    pub fn auth_type(&self, reference: &str) -> Option<&AuthType> {
        self.authentication.iter().find(|a| a.reference() == reference)
    }

    /// Every URL the descriptor would make Switchboard call: operation endpoints (templates,
    /// placeholders unfilled), test endpoints and OAuth 2 endpoints, each with the field path
    /// it came from. The caller runs the SSRF guard (it needs a resolver) on each.
    pub fn urls(&self) -> Vec<(String, &str)> {
        let mut urls = Vec::new();
        for (i, op) in self.operations.iter().enumerate() {
            urls.push((format!("operations[{i}].endpoint"), op.endpoint.as_str()));
        }
        for (i, auth) in self.authentication.iter().enumerate() {
            let at = |name: &str| format!("authentication[{i}].{name}");
            if let Some(test) = &auth.test_endpoint {
                urls.push((at("test_endpoint.url"), test.url.as_str()));
            }
            if let Some(url) = &auth.token_url {
                urls.push((at("token_url"), url.as_str()));
            }
            if let Some(url) = &auth.authorization_url {
                urls.push((at("authorization_url"), url.as_str()));
            }
        }
        urls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_type_is_referenced_by_its_id_or_else_its_type() {
        let mut auth = AuthType::new(AuthKind::ApiKey);
        assert_eq!(auth.reference(), "api_key");
        auth.id = Some("partner_key".into());
        assert_eq!(auth.reference(), "partner_key");
    }

    #[test]
    fn a_user_token_has_one_slot_or_none() {
        let mut bearer = AuthType::new(AuthKind::Bearer);
        assert_eq!(bearer.token_slot(), Some("token"));
        bearer.token_field = Some("pat".into());
        assert_eq!(bearer.token_slot(), Some("pat"));
        assert_eq!(AuthType::new(AuthKind::OAuth2).token_slot(), Some(ACCESS_TOKEN_FIELD));
        assert_eq!(AuthType::new(AuthKind::Basic).token_slot(), None);
        let mut key = AuthType::new(AuthKind::ApiKey);
        assert_eq!(key.token_slot(), None, "no secret field");
        key.fields = vec![AuthField::implied("account", false), AuthField::implied("api_key", true)];
        assert_eq!(key.token_slot(), Some("api_key"));
        key.fields.push(AuthField::implied("api_secret", true));
        assert_eq!(key.token_slot(), None, "which secret would it be?");
    }

    #[test]
    fn bearer_basic_and_oauth2_imply_their_fields_unless_declared() {
        let bearer = AuthType::new(AuthKind::Bearer);
        let keys = |a: &AuthType| a.effective_fields().into_iter().map(|f| f.key).collect::<Vec<_>>();
        assert_eq!(keys(&bearer), ["token"]);
        assert!(bearer.effective_fields()[0].is_secret());
        let mut basic = AuthType::new(AuthKind::Basic);
        basic.fields.push(AuthField::implied("username", false));
        basic.password_field = Some("pw".into());
        assert_eq!(keys(&basic), ["username", "pw"]);
        let oauth = AuthType::new(AuthKind::OAuth2);
        assert_eq!(oauth.placeholder_keys(), ["client_id", "client_secret", "access_token"]);
        assert!(AuthType::new(AuthKind::ApiKey).effective_fields().is_empty());
    }

    #[test]
    fn field_types_judge_values_like_json_schema() {
        assert!(FieldType::Integer.accepts(&serde_json::json!(25)));
        assert!(FieldType::Integer.accepts(&serde_json::json!(2.0)));
        assert!(!FieldType::Integer.accepts(&serde_json::json!(2.5)));
        assert!(FieldType::Number.accepts(&serde_json::json!(2)));
        assert!(!FieldType::String.accepts(&serde_json::json!(2)));
        assert!(FieldType::Array.accepts(&serde_json::json!([])));
        assert!(!FieldType::Object.accepts(&serde_json::json!([])));
    }

    #[test]
    fn a_field_is_secret_by_its_type_unless_it_says_otherwise() {
        let field = |field_type, secret| AuthField {
            key: "k".into(),
            label: None,
            field_type,
            required: true,
            secret,
        };
        assert!(field(AuthFieldType::Secret, None).is_secret());
        assert!(!field(AuthFieldType::String, None).is_secret());
        assert!(field(AuthFieldType::String, Some(true)).is_secret());
    }
}
