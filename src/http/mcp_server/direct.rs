//! A plain `tools/call` answered here, without rmcp's per-request service (decision 0075).
//!
//! rmcp's stateless server gives every request a service of its own: the body parsed again,
//! a serve loop spawned with a one-shot transport, the handler spawned from that, channels
//! between them and a cancellation token — a fifth of a gateway call's CPU. A `tools/call`
//! runs on every call, and its answer needs none of it: the server says nothing before the
//! result, and the result is one JSON message. [`plain_call`] takes only the calls rmcp would
//! serve as they are (each check rmcp makes of such a request passes), and [`answer`] answers
//! them as rmcp does: the same result from [`call_tool`], its era's finishing, the same JSON
//! body and status. Anything else — another method, a header rmcp would look at twice or
//! refuse, a tool whose arguments become `Mcp-Param-*` headers, an `Accept` with parameters —
//! is rmcp's to answer.

use axum::body::Body;
use axum::http::header::{ACCEPT, CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, ProtocolVersion,
    RequestId, ServerJsonRpcMessage, ServerResult, Tool,
};
use rmcp::transport::common::http_header::{
    BASE64_HEADER_PREFIX, HEADER_MCP_METHOD, HEADER_MCP_NAME, HEADER_MCP_PROTOCOL_VERSION,
};

use super::refusal::is_json_rpc;
use super::server::{ToolSource, call_tool};
use tracing::Instrument as _;

use crate::catalog::has_param_headers;
use crate::error::Error;
use crate::http::problem::ApiResult;

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// A `tools/call` to answer here.
pub struct PlainCall {
    id: RequestId,
    params: CallToolRequestParams,
    /// A 2026-07-28 request (its `_meta` names the version); else a 2025-era one.
    current: bool,
}

/// The call `message` is, when it is a `tools/call` rmcp would serve as it is, with `tools`
/// the server's.
pub fn plain_call(parts: &Parts, message: ClientJsonRpcMessage, tools: &[Tool]) -> Option<PlainCall> {
    let JsonRpcMessage::Request(request) = message else { return None };
    let ClientRequest::CallToolRequest(call) = &request.request else { return None };
    // A POST of JSON (rmcp answers 415 to anything else).
    if !is_json_rpc(parts) || !has_authority(parts) || !accepts_json_and_sse(&parts.headers) {
        return None;
    }
    let current = era(&parts.headers, &request.request)?;
    if current && !names_call(&parts.headers, &call.params.name, tools) {
        return None;
    }
    let ClientRequest::CallToolRequest(call) = request.request else { return None };
    Some(PlainCall { id: request.id, params: call.params, current })
}

/// A `Host` that parses as an authority, or one in the URI: rmcp answers 400 otherwise, even
/// with its host allow-list off.
fn has_authority(parts: &Parts) -> bool {
    match parts.headers.get(HOST) {
        Some(host) => Authority::try_from(host.as_bytes()).is_ok(),
        None => parts.uri.authority().is_some(),
    }
}

/// Whether `Accept` names both media types rmcp requires, in a form read the same by any
/// parser: no parameters (weights) and no quotes.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { return false };
        for range in value.split(',').map(str::trim) {
            if range.contains([';', '"']) {
                return false;
            }
            json |= range.eq_ignore_ascii_case(JSON);
            sse |= range.eq_ignore_ascii_case(EVENT_STREAM);
        }
    }
    json && sse
}

/// `Some(true)` for a complete 2026-07-28 request (its `_meta` and `MCP-Protocol-Version`
/// name that version, nothing required is missing), `Some(false)` for a 2025-era one (no
/// version in `_meta`; the header, if any, a known version before 2026-07-28); `None` for
/// anything else, which rmcp negotiates or refuses.
fn era(headers: &HeaderMap, request: &ClientRequest) -> Option<bool> {
    let header = match headers.get(HEADER_MCP_PROTOCOL_VERSION) {
        Some(value) => Some(value.to_str().ok()?),
        None => None,
    };
    let current = ProtocolVersion::V_2026_07_28;
    let meta = request.get_meta();
    match meta.protocol_version() {
        None => header
            .is_none_or(|h| {
                h < current.as_str() && ProtocolVersion::KNOWN_VERSIONS.iter().any(|v| v.as_str() == h)
            })
            .then_some(false),
        Some(version) => (version == current
            && header == Some(current.as_str())
            && meta.missing_required_keys(&current).is_empty())
        .then_some(true),
    }
}

/// 2026-07-28 (SEP-2243): the standard headers name this call as rmcp requires, each once and
/// unencoded, and the tool takes no arguments as headers (rmcp checks those).
fn names_call(headers: &HeaderMap, name: &str, tools: &[Tool]) -> bool {
    let sole = |header: &str| {
        let mut values = headers.get_all(header).iter();
        let first = values.next()?;
        values.next().is_none().then(|| first.to_str().ok()).flatten()
    };
    let unencoded_name =
        sole(HEADER_MCP_NAME).is_some_and(|n| n == name && !n.starts_with(BASE64_HEADER_PREFIX));
    let header_arguments = tools.iter().any(|t| t.name == name && has_param_headers(&t.input_schema));
    sole(HEADER_MCP_METHOD) == Some("tools/call") && unencoded_name && !header_arguments
}

