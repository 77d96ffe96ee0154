//! The import's [`Api`] → a descriptor draft that validates.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use url::Url;

use super::model::{Api, ApiOperation, ApiParameter, Requirement, Scheme, Warning};
use super::names::{self, clean, truncate, unique};
use super::{ImportError, ImportOptions, Imported};
use crate::rest::descriptor::*;
use crate::rest::rules::{self, MAX_DESCRIPTION, MAX_NAME, MAX_TOOL_NAME};
use crate::rest::validate::{self, MAX_OPERATIONS};
use crate::rest::{FieldError, headers};

pub fn descriptor(api: Api, options: &ImportOptions) -> Result<Imported, ImportError> {
    let base = match options.base_url.as_deref() {
        Some(base) => Some(rules::check_absolute_url(base).map_err(ImportError::BadBaseUrl)?),
        None => None,
    };
    let mut builder = Builder::new(&api, base);
    for (op, id) in select(&api, options)? {
        builder.add(op, id)?;
    }
    let Builder { operations, mappings, auth, mut warnings, .. } = builder;
    let mut descriptor = skeleton(&api);
    descriptor.operations = operations;
    descriptor.mcp_config.route_mappings = mappings;
    descriptor.authentication = auth.into_iter().map(|entry| entry.auth).collect();
    if !descriptor.authentication.is_empty() {
        warnings.push(Warning::new(
            "authentication",
            "OpenAPI has no test endpoint: add a `test_endpoint` so connect can check a credential",
        ));
    }
    let descriptor = heal(descriptor, &mut warnings)?;
    Ok(Imported { descriptor, warnings })
}

/// The operations `include` / `exclude` keep, each with its unique operation id.
fn select<'a>(api: &'a Api, options: &ImportOptions) -> Result<Vec<(&'a ApiOperation, String)>, ImportError> {
    let mut taken = HashSet::new();
    let mut selected = Vec::new();
    for op in &api.operations {
        let generated = || names::from_method_and_path(op.method.as_str(), &op.path);
        let id = names::one_line(op.operation_id.as_deref(), MAX_NAME).unwrap_or_else(generated);
        let named = |list: &[String]| list.iter().any(|n| *n == id || op.tags.contains(n));
        if (!options.include.is_empty() && !named(&options.include)) || named(&options.exclude) {
            continue;
        }
        selected.push((op, unique(&id, &mut taken, MAX_NAME)));
    }
    if selected.is_empty() {
        let why = if options.include.is_empty() && options.exclude.is_empty() {
            ""
        } else {
            " after `include` / `exclude`"
        };
        return Err(ImportError::NoOperations(why));
    }
    if selected.len() > MAX_OPERATIONS {
        return Err(ImportError::TooManyOperations { count: selected.len(), max: MAX_OPERATIONS });
    }
    Ok(selected)
}

/// Metadata and `mcp_config` from the document's `info`.
fn skeleton(api: &Api) -> Descriptor {
    let title = names::one_line(Some(&api.title), MAX_NAME).unwrap_or_else(|| "Imported API".into());
    let description = clean(api.description.as_deref()).map(|d| truncate(&d, MAX_DESCRIPTION));
    let server_name = names::tool_name(&title.to_ascii_lowercase());
    Descriptor {
        metadata: Metadata {
            name: truncate(&title, MAX_NAME),
            slug: names::slug(&title),
            version: clean(api.version.as_deref())
                .filter(|v| rules::has_length(v, MAX_NAME) && !rules::has_control(v)),
            description: description.clone(),
            ..Metadata::default()
        },
        authentication: Vec::new(),
        operations: Vec::new(),
        capabilities: None,
        rate_limits: Vec::new(),
        sla: None,
        mcp_config: McpConfig {
            enabled: true,
            server_name: Some(if server_name.is_empty() { "openapi_import".into() } else { server_name }),
            server_description: Some(description.unwrap_or_else(|| truncate(&title, MAX_DESCRIPTION))),
            route_mappings: Vec::new(),
        },
    }
}

