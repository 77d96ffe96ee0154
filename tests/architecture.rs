//! The layering of `src/` (docs/architecture.md, "Layers"; DESIGN.md, "Architecture: layers,
//! one direction"). Every `crate::…` path in a file (`switchboard::…` in the binary), and
//! every `super::…` path that climbs out of its top-level module, is an edge between two
//! top-level modules; an edge may only point down [`LAYERS`]. Also checked: no cycle between
//! top-level modules, axum only inside `http`, reqwest clients built only in
//! `platform::net`, SQL only in `store.rs` files.
//!
//! Comments, string literals and test modules (`#[cfg(test)] mod … { … }`) are left out:
//! tests may use what they like.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom. A module may import modules on lower rows only; modules on one row are
/// peers and never import each other. `main` is the binary: it starts `http`, runs `cli`
/// commands and the `worker`. Nothing in the library imports `http`.
const LAYERS: &[(&str, &[&str])] = &[
    ("the binary", &["main"]),
    ("entry points: requests, commands, background loops", &["http", "cli", "worker"]),
    ("the OAuth authorization server of gateway endpoints", &["authz"]),
    ("tools Switchboard serves itself: MCP gateways", &["gateway"]),
    ("each connector's tools", &["catalog"]),
    ("the credentialed path to an upstream", &["upstream"]),
    ("connectors: model, credential, lifecycle, events", &["connectors"]),
    ("the OAuth client; tenants, keys and limits", &["oauth", "tenancy"]),
    ("protocol and format facts: MCP; REST descriptors, OpenAPI import (pure)", &["mcp", "rest"]),
    ("plain settings; the domain error", &["config", "error"]),
    ("leaves", &["platform"]),
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, row)| row.contains(&module))
}

struct Source {
    /// Relative to `src/`.
    path: PathBuf,
    /// The file's module path in the crate: `connectors/lifecycle/connect.rs` →
    /// `[connectors, lifecycle, connect]`; `lib.rs` → `[]`.
    module: Vec<String>,
    /// The code with comments and literals blanked and test modules removed.
    code: String,
}

impl Source {
    fn new(path: PathBuf, text: &str) -> Self {
        Self { module: module_path(&path), code: without_test_modules(&blank(text)), path }
    }

    fn top(&self) -> &str {
        self.module.first().map_or("", String::as_str)
    }

    /// The crate's own paths start with `crate::` in the library, its name in the binary.
    fn crate_prefix(&self) -> &'static str {
        if self.top() == "main" { "switchboard::" } else { "crate::" }
    }

    fn at(&self, offset: usize) -> String {
        format!("src/{}:{}", self.path.display(), self.code[..offset].matches('\n').count() + 1)
    }
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            Source::new(path.strip_prefix(&root).unwrap().to_owned(), &text)
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn blanked(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().map(|&b| if b == b'\n' { b'\n' } else { b' ' })
}

/// The text with comments and the contents of string and char literals replaced by spaces
/// (line breaks kept), so neither `crate::` in a doc comment nor a `{` in a string counts.
fn blank(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let end = match literal_or_comment_end(bytes, i) {
            Some(end) => end,
            None => {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
        };
        out.extend(blanked(&bytes[i..end]));
        i = end;
    }
    String::from_utf8(out).unwrap()
}

/// Where the comment or literal starting at `i` ends, if one starts there.
fn literal_or_comment_end(bytes: &[u8], i: usize) -> Option<usize> {
    let rest = &bytes[i..];
    let previous_is_ident = i > 0 && is_ident(bytes[i - 1]);
    if rest.starts_with(b"//") {
        return Some(i + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()));
    }
    if rest.starts_with(b"/*") {
        let (mut depth, mut j) = (0, i);
        loop {
            if bytes[j..].starts_with(b"/*") {
                (depth, j) = (depth + 1, j + 2);
            } else if bytes[j..].starts_with(b"*/") {
                (depth, j) = (depth - 1, j + 2);
                if depth == 0 {
                    return Some(j);
                }
            } else {
                j += 1;
            }
        }
    }
    if !previous_is_ident && let Some((opening, hashes)) = raw_string_start(rest) {
        let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
        let body = i + opening;
        return Some(
            body + bytes[body..].windows(close.len()).position(|w| w == close).unwrap() + close.len(),
        );
    }
    if rest[0] == b'"' {
        let mut j = i + 1;
        while bytes[j] != b'"' {
            j += if bytes[j] == b'\\' { 2 } else { 1 };
        }
        return Some(j + 1);
    }
    if rest[0] == b'\'' {
        return char_literal_len(rest).map(|len| i + len);
    }
    None
}

/// `r"`, `r#"`, `br##"` …: the length of the opening and the number of `#`s.
fn raw_string_start(rest: &[u8]) -> Option<(usize, usize)> {
    let b = usize::from(rest.first() == Some(&b'b'));
    let after_r = rest[b..].strip_prefix(b"r")?;
    let hashes = after_r.iter().take_while(|&&c| c == b'#').count();
    (after_r.get(hashes) == Some(&b'"')).then_some((b + 1 + hashes + 1, hashes))
}

