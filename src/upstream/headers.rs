//! Which headers cross the proxy. The caller's credentials (`Authorization`, `Cookie`) never
//! reach the upstream, and the upstream's challenges never reach the caller; hop-by-hop
//! headers stop here; every other end-to-end header — including the MCP ones
//! (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`, `Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*`) — passes untouched, so protocol versions we have never seen still work.
//! (The proxy's HTTP layer seals `Mcp-Session-Id` for the caller and opens it on the way
//! back, before and after this.)

use reqwest::header::{HeaderMap, HeaderName};

/// RFC 9110 §7.6.1 connection-specific headers, plus those the HTTP stack sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Caller headers that must not reach the upstream (no credential pass-through; Origin
/// belongs to the caller's page, not to us).
const CALLER_ONLY: &[&str] = &[
    "authorization",
    "cookie",
    "origin",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    // A caller's own token for a REST connector's call: never an MCP upstream's to see.
    "x-switchboard-user-token",
];

/// Upstream headers that must not reach the caller: cookies for the upstream's domain and
/// challenges that point at the upstream's authorization server.
const UPSTREAM_ONLY: &[&str] = &["set-cookie", "www-authenticate"];

/// Names listed in `Connection` are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

fn filtered(incoming: &HeaderMap, drop: &[&str]) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || drop.contains(&n) || listed.contains(name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The caller's headers as sent upstream, before the credential is added.
pub fn upstream_request(incoming: &HeaderMap) -> HeaderMap {
    filtered(incoming, CALLER_ONLY)
}

/// The upstream's response headers as returned to the caller.
pub fn caller_response(upstream: &HeaderMap) -> HeaderMap {
    filtered(upstream, UPSTREAM_ONLY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stop_at_the_proxy() {
        let out = upstream_request(&headers(&[
            ("authorization", "Bearer sk_caller"),
            ("cookie", "session=1"),
            ("origin", "https://evil.example"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("host", "switchboard"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-session-id", "abc"),
            ("mcp-protocol-version", "2099-01-01"),
            ("last-event-id", "42"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
            ("mcp-param-region", "eu"),
            ("x-custom", "kept"),
        ]));
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        for gone in
            ["authorization", "cookie", "origin", "connection", "x-private", "transfer-encoding", "host"]
        {
            assert!(!names.contains(&gone), "{gone} must not be forwarded");
        }
        for kept in [
            "content-type",
            "accept",
            "mcp-session-id",
            "mcp-protocol-version",
            "last-event-id",
            "mcp-method",
            "mcp-name",
            "mcp-param-region",
            "x-custom",
        ] {
            assert!(names.contains(&kept), "{kept} must be forwarded");
        }
    }

    #[test]
    fn upstream_challenges_and_cookies_stay_upstream() {
        let out = caller_response(&headers(&[
            ("www-authenticate", "Bearer resource_metadata=\"https://as\""),
            ("set-cookie", "upstream=1"),
            ("content-type", "text/event-stream"),
            ("mcp-session-id", "s1"),
            ("content-length", "10"),
        ]));
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "mcp-session-id"]);
    }
}