/// An auth type made from a security scheme, and the header an API key goes in.
struct AuthEntry {
    scheme: String,
    auth: AuthType,
    header: Option<String>,
}

struct Builder<'a> {
    api: &'a Api,
    base: Option<Url>,
    warnings: Vec<Warning>,
    operations: Vec<Operation>,
    mappings: Vec<RouteMapping>,
    tool_names: HashSet<String>,
    auth: Vec<AuthEntry>,
    auth_ids: HashSet<String>,
    /// Schemes already found unusable (warned about once).
    unusable: HashSet<String>,
}

impl<'a> Builder<'a> {
    fn new(api: &'a Api, base: Option<Url>) -> Self {
        Self {
            api,
            base,
            warnings: api.warnings.clone(),
            operations: Vec::new(),
            mappings: Vec::new(),
            tool_names: HashSet::new(),
            auth: Vec::new(),
            auth_ids: HashSet::new(),
            unusable: HashSet::new(),
        }
    }

    fn add(&mut self, op: &'a ApiOperation, id: String) -> Result<(), ImportError> {
        let at = format!("{} {}", op.method.as_str(), op.path);
        if op.path.contains('#') {
            // Some documents tell apart operations on one path by a fragment; it is never sent.
            self.warnings.push(Warning::new(&at, "the `#…` part of the path is dropped"));
        }
        let endpoint = self.endpoint(op)?;
        let auth = self.auth_for(op, &at);
        let reference = auth.map(|i| self.auth[i].auth.reference().to_owned());
        let auth_headers: BTreeMap<String, String> = auth
            .and_then(|i| {
                self.auth[i]
                    .header
                    .as_ref()
                    .map(|h| (h.clone(), format!("{{{}}}", self.auth[i].auth.fields[0].key)))
            })
            .into_iter()
            .collect();
        let Some(parameters) = self.parameters(op, &at, &auth_headers) else { return Ok(()) };
        let parameter_mappings = argument_mappings(&parameters);
        let tool = names::tool_name(&id);
        let tool =
            if tool.is_empty() { names::from_method_and_path(op.method.as_str(), &op.path) } else { tool };
        let summary = clean(op.summary.as_deref()).map(|s| truncate(&s, MAX_DESCRIPTION));
        let description = clean(op.description.as_deref()).map(|s| truncate(&s, MAX_DESCRIPTION));
        let tool_description =
            summary.clone().or(description.clone()).unwrap_or_else(|| format!("Calls {at}."));
        self.mappings.push(RouteMapping {
            operation_id: id.clone(),
            mcp_tool_name: unique(&tool, &mut self.tool_names, MAX_TOOL_NAME),
            mcp_tool_description: tool_description,
            parameter_mappings,
        });
        let method = op.method;
        self.operations.push(Operation {
            operation_id: id,
            endpoint,
            method,
            summary,
            description,
            auth_type_ref: reference,
            auth_headers,
            parameters,
        });
        Ok(())
    }

    /// The operation's server (or the document's), made absolute with `base_url`.
    fn endpoint(&self, op: &ApiOperation) -> Result<String, ImportError> {
        let server = op.server.as_deref().or(self.api.server.as_deref()).unwrap_or("/");
        let base = match (rules::check_absolute_url(server), &self.base) {
            (Ok(_), Some(base)) => base.as_str().to_owned(),
            (Ok(_), None) => server.to_owned(),
            (Err(_), Some(base)) => {
                base.join(server).map_err(|_| ImportError::RelativeServer(server.into()))?.to_string()
            }
            (Err(_), None) => return Err(ImportError::RelativeServer(server.into())),
        };
        let path = op.path.split('#').next().unwrap_or_default();
        Ok(format!("{}{path}", base.trim_end_matches('/')))
    }

