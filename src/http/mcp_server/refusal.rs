//! A rate-limit refusal told to an MCP client the way it reads errors (decision 0070): still
//! 429 with `Retry-After`, but with a JSON-RPC error answering the request's id (`null` when
//! its id cannot be read) as an `application/json` body, carrying the problem as its `data`.
//! MCP SDK clients surface such a body's error to the caller (the Python SDK reads it only
//! when the body is `application/json`; a problem+json body became a bare "Server returned
//! an error response"). A request that is not JSON-RPC (a GET) keeps the problem+json answer.

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::problem::ApiError;

/// JSON-RPC's first implementation-defined server error: MCP defines no code for "slow down".
const RATE_LIMITED: ErrorCode = ErrorCode(-32000);

pub fn is_rate_limited(err: &ApiError) -> bool {
    matches!(err, ApiError::Domain(Error::RateLimited { .. }))
}

/// Whether the request is a JSON-RPC message: a POST of JSON (what the transport sends; rmcp
/// refuses any other POST with 415).
pub fn is_json_rpc(parts: &Parts) -> bool {
    let json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    parts.method == Method::POST && json
}

/// `err`'s answer (its status and headers) with a JSON-RPC error to the request in `body`.
pub fn json_rpc(err: ApiError, body: &Bytes) -> Response {
    let problem = serde_json::to_value(err.to_problem()).unwrap_or(Value::Null);
    let detail = problem["detail"].as_str().unwrap_or("rate limited").to_owned();
    let error = ErrorData::new(RATE_LIMITED, detail, Some(problem));
    let message = json!({"jsonrpc": "2.0", "id": request_id(body), "error": error});
    let mut response = err.into_response();
    *response.body_mut() = Body::from(message.to_string());
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The id of the JSON-RPC request in `body`; `null` when there is none to read (JSON-RPC 2.0
/// §5: a notification, a batch, a body that does not parse).
fn request_id(body: &Bytes) -> Value {
    #[derive(serde::Deserialize)]
    struct Request {
        id: Option<Value>,
    }
    match serde_json::from_slice::<Request>(body) {
        Ok(Request { id: Some(id @ (Value::String(_) | Value::Number(_))) }) => id,
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limited() -> ApiError {
        Error::RateLimited { detail: "slow down".into(), retry_after: Duration::from_millis(1500) }.into()
    }

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn the_refusal_answers_the_requests_id_and_keeps_status_and_retry_after() {
        let response =
            json_rpc(limited(), &Bytes::from_static(br#"{"jsonrpc":"2.0","id":"a-7","method":"ping"}"#));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let message = body_of(response).await;
        assert_eq!((message["id"].as_str(), message["error"]["code"].as_i64()), (Some("a-7"), Some(-32000)));
        assert_eq!(message["error"]["message"], "slow down");
        assert_eq!(message["error"]["data"]["code"], "rate_limited", "{message}");
    }

    #[test]
    fn an_id_that_cannot_be_read_is_null() {
        let id = |body: &'static [u8]| request_id(&Bytes::from_static(body));
        assert_eq!(id(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#), json!(3));
        assert_eq!(id(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), Value::Null);
        assert_eq!(id(br#"{"jsonrpc":"2.0","id":{"no":1}}"#), Value::Null);
        assert_eq!(id(br#"[{"jsonrpc":"2.0","id":3}]"#), Value::Null);
        assert_eq!(id(b"{not json"), Value::Null);
    }
}
