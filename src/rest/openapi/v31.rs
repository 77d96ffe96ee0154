//! OpenAPI 3.1 documents, read with `oas3` into the import's [`Api`].
//!
//! `oas3` can resolve references itself, but follows `$ref` chains without a bound (a schema
//! cycle would recurse until the stack overflows), so references are followed here, locally
//! and at most [`MAX_REF_DEPTH`] deep.

use std::collections::HashSet;

use oas3::Spec;
use oas3::spec::{
    Components, ObjectOrReference, ObjectSchema, Operation, Parameter, ParameterIn, PathItem, RequestBody,
    Schema, SchemaType, SchemaTypeSet, SecurityRequirement, SecurityScheme,
};
use serde_json::Value;

use super::model::{
    self, Api, ApiOperation, ApiParameter, MAX_REF_DEPTH, Requirement, Scheme, Warning, local_ref,
};
use crate::rest::descriptor::{FieldType, HttpMethod, Location, OAuth2Grant};

/// Reads a 3.1 document already parsed to JSON.
pub fn read(mut value: Value) -> Result<Api, String> {
    drop_boolean_bounds(&mut value);
    let public = explicitly_public(&value);
    let doc: Spec =
        serde_path_to_error::deserialize(value).map_err(|e| format!("{} (at {})", e.inner(), e.path()))?;
    let mut reader = Reader { components: doc.components.as_ref(), public, warnings: Vec::new() };
    let operations = reader.operations(&doc);
    let schemes = reader.schemes();
    Ok(Api {
        title: doc.info.title.clone(),
        version: Some(doc.info.version.clone()),
        description: doc.info.description.clone(),
        server: doc.servers.first().map(server),
        operations,
        schemes,
        security: requirements(&doc.security),
        warnings: reader.warnings,
    })
}

fn server(server: &oas3::spec::Server) -> String {
    model::server_url(&server.url, |name| server.variables.get(name).map(|v| v.default.clone()))
}

fn requirements(security: &[SecurityRequirement]) -> Vec<Requirement> {
    security
        .iter()
        .map(|r| r.0.iter().map(|(name, scopes)| (name.clone(), scopes.clone())).collect())
        .collect()
}

/// A schema may declare an older JSON Schema dialect (`$schema`), where `exclusiveMinimum`
/// and `exclusiveMaximum` are booleans; `oas3` only reads the 2020-12 numbers. The import
/// uses no bounds, so the boolean forms are dropped before `oas3` sees them.
fn drop_boolean_bounds(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, v| {
                !(v.is_boolean() && (key == "exclusiveMinimum" || key == "exclusiveMaximum"))
            });
            map.values_mut().for_each(drop_boolean_bounds);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_boolean_bounds),
        _ => {}
    }
}

/// `(path, method)` of the operations whose `security` is an empty list (no authentication,
/// whatever the document's `security` says): `oas3` reads that the same as an absent one.
fn explicitly_public(value: &Value) -> HashSet<(String, String)> {
    let Some(paths) = value.get("paths").and_then(Value::as_object) else { return HashSet::new() };
    let mut public = HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            if op.get("security").and_then(Value::as_array).is_some_and(Vec::is_empty) {
                public.insert((path.clone(), method.to_ascii_uppercase()));
            }
        }
    }
    public
}

struct Reader<'a> {
    components: Option<&'a Components>,
    public: HashSet<(String, String)>,
    warnings: Vec<Warning>,
}

impl<'a> Reader<'a> {
    fn operations(&mut self, doc: &'a Spec) -> Vec<ApiOperation> {
        let mut out = Vec::new();
        for (path, item) in doc.paths.iter().flat_map(|paths| paths.iter()) {
            if item.reference.is_some() {
                self.warnings.push(Warning::new(path, "a path item `$ref` is not followed; skipped"));
                continue;
            }
            if item.trace.is_some() {
                self.warnings
                    .push(Warning::new(format!("TRACE {path}"), "TRACE operations are not imported"));
            }
            let methods = [
                (HttpMethod::Get, &item.get),
                (HttpMethod::Put, &item.put),
                (HttpMethod::Post, &item.post),
                (HttpMethod::Delete, &item.delete),
                (HttpMethod::Options, &item.options),
                (HttpMethod::Head, &item.head),
                (HttpMethod::Patch, &item.patch),
            ];
            for (method, op) in methods {
                if let Some(op) = op {
                    out.push(self.operation(method, path, item, op));
                }
            }
        }
        out
    }

