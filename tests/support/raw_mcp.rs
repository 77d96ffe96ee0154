//! A deliberately plain MCP client for tests: JSON-RPC over Streamable HTTP with reqwest,
//! so tests see every status, header and SSE event exactly as the proxy sends them.

use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

pub struct RawMcp {
    pub client: Client,
    pub url: String,
    pub key: String,
    pub session: Option<String>,
    pub protocol_version: Option<String>,
}

impl RawMcp {
    pub fn new(url: &str, key: &str) -> Self {
        Self {
            client: Client::new(),
            url: url.to_owned(),
            key: key.to_owned(),
            session: None,
            protocol_version: None,
        }
    }

    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method, &self.url)
            .bearer_auth(&self.key)
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = &self.session {
            req = req.header("mcp-session-id", session);
        }
        if let Some(version) = &self.protocol_version {
            req = req.header("mcp-protocol-version", version);
        }
        req
    }

    pub async fn post(&self, message: Value) -> Response {
        self.request(reqwest::Method::POST).json(&message).send().await.unwrap()
    }

    /// Initializes and sends `notifications/initialized`; returns the initialize result.
    pub async fn initialize(&mut self) -> Value {
        let res = self
            .post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
            .await;
        assert_eq!(res.status(), 200, "initialize through the proxy");
        self.session = res.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let result = response_to(res, 0).await;
        self.protocol_version = result["result"]["protocolVersion"].as_str().map(str::to_owned);
        let ack = self.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        assert_eq!(ack.status(), 202);
        result["result"].clone()
    }

    /// A self-contained 2026-07-28 request (id 1, no session): `method` with `params` and its
    /// `_meta` ([`modern_meta`]), and the headers that must say what the body says:
    /// `Mcp-Method`, and `Mcp-Name` when given.
    pub fn modern(&self, method: &str, name: Option<&str>, mut params: Value) -> RequestBuilder {
        params["_meta"] = modern_meta();
        let mut req = self
            .client
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = name {
            req = req.header("mcp-name", name);
        }
        req.json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    }

    pub async fn call(&self, id: i64, method: &str, params: Value) -> Value {
        let res = self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        assert_eq!(res.status(), 200);
        response_to(res, id).await
    }
}

/// What a 2026-07-28 request says of its client in `params._meta`.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
    })
}

/// The JSON-RPC response with `id`, from a JSON body or from an SSE stream.
pub async fn response_to(res: Response, id: i64) -> Value {
    let is_sse = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    if !is_sse {
        return serde_json::from_str(&text).unwrap();
    }
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> =
                event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            serde_json::from_str::<Value>(&data.join("\n")).ok()
        })
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {text}"))
}
