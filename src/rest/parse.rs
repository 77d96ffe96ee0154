//! Reading JSON or YAML text from outside into typed values, with bounds.
//!
//! Both formats go through one budgeted reader that builds a `serde_json::Value`: YAML aliases
//! are expanded by the YAML parser while it deserializes, so a few hundred bytes of nested
//! aliases ("billion laughs") could otherwise become gigabytes. The budget counts nodes and
//! string bytes as they are produced and stops at a small multiple of the input's own size,
//! whatever the YAML crate's own (looser) repetition limit would allow. Duplicate keys are
//! refused in both formats: two readers of one document must never disagree on its content.
//!
//! Typed decoding then reports the exact path of a shape error and every key it did not know.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::FieldError;

/// The largest descriptor accepted, in bytes.
pub const MAX_DESCRIPTOR_BYTES: usize = 1024 * 1024;

/// Extra nodes and string bytes a document may grow by beyond its own size (see [`Budget`]).
const BUDGET_SLACK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// JSON when the text starts (after white space) with `{` or `[`, else YAML. JSON is
    /// nearly YAML, but the JSON reader gives better messages for JSON.
    pub fn sniff(text: &str) -> Self {
        match text.trim_start().chars().next() {
            Some('{' | '[') => Self::Json,
            _ => Self::Yaml,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is {size} bytes; at most {limit} are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("not valid {format}: {message}")]
    Syntax { format: &'static str, message: String },
}

/// Nodes and string bytes a document may still produce.
struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
}

const OVER_BUDGET: &str = "the document expands far beyond its own size (YAML aliases?)";

impl Budget {
    /// A node takes at least two bytes of YAML or JSON text, so an alias-free document stays
    /// well inside `len` nodes and `len` string bytes; aliases may at most about double it.
    fn for_input(len: usize) -> Self {
        Self { nodes: Cell::new(len + BUDGET_SLACK), bytes: Cell::new(2 * len + BUDGET_SLACK) }
    }

    fn node<E: de::Error>(&self) -> Result<(), E> {
        let left = self.nodes.get().checked_sub(1).ok_or_else(|| E::custom(OVER_BUDGET))?;
        self.nodes.set(left);
        Ok(())
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        self.node()?;
        let left = self.bytes.get().checked_sub(s.len()).ok_or_else(|| E::custom(OVER_BUDGET))?;
        self.bytes.set(left);
        Ok(())
    }
}

/// Reads `text` as `format` into a JSON value, refusing more than `limit` bytes.
pub fn read_value(text: &str, format: Format, limit: usize) -> Result<Value, ParseError> {
    if text.len() > limit {
        return Err(ParseError::TooLarge { size: text.len(), limit });
    }
    let budget = Budget::for_input(text.len());
    let seed = ValueSeed(&budget);
    match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
            value.map_err(|e| ParseError::Syntax { format: "JSON", message: e.to_string() })
        }
        Format::Yaml => {
            let de = yaml_serde::Deserializer::from_str(text);
            seed.deserialize(de).map_err(|e| ParseError::Syntax { format: "YAML", message: e.to_string() })
        }
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-compatible value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.node()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.node()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.node()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.node()?;
        // YAML has .inf and .nan; JSON has neither.
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.string(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.0.string(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.node()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        self.deserialize(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.node()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.node()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.string::<A::Error>(&key)?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A typed value and the paths of the keys its types did not know.
#[derive(Debug)]
pub struct Decoded<T> {
    pub value: T,
    pub unknown_fields: Vec<String>,
}

/// Decodes `value` as `T`; a shape error names the path where it happened.
pub fn decode<T: DeserializeOwned>(value: Value) -> Result<Decoded<T>, FieldError> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path| unknown.push(ignored_path(&path));
    let ignored = serde_ignored::Deserializer::new(value, &mut note);
    match serde_path_to_error::deserialize::<_, T>(ignored) {
        Ok(value) => Ok(Decoded { value, unknown_fields: unknown }),
        Err(e) => {
            let path = error_path(e.path());
            Err(FieldError::new(
                if path.is_empty() { "descriptor".into() } else { path },
                e.inner().to_string(),
            ))
        }
    }
}

/// One step of a field path.
enum Step {
    Key(String),
    Index(usize),
}

/// `operations[2].parameters[0].name`: the form every field error of this module uses.
fn join(steps: impl IntoIterator<Item = Step>) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) if out.is_empty() => out.push_str(&k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(&k);
            }
        }
    }
    out
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    join(path.iter().filter_map(|s| match s {
        Segment::Seq { index } => Some(Step::Index(*index)),
        Segment::Map { key } => Some(Step::Key(key.clone())),
        Segment::Enum { .. } | Segment::Unknown => None,
    }))
}