    fn operation(
        &mut self,
        method: HttpMethod,
        path: &str,
        item: &'a PathItem,
        op: &'a Operation,
    ) -> ApiOperation {
        let at = format!("{} {path}", method.as_str());
        let inherited: Vec<ApiParameter> =
            item.parameters.iter().filter_map(|p| self.parameter(&at, p)).collect();
        let own: Vec<ApiParameter> = op.parameters.iter().filter_map(|p| self.parameter(&at, p)).collect();
        let mut parameters = model::merge_parameters(inherited, own);
        if let Some(body) = &op.request_body {
            parameters.extend(self.body(&at, body));
        }
        ApiOperation {
            method,
            path: path.to_owned(),
            operation_id: op.operation_id.clone(),
            summary: op.summary.clone(),
            description: op.description.clone(),
            tags: op.tags.clone(),
            parameters,
            server: op.servers.first().or(item.servers.first()).map(server),
            security: self.security(method, path, &op.security),
        }
    }

    /// The operation's own security, if it has one (see [`explicitly_public`]).
    fn security(
        &self,
        method: HttpMethod,
        path: &str,
        security: &[SecurityRequirement],
    ) -> Option<Vec<Requirement>> {
        if self.public.contains(&(path.to_owned(), method.as_str().to_owned())) {
            Some(Vec::new())
        } else {
            (!security.is_empty()).then(|| requirements(security))
        }
    }

    fn parameter(&mut self, at: &str, parameter: &'a ObjectOrReference<Parameter>) -> Option<ApiParameter> {
        let Some(parameter) = self.resolve(parameter, "parameters", |c| &c.parameters) else {
            self.warnings.push(Warning::new(at, "a parameter `$ref` could not be resolved; skipped"));
            return None;
        };
        let location = match parameter.location {
            ParameterIn::Path => Location::Path,
            ParameterIn::Query => Location::Query,
            ParameterIn::Header => Location::Header,
            ParameterIn::Cookie => {
                self.warnings
                    .push(Warning::new(at, format!("cookie parameter `{}` is not imported", parameter.name)));
                return None;
            }
        };
        let content =
            || parameter.content.as_ref().and_then(|c| c.values().next()).and_then(|m| m.schema.as_ref());
        let schema = parameter.schema.as_ref().or_else(content).and_then(|s| self.schema(s, 0));
        let required = parameter.required.unwrap_or(false);
        Some(self.describe(&parameter.name, location, required, parameter.description.clone(), schema))
    }

    fn describe(
        &self,
        name: &str,
        location: Location,
        required: bool,
        description: Option<String>,
        schema: Option<&'a ObjectSchema>,
    ) -> ApiParameter {
        ApiParameter {
            name: name.to_owned(),
            location,
            field_type: schema.and_then(|s| self.type_of(s, 0)),
            required,
            default: schema.and_then(|s| s.default.clone()),
            description: description.or_else(|| schema.and_then(|s| s.description.clone())),
        }
    }

    /// The JSON body's top-level properties (read-only ones are the server's to set).
    fn body(&mut self, at: &str, body: &'a ObjectOrReference<RequestBody>) -> Vec<ApiParameter> {
        let Some(body) = self.resolve(body, "requestBodies", |c| &c.request_bodies) else {
            self.warnings.push(Warning::new(at, "a request body `$ref` could not be resolved; skipped"));
            return Vec::new();
        };
        let Some((_, media)) = body.content.iter().find(|(m, _)| model::is_json_media_type(m)) else {
            let types: Vec<&str> = body.content.keys().map(String::as_str).collect();
            self.warnings.push(Warning::new(
                at,
                format!("request body ({}) is not JSON; not imported", types.join(", ")),
            ));
            return Vec::new();
        };
        let Some(schema) = media.schema.as_ref().and_then(|s| self.schema(s, 0)) else { return Vec::new() };
        let properties = self.properties(schema, 0);
        if properties.is_empty() {
            self.warnings.push(Warning::new(
                at,
                "the JSON request body is not an object with properties; not imported",
            ));
        }
        let body_required = body.required.unwrap_or(false);
        let mut out = Vec::new();
        for (name, property, required) in properties {
            let property = self.schema(property, 0);
            if property.is_some_and(|p| p.read_only == Some(true)) {
                continue;
            }
            out.push(self.describe(name, Location::Body, required && body_required, None, property));
        }
        out
    }

    /// Properties of an object schema, its `allOf` parts merged, with whether each is required.
    fn properties(&self, schema: &'a ObjectSchema, depth: usize) -> Vec<(&'a str, &'a Schema, bool)> {
        if depth > MAX_REF_DEPTH {
            return Vec::new();
        }
        let mut out: Vec<(&'a str, &'a Schema, bool)> =
            schema.properties.iter().map(|(n, p)| (n.as_str(), p, schema.required.contains(n))).collect();
        for part in schema.all_of.iter().filter_map(|s| self.schema(s, depth + 1)) {
            out.extend(self.properties(part, depth + 1));
        }
        out
    }

