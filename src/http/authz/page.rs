//! The consent page and the authorization error page: plain HTML, every value escaped, no
//! script, not framable (clickjacking), never cached, no referrer (its URL and form carry
//! one-time secrets).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::authz::authorize::Prompt;
use crate::gateway::scopes::McpScope;

/// Text made safe for HTML element content and quoted attribute values (also the OAuth
/// callback's error page, `api/oauth.rs`).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn describe(scope: &str) -> &'static str {
    match McpScope::parse(scope) {
        Some(McpScope::Read) => "use the gateway's read-only tools (list, get, search, ...)",
        Some(McpScope::Write) => "use tools that change things (create, update, set, ...)",
        Some(McpScope::Admin) => "use tools that destroy things (delete, ...)",
        None => "",
    }
}

fn scope_list(scopes: &[String]) -> String {
    let items: String =
        scopes.iter().map(|s| format!("<li><code>{}</code>: {}</li>", escape(s), describe(s))).collect();
    format!("<ul>{items}</ul>")
}

fn document(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:sans-serif;\
         max-width:36em;margin:3em auto;padding:0 1em}}button{{margin-right:1em}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The authorization request could not be trusted enough to redirect: say why here.
pub fn error(error: &str, description: &str) -> Response {
    let body = format!(
        "<p>The application's request cannot be completed: <code>{}</code>.</p><p>{}</p>\
         <p>Nothing was granted. Return to the application and try again.</p>",
        escape(error),
        escape(description)
    );
    document(StatusCode::BAD_REQUEST, "Authorization failed", &body)
}

/// The sign-in page (paste a gateway key), or, once signed in, the consent page.
pub fn prompt(action: &str, prompt: &Prompt) -> Response {
    let p = &prompt.pending;
    let client = p.client_name.as_deref().unwrap_or("An unnamed application");
    let host = url::Url::parse(&p.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let who = format!(
        "<p><strong>{}</strong> (client <code>{}</code>, which will receive the answer at <strong>{}</strong>)",
        escape(client),
        escape(&p.client_id),
        escape(&host)
    );
    let error = prompt
        .error
        .map(|e| format!("<p role=\"alert\"><strong>{}</strong></p>", escape(e)))
        .unwrap_or_default();
    let hidden = format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(&prompt.csrf));
    let (title, body) = match (&prompt.gateway_name, &p.signed_in.granted) {
        (Some(name), Some(granted)) => (
            format!("Allow access to {name}?"),
            format!(
                "{who} asks to use the gateway <strong>{}</strong> (<code>{}</code>). Approving lets it:</p>{}\
                 <form method=\"post\" action=\"{}\">{hidden}\
                 <button name=\"action\" value=\"approve\">Approve</button>\
                 <button name=\"action\" value=\"deny\">Deny</button></form>",
                escape(name),
                escape(&p.slug),
                scope_list(granted),
                escape(action)
            ),
        ),
        _ => (
            format!("Sign in to gateway {}", p.slug),
            format!(
                "{who} asks to use the gateway <code>{}</code>, to:</p>{}{error}\
                 <p>Sign in with a key of this gateway (<code>gk_…</code>). The application gets at most the \
                 scopes that key holds, never the key itself.</p>\
                 <form method=\"post\" action=\"{}\">{hidden}\
                 <p><label>Gateway key <input type=\"password\" name=\"key\" autocomplete=\"off\" required></label></p>\
                 <button name=\"action\" value=\"sign_in\">Sign in</button>\
                 <button name=\"action\" value=\"deny\" formnovalidate>Deny</button></form>",
                escape(&p.slug),
                scope_list(&p.scopes),
                escape(action)
            ),
        ),
    };
    document(StatusCode::OK, &title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_text() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
