//! The catalog's domain: tools as stored, the diff of a sync, argument validation, and the
//! call log's records.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use rmcp::model::CallToolResult;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::FieldError;
use crate::mcp::ServerInfo;

/// A catalog larger than this many tools is refused (nothing is written).
pub const MAX_TOOLS: usize = 2_000;
/// ... or larger than this many bytes of tool JSON.
pub const MAX_CATALOG_BYTES: usize = 5 * 1024 * 1024;
/// Logged arguments and results (when the tenant allows) are cut to this many bytes.
pub const MAX_LOGGED_PAYLOAD: usize = 16 * 1024;

/// A tool as the upstream described it at the last sync.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub annotations: Option<Value>,
    /// SHA-256 of the canonical JSON of all the fields above.
    pub content_hash: Vec<u8>,
}

impl Tool {
    pub fn from_mcp(tool: rmcp::model::Tool) -> Self {
        let annotations = tool.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok());
        let mut stored = Self {
            name: tool.name.into_owned(),
            title: tool.title,
            description: tool.description.map(|d| d.into_owned()),
            input_schema: Value::Object((*tool.input_schema).clone()),
            output_schema: tool.output_schema.map(|s| Value::Object((*s).clone())),
            annotations,
            content_hash: Vec::new(),
        };
        stored.content_hash = stored.hash();
        stored
    }

    /// serde_json's maps are ordered by key, so the same content always hashes the same,
    /// whatever order the upstream wrote its keys in.
    fn hash(&self) -> Vec<u8> {
        let canonical = json!({
            "name": self.name, "title": self.title, "description": self.description,
            "input_schema": self.input_schema, "output_schema": self.output_schema,
            "annotations": self.annotations,
        });
        Sha256::digest(canonical.to_string().as_bytes()).to_vec()
    }

    /// Bytes this tool takes as JSON, for the catalog size bound.
    /// Whether any field holds a NUL character, which Postgres text and jsonb cannot store.
    pub fn has_nul(&self) -> bool {
        let text =
            [&self.name, self.title.as_deref().unwrap_or(""), self.description.as_deref().unwrap_or("")];
        let json = [Some(&self.input_schema), self.output_schema.as_ref(), self.annotations.as_ref()];
        text.iter().any(|t| t.contains('\0')) || json.into_iter().flatten().any(json_has_nul)
    }

    pub fn size(&self) -> usize {
        self.name.len()
            + self.title.as_ref().map_or(0, String::len)
            + self.description.as_ref().map_or(0, String::len)
            + self.input_schema.to_string().len()
            + self.output_schema.as_ref().map_or(0, |s| s.to_string().len())
            + self.annotations.as_ref().map_or(0, |a| a.to_string().len())
    }
}

/// Whether a JSON value holds a NUL character in any string or key.
pub fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

/// The schema's validator; `None` when it does not compile (see [`Validators::check`]).
fn compile(input_schema: &Value) -> Option<Arc<jsonschema::Validator>> {
    match jsonschema::validator_for(input_schema) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            tracing::debug!(error = %e, "input schema does not compile; not validating");
            None
        }
    }
}

fn check_with(
    validator: Option<&jsonschema::Validator>,
    arguments: &Map<String, Value>,
) -> Result<(), Vec<FieldError>> {
    let Some(validator) = validator else { return Ok(()) };
    let instance = Value::Object(arguments.clone());
    let errors: Vec<FieldError> = validator
        .iter_errors(&instance)
        .map(|e| FieldError::new(format!("arguments{}", e.instance_path()), e.to_string()))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Validators kept per replica at most; beyond, the cache starts over.
const MAX_VALIDATORS: usize = 10_000;

/// Compiled input schemas by connector and tool, each with the schema it was compiled
/// from: compiling costs more than the rest of a call's checks, and a schema a sync changed
/// is noticed by comparing, so there is no invalidation to miss.
#[derive(Default)]
pub struct Validators {
    compiled: RwLock<HashMap<(Uuid, String), Compiled>>,
}

#[derive(Clone)]
struct Compiled {
    schema: Arc<Value>,
    validator: Option<Arc<jsonschema::Validator>>,
}

impl Validators {
    /// Checks `arguments` against the input schema of `tool` of `connector_id` (compiled
    /// once while it stays the same); every violation is one field error (`arguments/<json
    /// pointer>`). A schema we cannot compile (e.g. one that needs a remote `$ref`, which is
    /// never fetched) is not held against the caller: the upstream judges those arguments.
    pub fn check(
        &self,
        (connector_id, tool): (Uuid, &str),
        input_schema: &Value,
        arguments: &Map<String, Value>,
    ) -> Result<(), Vec<FieldError>> {
        let key = (connector_id, tool.to_owned());
        let cached = self.compiled.read().expect("validators").get(&key).cloned();
        let compiled = match cached {
            Some(c) if *c.schema == *input_schema => c,
            _ => {
                let fresh =
                    Compiled { schema: Arc::new(input_schema.clone()), validator: compile(input_schema) };
                let mut compiled = self.compiled.write().expect("validators");
                if compiled.len() >= MAX_VALIDATORS {
                    compiled.clear();
                }
                compiled.insert(key, fresh.clone());
                fresh
            }
        };
        check_with(compiled.validator.as_deref(), arguments)
    }
}

/// Tool names in one part of a sync's diff.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct NameSet {
    pub count: usize,
    pub names: Vec<String>,
}

impl NameSet {
    fn of(mut names: Vec<String>) -> Self {
        names.sort();
        Self { count: names.len(), names }
    }
}

