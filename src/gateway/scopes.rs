//! The rule of scope-gated tools (seed 003, issue 14): every gateway tool requires one scope,
//! `mcp:read`, `mcp:write` or `mcp:admin`; a caller holds a set of them, with no implication
//! between them (`mcp:admin` alone does not read). A tool whose scope the caller lacks does
//! not exist for that caller: it is not listed, and calling it is calling an unknown tool.
//!
//! Kept in one place, like agentgateway's `rbac.rs`, so that listing, calling and the REST
//! API's "what can this key see" all answer from the same function ([`allows`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::model::GatewayTool;

/// What a validation error says of a name that is not a gateway scope.
pub const NOT_A_SCOPE: &str = "not one of mcp:read, mcp:write, mcp:admin";

/// One of the three scopes of gateway tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum McpScope {
    /// Tools that only read: `list_*`, `get_*`, `search_*`, ...
    #[serde(rename = "mcp:read")]
    Read,
    /// Tools that change things: `create_*`, `update_*`, `set_*`, ...
    #[serde(rename = "mcp:write")]
    Write,
    /// Tools that destroy: `delete_*`.
    #[serde(rename = "mcp:admin")]
    Admin,
}

impl McpScope {
    pub const ALL: [McpScope; 3] = [McpScope::Read, McpScope::Write, McpScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "mcp:read",
            Self::Write => "mcp:write",
            Self::Admin => "mcp:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes (a key's, a token's, a caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What a key gets when it asks for nothing: read and write, never admin (seed 003).
    pub const DEFAULT: Scopes = Scopes(1 | 2);
    pub const ALL: Scopes = Scopes(1 | 2 | 4);

    pub fn contains(self, scope: McpScope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersection(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = McpScope> {
        McpScope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The scopes as stored and shown: `["mcp:read", "mcp:write"]`.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }

    /// What a tenant API key (with `proxy`) opens at a gateway: read and write, and admin
    /// tools only for a key that also administers the tenant (decision 0060).
    pub fn of_tenant_key(scopes: &[crate::tenancy::Scope]) -> Scopes {
        match scopes.contains(&crate::tenancy::Scope::Admin) {
            true => Scopes::ALL,
            false => Scopes::DEFAULT,
        }
    }

    /// Parses scope names; `Err` names the first one that is not a gateway scope.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        names.into_iter().try_fold(Scopes(0), |set, name| match McpScope::parse(name) {
            Some(scope) => Ok(Scopes(set.0 | scope.bit())),
            None => Err(name.to_owned()),
        })
    }
}

impl FromIterator<McpScope> for Scopes {
    fn from_iter<I: IntoIterator<Item = McpScope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// Where a tool's required scope comes from, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeOrigin {
    /// Set on the tool (PATCH `required_scope`).
    Setting,
    /// The alias's verb (seed 003's table).
    Alias,
    /// The upstream's `destructiveHint` / `readOnlyHint` annotation.
    Annotations,
    /// What those annotations said when the tool was added: the upstream has since loosened
    /// them, which does not loosen the gate (decision 0062).
    AnnotationsWhenAdded,
    /// Nothing said otherwise: `mcp:write`.
    Default,
}

/// Seed 003's verb table: the first word of an alias → the scope it needs.
const VERBS: &[(McpScope, &[&str])] = &[
    (McpScope::Read, &["list", "get", "check", "search", "render", "fetch"]),
    (
        McpScope::Write,
        &[
            "create", "update", "deploy", "promote", "publish", "save", "move", "reorder", "toggle", "set",
            "test", "validate", "compile", "execute", "chat", "clear", "export",
        ],
    ),
    (McpScope::Admin, &["delete"]),
];

/// The scope `tool` requires, and why. The upstream's annotations can tighten the gate
/// (`mcp:read` < `mcp:write` < `mcp:admin`), never loosen it below what they gave when the
/// tool was added: the operator chose to expose the tool as it was then (decision 0062).
pub fn required(tool: &GatewayTool) -> (McpScope, ScopeOrigin) {
    if let Some(set) = tool.scope_setting.as_deref().and_then(McpScope::parse) {
        return (set, ScopeOrigin::Setting);
    }
    if let Some(scope) = by_verb(&tool.alias) {
        return (scope, ScopeOrigin::Alias);
    }
    let now = by_annotations(tool.annotations.as_ref());
    let when_added = tool.annotation_scope.as_deref().and_then(McpScope::parse);
    let scope = now.unwrap_or(McpScope::Write).max(when_added.unwrap_or(McpScope::Write));
    let origin = if now == Some(scope) {
        ScopeOrigin::Annotations
    } else if when_added == Some(scope) {
        ScopeOrigin::AnnotationsWhenAdded
    } else {
        ScopeOrigin::Default
    };
    (scope, origin)
}