fn ignored_path(path: &serde_ignored::Path) -> String {
    let mut steps = Vec::new();
    let mut at = path;
    loop {
        at = match at {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                steps.push(Step::Index(*index));
                parent
            }
            serde_ignored::Path::Map { parent, key } => {
                steps.push(Step::Key(key.clone()));
                parent
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => parent,
        };
    }
    steps.reverse();
    join(steps)
}

/// The paths of every string (key or value) holding a NUL character, which Postgres text and
/// jsonb cannot store and no HTTP header may carry.
pub fn nul_paths(value: &Value) -> Vec<String> {
    fn walk(value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.contains('\0') => out.push(at.to_owned()),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}[{i}]"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    // The path itself must not carry the NUL it reports.
                    let shown = key.replace('\0', "\\u0000");
                    let path = if at.is_empty() { shown } else { format!("{at}.{shown}") };
                    if key.contains('\0') {
                        out.push(path.clone());
                    }
                    walk(item, &path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(text: &str) -> Result<Value, ParseError> {
        read_value(text, Format::sniff(text), MAX_DESCRIPTOR_BYTES)
    }

    #[test]
    fn json_and_yaml_read_to_the_same_value() {
        let yaml = "a: 1\nb: [x, true, null, 2.5]\nc: {d: \"e\"}\n";
        let json = r#"{"a": 1, "b": ["x", true, null, 2.5], "c": {"d": "e"}}"#;
        assert_eq!(read(yaml).unwrap(), read(json).unwrap());
        assert_eq!(Format::sniff("  {"), Format::Json);
        assert_eq!(Format::sniff("metadata:"), Format::Yaml);
    }

    #[test]
    fn yaml_integer_keys_become_strings() {
        assert_eq!(read("responses:\n  200: ok\n").unwrap(), json!({"responses": {"200": "ok"}}));
    }

    #[test]
    fn a_billion_laughs_is_stopped_by_the_budget() {
        let mut bomb =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (name, prev) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let err = read(&bomb).unwrap_err();
        assert!(err.to_string().contains("expands far beyond"), "{err}");
    }

    #[test]
    fn a_long_string_aliased_many_times_is_stopped_too() {
        let long = "x".repeat(100_000);
        let aliases = vec!["*s"; 50].join(", ");
        let doc = format!("a: &s \"{long}\"\nb: [{aliases}]\n");
        assert!(read(&doc).unwrap_err().to_string().contains("expands far beyond"));
    }

    #[test]
    fn a_few_aliases_are_fine() {
        let doc = "base: &b {type: string}\nx: *b\ny: *b\n";
        assert_eq!(read(doc).unwrap()["y"], json!({"type": "string"}));
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let text = "a".repeat(11);
        assert_eq!(read_value(&text, Format::Yaml, 10), Err(ParseError::TooLarge { size: 11, limit: 10 }));
    }

    #[test]
    fn duplicate_keys_are_refused_in_both_formats() {
        assert!(read("{\"a\": 1, \"a\": 2}").unwrap_err().to_string().contains("duplicate key `a`"));
        assert!(read("a: 1\na: 2\n").unwrap_err().to_string().contains("duplicate key"));
    }

    #[test]
    fn non_finite_numbers_deep_nesting_and_trailing_text_are_errors_not_panics() {
        assert!(read("a: .inf\n").is_err());
        assert!(read(&format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000))).is_err());
        assert!(read(&format!("a: {}1{}", "[".repeat(10_000), "]".repeat(10_000))).is_err());
        assert!(read("{} x").is_err());
        assert!(read("a: !custom 1\n").is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Item {
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn decoding_names_unknown_keys_and_the_path_of_a_shape_error() {
        let decoded = decode::<Shape>(json!({"items": [{"name": "a", "cuont": 1}], "extra": true})).unwrap();
        assert_eq!(decoded.unknown_fields, ["extra", "items[0].cuont"]); // JSON objects are sorted
        assert_eq!((decoded.value.items[0].name.as_str(), decoded.value.items[0].count), ("a", 0));
        let err = decode::<Shape>(json!({"items": [{"name": "a"}, {"name": "b", "count": -1}]})).unwrap_err();
        assert_eq!(err.field, "items[1].count");
        let err = decode::<Shape>(json!({"items": [{}]})).unwrap_err();
        assert_eq!(err.field, "items[0]");
        assert!(err.message.contains("missing field `name`"), "{}", err.message);
    }

    #[test]
    fn nul_characters_are_found_in_keys_and_values() {
        let value = json!({"a": ["ok", "b\u{0}"], "k\u{0}": 1, "c": {"d": "\u{0}"}});
        assert_eq!(nul_paths(&value), ["a[1]", "c.d", "k\\u0000"]);
    }
}
