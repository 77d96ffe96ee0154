//! Single-value rules shared by validation, tool generation and the OpenAPI import: names,
//! lengths, URLs and `{placeholder}` templates.

use url::Url;

/// Names (descriptor, server, operation, parameter, tool): 1–100 characters (seed 004).
pub const MAX_NAME: usize = 100;
/// Descriptions: 1–500 characters (seed 004).
pub const MAX_DESCRIPTION: usize = 500;
/// MCP tool names and tool argument names: at most 64 characters. The MCP specification
/// (2025-11-25, server/tools, "Tool Names") says tool names SHOULD be 1–128 characters of
/// `A–Z a–z 0–9 _ - .`; we keep its characters but the 64 of SEP-986 and of the clients that
/// enforce `^[a-zA-Z0-9_-]{1,64}$`-like patterns on tool and property names, because a
/// client that rejects one tool often rejects the whole server.
pub const MAX_TOOL_NAME: usize = 64;

/// Whether `s` has 1..=`max` characters (Unicode scalar values, not bytes).
pub fn has_length(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    (1..=max).contains(&n)
}

/// The message for a length rule.
pub fn length_message(max: usize) -> String {
    format!("must be 1–{max} characters")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// An MCP tool name, and also a tool argument (JSON Schema property) name.
pub fn is_tool_name(s: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&s.len()) && s.chars().all(is_name_char)
}

pub const TOOL_NAME_RULE: &str =
    "must be 1–64 characters of A–Z, a–z, 0–9, `_`, `-` and `.` (the MCP tool name rule)";

/// A credential field key: it is a `{placeholder}` and a key of `credentials`.
pub fn is_field_key(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub const FIELD_KEY_RULE: &str = "must be 1–64 characters of A–Z, a–z, 0–9 and `_`";

/// A slug: lowercase letters, digits and single dashes inside.
pub fn is_slug(s: &str) -> bool {
    has_length(s, MAX_NAME)
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Whether `s` holds a control character (a line break in a name is never intended).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// An absolute `http` or `https` URL with a host, no user info (credentials belong in
/// `authentication`) and no fragment (never sent).
pub fn check_absolute_url(s: &str) -> Result<Url, &'static str> {
    let url = Url::parse(s).map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password (use `authentication`)");
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    Ok(url)
}

/// One `{name}` in a template, with the byte offset of its `{`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub at: usize,
}

/// The `{name}` placeholders of `template`, in order. A `{` without its `}`, a stray `}`, an
/// empty or nested name is an error: a typo must not become a literal brace on the wire.
pub fn placeholders(template: &str) -> Result<Vec<Placeholder>, String> {
    let mut found = Vec::new();
    let mut open: Option<usize> = None;
    for (i, c) in template.char_indices() {
        match (c, open) {
            ('{', None) => open = Some(i),
            ('{', Some(_)) => return Err(format!("nested `{{` at byte {i}")),
            ('}', None) => return Err(format!("`}}` without `{{` at byte {i}")),
            ('}', Some(start)) => {
                let name = &template[start + 1..i];
                if name.is_empty() || !name.chars().all(is_name_char) {
                    return Err(format!(
                        "`{{{name}}}` is not a placeholder name (A–Z, a–z, 0–9, `_`, `-`, `.`)"
                    ));
                }
                found.push(Placeholder { name: name.to_owned(), at: start });
                open = None;
            }
            _ => {}
        }
    }
    match open {
        Some(start) => Err(format!("`{{` at byte {start} is never closed")),
        None => Ok(found),
    }
}

/// Replaces each `{name}` of `template` by `value(name)`; `template` must be well formed.
pub fn fill<E>(template: &str, mut value: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&value(&rest[start + 1..start + len])?);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the path of an absolute URL template starts: after `scheme://authority`. Used to
/// keep placeholders out of the host (an argument must never choose where a call goes).
pub fn path_start(template: &str) -> Option<usize> {
    let after_scheme = template.find("://")? + 3;
    let authority_end =
        template[after_scheme..].find(['/', '?', '#']).map_or(template.len(), |i| i + after_scheme);
    Some(authority_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(has_length("é", 1));
        assert!(!has_length("", 5));
        assert!(!has_length(&"x".repeat(101), MAX_NAME));
        assert!(has_length(&"é".repeat(100), MAX_NAME));
    }

    #[test]
    fn tool_names_follow_the_mcp_character_set_and_64_characters() {
        for ok in ["getUser", "DATA_EXPORT_v2", "admin.tools.list", "search-tickets", &"a".repeat(64)] {
            assert!(is_tool_name(ok), "{ok}");
        }
        for bad in ["", "has space", "a,b", "a/b", "ünï", &"a".repeat(65)] {
            assert!(!is_tool_name(bad), "{bad}");
        }
    }

    #[test]
    fn slugs_and_field_keys() {
        assert!(is_slug("ticket-system"));
        assert!(!is_slug("Ticket") && !is_slug("-a") && !is_slug("a--b") && !is_slug(""));
        assert!(is_field_key("api_key"));
        assert!(!is_field_key("api-key") && !is_field_key(""));
    }

    #[test]
    fn urls_must_be_absolute_http_with_a_host_and_no_credentials() {
        assert!(check_absolute_url("https://tickets.internal.com/api/v1/me").is_ok());
        assert!(check_absolute_url("http://127.0.0.1:8080/x?y=1").is_ok());
        for bad in [
            "/api/v1",
            "ftp://host/x",
            "https://user:pw@host/x",
            "https://host/x#frag",
            "file:///etc/passwd",
            "mailto:a@b",
        ] {
            assert!(check_absolute_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_found_and_typos_are_errors() {
        let found = placeholders("https://h/a/{ticket_id}/b/{x.y}").unwrap();
        assert_eq!(found.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ticket_id", "x.y"]);
        for bad in ["/a/{id", "/a/id}", "/a/{}", "/a/{{id}}", "/a/{a b}"] {
            assert!(placeholders(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fill_replaces_each_placeholder() {
        let filled = fill::<()>("{a}-x-{b}", |n| Ok(n.to_uppercase())).unwrap();
        assert_eq!(filled, "A-x-B");
        assert_eq!(fill::<()>("none", |_| Ok(String::new())).unwrap(), "none");
    }

    #[test]
    fn the_path_starts_after_the_authority() {
        assert_eq!(path_start("https://h.com/a/{id}"), Some(13));
        assert_eq!(path_start("https://{host}.com/a"), Some(18));
        assert_eq!(path_start("https://h.com"), Some(13));
        assert_eq!(path_start("/relative"), None);
    }
}