    /// The first of the operation's security alternatives a descriptor can express: one
    /// supported scheme, or none at all.
    fn auth_for(&mut self, op: &ApiOperation, at: &str) -> Option<usize> {
        let requirements: &[Requirement] = op.security.as_deref().unwrap_or(&self.api.security);
        for requirement in requirements {
            match requirement.as_slice() {
                [] => return None,
                [(scheme, scopes)] => {
                    if let Some(i) = self.auth_type(scheme) {
                        let valid = scopes.iter().filter(|s| {
                            !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
                        });
                        self.auth[i].auth.scopes.extend(valid.cloned());
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        if !requirements.is_empty() {
            self.warnings.push(Warning::new(
                at,
                "none of its security requirements can be expressed; imported without authentication",
            ));
        }
        None
    }

    /// The auth type for `scheme`, made on first use; `None` when it cannot be expressed.
    fn auth_type(&mut self, scheme: &str) -> Option<usize> {
        if let Some(i) = self.auth.iter().position(|e| e.scheme == scheme) {
            return Some(i);
        }
        if self.unusable.contains(scheme) {
            return None;
        }
        let Some((_, found)) = self.api.schemes.iter().find(|(name, _)| name == scheme) else {
            self.unusable.insert(scheme.to_owned());
            self.warnings.push(Warning::new(
                "components.securitySchemes",
                format!("`{scheme}` is required but not defined"),
            ));
            return None;
        };
        let key = unique(&names::field_key(scheme), &mut self.auth_ids, 40);
        match auth_from_scheme(&key, scheme, found) {
            Ok((auth, header)) => {
                let code = |a: &AuthType| a.grant_type == Some(OAuth2Grant::AuthorizationCode);
                if code(&auth) && self.auth.iter().any(|e| code(&e.auth)) {
                    let message = format!(
                        "`{scheme}` is a second auth type with the authorization code grant; a REST connector holds one authorization, so saving the draft answers 422 `rest_oauth2_unsupported` until one is removed"
                    );
                    self.warnings.push(Warning::new("components.securitySchemes", message));
                }
                self.auth.push(AuthEntry { scheme: scheme.to_owned(), auth, header });
                Some(self.auth.len() - 1)
            }
            Err(why) => {
                self.unusable.insert(scheme.to_owned());
                let message = format!(
                    "security scheme `{scheme}` ({why}) is not supported; operations using it are imported without it"
                );
                self.warnings.push(Warning::new("components.securitySchemes", message));
                None
            }
        }
    }

    /// The operation's parameters, fixed up to validate; `None` leaves the operation out.
    fn parameters(
        &mut self,
        op: &ApiOperation,
        at: &str,
        auth_headers: &BTreeMap<String, String>,
    ) -> Option<Vec<Parameter>> {
        let placeholders: Vec<String> =
            match rules::placeholders(op.path.split('#').next().unwrap_or_default()) {
                Ok(found) => found.into_iter().map(|p| p.name).collect(),
                Err(why) => {
                    self.warnings
                        .push(Warning::new(at, format!("left out: its path template is not usable ({why})")));
                    return None;
                }
            };
        let mut out: Vec<Parameter> = Vec::new();
        for p in &op.parameters {
            let Some(parameter) = self.parameter(p, op, at, &placeholders, auth_headers) else { continue };
            let same = |q: &Parameter| {
                q.location == parameter.location && q.name.eq_ignore_ascii_case(&parameter.name)
            };
            if out.iter().any(same) {
                self.warnings.push(Warning::new(
                    at,
                    format!(
                        "{} parameter `{}` is declared twice; the first is kept",
                        p.location.as_str(),
                        p.name
                    ),
                ));
            } else {
                out.push(parameter);
            }
        }
        for name in placeholders {
            if !out.iter().any(|p| p.location == Location::Path && p.name == name) {
                self.warnings.push(Warning::new(
                    at,
                    format!("`{{{name}}}` in the path is not declared; added as a string parameter"),
                ));
                out.push(Parameter {
                    name,
                    location: Location::Path,
                    field_type: FieldType::String,
                    required: true,
                    default_value: None,
                    description: None,
                });
            }
        }
        Some(out)
    }

    /// One parameter as the descriptor can take it, or `None` (with a warning) when it cannot.
    fn parameter(
        &mut self,
        p: &ApiParameter,
        op: &ApiOperation,
        at: &str,
        placeholders: &[String],
        auth_headers: &BTreeMap<String, String>,
    ) -> Option<Parameter> {
        let skip = |why: &str| {
            Warning::new(at, format!("{} parameter `{}` not imported: {why}", p.location.as_str(), p.name))
        };
        // A path segment is text whatever the schema says; an object there arrives serialized.
        let field_type = match p.field_type.unwrap_or(FieldType::String) {
            FieldType::Object if p.location == Location::Path => FieldType::String,
            other => other,
        };
        let why = if !rules::has_length(&p.name, MAX_NAME) || rules::has_control(&p.name) {
            Some("its name is empty, too long or has control characters")
        } else if p.location == Location::Path && !placeholders.contains(&p.name) {
            Some("the path has no placeholder for it")
        } else if p.location == Location::Header && !headers::parameter_header_allowed(&p.name) {
            Some("the header is not on the parameter header allow-list")
        } else if p.location == Location::Header
            && auth_headers.keys().any(|h| h.eq_ignore_ascii_case(&p.name))
        {
            Some("the header carries the credential")
        } else if p.location == Location::Body && !op.method.allows_body() {
            Some("this method sends no body")
        } else if field_type == FieldType::Object && p.location != Location::Body {
            Some("objects are only supported in the body")
        } else {
            None
        };
        if let Some(why) = why {
            self.warnings.push(skip(why));
            return None;
        }
        Some(Parameter {
            name: p.name.clone(),
            location: p.location,
            field_type,
            required: p.required || p.location == Location::Path,
            default_value: p.default.clone().filter(|d| field_type.accepts(d)),
            description: clean(p.description.as_deref()).map(|d| truncate(&d, MAX_DESCRIPTION)),
        })
    }
}

/// Makes the auth type `key` for security scheme `name`.
fn auth_from_scheme(key: &str, name: &str, scheme: &Scheme) -> Result<(AuthType, Option<String>), String> {
    let secret = |key: String, label: &str| AuthField {
        key,
        label: Some(label.to_owned()),
        field_type: AuthFieldType::Secret,
        required: true,
        secret: Some(true),
    };
    let plain = |key: String, label: &str| AuthField {
        key,
        label: Some(label.to_owned()),
        field_type: AuthFieldType::String,
        required: true,
        secret: Some(false),
    };
    let (mut auth, header) = match scheme {
        Scheme::ApiKeyHeader { header } if headers::auth_header_allowed(header) => {
            let mut auth = AuthType::new(AuthKind::ApiKey);
            let label = names::one_line(Some(name), MAX_NAME);
            auth.fields = vec![secret(key.to_owned(), label.as_deref().unwrap_or("API key"))];
            (auth, Some(header.clone()))
        }
        Scheme::ApiKeyHeader { header } => return Err(format!("an API key in the `{header}` header")),
        Scheme::Bearer => {
            let mut auth = AuthType::new(AuthKind::Bearer);
            auth.token_field = Some(key.to_owned());
            auth.fields = vec![secret(key.to_owned(), "Bearer token")];
            (auth, None)
        }
        Scheme::Basic => {
            let mut auth = AuthType::new(AuthKind::Basic);
            auth.username_field = Some(format!("{key}_username"));
            auth.password_field = Some(format!("{key}_password"));
            auth.fields = vec![
                plain(format!("{key}_username"), "User name"),
                secret(format!("{key}_password"), "Password"),
            ];
            (auth, None)
        }
        Scheme::OAuth2 { grant, authorization_url, token_url } => {
            (oauth2(key, *grant, authorization_url.as_deref(), token_url)?, None)
        }
        Scheme::Unsupported(why) => return Err(why.clone()),
    };
    auth.id = Some(key.to_owned());
    auth.label = names::one_line(Some(name), MAX_NAME);
    Ok((auth, header))
}

fn oauth2(
    key: &str,
    grant: OAuth2Grant,
    authorization_url: Option<&str>,
    token_url: &str,
) -> Result<AuthType, String> {
    let absolute = |url: &str| {
        rules::check_absolute_url(url)
            .map(|_| url.to_owned())
            .map_err(|why| format!("endpoint `{url}` {why}"))
    };
    let mut auth = AuthType::new(AuthKind::OAuth2);
    auth.grant_type = Some(grant);
    auth.token_url = Some(absolute(token_url)?);
    auth.authorization_url = authorization_url.map(absolute).transpose()?;
    auth.client_id_field = Some(format!("{key}_client_id"));
    auth.client_secret_field = Some(format!("{key}_client_secret"));
    Ok(auth)
}

/// Argument names for parameters whose own name is not a valid one or is already taken;
/// a mapping key is qualified (`body:id`) when the name exists in two locations.
fn argument_mappings(parameters: &[Parameter]) -> BTreeMap<String, String> {
    let mut taken = HashSet::new();
    let mut mappings = BTreeMap::new();
    for p in parameters {
        let mut wanted = names::tool_name(&p.name);
        if wanted.is_empty() || taken.contains(&wanted) {
            wanted = names::tool_name(&format!("{}_{wanted}", p.location.as_str()));
        }
        let argument = unique(&wanted, &mut taken, MAX_TOOL_NAME);
        if argument != p.name {
            let shared = parameters.iter().filter(|q| q.name == p.name).count() > 1;
            let key = if shared { format!("{}:{}", p.location.as_str(), p.name) } else { p.name.clone() };
            mappings.insert(key, argument);
        }
    }
    mappings
}

/// Validates the draft; operations that still break a rule are left out (with a warning
/// naming the rule), so one odd operation does not sink a whole document.
fn heal(mut descriptor: Descriptor, warnings: &mut Vec<Warning>) -> Result<Descriptor, ImportError> {
    for auth in &mut descriptor.authentication {
        auth.scopes =
            std::mem::take(&mut auth.scopes).into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    }
    let Err(errors) = validate::validate(&descriptor) else { return Ok(descriptor) };
    let mut bad = BTreeSet::new();
    let mut other: Vec<FieldError> = Vec::new();
    for error in errors {
        match operation_index(&error.field) {
            Some(i) if i < descriptor.operations.len() => {
                if bad.insert(i) {
                    let op = &descriptor.operations[i];
                    let at = format!("{} {}", op.method.as_str(), op.endpoint);
                    warnings.push(Warning::new(at, format!("left out: {}: {}", error.field, error.message)));
                }
            }
            _ => other.push(error),
        }
    }
    if !other.is_empty() {
        return Err(ImportError::Draft(other));
    }
    let keep = |i: &usize| !bad.contains(i);
    descriptor.operations =
        descriptor.operations.into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, o)| o).collect();
    let mappings = std::mem::take(&mut descriptor.mcp_config.route_mappings);
    descriptor.mcp_config.route_mappings =
        mappings.into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, m)| m).collect();
    if descriptor.operations.is_empty() {
        return Err(ImportError::NoOperations(" that a descriptor can express"));
    }
    validate::validate(&descriptor).map_err(ImportError::Draft)?;
    Ok(descriptor)
}

/// `operations[3]…` or `mcp_config.route_mappings[3]…` → 3 (mappings and operations pair up).
fn operation_index(field: &str) -> Option<usize> {
    let rest =
        field.strip_prefix("operations[").or_else(|| field.strip_prefix("mcp_config.route_mappings["))?;
    rest[..rest.find(']')?].parse().ok()
}
