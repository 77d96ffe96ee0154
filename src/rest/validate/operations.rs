//! `operations`: unique ids, endpoint templates whose placeholders are exactly the path
//! parameters, an existing auth type for the auth headers, and well-formed parameters.

use std::collections::BTreeSet;

use super::{Errors, MAX_OPERATIONS, MAX_PARAMETERS, auth};
use crate::rest::descriptor::{Descriptor, FieldType, Location, Operation, Parameter};
use crate::rest::headers;
use crate::rest::rules::{self, MAX_NAME};

pub(super) fn check(errors: &mut Errors, descriptor: &Descriptor) {
    let operations = &descriptor.operations;
    if operations.len() > MAX_OPERATIONS {
        errors.add("operations", format!("at most {MAX_OPERATIONS} operations"));
    }
    let ids = operations
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("operations[{i}].operation_id"), o.operation_id.as_str()));
    errors.unique(ids, "operation_id");
    for (i, op) in operations.iter().enumerate() {
        let at = format!("operations[{i}]");
        errors.name(format!("{at}.operation_id"), &op.operation_id, MAX_NAME);
        errors.description(format!("{at}.summary"), op.summary.as_deref());
        errors.description(format!("{at}.description"), op.description.as_deref());
        let placeholders = endpoint(errors, &at, &op.endpoint);
        auth_headers(errors, &at, op, descriptor);
        parameters(errors, &at, op);
        if let Some(placeholders) = placeholders {
            path_parameters_match(errors, &at, op, &placeholders);
        }
    }
}

/// The endpoint is an absolute http(s) URL once filled; placeholders sit only in its path
/// (an argument must never choose the host, nor smuggle a query). Returns the placeholder
/// names when the template is well formed.
fn endpoint(errors: &mut Errors, at: &str, endpoint: &str) -> Option<Vec<String>> {
    let field = format!("{at}.endpoint");
    let found = match rules::placeholders(endpoint) {
        Ok(found) => found,
        Err(why) => {
            errors.add(field, why);
            return None;
        }
    };
    let filled = rules::fill::<()>(endpoint, |_| Ok("x".into())).unwrap_or_default();
    errors.url(field.clone(), &filled);
    let path_start = rules::path_start(endpoint).unwrap_or(0);
    let path_end = endpoint.find('?').unwrap_or(endpoint.len());
    let mut names = Vec::new();
    for p in found {
        if p.at < path_start || p.at > path_end {
            errors.add(
                field.clone(),
                format!("`{{{}}}` must be in the URL's path, not its host or query", p.name),
            );
        } else if !names.contains(&p.name) {
            // A placeholder may repeat (`/{id}/…/{id}`): each gets the same value.
            names.push(p.name);
        }
    }
    Some(names)
}

/// Both directions: each placeholder has a path parameter, each path parameter a placeholder.
fn path_parameters_match(errors: &mut Errors, at: &str, op: &Operation, placeholders: &[String]) {
    let path: BTreeSet<&str> =
        op.parameters.iter().filter(|p| p.location == Location::Path).map(|p| p.name.as_str()).collect();
    for name in placeholders.iter().filter(|n| !path.contains(n.as_str())) {
        errors.add(format!("{at}.endpoint"), format!("`{{{name}}}` has no path parameter `{name}`"));
    }
    for (j, p) in op.parameters.iter().enumerate() {
        if p.location == Location::Path && !placeholders.contains(&p.name) {
            errors.add(
                format!("{at}.parameters[{j}].name"),
                format!("path parameter `{}` has no `{{{}}}` in the endpoint", p.name, p.name),
            );
        }
    }
}

fn auth_headers(errors: &mut Errors, at: &str, op: &Operation, descriptor: &Descriptor) {
    let Some(reference) = &op.auth_type_ref else {
        if !op.auth_headers.is_empty() {
            errors.add(format!("{at}.auth_headers"), "needs an `auth_type_ref` to take its fields from");
        }
        return;
    };
    match descriptor.auth_type(reference) {
        Some(auth) => auth::header_templates(errors, &format!("{at}.auth_headers"), &op.auth_headers, auth),
        None => {
            let known: Vec<&str> = descriptor.authentication.iter().map(|a| a.reference()).collect();
            errors.add(
                format!("{at}.auth_type_ref"),
                format!("no auth type `{reference}` (known: {})", known.join(", ")),
            );
        }
    }
}

fn parameters(errors: &mut Errors, at: &str, op: &Operation) {
    if op.parameters.len() > MAX_PARAMETERS {
        errors.add(format!("{at}.parameters"), format!("at most {MAX_PARAMETERS} parameters"));
    }
    // Header names are case-insensitive; the others are compared as written.
    let key = |p: &Parameter| match p.location {
        Location::Header => format!("header {}", p.name.to_ascii_lowercase()),
        location => format!("{} {}", location.as_str(), p.name),
    };
    let keys: Vec<String> = op.parameters.iter().map(key).collect();
    errors.unique(
        keys.iter().enumerate().map(|(j, k)| (format!("{at}.parameters[{j}].name"), k.as_str())),
        "parameter",
    );
    for (j, p) in op.parameters.iter().enumerate() {
        parameter(errors, &format!("{at}.parameters[{j}]"), p, op);
    }
}

fn parameter(errors: &mut Errors, at: &str, p: &Parameter, op: &Operation) {
    errors.name(format!("{at}.name"), &p.name, MAX_NAME);
    errors.description(format!("{at}.description"), p.description.as_deref());
    if p.location == Location::Header {
        if !headers::parameter_header_allowed(&p.name) {
            errors.add(
                format!("{at}.name"),
                "this header may not be set by a tool argument (see the header allow-list)",
            );
        }
        if op.auth_headers.keys().any(|h| h.eq_ignore_ascii_case(&p.name)) {
            errors.add(
                format!("{at}.name"),
                "is also an auth header: an argument must not override the credential",
            );
        }
    }
    if p.field_type == FieldType::Object && p.location != Location::Body {
        errors.add(format!("{at}.field_type"), "`object` is only for body parameters");
    }
    if p.location == Location::Body && !op.method.allows_body() {
        errors.add(format!("{at}.location"), format!("a {} request has no body", op.method.as_str()));
    }
    if let Some(default) = &p.default_value
        && !p.field_type.accepts(default)
    {
        errors
            .add(format!("{at}.default_value"), format!("must be of field_type `{}`", p.field_type.as_str()));
    }
}
