//! OpenAPI 3.0 documents, read with `openapiv3` into the import's [`Api`].

use openapiv3::{
    APIKeyLocation, Components, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathItem,
    ReferenceOr, RequestBody, Schema, SchemaKind, SecurityRequirement, SecurityScheme, Type,
};
use serde_json::Value;

use super::model::{
    self, Api, ApiOperation, ApiParameter, MAX_REF_DEPTH, Requirement, Scheme, Warning, local_ref,
};
use crate::rest::descriptor::{FieldType, HttpMethod, Location, OAuth2Grant};

/// Reads a 3.0 document already parsed to JSON.
pub fn read(value: Value) -> Result<Api, String> {
    let doc: OpenAPI =
        serde_path_to_error::deserialize(value).map_err(|e| format!("{} (at {})", e.inner(), e.path()))?;
    let mut reader = Reader { components: doc.components.as_ref(), warnings: Vec::new() };
    let operations = reader.operations(&doc);
    let schemes = reader.schemes();
    Ok(Api {
        title: doc.info.title.clone(),
        version: Some(doc.info.version.clone()),
        description: doc.info.description.clone(),
        server: doc.servers.first().map(server),
        operations,
        schemes,
        security: doc.security.as_deref().map(requirements).unwrap_or_default(),
        warnings: reader.warnings,
    })
}

fn server(server: &openapiv3::Server) -> String {
    let variables = server.variables.as_ref();
    model::server_url(&server.url, |name| variables.and_then(|v| v.get(name)).map(|v| v.default.clone()))
}

fn requirements(security: &[SecurityRequirement]) -> Vec<Requirement> {
    security.iter().map(|r| r.iter().map(|(name, scopes)| (name.clone(), scopes.clone())).collect()).collect()
}

struct Reader<'a> {
    components: Option<&'a Components>,
    warnings: Vec<Warning>,
}

impl<'a> Reader<'a> {
    fn operations(&mut self, doc: &'a OpenAPI) -> Vec<ApiOperation> {
        let mut out = Vec::new();
        for (path, item) in doc.paths.iter() {
            let ReferenceOr::Item(item) = item else {
                self.warnings.push(Warning::new(path, "a path item `$ref` is not followed; skipped"));
                continue;
            };
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
            security: op.security.as_deref().map(requirements),
        }
    }