    fn type_of(&self, schema: &'a ObjectSchema, depth: usize) -> Option<FieldType> {
        if depth > MAX_REF_DEPTH {
            return None;
        }
        if let Some(types) = &schema.schema_type {
            return match types {
                SchemaTypeSet::Single(t) => field_type(*t),
                // `["string", "null"]` is a nullable string; more than one real type is none.
                SchemaTypeSet::Multiple(ts) => {
                    model::common_type(ts.iter().filter(|t| **t != SchemaType::Null).map(|t| field_type(*t)))
                }
            };
        }
        let members = |list: &'a [Schema]| {
            list.iter().map(move |s| self.schema(s, depth + 1).and_then(|s| self.type_of(s, depth + 1)))
        };
        if !schema.all_of.is_empty() {
            return members(&schema.all_of).flatten().next();
        }
        for list in [&schema.one_of, &schema.any_of] {
            if !list.is_empty() {
                return model::common_type(members(list));
            }
        }
        if !schema.properties.is_empty() {
            Some(FieldType::Object)
        } else {
            schema.items.is_some().then_some(FieldType::Array)
        }
    }

    /// The object schema behind `schema`, following local references a bounded number of times.
    fn schema(&self, schema: &'a Schema, depth: usize) -> Option<&'a ObjectSchema> {
        let mut current = schema;
        for _ in depth..MAX_REF_DEPTH {
            match current {
                Schema::Boolean(_) => return None,
                Schema::Object(object) => match object.as_ref() {
                    ObjectOrReference::Object(found) => return Some(found),
                    ObjectOrReference::Ref { ref_path, .. } => {
                        let name = local_ref(ref_path, "schemas")?;
                        current = self.components?.schemas.get(name.as_ref())?;
                    }
                },
            }
        }
        None
    }

    /// Follows local `#/components/<kind>/…` references, at most [`MAX_REF_DEPTH`] of them.
    fn resolve<T>(
        &self,
        mut item: &'a ObjectOrReference<T>,
        kind: &str,
        map: impl Fn(&'a Components) -> &'a oas3::Map<String, ObjectOrReference<T>>,
    ) -> Option<&'a T> {
        for _ in 0..MAX_REF_DEPTH {
            match item {
                ObjectOrReference::Object(found) => return Some(found),
                ObjectOrReference::Ref { ref_path, .. } => {
                    let name = local_ref(ref_path, kind)?;
                    item = map(self.components?).get(name.as_ref())?;
                }
            }
        }
        None
    }

    fn schemes(&mut self) -> Vec<(String, Scheme)> {
        let Some(components) = self.components else { return Vec::new() };
        let mut out = Vec::new();
        for (name, scheme) in components.security_schemes.iter() {
            let scheme = match self.resolve(scheme, "securitySchemes", |c| &c.security_schemes) {
                Some(scheme) => self::scheme(scheme),
                None => Scheme::Unsupported("its `$ref` could not be resolved".into()),
            };
            out.push((name.clone(), scheme));
        }
        out
    }
}

fn field_type(t: SchemaType) -> Option<FieldType> {
    Some(match t {
        SchemaType::Boolean => FieldType::Boolean,
        SchemaType::Integer => FieldType::Integer,
        SchemaType::Number => FieldType::Number,
        SchemaType::String => FieldType::String,
        SchemaType::Array => FieldType::Array,
        SchemaType::Object => FieldType::Object,
        SchemaType::Null => return None,
    })
}

fn scheme(scheme: &SecurityScheme) -> Scheme {
    match scheme {
        SecurityScheme::ApiKey { location, name, .. } if location.eq_ignore_ascii_case("header") => {
            Scheme::ApiKeyHeader { header: name.clone() }
        }
        SecurityScheme::ApiKey { .. } => Scheme::Unsupported("an API key in a query or cookie".into()),
        SecurityScheme::Http { scheme, .. } => model::http_scheme(scheme),
        SecurityScheme::OAuth2 { flows, .. } => {
            if let Some(flow) = &flows.authorization_code {
                let authorization_url = Some(flow.authorization_url.to_string());
                Scheme::OAuth2 {
                    grant: OAuth2Grant::AuthorizationCode,
                    authorization_url,
                    token_url: flow.token_url.to_string(),
                }
            } else if let Some(flow) = &flows.client_credentials {
                Scheme::OAuth2 {
                    grant: OAuth2Grant::ClientCredentials,
                    authorization_url: None,
                    token_url: flow.token_url.to_string(),
                }
            } else {
                Scheme::Unsupported("OAuth 2 without an authorization code or client credentials flow".into())
            }
        }
        SecurityScheme::OpenIdConnect { .. } => Scheme::Unsupported("OpenID Connect discovery".into()),
        SecurityScheme::MutualTls { .. } => Scheme::Unsupported("mutual TLS".into()),
    }
}