/// `'a'`, `'\n'`, `'\u{1F600}'`, `'é'`, but not a lifetime (`'a` with no closing quote).
fn char_literal_len(rest: &[u8]) -> Option<usize> {
    if rest.get(1) == Some(&b'\\') {
        return rest.get(2..)?.iter().position(|&b| b == b'\'').map(|p| p + 3);
    }
    let width = match *rest.get(1)? {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    (rest.get(1 + width) == Some(&b'\'')).then_some(width + 2)
}

/// Blanks every `#[cfg(test)] mod name { … }` block (brace-balanced; literals are already
/// blank, so braces in strings do not count).
fn without_test_modules(code: &str) -> String {
    const ATTRIBUTE: &str = "#[cfg(test)]";
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find(ATTRIBUTE) {
        let at = from + found;
        let item = out[at + ATTRIBUTE.len()..].trim_start();
        let item_at = out.len() - item.len();
        let open = item.find('{');
        let is_module = item.starts_with("mod ")
            && open.is_some_and(|o| item[..o].split_whitespace().count() == 2 && !item[..o].contains(';'));
        if !is_module {
            from = at + ATTRIBUTE.len();
            continue;
        }
        let start = item_at + open.unwrap();
        let mut depth = 0;
        let mut end = out.len();
        for (i, b) in out.as_bytes()[start..].iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blank: String = blanked(&out.as_bytes()[at..end]).map(char::from).collect();
        out.replace_range(at..end, &blank);
        from = end;
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the path at `at` starts there (not `x::crate::` or `foo_crate::`).
fn starts_path(code: &str, at: usize) -> bool {
    let before = &code[..at];
    let Some(&b) = before.as_bytes().last() else { return true };
    if let Some(parent) = before.strip_suffix("::") {
        // `x::crate` is not a path start; `::axum::…` is an absolute path to a crate.
        return !parent.bytes().last().is_some_and(is_ident);
    }
    !is_ident(b) && b != b':' && b != b'$'
}

/// The top-level modules a file refers to, with where.
fn references(source: &Source) -> Vec<(String, usize)> {
    let code = &source.code;
    let mut found = Vec::new();
    let prefix = source.crate_prefix();
    for (at, _) in code.match_indices(prefix) {
        if starts_path(code, at) {
            found.extend(first_segments(&code[at + prefix.len()..]).into_iter().map(|name| (name, at)));
        }
    }
    // `super::super::x`: from `[a, b]`, two climbs land at the crate root, so `x` is a
    // top-level module.
    for (at, _) in code.match_indices("super::") {
        if !starts_path(code, at) {
            continue; // counted from the first `super` of the chain
        }
        let (mut rest, mut climbs) = (&code[at..], 0);
        while let Some(r) = rest.strip_prefix("super::") {
            (rest, climbs) = (r, climbs + 1);
        }
        if climbs >= source.module.len() {
            found.extend(first_segments(rest).into_iter().map(|name| (name, at)));
        }
    }
    found
}

/// `x::…` → `[x]`; `{a::b, c, self}` → `[a, c]`.
fn first_segments(rest: &str) -> Vec<String> {
    let word = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let Some(group) = rest.trim_start().strip_prefix('{') else {
        return Some(word(rest.trim_start())).filter(|w| !w.is_empty()).into_iter().collect();
    };
    let (mut depth, mut items, mut current) = (0, Vec::new(), String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    items.push(current);
    items.iter().map(|item| word(item.trim())).filter(|w| !w.is_empty() && w != "self").collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

fn edges(sources: &[Source]) -> Vec<Edge> {
    let mut edges = BTreeSet::new();
    for source in sources.iter().filter(|s| !s.module.is_empty()) {
        for (to, at) in references(source) {
            if to != source.top() {
                edges.insert(Edge { from: source.top().to_owned(), to, at: source.at(at) });
            }
        }
    }
    edges.into_iter().collect()
}

/// Edges the table forbids: upward, between peers, or to or from a module it does not know.
fn forbidden(edges: &[Edge]) -> Vec<String> {
    let describe = |e: &Edge| match (rank(&e.from), rank(&e.to)) {
        (Some(from), Some(to)) if from < to => None,
        (Some(_), Some(_)) => {
            Some(format!("{}: `{}` imports `{}`, which is not below it in the table", e.at, e.from, e.to))
        }
        _ => Some(format!(
            "{}: `{}` → `{}`: a module the table does not know; give it a row in LAYERS (and in docs/architecture.md)",
            e.at, e.from, e.to
        )),
    };
    edges.iter().filter_map(describe).collect()
}

/// A cycle between top-level modules, if there is one.
fn cycle(edges: &[Edge]) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        graph.entry(&e.from).or_default().insert(&e.to);
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            return Some(path[start..].iter().chain([&node]).map(|s| s.to_string()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        let found = graph.get(node).into_iter().flatten().find_map(|next| visit(next, graph, path, done));
        path.pop();
        found
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, &graph, &mut Vec::new(), &mut done))
}

/// Where any of `needles` occurs in the code of the sources `checked` selects.
fn occurrences(sources: &[Source], needles: &[&str], checked: impl Fn(&Source) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources.iter().filter(|s| checked(s)) {
        for needle in needles {
            for (at, _) in source.code.match_indices(needle) {
                if starts_path(&source.code, at) {
                    found.push(source.at(at));
                }
            }
        }
    }
    found
}

#[test]
fn imports_point_down_the_table_and_form_no_cycle() {
    let sources = sources();
    for top in sources.iter().map(Source::top).filter(|t| !t.is_empty()) {
        assert!(rank(top).is_some(), "src/{top}: a top-level module LAYERS does not know; give it a row");
    }
    let edges = edges(&sources);
    let mut problems = forbidden(&edges);
    if let Some(cycle) = cycle(&edges) {
        problems.push(format!("a cycle between top-level modules: {}", cycle.join(" → ")));
    }
    assert!(problems.is_empty(), "the layering is broken:\n  {}\n", problems.join("\n  "));
}

#[test]
fn axum_is_used_only_in_http() {
    let outside = occurrences(&sources(), &["axum::"], |s| s.top() != "http");
    assert!(outside.is_empty(), "axum outside src/http/:\n  {}\n", outside.join("\n  "));
}

#[test]
fn clap_is_used_only_in_the_command_line() {
    let outside = occurrences(&sources(), &["clap::"], |s| !matches!(s.top(), "cli" | "main"));
    assert!(outside.is_empty(), "clap outside src/cli/ and main.rs:\n  {}\n", outside.join("\n  "));
}

#[test]
fn http_clients_are_built_only_in_platform_net() {
    let mut built = Vec::new();
    for source in sources().iter().filter(|s| s.path != Path::new("platform/net.rs")) {
        for (at, _) in source.code.match_indices("reqwest::") {
            let names = first_segments(&source.code[at + "reqwest::".len()..]);
            if starts_path(&source.code, at) && names.iter().any(|n| n == "Client" || n == "ClientBuilder") {
                built.push(source.at(at));
            }
        }
    }
    assert!(built.is_empty(), "HTTP clients built outside platform::net:\n  {}\n", built.join("\n  "));
}

#[test]
fn sql_is_only_in_store_files() {
    // Migrations and the readiness ping are the database platform's own.
    let sql = occurrences(&sources(), &["sqlx::query", "query_as(", "query_scalar("], |s| {
        s.path.file_name().is_none_or(|f| f != "store.rs") && s.path != Path::new("platform/db.rs")
    });
    assert!(sql.is_empty(), "SQL outside store.rs files:\n  {}\n", sql.join("\n  "));
}

#[test]
fn the_table_has_a_row_for_every_module_of_the_design() {
    for module in [
        "http",
        "authz",
        "gateway",
        "rest",
        "catalog",
        "upstream",
        "connectors",
        "oauth",
        "tenancy",
        "mcp",
        "platform",
    ] {
        assert!(rank(module).is_some(), "{module}");
    }
    let order = |a: &str, b: &str| rank(a).unwrap() < rank(b).unwrap();
    // The REST core is pure (decision 0050): connectors validate descriptors on save and
    // upstream calls REST APIs with it, so it sits below both.
    assert!(order("http", "gateway") && order("gateway", "catalog") && order("connectors", "rest"));
    // The authorization server signs people in with gateway keys; gateways know nothing of it.
    assert!(order("http", "authz") && order("authz", "gateway"));
    assert!(order("catalog", "upstream") && order("upstream", "connectors") && order("connectors", "oauth"));
    assert!(order("oauth", "mcp") && order("tenancy", "mcp") && order("mcp", "platform"));
}

#[test]
fn the_scanner_reads_paths_as_rust_does() {
    let source = |path: &str, text: &str| Source::new(path.into(), text);
    let names = |s: &Source| references(s).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let s = source(
        "a/b.rs",
        "use crate::{x::Y, z, self};\n// crate::comment\nlet s = \"crate::string {\";\nuse super::super::w;\n\
         use super::v;\nlet r = r#\"crate::raw\"#;\n#[cfg(test)]\nmod tests { use crate::t; }\nuse crate::after;\n",
    );
    assert_eq!(names(&s), ["x", "z", "after", "w"]);
    let s = source("a.rs", "fn f<'a>(c: char) { if c == '{' {} crate::q::r(); let _ = other_crate::p; }");
    assert_eq!(names(&s), ["q"]);
    let s = source("main.rs", "use switchboard::http::serve; use crate::nothing;");
    assert_eq!(names(&s), ["http"]);
    let graph = [("a", "b"), ("b", "c"), ("c", "a")].map(|(f, t)| Edge {
        from: f.into(),
        to: t.into(),
        at: String::new(),
    });
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}
