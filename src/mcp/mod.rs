//! Speaking MCP to upstream servers as a client (today: the `initialize` probe).

pub mod probe;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an upstream said about itself in its `initialize` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    pub name: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub protocol_version: Option<String>,
    #[schema(value_type = Object)]
    pub capabilities: serde_json::Value,
}

/// The protocol revision we offer in `initialize`; servers answer with the one they speak.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
