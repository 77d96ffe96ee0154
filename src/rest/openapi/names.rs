//! Turning whatever an OpenAPI document calls things into names a descriptor accepts.

use std::collections::HashSet;

use crate::rest::rules::MAX_TOOL_NAME;

/// Text as a descriptor may hold it: NULs removed, trimmed; nothing left is `None`.
pub fn clean(text: Option<&str>) -> Option<String> {
    let text = text?.replace('\0', "");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A name as a descriptor may hold it: [`clean`], on one line (control characters become
/// spaces), at most `max` characters.
pub fn one_line(text: Option<&str>, max: usize) -> Option<String> {
    let text: String = clean(text)?.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    Some(truncate(&text, max))
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", text[..cut].trim_end()),
        _ => text.to_owned(),
    }
}

/// Keeps the characters `keep` accepts, turns runs of others into one `_`, trims `_` at the
/// ends and cuts to `max` characters (all ASCII by then).
fn squash(raw: &str, keep: impl Fn(char) -> bool, max: usize) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if keep(c) {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    trimmed[..trimmed.len().min(max)].trim_end_matches('_').to_owned()
}

/// A valid MCP tool (or argument) name made of `raw`; may be empty.
pub fn tool_name(raw: &str) -> String {
    squash(raw, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'), MAX_TOOL_NAME)
}

/// `GET /pets/{petId}` → `get_pets_petId`.
pub fn from_method_and_path(method: &str, path: &str) -> String {
    tool_name(&format!("{}_{path}", method.to_ascii_lowercase()))
}

/// A credential field key (and auth type id) made of `raw`; room is left for a suffix.
pub fn field_key(raw: &str) -> String {
    let key = squash(raw, |c| c.is_ascii_alphanumeric() || c == '_', 40);
    if key.is_empty() { "auth".into() } else { key }
}

/// `Swagger Petstore` → `swagger-petstore`, or `None` when nothing is left.
pub fn slug(raw: &str) -> Option<String> {
    let slug = squash(&raw.to_ascii_lowercase(), |c| c.is_ascii_lowercase() || c.is_ascii_digit(), 100)
        .replace('_', "-");
    (!slug.is_empty()).then_some(slug)
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(cut, _)| &s[..cut])
}

/// `base`, or `base_2`, `base_3`, … — the first not yet in `taken` — cut to at most `max`
/// characters; recorded as taken.
pub fn unique(base: &str, taken: &mut HashSet<String>, max: usize) -> String {
    let mut candidate = prefix(base, max).to_owned();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        let suffix = format!("_{n}");
        candidate = format!("{}{suffix}", prefix(base, max.saturating_sub(suffix.len())));
    }
    taken.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cleaned_and_cut_at_characters() {
        assert_eq!(clean(Some("  a\u{0}b \n")), Some("ab".into()));
        assert_eq!(clean(Some(" \n")), None);
        assert_eq!(one_line(Some("Pet\tStore\napi"), 100), Some("Pet Store api".into()));
        assert_eq!(one_line(Some("abcdef"), 4), Some("abc…".into()));
        assert_eq!(truncate("héllo world", 5), "héll…");
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 500).chars().count(), 5);
        assert_eq!(truncate(&"é".repeat(600), 500).chars().count(), 500);
    }

    #[test]
    fn names_become_valid_tool_names() {
        assert_eq!(tool_name("listPets"), "listPets");
        assert_eq!(tool_name("pets/list all"), "pets_list_all");
        assert_eq!(tool_name("üï"), "");
        assert_eq!(tool_name("ünï"), "n");
        assert_eq!(tool_name(&"a".repeat(80)).len(), 64);
        assert_eq!(from_method_and_path("GET", "/pets/{petId}"), "get_pets_petId");
        assert_eq!(from_method_and_path("DELETE", "/"), "delete");
    }

    #[test]
    fn keys_slugs_and_uniqueness() {
        assert_eq!(field_key("api-key"), "api_key");
        assert_eq!(field_key("???"), "auth");
        assert_eq!(slug("Swagger Petstore - OpenAPI 3.0").as_deref(), Some("swagger-petstore-openapi-3-0"));
        assert_eq!(slug("!!!"), None);
        let mut taken = HashSet::new();
        assert_eq!(unique("get", &mut taken, 64), "get");
        assert_eq!(unique("get", &mut taken, 64), "get_2");
        assert_eq!(unique("get", &mut taken, 64), "get_3");
        let long = "x".repeat(64);
        assert_eq!(unique(&long, &mut taken, 64), long);
        assert_eq!(unique(&long, &mut taken, 64).len(), 64);
        assert_eq!(unique("éé", &mut taken, 1), "é");
    }
}
