//! The upstream's HTTP response → an MCP tool result.
//!
//! - 2xx with a JSON body → `structuredContent` plus the same JSON as one text block (MCP:
//!   "a tool that returns structured content SHOULD also return the serialized JSON in a
//!   TextContent block"). `structuredContent` must be an object, so any other JSON value
//!   (array, string, number, boolean, null) is wrapped as `{"result": <value>}`.
//! - 2xx otherwise → one text block: the body when it is text, a one-line note for binary
//!   content (its type and size; bytes are not shown to a model).
//! - anything else → `isError: true`, text `HTTP <status>: <body excerpt>`, the excerpt cut at
//!   [`MAX_ERROR_EXCERPT`] characters so an HTML error page cannot flood the model's context.
//!
//! The body arrives already capped by the caller; `truncated` says it was.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// Characters of an error body shown in the tool result.
pub const MAX_ERROR_EXCERPT: usize = 2_000;

/// A response as the outbound client read it.
#[derive(Debug, Clone, Copy)]
pub struct HttpResponse<'a> {
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The body was cut at the caller's size cap.
    pub truncated: bool,
}

/// The tool result for `response`.
pub fn tool_result(response: &HttpResponse) -> CallToolResult {
    if !(200..300).contains(&response.status) {
        return error_result(format!(
            "HTTP {}: {}",
            response.status,
            excerpt(response.body, MAX_ERROR_EXCERPT)
        ));
    }
    if response.body.is_empty() {
        return text_result(format!("HTTP {}: no content", response.status));
    }
    if !response.truncated
        && media_type(response.content_type).is_none_or(|m| is_json(&m))
        && let Ok(value) = serde_json::from_slice::<Value>(response.body)
    {
        return CallToolResult::structured(as_object(value));
    }
    match std::str::from_utf8(response.body) {
        Ok(text) if is_textual(response.content_type) => {
            let note = if response.truncated { "\n[response truncated]" } else { "" };
            text_result(format!("{text}{note}"))
        }
        _ => {
            let kind = response.content_type.unwrap_or("untyped");
            text_result(format!(
                "HTTP {}: {kind} response of {} bytes (binary, not shown)",
                response.status,
                response.body.len()
            ))
        }
    }
}

/// A tool error with `message`: for failures before or instead of a response (bad
/// arguments, timeouts, refused URLs), so a model sees them and never a protocol error.
pub fn error_result(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn text_result(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// Objects stay as they are; other JSON is wrapped, since `structuredContent` is an object.
fn as_object(value: Value) -> Value {
    if value.is_object() { value } else { json!({ "result": value }) }
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Text a model can read: `text/*`, JSON, XML, YAML, form data, or no declared type.
fn is_textual(content_type: Option<&str>) -> bool {
    let Some(m) = media_type(content_type) else { return true };
    m.starts_with("text/")
        || is_json(&m)
        || m.ends_with("+xml")
        || matches!(
            m.as_str(),
            "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/x-www-form-urlencoded"
                | "application/javascript"
        )
}

/// At most `max` characters of `body` (invalid UTF-8 replaced), noting what was cut.
fn excerpt(body: &[u8], max: usize) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(max) {
        None => text.into_owned(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(status: u16, content_type: Option<&str>, body: &[u8]) -> CallToolResult {
        tool_result(&HttpResponse { status, content_type, body, truncated: false })
    }

    fn text(result: &CallToolResult) -> String {
        result.content[0].as_text().expect("a text block").text.clone()
    }

    #[test]
    fn json_objects_become_structured_content_and_text() {
        let result =
            respond(200, Some("application/json; charset=utf-8"), br#"{"id": "T-1", "status": "open"}"#);
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.structured_content, Some(json!({"id": "T-1", "status": "open"})));
        assert_eq!(
            serde_json::from_str::<Value>(&text(&result)).unwrap(),
            json!({"id": "T-1", "status": "open"})
        );
        assert_eq!(result.content.len(), 1);
    }

    #[test]
    fn other_json_is_wrapped_in_an_object() {
        let result = respond(200, Some("application/vnd.api+json"), b"[1, 2]");
        assert_eq!(result.structured_content, Some(json!({"result": [1, 2]})));
        assert_eq!(respond(201, None, b"\"ok\"").structured_content, Some(json!({"result": "ok"})));
    }

    #[test]
    fn non_json_success_is_text() {
        let result = respond(200, Some("text/plain"), b"pong");
        assert_eq!((text(&result).as_str(), result.structured_content), ("pong", None));
        let result = respond(200, Some("application/json"), b"not json");
        assert_eq!(text(&result), "not json");
        assert_eq!(text(&respond(204, None, b"")), "HTTP 204: no content");
        let binary = respond(200, Some("image/png"), &[0x89, b'P', b'N', b'G']);
        assert_eq!(text(&binary), "HTTP 200: image/png response of 4 bytes (binary, not shown)");
    }

    #[test]
    fn a_truncated_body_is_text_with_a_note() {
        let result = tool_result(&HttpResponse {
            status: 200,
            content_type: Some("application/json"),
            body: b"{\"a\": [1,",
            truncated: true,
        });
        assert_eq!(result.structured_content, None);
        assert!(text(&result).ends_with("[response truncated]"));
    }

    #[test]
    fn failures_are_tool_errors_with_the_status_and_a_bounded_excerpt() {
        let result = respond(404, Some("application/json"), br#"{"message": "no such ticket"}"#);
        assert_eq!(result.is_error, Some(true));
        assert_eq!(text(&result), r#"HTTP 404: {"message": "no such ticket"}"#);
        let page = "é".repeat(5_000);
        let long = text(&respond(500, Some("text/html"), page.as_bytes()));
        assert!(long.starts_with("HTTP 500: éé"));
        assert!(long.ends_with("… (10000 bytes in all)"), "{}", &long[long.len() - 40..]);
        assert_eq!(long.chars().filter(|c| *c == 'é').count(), MAX_ERROR_EXCERPT);
        assert_eq!(text(&respond(302, None, b"")), "HTTP 302: (empty body)");
        assert_eq!(text(&respond(502, None, &[0xff, b'x'])), "HTTP 502: \u{fffd}x");
    }

    #[test]
    fn an_error_result_carries_the_message() {
        let result = error_result("the call timed out after 30 s");
        assert_eq!((result.is_error, text(&result).as_str()), (Some(true), "the call timed out after 30 s"));
    }
}