/// Whether a caller holding `scopes` may see and call `tool`.
pub fn allows(scopes: Scopes, tool: &GatewayTool) -> bool {
    scopes.contains(required(tool).0)
}

/// The scope of the alias's first word: `get_issue`, `get-issue`, `get.issue` and `getIssue`
/// all start with `get` (aliases follow MCP's tool-name characters, and clients' conventions
/// differ); compared without regard to case.
fn by_verb(alias: &str) -> Option<McpScope> {
    let bytes = alias.as_bytes();
    let end = (0..bytes.len())
        .find(|&i| {
            let camel = i > 0 && bytes[i - 1].is_ascii_lowercase() && bytes[i].is_ascii_uppercase();
            matches!(bytes[i], b'_' | b'-' | b'.') || camel
        })
        .unwrap_or(bytes.len());
    let verb = alias[..end].to_ascii_lowercase();
    VERBS.iter().find(|(_, verbs)| verbs.contains(&verb.as_str())).map(|(scope, _)| *scope)
}

/// `destructiveHint: true` → admin, `readOnlyHint: true` → read. A tool claiming both is
/// taken at its stricter word.
pub fn by_annotations(annotations: Option<&Value>) -> Option<McpScope> {
    let hint = |name: &str| annotations.and_then(|a| a.get(name)).and_then(Value::as_bool) == Some(true);
    if hint("destructiveHint") {
        Some(McpScope::Admin)
    } else if hint("readOnlyHint") {
        Some(McpScope::Read)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_seeds_verbs_decide_first_in_any_naming_style() {
        for (alias, scope) in [
            ("list_issues", McpScope::Read),
            ("get-issue", McpScope::Read),
            ("searchDocs", McpScope::Read),
            ("fetch.page", McpScope::Read),
            ("render", McpScope::Read),
            ("create_issue", McpScope::Write),
            ("Deploy_site", McpScope::Write),
            ("clear_cache", McpScope::Write),
            ("delete_issue", McpScope::Admin),
            ("deleteAll", McpScope::Admin),
        ] {
            assert_eq!(by_verb(alias), Some(scope), "{alias}");
        }
        for alias in ["listing", "getter_x", "echo", "say", "undelete_issue", ""] {
            assert_eq!(by_verb(alias), None, "{alias}");
        }
        assert_eq!(by_verb("LIST_ALL"), Some(McpScope::Read), "case does not matter");
    }

    #[test]
    fn annotations_decide_when_the_verb_does_not_and_the_stricter_hint_wins() {
        let of = |v: Value| by_annotations(Some(&v));
        assert_eq!(of(json!({"destructiveHint": true})), Some(McpScope::Admin));
        assert_eq!(of(json!({"readOnlyHint": true})), Some(McpScope::Read));
        assert_eq!(of(json!({"readOnlyHint": true, "destructiveHint": true})), Some(McpScope::Admin));
        assert_eq!(of(json!({"readOnlyHint": false, "destructiveHint": false})), None);
        assert_eq!(of(json!({"readOnlyHint": "yes"})), None, "only a real true counts");
        assert_eq!(by_annotations(None), None);
    }

    #[test]
    fn scopes_imply_nothing_and_parse_strictly() {
        let admin = Scopes::parse(["mcp:admin"]).unwrap();
        assert!(admin.contains(McpScope::Admin));
        assert!(!admin.contains(McpScope::Read) && !admin.contains(McpScope::Write));
        assert_eq!(Scopes::DEFAULT.names(), ["mcp:read", "mcp:write"]);
        assert_eq!(Scopes::parse(["mcp:read", "admin"]), Err("admin".to_owned()));
        let both = Scopes::parse(["mcp:write", "mcp:read"]).unwrap();
        assert_eq!(both.intersection(admin), Scopes::default());
        assert_eq!(both.intersection(Scopes::ALL), both);
    }
}
