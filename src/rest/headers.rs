//! Which request headers a descriptor may set, and how their values are checked.
//!
//! A header *parameter* takes its value from a tool call, i.e. from a language model, so it
//! is held to an allow-list: a few standard request headers that only shape the answer
//! (conditional requests, content negotiation, idempotency), API version headers, and
//! extension headers (`X-…`) except those that proxies and frameworks trust for routing or
//! identity (`X-Forwarded-*`, `X-Real-IP`, method overrides, …). Everything that frames the
//! message, addresses it, or authenticates it — `Host`, `Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Authorization`, `Cookie`, `Proxy-*` … — is never a
//! parameter: the outbound client and the credential own those.
//!
//! An *auth header* comes from the descriptor's author and a sealed credential, so it may set
//! `Authorization` or `Cookie` (many APIs want `Authorization: Token {api_key}`), but never a
//! header that frames or routes the message.

/// Standard request headers a tool argument may set.
const PARAMETER_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "cache-control",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "idempotency-key",
    "prefer",
    "range",
];

/// `X-` headers that intermediaries or frameworks act on: never from a tool argument.
const DENIED_EXTENSION_PREFIXES: &[&str] = &[
    "x-forwarded-",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-",
    "x-rewrite-url",
    "x-host",
    "x-http-method",
    "x-method-override",
    "x-csrf",
    "x-xsrf",
    "x-switchboard-",
];

/// Headers that frame, route or upgrade the message: neither parameters nor auth headers.
const FRAMING_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "forwarded",
    "via",
    "max-forwards",
];

/// An HTTP field name: a non-empty RFC 9110 token.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header parameter (a value from a tool call) may have this name.
pub fn parameter_header_allowed(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if !is_header_name(&name) || FRAMING_HEADERS.contains(&name.as_str()) {
        return false;
    }
    if PARAMETER_HEADERS.contains(&name.as_str()) || name.ends_with("-version") {
        return true;
    }
    name.starts_with("x-") && !DENIED_EXTENSION_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether an auth header (from the descriptor and the credential) may have this name.
pub fn auth_header_allowed(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    is_header_name(&name) && !FRAMING_HEADERS.contains(&name.as_str()) && !name.starts_with("proxy-")
}

/// A header value must not end the line early (CR, LF: header injection) nor carry other
/// control characters; tab is allowed (RFC 9110 §5.5).
pub fn is_header_value(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_may_set_negotiation_version_and_extension_headers() {
        for name in
            ["Accept", "If-None-Match", "Idempotency-Key", "Notion-Version", "X-Request-Id", "x-trace"]
        {
            assert!(parameter_header_allowed(name), "{name}");
        }
    }

    #[test]
    fn parameters_never_set_framing_routing_or_credential_headers() {
        for name in [
            "Host",
            "Authorization",
            "Cookie",
            "Content-Length",
            "Transfer-Encoding",
            "Connection",
            "Content-Type",
            "Proxy-Authorization",
            "X-Forwarded-For",
            "X-Real-IP",
            "X-HTTP-Method-Override",
            "X-Switchboard-User-Token",
            "User-Agent",
            "Bad Name",
            "",
        ] {
            assert!(!parameter_header_allowed(name), "{name}");
        }
    }

    #[test]
    fn auth_headers_may_authenticate_but_not_frame() {
        assert!(auth_header_allowed("Authorization"));
        assert!(auth_header_allowed("X-API-Key"));
        assert!(auth_header_allowed("Cookie"));
        for name in ["Host", "Content-Length", "Transfer-Encoding", "Proxy-Authorization", "a:b"] {
            assert!(!auth_header_allowed(name), "{name}");
        }
    }

    #[test]
    fn values_with_line_breaks_or_controls_are_refused() {
        assert!(is_header_value("Bearer abc\tdef"));
        assert!(!is_header_value("a\r\nX-Evil: 1"));
        assert!(!is_header_value("a\nb"));
        assert!(!is_header_value("a\u{0}b"));
    }
}
