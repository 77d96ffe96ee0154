//! Tool argument names: each operation parameter appears under its own name, or under the
//! name `parameter_mappings` gives it. A mapping key is a parameter name, or
//! `location:name` (`body:id`) when the same name exists in two locations.

use std::collections::BTreeMap;

use super::descriptor::{Location, Operation, Parameter};
use super::rules;

/// One tool argument and the parameter it fills.
#[derive(Debug, Clone, PartialEq)]
pub struct Argument<'a> {
    pub name: String,
    pub parameter: &'a Parameter,
}

/// A problem with the mappings, as (mapping key it concerns, if any; message).
pub type Problem = (Option<String>, String);

fn parse_location(s: &str) -> Option<Location> {
    match s {
        "path" => Some(Location::Path),
        "query" => Some(Location::Query),
        "header" => Some(Location::Header),
        "body" => Some(Location::Body),
        _ => None,
    }
}

/// The indexes of the parameters a mapping key names.
fn matching(op: &Operation, key: &str) -> Vec<usize> {
    let by_name: Vec<usize> = (0..op.parameters.len()).filter(|&i| op.parameters[i].name == key).collect();
    if !by_name.is_empty() {
        return by_name;
    }
    let Some((location, name)) = key.split_once(':').and_then(|(l, n)| Some((parse_location(l)?, n))) else {
        return Vec::new();
    };
    let named = |i: &usize| op.parameters[*i].location == location && op.parameters[*i].name == name;
    (0..op.parameters.len()).filter(named).collect()
}

/// Each renamed parameter's index → (mapping key, argument name).
fn renames(
    op: &Operation,
    mappings: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<usize, (String, String)> {
    let mut renamed = BTreeMap::new();
    for (key, argument) in mappings {
        let problem = |message: String| (Some(key.clone()), message);
        match matching(op, key).as_slice() {
            [] => problems.push(problem(format!("operation `{}` has no parameter `{key}`", op.operation_id))),
            [index] => {
                if renamed.insert(*index, (key.clone(), argument.clone())).is_some() {
                    problems.push(problem("maps a parameter that another key already maps".into()));
                }
            }
            _ => problems.push(problem(format!(
                "`{key}` is a parameter in several locations; write `query:{key}`, `body:{key}`, …"
            ))),
        }
    }
    renamed
}

/// The tool arguments of `op` under `mappings`, in parameter order, and every problem: a key
/// naming no parameter, an argument name that is not a valid property name, two parameters
/// under one argument name.
pub fn resolve<'a>(
    op: &'a Operation,
    mappings: &BTreeMap<String, String>,
) -> (Vec<Argument<'a>>, Vec<Problem>) {
    let mut problems = Vec::new();
    let renamed = renames(op, mappings, &mut problems);
    let mut arguments: Vec<Argument<'a>> = Vec::new();
    // The mapping key behind each argument, to name the mapping a collision comes from.
    let mut keys: Vec<Option<String>> = Vec::new();
    for (index, parameter) in op.parameters.iter().enumerate() {
        let (key, name) = match renamed.get(&index) {
            Some((key, name)) => (Some(key.clone()), name.clone()),
            None => (None, parameter.name.clone()),
        };
        if !rules::is_tool_name(&name) {
            let what =
                if key.is_some() { "the mapped name" } else { "this parameter's name; map it to one that" };
            problems.push((key.clone(), format!("argument `{name}`: {what} {}", rules::TOOL_NAME_RULE)));
        }
        if let Some(at) = arguments.iter().position(|a| a.name == name) {
            let (a, b) = (arguments[at].parameter, parameter);
            problems.push((
                key.or_else(|| keys[at].clone()),
                format!(
                    "argument `{name}` would name both {} `{}` and {} `{}`",
                    a.location.as_str(),
                    a.name,
                    b.location.as_str(),
                    b.name
                ),
            ));
            continue;
        }
        arguments.push(Argument { name, parameter });
        keys.push(key);
    }
    (arguments, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::descriptor::{FieldType, HttpMethod};

    fn param(name: &str, location: Location) -> Parameter {
        Parameter {
            name: name.into(),
            location,
            field_type: FieldType::String,
            required: false,
            default_value: None,
            description: None,
        }
    }

    fn op(parameters: Vec<Parameter>) -> Operation {
        Operation {
            operation_id: "op".into(),
            endpoint: "https://h/x".into(),
            method: HttpMethod::Post,
            summary: None,
            description: None,
            auth_type_ref: None,
            auth_headers: BTreeMap::new(),
            parameters,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn names(arguments: &[Argument]) -> Vec<String> {
        arguments.iter().map(|a| a.name.clone()).collect()
    }

    #[test]
    fn unmapped_parameters_keep_their_names_and_mapped_ones_are_renamed() {
        let op = op(vec![param("project_key", Location::Body), param("summary", Location::Body)]);
        let (args, problems) = resolve(&op, &map(&[("project_key", "project")]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(names(&args), ["project", "summary"]);
        assert_eq!(args[0].parameter.name, "project_key");
    }

    #[test]
    fn a_key_naming_no_parameter_is_a_problem() {
        let (_, problems) = resolve(&op(vec![param("a", Location::Query)]), &map(&[("b", "c")]));
        assert_eq!(problems, [(Some("b".into()), "operation `op` has no parameter `b`".into())]);
    }

    #[test]
    fn a_mapped_name_may_not_collide_with_another_argument() {
        let op = op(vec![param("a", Location::Query), param("b", Location::Query)]);
        let (_, problems) = resolve(&op, &map(&[("a", "b")]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("would name both query `a` and query `b`"), "{problems:?}");
        let (_, problems) = resolve(&op, &map(&[("a", "x"), ("b", "x")]));
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn the_same_name_in_two_locations_needs_a_qualified_mapping() {
        let op = op(vec![param("id", Location::Path), param("id", Location::Body)]);
        let (_, problems) = resolve(&op, &BTreeMap::new());
        assert!(problems[0].1.contains("would name both path `id` and body `id`"));
        let (_, problems) = resolve(&op, &map(&[("id", "x")]));
        assert!(problems.iter().any(|p| p.1.contains("several locations")), "{problems:?}");
        let (args, problems) = resolve(&op, &map(&[("body:id", "body_id")]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(names(&args), ["id", "body_id"]);
    }

    #[test]
    fn argument_names_must_be_valid_property_names() {
        let op = op(vec![param("filter[status]", Location::Query)]);
        let (_, problems) = resolve(&op, &BTreeMap::new());
        assert!(problems[0].1.contains("map it"), "{problems:?}");
        let (_, problems) = resolve(&op, &map(&[("filter[status]", "bad name")]));
        assert_eq!(problems[0].0.as_deref(), Some("filter[status]"));
        let (args, problems) = resolve(&op, &map(&[("filter[status]", "status")]));
        assert!(problems.is_empty());
        assert_eq!(names(&args), ["status"]);
    }
}
