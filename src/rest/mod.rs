//! REST connectors: a descriptor (seed 004) or an OpenAPI document becomes MCP tools.
//!
//! This module is the pure core — no I/O, no database, no HTTP framework:
//! - [`descriptor`]: the model; [`parse`]: bounded JSON/YAML reading; [`load`] does both and
//!   validates;
//! - [`validate`]: every rule, all errors at once;
//! - [`schema`]: route mappings → MCP tools (input JSON Schema) and the argument → parameter map;
//! - [`request`]: a tool call → the outbound HTTP request, as plain data;
//! - [`response`]: the HTTP response → an MCP tool result;
//! - [`openapi`]: an OpenAPI 3.0/3.1 document → a descriptor draft.
//!
//! The caller (connectors, upstream, the MCP server side) sends requests through the guarded
//! outbound client, runs the SSRF guard on [`Descriptor::urls`], holds credentials, caches.

pub mod args;
pub mod descriptor;
pub mod headers;
pub mod openapi;
pub mod parse;
pub mod request;
pub mod response;
pub mod rules;
pub mod schema;
pub mod validate;

// The one place to re-point when field errors move out of the HTTP error type.
use crate::error::FieldError;

pub use descriptor::Descriptor;
pub use parse::Format;

/// Reads a descriptor from `text` and validates it. `Err` lists every problem: a syntax or
/// shape error alone (nothing further can be checked), else every unknown key and every
/// broken rule together.
///
/// Unknown keys are refused (except inside `capabilities`): the descriptor is a contract the
/// platform acts on, and a misspelt key (`paramter_mappings`, `requried`) would otherwise
/// silently change a tool.
pub fn load(text: &str, format: Format) -> Result<Descriptor, Vec<FieldError>> {
    let value = parse::read_value(text, format, parse::MAX_DESCRIPTOR_BYTES)
        .map_err(|e| vec![FieldError::new("descriptor", e.to_string())])?;
    match read(value)? {
        (descriptor, errors) if errors.is_empty() => Ok(descriptor),
        (_, errors) => Err(errors),
    }
}

/// Decodes a descriptor already read into JSON (a request body's `descriptor` field) and
/// validates it. `Err` is a shape error alone; `Ok` is the descriptor with every unknown key
/// and broken rule, so a caller can run checks of its own (the SSRF guard) on a descriptor
/// that breaks rules and still report everything at once.
pub fn read(value: serde_json::Value) -> Result<(Descriptor, Vec<FieldError>), Vec<FieldError>> {
    let decoded = parse::decode::<Descriptor>(value).map_err(|e| vec![e])?;
    let mut errors: Vec<FieldError> =
        decoded.unknown_fields.iter().map(|path| FieldError::new(path.clone(), "unknown field")).collect();
    if let Err(more) = validate::validate(&decoded.value) {
        errors.extend(more);
    }
    Ok((decoded.value, errors))
}

#[cfg(test)]
pub(crate) mod testdata {
    /// The seed's full "Ticket System" example, verbatim.
    pub const TICKET_SYSTEM: &str = include_str!("../../tests/fixtures/rest/ticket-system.yaml");

    pub fn ticket_system() -> crate::rest::Descriptor {
        crate::rest::load(TICKET_SYSTEM, crate::rest::Format::Yaml).expect("the seed's example is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_loads_from_yaml_and_from_json() {
        let descriptor = testdata::ticket_system();
        assert_eq!(descriptor.metadata.name, "Ticket System");
        assert_eq!(descriptor.operations.len(), 3);
        assert_eq!(descriptor.mcp_config.route_mappings.len(), 3);
        assert_eq!(descriptor.operations[0].parameters[2].default_value, Some(serde_json::json!(25)));
        let json = serde_json::to_string(&descriptor).unwrap();
        assert_eq!(load(&json, Format::Json).unwrap(), descriptor);
    }

    #[test]
    fn unknown_keys_are_reported_with_the_rule_errors() {
        let text = testdata::TICKET_SYSTEM
            .replace("      - name: assignee\n", "      - name: assignee\n        requried: true\n")
            .replace("  server_name: \"ticket_system\"\n", "");
        let errors = load(&text, Format::Yaml).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["operations[0].parameters[1].requried", "mcp_config.server_name"]);
        assert_eq!(errors[0].message, "unknown field");
    }

    #[test]
    fn capabilities_keep_any_key() {
        let descriptor = testdata::ticket_system();
        let capabilities = descriptor.capabilities.unwrap();
        assert_eq!(capabilities["sync_modes"], serde_json::json!(["full_refresh"]));
    }

    #[test]
    fn syntax_and_shape_errors_come_alone_with_their_place() {
        let errors = load("metadata: [", Format::Yaml).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "descriptor");
        let text = testdata::TICKET_SYSTEM.replacen("location: query", "location: cookie", 1);
        let errors = load(&text, Format::Yaml).unwrap_err();
        assert_eq!(errors[0].field, "operations[0].parameters[0].location");
        assert!(errors[0].message.contains("unknown variant `cookie`"), "{}", errors[0].message);
    }

    #[test]
    fn any_prefix_of_a_descriptor_is_an_answer_not_a_panic() {
        let text = testdata::TICKET_SYSTEM;
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = load(&text[..cut], Format::Yaml);
        }
    }

    #[test]
    fn every_url_is_listed_for_the_ssrf_guard() {
        let descriptor = testdata::ticket_system();
        let urls: Vec<(String, &str)> = descriptor.urls();
        assert_eq!(urls.len(), 4);
        assert_eq!(
            urls[3],
            ("authentication[0].test_endpoint.url".into(), "https://tickets.internal.com/api/v1/me")
        );
        assert_eq!(urls[1].1, "https://tickets.internal.com/api/v1/tickets/{ticket_id}");
    }

    #[test]
    fn nul_characters_are_field_errors_not_panics() {
        let text = testdata::TICKET_SYSTEM.replace("Platform Team", "Platform\\0Team");
        let errors = load(&text, Format::Yaml).unwrap_err();
        assert_eq!(errors[0].field, "metadata.publisher");
        assert!(errors[0].message.contains("NUL"));
        let json = r#"{"metadata": {"name": "a\u0000b"}, "capabilities": {"k\u0000": 1}}"#;
        let fields: Vec<String> =
            load(json, Format::Json).unwrap_err().into_iter().map(|e| e.field).collect();
        assert!(
            fields.contains(&"metadata.name".to_string())
                && fields.contains(&"capabilities.k\\u0000".to_string()),
            "{fields:?}"
        );
    }
}
