//! The gateway's domain: gateways, the tools they expose under aliases, their keys and their
//! call log, and the rules their fields obey.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::scopes::{self, McpScope, Scopes};
use crate::config::Rate;
use crate::error::Validator;

/// Longest name, description or instructions text accepted.
pub const MAX_NAME: usize = 200;
pub const MAX_TEXT: usize = 10_000;
/// Tools one gateway may hold (a bulk add past it is refused whole).
pub const MAX_TOOLS: i64 = 2_000;
/// What a valid MCP tool name is (MCP 2025-11-25, "Tool names"), as the OpenAPI document's
/// `pattern` states it ([`is_tool_name`] is the check; a unit test keeps them together).
pub const TOOL_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,128}$";
/// The same rule in words, for validation errors.
pub const TOOL_NAME_RULE: &str = "1 to 128 characters of A-Z, a-z, 0-9, _, - and .";

/// A gateway: one MCP endpoint, `/api/v1/gateways/{slug}/mcp`.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Gateway {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Lowercase `[a-z0-9-]`, 1 to 64 characters, unique in the tenant; the URL uses it.
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Sent to MCP clients in `initialize` and `server/discover`.
    pub instructions: Option<String>,
    /// MCP requests per second each key may make here (per replica; 0 = unlimited); null
    /// is the configured default.
    pub key_rps: Option<i32>,
    /// The burst each key may make here; null is the configured default.
    pub key_burst: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Gateway {
    /// The rate each key gets at this gateway: its override, field by field, else `default`.
    pub fn key_rate(&self, default: Rate) -> Rate {
        let pick = |value: Option<i32>, default: u32| value.map_or(default, |v| v.max(0) as u32);
        Rate {
            per_second: pick(self.key_rps, default.per_second),
            burst: pick(self.key_burst, default.burst),
        }
    }
}

/// A gateway's fields as given on create, or (each optional) on update.
#[derive(Debug, Default, Clone)]
pub struct GatewayFields {
    pub slug: Option<String>,
    pub name: Option<String>,
    /// `Some(None)` clears the field.
    pub description: Option<Option<String>>,
    pub instructions: Option<Option<String>>,
    pub key_rps: Option<Option<i32>>,
    pub key_burst: Option<Option<i32>>,
}

impl GatewayFields {
    /// Checks every given field; `creating` also requires `slug` and `name`.
    pub fn validate(&self, creating: bool) -> crate::error::Result<()> {
        let mut v = Validator::default();
        match &self.slug {
            Some(slug) => v.check(is_slug(slug), "slug", "1 to 64 characters of a-z, 0-9 and -"),
            None => v.check(!creating, "slug", "required"),
        }
        match &self.name {
            Some(name) => v.check(
                !name.trim().is_empty() && name.len() <= MAX_NAME,
                "name",
                format!("1 to {MAX_NAME} characters"),
            ),
            None => v.check(!creating, "name", "required"),
        }
        for (field, text) in [("description", &self.description), ("instructions", &self.instructions)] {
            let len = text.as_ref().and_then(|t| t.as_ref()).map_or(0, String::len);
            v.check(len <= MAX_TEXT, field, format!("at most {MAX_TEXT} bytes"));
        }
        for (field, rate) in [("key_rps", self.key_rps), ("key_burst", self.key_burst)] {
            v.check(rate.flatten().is_none_or(|r| r >= 0), field, "0 (unlimited) or more");
        }
        v.finish()
    }
}

