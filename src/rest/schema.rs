//! Route mappings → MCP tools: a name, a description, an input JSON Schema whose properties
//! are the operation's parameters under their mapped names, and the reverse map a call needs
//! to put each argument back where the operation wants it.
//!
//! The schema has no `$schema` keyword: MCP (2025-11-25, server/tools) reads an input schema
//! without one as JSON Schema 2020-12, and several model APIs refuse unknown top-level
//! keywords in tool schemas. It is `additionalProperties: false`, so a misspelt argument is an
//! error the model can correct instead of a value silently dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::args::{self, Argument};
use super::descriptor::{Descriptor, HttpMethod, Location, Operation, RouteMapping};

/// Where a tool argument goes: the operation parameter it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterRef {
    pub location: Location,
    pub name: String,
}

/// Tool argument name → the parameter it fills.
pub type ArgumentMap = BTreeMap<String, ParameterRef>;

/// One generated tool.
#[derive(Debug, Clone, PartialEq)]
pub struct RestTool {
    pub name: String,
    /// The operation's summary, for display.
    pub title: Option<String>,
    pub description: String,
    pub input_schema: Map<String, Value>,
    pub annotations: ToolAnnotations,
    pub operation_id: String,
    pub arguments: ArgumentMap,
}

impl RestTool {
    /// The tool as MCP lists it (and as the catalog stores it via `catalog::model::Tool::from_mcp`).
    pub fn to_mcp(&self) -> Tool {
        let mut tool =
            Tool::new(self.name.clone(), self.description.clone(), Arc::new(self.input_schema.clone()))
                .with_annotations(self.annotations.clone());
        tool.title = self.title.clone();
        tool
    }
}

/// The tools of a descriptor, one per route mapping, in order; none when `mcp_config` is not
/// enabled (seed 004: "Whether MCP generation is active"). Expects a validated descriptor: a
/// mapping whose operation is missing is skipped.
pub fn tools(descriptor: &Descriptor) -> Vec<RestTool> {
    if !descriptor.mcp_config.enabled {
        return Vec::new();
    }
    descriptor.mcp_config.route_mappings.iter().filter_map(|m| tool(descriptor, m)).collect()
}

/// The tool of one route mapping, if its operation exists.
pub fn tool(descriptor: &Descriptor, mapping: &RouteMapping) -> Option<RestTool> {
    let op = descriptor.operation(&mapping.operation_id)?;
    let (arguments, _) = args::resolve(op, &mapping.parameter_mappings);
    Some(RestTool {
        name: mapping.mcp_tool_name.clone(),
        title: op.summary.clone(),
        description: mapping.mcp_tool_description.clone(),
        input_schema: input_schema(&arguments),
        annotations: annotations(op),
        operation_id: op.operation_id.clone(),
        arguments: argument_map(&arguments),
    })
}

/// The JSON Schema of the arguments.
pub fn input_schema(arguments: &[Argument]) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for argument in arguments {
        let p = argument.parameter;
        let mut property = Map::new();
        property.insert("type".into(), json!(p.field_type.as_str()));
        if let Some(description) = &p.description {
            property.insert("description".into(), json!(description));
        }
        if let Some(default) = &p.default_value {
            property.insert("default".into(), default.clone());
        }
        // A parameter with a default is filled in when absent, so the caller need not give it.
        if p.is_required() && p.default_value.is_none() {
            required.push(json!(argument.name));
        }
        properties.insert(argument.name.clone(), Value::Object(property));
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    schema
}

fn argument_map(arguments: &[Argument]) -> ArgumentMap {
    let place =
        |a: &Argument| ParameterRef { location: a.parameter.location, name: a.parameter.name.clone() };
    arguments.iter().map(|a| (a.name.clone(), place(a))).collect()
}

/// Hints from the method's semantics (RFC 9110 §9.2): safe methods read, DELETE destroys,
/// PUT and DELETE are idempotent. The gateway derives a tool's default scope from these.
fn annotations(op: &Operation) -> ToolAnnotations {
    let annotations = ToolAnnotations::new().read_only(op.method.is_safe()).open_world(true);
    if op.method.is_safe() {
        return annotations;
    }
    annotations
        .destructive(op.method == HttpMethod::Delete)
        .idempotent(matches!(op.method, HttpMethod::Put | HttpMethod::Delete))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rest::testdata;

    #[test]
    fn each_route_mapping_becomes_a_tool_with_its_parameters_as_properties() {
        let tools = tools(&testdata::ticket_system());
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["search_tickets", "get_ticket", "create_ticket"]);
        assert_eq!(
            Value::Object(tools[0].input_schema.clone()),
            json!({
                "type": "object",
                "properties": {
                    "status": {"type": "string", "description": "Filter by status (open, closed, in_progress)"},
                    "assignee": {"type": "string", "description": "Filter by assignee email"},
                    "limit": {"type": "integer", "default": 25},
                },
                "additionalProperties": false,
            })
        );
        assert_eq!(tools[1].input_schema["required"], json!(["ticket_id"]));
        assert_eq!(tools[2].input_schema["required"], json!(["title"]));
        assert_eq!(tools[2].input_schema["properties"]["priority"]["default"], json!("medium"));
    }

    #[test]
    fn mapped_names_replace_parameter_names_and_map_back() {
        let mut descriptor = testdata::ticket_system();
        descriptor.mcp_config.route_mappings[1].parameter_mappings.insert("ticket_id".into(), "id".into());
        let tool = tool(&descriptor, &descriptor.mcp_config.route_mappings[1]).unwrap();
        assert_eq!(tool.input_schema["required"], json!(["id"]));
        assert!(tool.input_schema["properties"].get("ticket_id").is_none());
        assert_eq!(tool.arguments["id"], ParameterRef { location: Location::Path, name: "ticket_id".into() });
    }

    #[test]
    fn annotations_follow_the_method() {
        let tools = tools(&testdata::ticket_system());
        assert_eq!(tools[0].annotations.read_only_hint, Some(true));
        assert_eq!(tools[2].annotations.read_only_hint, Some(false));
        assert_eq!(tools[2].annotations.destructive_hint, Some(false));
        let mut descriptor = testdata::ticket_system();
        descriptor.operations[1].method = HttpMethod::Delete;
        let deleting = tool(&descriptor, &descriptor.mcp_config.route_mappings[1]).unwrap();
        assert_eq!(
            (deleting.annotations.destructive_hint, deleting.annotations.idempotent_hint),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn the_mcp_form_carries_name_title_description_and_schema() {
        let tool = tools(&testdata::ticket_system()).remove(1).to_mcp();
        assert_eq!(tool.name, "get_ticket");
        assert_eq!(tool.title.as_deref(), Some("Get ticket by ID"));
        assert!(tool.description.unwrap().starts_with("Get full details"));
        assert_eq!(tool.input_schema["additionalProperties"], json!(false));
    }

    #[test]
    fn a_disabled_mcp_config_yields_no_tools() {
        let mut descriptor = testdata::ticket_system();
        descriptor.mcp_config.enabled = false;
        assert!(tools(&descriptor).is_empty());
    }

    #[test]
    fn the_schema_validates_arguments_as_draft_2020_12() {
        let schema = Value::Object(tools(&testdata::ticket_system()).remove(2).input_schema);
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        assert!(validator.is_valid(&json!({"title": "Printer on fire"})));
        assert!(!validator.is_valid(&json!({"description": "no title"})));
        assert!(!validator.is_valid(&json!({"title": "x", "titel": "typo"})));
        assert!(!validator.is_valid(&json!({"title": 5})));
    }
}
