//! The two MCP eras on the wire: modern (2026-07-28: `server/discover`, per-request `_meta`,
//! `Mcp-Method`/`Mcp-Name` headers) and legacy (2025-11-25 and earlier: `initialize` and
//! sessions), and how a modern server's rejection is told from a legacy server's.

use serde_json::Value;

pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The JSON-RPC errors only a modern server sends (2026-07-28 schema).
const HEADER_MISMATCH: i64 = -32020;
const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// A recognized modern JSON-RPC error: the server speaks the modern era, so a client must
/// not fall back to `initialize` on it (except to a legacy version the server lists).
#[derive(Debug, Clone, PartialEq)]
pub struct ModernRejection {
    pub code: i64,
    pub message: String,
    /// For an unsupported version: the versions the server does speak.
    pub supported: Vec<String>,
}

impl ModernRejection {
    /// Whether the server also speaks a legacy (dated before 2026-07-28) version.
    pub fn lists_legacy_version(&self) -> bool {
        self.supported.iter().any(|v| v.as_str() < super::MODERN_PROTOCOL_VERSION)
    }
}

impl std::fmt::Display for ModernRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)?;
        if !self.supported.is_empty() {
            write!(f, " (supported: {})", self.supported.join(", "))?;
        }
        Ok(())
    }
}

/// `error` (a JSON-RPC error object) as a modern rejection, if it is one.
pub fn modern_rejection(error: &Value) -> Option<ModernRejection> {
    let code = error.get("code").and_then(Value::as_i64)?;
    if ![HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION].contains(&code) {
        return None;
    }
    let supported = error.get("data").and_then(|d| d.get("supported")).and_then(Value::as_array);
    Some(ModernRejection {
        code,
        message: error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        supported: supported.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_modern_codes_are_modern_rejections() {
        let unsupported = json!({"code": -32022, "message": "Unsupported protocol version",
            "data": {"supported": ["2026-07-28"], "requested": "1900-01-01"}});
        let rejection = modern_rejection(&unsupported).unwrap();
        assert_eq!(rejection.supported, ["2026-07-28"]);
        assert!(!rejection.lists_legacy_version());
        let dual =
            json!({"code": -32022, "message": "x", "data": {"supported": ["2026-07-28", "2025-11-25"]}});
        assert!(modern_rejection(&dual).unwrap().lists_legacy_version());
        assert!(modern_rejection(&json!({"code": -32020, "message": "mismatch"})).is_some());
        // A legacy server's "not initialized" and a plain method-not-found are not modern.
        assert!(modern_rejection(&json!({"code": -32000, "message": "Server not initialized"})).is_none());
        assert!(modern_rejection(&json!({"code": -32601, "message": "Method not found"})).is_none());
    }
}
