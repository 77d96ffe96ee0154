//! What the import needs from an OpenAPI document, read the same way from 3.0 and 3.1: each
//! version's reader fills these types, and one builder turns them into a descriptor.

use serde_json::Value;

use crate::rest::descriptor::{FieldType, HttpMethod, Location, OAuth2Grant};

/// A document, reduced.
#[derive(Debug, Default)]
pub struct Api {
    pub title: String,
    pub version: Option<String>,
    pub description: Option<String>,
    /// `servers[0].url`, variables replaced by their defaults.
    pub server: Option<String>,
    pub operations: Vec<ApiOperation>,
    /// `components.securitySchemes`, in document order.
    pub schemes: Vec<(String, Scheme)>,
    /// The document's `security`: alternatives, each a set of (scheme, scopes).
    pub security: Vec<Requirement>,
    pub warnings: Vec<Warning>,
}

/// All of these schemes together (an empty one: no authentication needed).
pub type Requirement = Vec<(String, Vec<String>)>;

#[derive(Debug)]
pub struct ApiOperation {
    pub method: HttpMethod,
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Path, query and header parameters, then the JSON body's top-level properties.
    pub parameters: Vec<ApiParameter>,
    /// The operation's (or path item's) own server, overriding the document's.
    pub server: Option<String>,
    /// `None`: the document's `security` applies.
    pub security: Option<Vec<Requirement>>,
}

#[derive(Debug, Clone)]
pub struct ApiParameter {
    pub name: String,
    pub location: Location,
    /// `None` when the schema has no single type.
    pub field_type: Option<FieldType>,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
}

/// A security scheme as far as a descriptor can express it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    ApiKeyHeader {
        header: String,
    },
    Bearer,
    Basic,
    OAuth2 {
        grant: OAuth2Grant,
        authorization_url: Option<String>,
        token_url: String,
    },
    /// Why it cannot be imported (API key in a query or cookie, OpenID Connect, …).
    Unsupported(String),
}

/// Something the import skipped or guessed, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Warning {
    pub at: String,
    pub message: String,
}

impl Warning {
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        Self { at: at.into(), message: message.into() }
    }
}

/// Fills `{name}` in a server URL with its variable's default (OpenAPI server variables).
pub fn server_url(url: &str, default_of: impl Fn(&str) -> Option<String>) -> String {
    crate::rest::rules::fill::<()>(url, |name| Ok(default_of(name).unwrap_or_else(|| format!("{{{name}}}"))))
        .unwrap_or_else(|()| url.to_owned())
}

/// The media type of a request body the import understands: JSON.
pub fn is_json_media_type(media_type: &str) -> bool {
    let m = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    m == "application/json" || m.ends_with("+json") || m == "*/*"
}

/// `#/components/<kind>/<name>` → `<name>` (JSON pointer escapes undone). Anything else — a
/// remote document, another part of this one — is not followed.
pub fn local_ref<'r>(reference: &'r str, kind: &str) -> Option<std::borrow::Cow<'r, str>> {
    let name = reference.strip_prefix("#/components/")?.strip_prefix(kind)?.strip_prefix('/')?;
    if name.contains('~') {
        Some(name.replace("~1", "/").replace("~0", "~").into())
    } else {
        Some(name.into())
    }
}

/// Path-item parameters overridden by the operation's own of the same name and location.
pub fn merge_parameters(inherited: Vec<ApiParameter>, own: Vec<ApiParameter>) -> Vec<ApiParameter> {
    let mut merged: Vec<ApiParameter> = inherited
        .into_iter()
        .filter(|p| !own.iter().any(|o| o.name == p.name && o.location == p.location))
        .collect();
    merged.extend(own);
    merged
}

/// The one type all alternatives share (`integer` widens to `number`), else none.
pub fn common_type(types: impl Iterator<Item = Option<FieldType>>) -> Option<FieldType> {
    let mut common: Option<FieldType> = None;
    for t in types {
        common = match (common, t?) {
            (None, t) => Some(t),
            (Some(a), b) if a == b => Some(a),
            (Some(FieldType::Integer | FieldType::Number), FieldType::Integer | FieldType::Number) => {
                Some(FieldType::Number)
            }
            _ => return None,
        };
    }
    common
}

/// A JSON Schema `type` name.
pub fn parse_type(name: &str) -> Option<FieldType> {
    Some(match name {
        "string" => FieldType::String,
        "integer" => FieldType::Integer,
        "number" => FieldType::Number,
        "boolean" => FieldType::Boolean,
        "array" => FieldType::Array,
        "object" => FieldType::Object,
        _ => return None,
    })
}

/// An `http` security scheme by its (case-insensitive, RFC 7235) scheme name.
pub fn http_scheme(scheme: &str) -> Scheme {
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Scheme::Bearer,
        "basic" => Scheme::Basic,
        other => Scheme::Unsupported(format!("the HTTP `{other}` scheme")),
    }
}

/// How many `$ref` hops (and nested `allOf`s) are followed before giving up: real documents
/// need a handful; a cycle needs infinity.
pub const MAX_REF_DEPTH: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_variables_take_their_defaults() {
        let url =
            server_url("https://{region}.example.com/{v}", |n| (n == "region").then(|| "eu".to_string()));
        assert_eq!(url, "https://eu.example.com/{v}");
    }

    #[test]
    fn only_local_component_refs_are_followed() {
        assert_eq!(local_ref("#/components/schemas/Pet", "schemas").as_deref(), Some("Pet"));
        assert_eq!(local_ref("#/components/schemas/a~1b~0c", "schemas").as_deref(), Some("a/b~c"));
        assert_eq!(local_ref("#/components/parameters/Pet", "schemas"), None);
        assert_eq!(local_ref("https://example.com/pet.json#/components/schemas/Pet", "schemas"), None);
        assert_eq!(local_ref("pet.yaml", "schemas"), None);
    }

    #[test]
    fn alternatives_share_a_type_or_have_none() {
        let common = |types: &[Option<FieldType>]| common_type(types.iter().copied());
        assert_eq!(common(&[Some(FieldType::String), Some(FieldType::String)]), Some(FieldType::String));
        assert_eq!(common(&[Some(FieldType::Integer), Some(FieldType::Number)]), Some(FieldType::Number));
        assert_eq!(common(&[Some(FieldType::String), Some(FieldType::Integer)]), None);
        assert_eq!(common(&[Some(FieldType::String), None]), None);
    }

    #[test]
    fn operation_parameters_override_path_item_ones() {
        let p = |name: &str, location, description: &str| ApiParameter {
            name: name.into(),
            location,
            field_type: None,
            required: false,
            default: None,
            description: Some(description.into()),
        };
        let merged = merge_parameters(
            vec![p("id", Location::Path, "inherited"), p("q", Location::Query, "inherited")],
            vec![p("id", Location::Path, "own")],
        );
        let described: Vec<_> =
            merged.iter().map(|p| (p.name.as_str(), p.description.as_deref().unwrap())).collect();
        assert_eq!(described, [("q", "inherited"), ("id", "own")]);
    }

    #[test]
    fn json_bodies_are_recognised() {
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("multipart/form-data"));
    }
}