pub fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A valid MCP tool name (MCP 2025-11-25, "Tool names"): 1 to 128 of `A-Z a-z 0-9 _ - .`.
pub fn is_tool_name(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// A tool the gateway exposes, with what its upstream catalog says of it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct GatewayTool {
    pub id: Uuid,
    pub gateway_id: Uuid,
    pub connector_id: Uuid,
    /// The tool's name in the connector's catalog.
    pub tool: String,
    /// The name clients see.
    pub alias: String,
    pub enabled: bool,
    /// The description override, if any.
    pub description: Option<String>,
    /// The upstream tool's description (from the last sync).
    pub upstream_description: Option<String>,
    /// The upstream tool's input schema; null while the catalog no longer lists the tool.
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
    #[serde(skip)]
    #[schema(ignore)]
    pub title: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub annotations: Option<Value>,
    /// The scope set on the tool, if any (else it is derived: `scopes::required`).
    #[serde(skip)]
    #[schema(ignore)]
    pub scope_setting: Option<String>,
    /// The scope the upstream's annotations gave when the tool was added, if any: they may
    /// tighten it since, never loosen it.
    #[serde(skip)]
    #[schema(ignore)]
    pub annotation_scope: Option<String>,
    /// Whether the tool's connector is connected (calls fail while it is not).
    pub connected: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GatewayTool {
    /// What clients are told the tool does: the override, else the upstream's text.
    pub fn effective_description(&self) -> Option<&str> {
        self.description.as_deref().or(self.upstream_description.as_deref())
    }
}

/// Changes to a gateway tool; absent fields stay as they are.
#[derive(Debug, Default, Clone)]
pub struct ToolChanges {
    pub alias: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` goes back to the upstream's description.
    pub description: Option<Option<String>>,
    /// `Some(None)` goes back to the derived scope; a name that is not a scope is refused.
    pub required_scope: Option<Option<String>>,
}

impl ToolChanges {
    pub fn validate(&self) -> crate::error::Result<()> {
        let mut v = Validator::default();
        if let Some(alias) = &self.alias {
            v.check(is_tool_name(alias), "alias", TOOL_NAME_RULE);
        }
        let len = self.description.as_ref().and_then(|d| d.as_ref()).map_or(0, String::len);
        v.check(len <= MAX_TEXT, "description", format!("at most {MAX_TEXT} bytes"));
        if let Some(Some(scope)) = &self.required_scope {
            v.check(McpScope::parse(scope).is_some(), "required_scope", scopes::NOT_A_SCOPE);
        }
        v.finish()
    }
}

/// A gateway key as listed: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct GatewayKey {
    pub id: Uuid,
    pub gateway_id: Uuid,
    #[serde(skip)]
    #[schema(ignore)]
    pub tenant_id: Uuid,
    pub name: Option<String>,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    /// The tools it opens: those whose `required_scope` is one of these.
    #[schema(value_type = Vec<McpScope>)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl GatewayKey {
    /// What the key opens now: its scopes, or nothing once revoked or expired.
    pub fn active_scopes(&self) -> Scopes {
        let live = self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > Utc::now());
        let scopes = Scopes::parse(self.scopes.iter().map(String::as_str));
        if live { scopes.unwrap_or_default() } else { Scopes::default() }
    }
}

/// How a gateway call ended, as logged and filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The tool ran and did not report an error.
    Success,
    /// Anything else: unknown or disabled alias, invalid arguments, disconnected connector,
    /// upstream failure, timeout, or the tool's own `isError: true`.
    Error,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

/// One logged gateway call.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct GatewayCall {
    pub id: Uuid,
    pub alias: String,
    pub connector_id: Option<Uuid>,
    /// The upstream tool's name.
    pub tool_name: Option<String>,
    pub gateway_key_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    #[schema(value_type = CallOutcome)]
    pub status: String,
    pub duration_ms: i32,
    pub error: Option<String>,
    /// Only when the tenant logs payloads (cut to 16 KiB).
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One `tools/call`, as the log writes it (see `call_log`).
#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub gateway_id: Uuid,
    pub alias: String,
    pub connector_id: Option<Uuid>,
    pub tool_name: Option<String>,
    pub gateway_key_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub status: &'static str,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub arguments: Option<String>,
    pub result: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_tool_names_follow_their_rules() {
        assert!(is_slug("my-gateway-1"));
        for bad in ["", "My", "a_b", "a b", &"a".repeat(65)] {
            assert!(!is_slug(bad), "{bad:?}");
        }
        assert!(is_tool_name("get_issue.v2-beta"));
        for bad in ["", "a b", "a/b", "é", &"a".repeat(129)] {
            assert!(!is_tool_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn creating_needs_slug_and_name_and_every_bad_field_is_named() {
        let Err(crate::error::Error::Invalid(errors)) = GatewayFields::default().validate(true) else {
            panic!("missing fields pass")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["slug", "name"]);
        assert!(GatewayFields::default().validate(false).is_ok(), "an empty update is fine");
    }
}