    fn parameter(&mut self, at: &str, parameter: &'a ReferenceOr<Parameter>) -> Option<ApiParameter> {
        let Some(parameter) = self.resolve(parameter, "parameters", |c, n| c.parameters.get(n)) else {
            self.warnings.push(Warning::new(at, "a parameter `$ref` could not be resolved; skipped"));
            return None;
        };
        let location = match parameter {
            Parameter::Path { .. } => Location::Path,
            Parameter::Query { .. } => Location::Query,
            Parameter::Header { .. } => Location::Header,
            Parameter::Cookie { parameter_data, .. } => {
                self.warnings.push(Warning::new(
                    at,
                    format!("cookie parameter `{}` is not imported", parameter_data.name),
                ));
                return None;
            }
        };
        let data = parameter.parameter_data_ref();
        let schema = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => self.schema(schema),
            ParameterSchemaOrContent::Content(content) => {
                content.values().next().and_then(|m| m.schema.as_ref()).and_then(|s| self.schema(s))
            }
        };
        Some(self.describe(&data.name, location, data.required, data.description.clone(), schema))
    }

    fn describe(
        &self,
        name: &str,
        location: Location,
        required: bool,
        description: Option<String>,
        schema: Option<&'a Schema>,
    ) -> ApiParameter {
        ApiParameter {
            name: name.to_owned(),
            location,
            field_type: schema.and_then(|s| self.type_of(s, 0)),
            required,
            default: schema.and_then(|s| s.schema_data.default.clone()),
            description: description.or_else(|| schema.and_then(|s| s.schema_data.description.clone())),
        }
    }

    /// The JSON body's top-level properties (read-only ones are the server's to set).
    fn body(&mut self, at: &str, body: &'a ReferenceOr<RequestBody>) -> Vec<ApiParameter> {
        let Some(body) = self.resolve(body, "requestBodies", |c, n| c.request_bodies.get(n)) else {
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
        let Some(schema) = media.schema.as_ref().and_then(|s| self.schema(s)) else { return Vec::new() };
        let properties = self.properties(schema, 0);
        if properties.is_empty() {
            self.warnings.push(Warning::new(
                at,
                "the JSON request body is not an object with properties; not imported",
            ));
        }
        let mut out = Vec::new();
        for (name, property, required) in properties {
            let property = self.boxed(property);
            if property.is_some_and(|p| p.schema_data.read_only) {
                continue;
            }
            out.push(self.describe(name, Location::Body, required && body.required, None, property));
        }
        out
    }

    /// Properties of an object schema, its `allOf` parts merged, with whether each is required.
    fn properties(
        &self,
        schema: &'a Schema,
        depth: usize,
    ) -> Vec<(&'a str, &'a ReferenceOr<Box<Schema>>, bool)> {
        if depth > MAX_REF_DEPTH {
            return Vec::new();
        }
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(object)) => own(object.properties.iter(), &object.required),
            SchemaKind::Any(any) => own(any.properties.iter(), &any.required),
            SchemaKind::AllOf { all_of } => all_of
                .iter()
                .filter_map(|s| self.schema(s))
                .flat_map(|s| self.properties(s, depth + 1))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn type_of(&self, schema: &'a Schema, depth: usize) -> Option<FieldType> {
        if depth > MAX_REF_DEPTH {
            return None;
        }
        let members = |list: &'a [ReferenceOr<Schema>]| {
            list.iter().map(move |s| self.schema(s).and_then(|s| self.type_of(s, depth + 1)))
        };
        match &schema.schema_kind {
            SchemaKind::Type(t) => Some(match t {
                Type::String(_) => FieldType::String,
                Type::Number(_) => FieldType::Number,
                Type::Integer(_) => FieldType::Integer,
                Type::Object(_) => FieldType::Object,
                Type::Array(_) => FieldType::Array,
                Type::Boolean(_) => FieldType::Boolean,
            }),
            SchemaKind::AllOf { all_of } => members(all_of).flatten().next(),
            SchemaKind::OneOf { one_of: list } | SchemaKind::AnyOf { any_of: list } => {
                model::common_type(members(list))
            }
            SchemaKind::Any(any) => any.typ.as_deref().and_then(model::parse_type).or_else(|| {
                (!any.properties.is_empty())
                    .then_some(FieldType::Object)
                    .or(any.items.is_some().then_some(FieldType::Array))
            }),
            SchemaKind::Not { .. } => None,
        }
    }

    fn schema(&self, schema: &'a ReferenceOr<Schema>) -> Option<&'a Schema> {
        self.resolve(schema, "schemas", |c, n| c.schemas.get(n))
    }

    fn boxed(&self, schema: &'a ReferenceOr<Box<Schema>>) -> Option<&'a Schema> {
        match schema {
            ReferenceOr::Item(schema) => Some(schema),
            ReferenceOr::Reference { reference } => self.schema_named(reference),
        }
    }

    fn schema_named(&self, reference: &str) -> Option<&'a Schema> {
        let name = local_ref(reference, "schemas")?;
        self.schema(self.components?.schemas.get(name.as_ref())?)
    }

    /// Follows local `#/components/<kind>/…` references, at most [`MAX_REF_DEPTH`] of them.
    fn resolve<T>(
        &self,
        mut item: &'a ReferenceOr<T>,
        kind: &str,
        lookup: impl Fn(&'a Components, &str) -> Option<&'a ReferenceOr<T>>,
    ) -> Option<&'a T> {
        for _ in 0..MAX_REF_DEPTH {
            match item {
                ReferenceOr::Item(found) => return Some(found),
                ReferenceOr::Reference { reference } => {
                    let name = local_ref(reference, kind)?;
                    item = lookup(self.components?, &name)?;
                }
            }
        }
        None
    }

    fn schemes(&mut self) -> Vec<(String, Scheme)> {
        let Some(components) = self.components else { return Vec::new() };
        let mut out = Vec::new();
        for (name, scheme) in &components.security_schemes {
            let scheme = match self.resolve(scheme, "securitySchemes", |c, n| c.security_schemes.get(n)) {
                Some(scheme) => self::scheme(scheme),
                None => Scheme::Unsupported("its `$ref` could not be resolved".into()),
            };
            out.push((name.clone(), scheme));
        }
        out
    }
}

/// Properties with whether each is required.
fn own<'a>(
    properties: impl Iterator<Item = (&'a String, &'a ReferenceOr<Box<Schema>>)>,
    required: &[String],
) -> Vec<(&'a str, &'a ReferenceOr<Box<Schema>>, bool)> {
    properties.map(|(name, p)| (name.as_str(), p, required.contains(name))).collect()
}

fn scheme(scheme: &SecurityScheme) -> Scheme {
    match scheme {
        SecurityScheme::APIKey { location: APIKeyLocation::Header, name, .. } => {
            Scheme::ApiKeyHeader { header: name.clone() }
        }
        SecurityScheme::APIKey { .. } => Scheme::Unsupported("an API key in a query or cookie".into()),
        SecurityScheme::HTTP { scheme, .. } => model::http_scheme(scheme),
        SecurityScheme::OAuth2 { flows, .. } => {
            if let Some(flow) = &flows.authorization_code {
                let authorization_url = Some(flow.authorization_url.clone());
                Scheme::OAuth2 {
                    grant: OAuth2Grant::AuthorizationCode,
                    authorization_url,
                    token_url: flow.token_url.clone(),
                }
            } else if let Some(flow) = &flows.client_credentials {
                Scheme::OAuth2 {
                    grant: OAuth2Grant::ClientCredentials,
                    authorization_url: None,
                    token_url: flow.token_url.clone(),
                }
            } else {
                Scheme::Unsupported("OAuth 2 without an authorization code or client credentials flow".into())
            }
        }
        SecurityScheme::OpenIDConnect { .. } => Scheme::Unsupported("OpenID Connect discovery".into()),
    }
}
