//! MCP protocol facts: the transports, the two eras, what a server says about itself, the
//! connect probe, and the legacy SSE endpoint rule.

pub mod era;
pub mod legacy;
pub mod probe;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MCP Streamable HTTP (2025-03-26 and later).
    #[default]
    StreamableHttp,
    /// The legacy HTTP+SSE transport (2024-11-05).
    Sse,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable_http",
            Transport::Sse => "sse",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Transport::StreamableHttp, Transport::Sse].into_iter().find(|t| t.as_str() == s)
    }
}

/// What an upstream said about itself, in its `server/discover` or `initialize` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    pub name: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    /// The revision spoken with it: `2026-07-28` (modern) or what `initialize` agreed on.
    pub protocol_version: Option<String>,
    #[schema(value_type = Object)]
    pub capabilities: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// The modern revision we try first (`server/discover`).
pub const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";
/// The revision we offer in `initialize` when a server turns out to be legacy; never rmcp's
/// `LATEST`, which has no `initialize`.
pub const LEGACY_PROTOCOL_VERSION: &str = "2025-11-25";