/// How a fresh `tools/list` differs from what was stored.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Diff {
    pub added: NameSet,
    /// Anything about the tool changed: schema, description, title or annotations.
    pub updated: NameSet,
    pub removed: NameSet,
    pub unchanged: NameSet,
}

impl Diff {
    /// `stored` maps each stored tool's name to its content hash.
    pub fn between(stored: &HashMap<String, Vec<u8>>, fetched: &[Tool]) -> Self {
        let (mut added, mut updated, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
        for tool in fetched {
            match stored.get(&tool.name) {
                None => added.push(tool.name.clone()),
                Some(hash) if *hash != tool.content_hash => updated.push(tool.name.clone()),
                Some(_) => unchanged.push(tool.name.clone()),
            }
        }
        let fetched_names: std::collections::HashSet<&str> =
            fetched.iter().map(|t| t.name.as_str()).collect();
        let removed = stored.keys().filter(|n| !fetched_names.contains(n.as_str())).cloned().collect();
        Self {
            added: NameSet::of(added),
            updated: NameSet::of(updated),
            removed: NameSet::of(removed),
            unchanged: NameSet::of(unchanged),
        }
    }

    /// The tools to write: the added and the updated.
    pub fn changed<'a>(&self, fetched: &'a [Tool]) -> Vec<&'a Tool> {
        let write = |n: &String| self.added.names.contains(n) || self.updated.names.contains(n);
        fetched.iter().filter(|t| write(&t.name)).collect()
    }
}

/// The answer to a sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    pub connector_id: Uuid,
    pub tools_synced_at: DateTime<Utc>,
    /// What the upstream said about itself in this sync's `initialize`.
    pub server_info: Option<ServerInfo>,
    pub tool_count: usize,
    pub duration_ms: u64,
    #[serde(flatten)]
    pub diff: Diff,
}

/// How a direct call ended, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The tool ran and answered `isError: false`.
    Ok,
    /// The tool ran and answered `isError: true`.
    ToolError,
    /// The arguments did not match the input schema; the upstream was not called.
    InvalidArguments,
    /// The upstream failed (protocol error, credentials, unreachable).
    UpstreamError,
    Timeout,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::InvalidArguments => "invalid_arguments",
            Self::UpstreamError => "upstream_error",
            Self::Timeout => "timeout",
        }
    }
}

/// One logged call.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub tool_name: String,
    pub api_key_id: Uuid,
    pub status: CallStatus,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub request_bytes: i32,
    pub response_bytes: Option<i32>,
    pub arguments: Option<String>,
    pub result: Option<String>,
}

impl CallRecord {
    /// The upstream answered with a `CallToolResult` (which may say `isError`).
    pub fn succeeded(&mut self, result: &CallToolResult, log_payload: bool) {
        let text = serde_json::to_string(result).unwrap_or_default();
        let is_error = result.is_error == Some(true);
        self.status = if is_error { CallStatus::ToolError } else { CallStatus::Ok };
        self.response_bytes = Some(text.len() as i32);
        self.result = log_payload.then(|| truncated(text));
    }
}

/// JSON text cut to [`MAX_LOGGED_PAYLOAD`] bytes (on a character boundary), marked when cut.
pub fn truncated(text: String) -> String {
    if text.len() <= MAX_LOGGED_PAYLOAD {
        return text;
    }
    let mut end = MAX_LOGGED_PAYLOAD;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated]", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, schema: Value) -> Tool {
        let mcp = rmcp::model::Tool::new(name.to_owned(), "d", schema.as_object().unwrap().clone());
        Tool::from_mcp(mcp)
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value =
            serde_json::from_str(r#"{"type":"object","properties":{"x":{"type":"string"}}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"properties":{"x":{"type":"string"}},"type":"object"}"#).unwrap();
        assert_eq!(tool("t", a).content_hash, tool("t", b).content_hash);
    }

    #[test]
    fn diff_sorts_tools_into_four_sets() {
        let old = [tool("keep", json!({"type": "object"})), tool("change", json!({"type": "object"}))];
        let stored = old
            .iter()
            .chain([&tool("gone", json!({}))])
            .map(|t| (t.name.clone(), t.content_hash.clone()))
            .collect();
        let fetched = vec![
            tool("keep", json!({"type": "object"})),
            tool("change", json!({"type": "object", "required": ["x"]})),
            tool("new", json!({})),
        ];
        let diff = Diff::between(&stored, &fetched);
        assert_eq!(diff.added.names, ["new"]);
        assert_eq!(diff.updated.names, ["change"]);
        assert_eq!(diff.removed.names, ["gone"]);
        assert_eq!(diff.unchanged.names, ["keep"]);
        let written: Vec<&str> = diff.changed(&fetched).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(written, ["change", "new"]);
    }

    #[test]
    fn arguments_are_checked_against_the_schema() {
        let t =
            tool("t", json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}));
        let validators = Validators::default();
        let check =
            |args: Value| validators.check((Uuid::nil(), "t"), &t.input_schema, args.as_object().unwrap());
        assert!(check(json!({"n": 3})).is_ok());
        assert_eq!(check(json!({"n": "three"})).unwrap_err()[0].field, "arguments/n");
        assert!(check(json!({})).is_err());
    }

    #[test]
    fn payloads_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LOGGED_PAYLOAD);
        let cut = truncated(long);
        assert!(cut.len() <= MAX_LOGGED_PAYLOAD + "…[truncated]".len());
        assert!(cut.ends_with("…[truncated]"));
        assert_eq!(truncated("short".into()), "short");
    }
}
