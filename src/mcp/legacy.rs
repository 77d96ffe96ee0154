//! The legacy HTTP+SSE transport (protocol revision 2024-11-05) and its one rule: the
//! client GETs an event stream whose first `endpoint` event says where to POST messages;
//! that URL is resolved against the stream's URL and must stay on its origin (we send the
//! connector's credential there). The probe, the MCP client and the proxy all use this.

use url::Url;

use crate::platform::sse::{self, ReadError};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("endpoint event is not a URL: {0}")]
    NotAUrl(url::ParseError),
    #[error("the endpoint event points to another origin")]
    OtherOrigin,
    #[error("the stream ended before the endpoint event")]
    Ended,
}

/// Whether `event` is the one that names the message endpoint.
pub fn is_endpoint(event: &sse::Event) -> bool {
    event.event.as_deref() == Some("endpoint")
}

/// Resolves the `endpoint` event's data against the SSE URL, on the same origin only: a
/// server may not point us (with its credentials) at another host.
pub fn message_endpoint(sse_url: &Url, data: &str) -> Result<Url, EndpointError> {
    let endpoint = sse_url.join(data.trim()).map_err(EndpointError::NotAUrl)?;
    if endpoint.origin() != sse_url.origin() {
        return Err(EndpointError::OtherOrigin);
    }
    Ok(endpoint)
}

/// Reads the stream up to its `endpoint` event and returns the message URL. Events before
/// it are skipped (nothing can be addressed to us yet); events after it stay in `reader`.
pub async fn wait_for_endpoint(reader: &mut sse::Reader, sse_url: &Url) -> Result<Url, EndpointError> {
    while let Some(event) = reader.next().await? {
        if is_endpoint(&event) {
            return message_endpoint(sse_url, &event.data);
        }
    }
    Err(EndpointError::Ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_events_resolve_on_the_same_origin_only() {
        let sse = Url::parse("https://mcp.example.com/v1/sse").unwrap();
        let ok = |d: &str| message_endpoint(&sse, d).unwrap().to_string();
        assert_eq!(ok("/messages?sessionId=1"), "https://mcp.example.com/messages?sessionId=1");
        assert_eq!(ok("messages/?session_id=2"), "https://mcp.example.com/v1/messages/?session_id=2");
        assert_eq!(ok("https://mcp.example.com/m"), "https://mcp.example.com/m");
        for bad in [
            "https://evil.example.com/m",
            "http://mcp.example.com/m",
            "https://mcp.example.com:8443/m",
            "//evil.example.com/x",
        ] {
            assert!(message_endpoint(&sse, bad).is_err(), "{bad}");
        }
    }
}