/// The answer rmcp's stateless server gives the call with `json_response` on: one JSON
/// message, HTTP 200 (a 2026-07-28 error is 400 or 404 only for codes [`call_tool`] never
/// answers). The call runs in a task of its own, as rmcp runs a handler: a client that goes
/// away does not cut it off half-made, and it is logged as it ends.
pub async fn answer<S: ToolSource>(source: S, call: PlainCall) -> ApiResult<Response> {
    let PlainCall { id, params, current } = call;
    // In the request's span, as rmcp instruments its handler task: what the call logs names
    // the request, tenant and gateway.
    let called = tokio::spawn(async move { call_tool(&source, params).await }.in_current_span());
    let called = called.await.map_err(|e| Error::Internal(e.into()))?;
    let message = match called {
        Ok(result) => {
            let mut result = ServerResult::CallToolResult(result);
            // rmcp's finishing of every result for the request's era.
            if current {
                result.fill_missing_cache_hints();
            } else {
                result.strip_result_type_for_legacy_peer();
            }
            ServerJsonRpcMessage::response(result, id)
        }
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    let body = serde_json::to_vec(&message).map_err(|e| Error::Internal(e.into()))?;
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::http::mcp_server::server::mcp_tool;

    const BOTH: &str = "application/json, text/event-stream";

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().method(method).header("host", "127.0.0.1:8080");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn call(name: &str, meta: Option<Value>) -> ClientJsonRpcMessage {
        let mut params = json!({"name": name, "arguments": {"message": "hi"}});
        if let Some(meta) = meta {
            params["_meta"] = meta;
        }
        let message = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
        serde_json::from_value(message).unwrap()
    }

    fn modern_meta() -> Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        })
    }

    fn era_of(headers: &[(&str, &str)], meta: Option<Value>, tools: &[Tool]) -> Option<bool> {
        plain_call(&parts("POST", headers), call("say", meta), tools).map(|c| c.current)
    }

    #[test]
    fn a_2025_era_call_rmcp_would_serve_as_it_is_is_plain() {
        let json = ("content-type", "application/json; charset=utf-8");
        assert_eq!(era_of(&[("accept", BOTH), json], None, &[]), Some(false));
        let versioned = [("accept", BOTH), json, ("mcp-protocol-version", "2025-11-25")];
        assert_eq!(era_of(&versioned, None, &[]), Some(false));
        let split = [("accept", "text/event-stream"), ("accept", "application/json"), json];
        assert_eq!(era_of(&split, None, &[]), Some(false));
        // rmcp's to answer: an unknown or 2026-07-28 version without `_meta`, weights, a
        // missing media type, another content type.
        for refused in [
            vec![("accept", BOTH), json, ("mcp-protocol-version", "2099-01-01")],
            vec![("accept", BOTH), json, ("mcp-protocol-version", "2026-07-28")],
            vec![("accept", "application/json;q=0.9, text/event-stream"), json],
            vec![("accept", "application/json"), json],
            vec![("accept", BOTH), ("content-type", "text/plain")],
            vec![("accept", BOTH)],
        ] {
            assert_eq!(era_of(&refused, None, &[]), None, "{refused:?}");
        }
        let mut hostless = parts("POST", &[("accept", BOTH), json]);
        hostless.headers.remove("host");
        assert!(
            plain_call(&hostless, call("say", None), &[]).is_none(),
            "rmcp refuses a request without a host"
        );
        let get = parts("GET", &[("accept", BOTH), json]);
        assert!(plain_call(&get, call("say", None), &[]).is_none());
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let post = parts("POST", &[("accept", BOTH), json]);
        assert!(plain_call(&post, serde_json::from_value(list).unwrap(), &[]).is_none());
    }

    #[test]
    fn a_2026_call_is_plain_only_when_its_headers_say_what_its_body_says() {
        let base = [
            ("accept", BOTH),
            ("content-type", "application/json"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| [&base[..], extra].concat();
        assert_eq!(era_of(&with(&[("mcp-name", "say")]), Some(modern_meta()), &[]), Some(true));
        let mut partial = modern_meta();
        partial.as_object_mut().unwrap().remove("io.modelcontextprotocol/clientCapabilities");
        assert_eq!(era_of(&with(&[("mcp-name", "say")]), Some(partial), &[]), None, "incomplete _meta");
        for headers in [
            with(&[]),
            with(&[("mcp-name", "other")]),
            with(&[("mcp-name", "say"), ("mcp-name", "say")]),
            with(&[("mcp-name", "say"), ("mcp-method", "tools/call")]),
            with(&[("mcp-name", "=?base64?c2F5?=")]),
            [&base[..2], &[("mcp-protocol-version", "2025-11-25"), ("mcp-method", "tools/call")]].concat(),
        ] {
            assert_eq!(era_of(&headers, Some(modern_meta()), &[]), None, "{headers:?}");
        }
        let schema =
            json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
        let annotated = [mcp_tool("say", None, None, Some(&schema), None, None)];
        let plain = [mcp_tool("say", None, None, Some(&json!({"type": "object"})), None, None)];
        let named = with(&[("mcp-name", "say")]);
        assert_eq!(era_of(&named, Some(modern_meta()), &annotated), None, "rmcp checks header arguments");
        assert_eq!(era_of(&named, Some(modern_meta()), &plain), Some(true));
    }
}
