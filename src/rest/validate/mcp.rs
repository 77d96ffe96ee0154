//! `mcp_config`: the server's name and description when enabled, and for every route mapping
//! an existing operation, a unique valid tool name, a description, and parameter mappings
//! that name real parameters without collisions (seed 004, "Validation Rules").

use super::Errors;
use crate::rest::args;
use crate::rest::descriptor::{Descriptor, RouteMapping};
use crate::rest::rules::{self, MAX_DESCRIPTION, MAX_NAME};

pub(super) fn check(errors: &mut Errors, descriptor: &Descriptor) {
    let config = &descriptor.mcp_config;
    if config.enabled && config.server_name.is_none() {
        errors.add("mcp_config.server_name", "required when `enabled` is true");
    }
    if config.enabled && config.server_description.is_none() {
        errors.add("mcp_config.server_description", "required when `enabled` is true");
    }
    errors.optional_name("mcp_config.server_name", config.server_name.as_deref(), MAX_NAME);
    errors.description("mcp_config.server_description", config.server_description.as_deref());
    let names = config.route_mappings.iter().enumerate();
    errors.unique(
        names.map(|(i, m)| {
            (format!("mcp_config.route_mappings[{i}].mcp_tool_name"), m.mcp_tool_name.as_str())
        }),
        "tool name",
    );
    for (i, mapping) in config.route_mappings.iter().enumerate() {
        route_mapping(errors, &format!("mcp_config.route_mappings[{i}]"), mapping, descriptor);
    }
}

fn route_mapping(errors: &mut Errors, at: &str, mapping: &RouteMapping, descriptor: &Descriptor) {
    if !rules::has_length(&mapping.mcp_tool_name, MAX_NAME) {
        errors.add(format!("{at}.mcp_tool_name"), rules::length_message(MAX_NAME));
    } else if !rules::is_tool_name(&mapping.mcp_tool_name) {
        errors.add(format!("{at}.mcp_tool_name"), rules::TOOL_NAME_RULE);
    }
    if !rules::has_length(&mapping.mcp_tool_description, MAX_DESCRIPTION) {
        errors.add(format!("{at}.mcp_tool_description"), rules::length_message(MAX_DESCRIPTION));
    }
    let Some(op) = descriptor.operation(&mapping.operation_id) else {
        errors.add(
            format!("{at}.operation_id"),
            format!("no operation `{}` in `operations`", mapping.operation_id),
        );
        return;
    };
    let (_, problems) = args::resolve(op, &mapping.parameter_mappings);
    for (key, message) in problems {
        let field = match key {
            Some(key) => format!("{at}.parameter_mappings.{key}"),
            None => format!("{at}.parameter_mappings"),
        };
        errors.add(field, message);
    }
}
