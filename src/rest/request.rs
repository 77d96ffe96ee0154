//! A tool call → the outbound HTTP request, as plain data (nothing is sent here).
//!
//! Arguments arrive under their tool names, already checked against the input schema; each
//! goes back to its parameter and its location. A missing argument takes the parameter's
//! default. Path values are percent-encoded as whole segments (`/` included, so a value can
//! never add a segment; `.` and `..` are refused, as URL parsers would resolve them), query
//! values are form-encoded (arrays repeat the key), header values must be on the allow-list
//! of [`super::headers`] and free of line breaks. The credential fills the auth headers'
//! `{field}` placeholders; bearer, basic and OAuth 2 set `Authorization` unless an auth
//! header already does.

use std::collections::BTreeMap;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::descriptor::{
    ACCESS_TOKEN_FIELD, AuthKind, AuthType, Descriptor, HttpMethod, Location, Operation, Parameter,
};
use super::headers;
use super::rules;
use super::schema::ArgumentMap;

/// The opened credential: field key → value.
pub type Credentials = BTreeMap<String, SecretString>;

/// Everything but the unreserved characters of RFC 3986 is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What to send.
#[derive(Debug)]
pub struct OutboundRequest {
    pub method: HttpMethod,
    pub url: Url,
    /// Headers from parameters, and `Accept` / `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// Headers carrying the credential: send them marked sensitive, never log them.
    pub auth_headers: Vec<(String, SecretString)>,
    /// The JSON body (an object of the body parameters), when the operation has any.
    pub body: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("missing required argument `{0}`")]
    MissingArgument(String),
    #[error("unknown argument `{0}`")]
    UnknownArgument(String),
    #[error("argument `{argument}`: {reason}")]
    InvalidArgument { argument: String, reason: String },
    #[error("operation needs auth type `{0}`, which was not given")]
    MissingAuthType(String),
    #[error("the credential has no `{0}` field")]
    MissingCredential(String),
    #[error("the credential's `{0}` field cannot be used: {1}")]
    InvalidCredential(String, &'static str),
    #[error("header `{0}` would carry a line break or control character")]
    InvalidHeaderValue(String),
    #[error("header `{0}` may not be set by a tool argument")]
    HeaderNotAllowed(String),
    #[error("the endpoint does not make a valid URL: {0}")]
    InvalidUrl(String),
}

/// One call: the operation, its auth type (looked up by `auth_type_ref`), the credential, and
/// the arguments with the tool's argument map.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub operation: &'a Operation,
    pub auth: Option<&'a AuthType>,
    pub credentials: &'a Credentials,
    pub arguments: &'a Map<String, Value>,
    pub argument_map: &'a ArgumentMap,
}

/// Builds the request for `call`.
pub fn build(call: &Call) -> Result<OutboundRequest, RequestError> {
    let values = values(call)?;
    let url = url(&call.operation.endpoint, &values)?;
    let mut headers = parameter_headers(&values)?;
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("accept")) {
        headers.push(("Accept".into(), "application/json".into()));
    }
    let has_body = call.operation.parameters.iter().any(|p| p.location == Location::Body);
    let body = has_body.then(|| {
        let fields = values.iter().filter(|(p, _)| p.location == Location::Body);
        Value::Object(fields.map(|(p, v)| (p.name.clone(), (*v).clone())).collect())
    });
    if body.is_some() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let auth_headers = match (&call.operation.auth_type_ref, call.auth) {
        (None, _) => Vec::new(),
        (Some(reference), None) => return Err(RequestError::MissingAuthType(reference.clone())),
        (Some(_), Some(auth)) => auth_headers(auth, &call.operation.auth_headers, call.credentials)?,
    };
    Ok(OutboundRequest { method: call.operation.method, url, headers, auth_headers, body })
}

/// The request that tests `auth`'s credential: its `test_endpoint`, with its own auth headers
/// or else those of the first operation using this auth type. `None` without a test endpoint.
pub fn build_test(
    descriptor: &Descriptor,
    auth: &AuthType,
    credentials: &Credentials,
) -> Option<Result<OutboundRequest, RequestError>> {
    let test = auth.test_endpoint.as_ref()?;
    let borrowed =
        descriptor.operations.iter().find(|o| o.auth_type_ref.as_deref() == Some(auth.reference()));
    let empty = BTreeMap::new();
    let templates = test.auth_headers.as_ref().or(borrowed.map(|o| &o.auth_headers)).unwrap_or(&empty);
    let request = |url: Url| -> Result<OutboundRequest, RequestError> {
        let auth_headers = auth_headers(auth, templates, credentials)?;
        let headers = vec![("Accept".into(), "application/json".into())];
        Ok(OutboundRequest { method: test.method, url, headers, auth_headers, body: None })
    };
    Some(Url::parse(&test.url).map_err(|e| RequestError::InvalidUrl(e.to_string())).and_then(request))
}

/// Each parameter with its value (the argument, else its default); absent optional ones are
/// left out. `null` counts as absent.
fn values<'a>(call: &Call<'a>) -> Result<Vec<(&'a Parameter, &'a Value)>, RequestError> {
    if let Some(unknown) = call.arguments.keys().find(|k| !call.argument_map.contains_key(*k)) {
        return Err(RequestError::UnknownArgument(unknown.clone()));
    }
    let mut values = Vec::new();
    for p in &call.operation.parameters {
        let argument = call
            .argument_map
            .iter()
            .find(|(_, r)| r.location == p.location && r.name == p.name)
            .map_or(p.name.as_str(), |(name, _)| name.as_str());
        let given = call.arguments.get(argument).filter(|v| !v.is_null());
        match given.or(p.default_value.as_ref()) {
            Some(value) => values.push((p, value)),
            None if p.is_required() => return Err(RequestError::MissingArgument(argument.to_owned())),
            None => {}
        }
    }
    Ok(values)
}

/// A scalar as text: strings as they are, numbers and booleans as JSON writes them.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Path and header form of a value: arrays joined with commas (OpenAPI's `simple` style).
fn joined(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => text(other),
    }
}

fn url(endpoint: &str, values: &[(&Parameter, &Value)]) -> Result<Url, RequestError> {
    let path_value = |name: &str| {
        let found = values.iter().find(|(p, _)| p.location == Location::Path && p.name == name);
        let value =
            found.map(|(_, v)| joined(v)).ok_or_else(|| RequestError::MissingArgument(name.to_owned()))?;
        if value.is_empty() || value == "." || value == ".." {
            let reason = "a path segment may not be empty, `.` or `..`".into();
            return Err(RequestError::InvalidArgument { argument: name.to_owned(), reason });
        }
        Ok(utf8_percent_encode(&value, SEGMENT).to_string())
    };
    let filled = rules::fill(endpoint, path_value)?;
    let mut url = Url::parse(&filled).map_err(|e| RequestError::InvalidUrl(e.to_string()))?;
    let query: Vec<(&str, String)> = values
        .iter()
        .filter(|(p, _)| p.location == Location::Query)
        .flat_map(|(p, v)| match v {
            Value::Array(items) => items.iter().map(|i| (p.name.as_str(), text(i))).collect::<Vec<_>>(),
            other => vec![(p.name.as_str(), text(other))],
        })
        .collect();
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

fn parameter_headers(values: &[(&Parameter, &Value)]) -> Result<Vec<(String, String)>, RequestError> {
    let mut out = Vec::new();
    for (p, value) in values.iter().filter(|(p, _)| p.location == Location::Header) {
        if !headers::parameter_header_allowed(&p.name) {
            return Err(RequestError::HeaderNotAllowed(p.name.clone()));
        }
        let value = joined(value);
        if !headers::is_header_value(&value) {
            return Err(RequestError::InvalidHeaderValue(p.name.clone()));
        }
        out.push((p.name.clone(), value));
    }
    Ok(out)
}

fn credential<'c>(credentials: &'c Credentials, key: &str) -> Result<&'c str, RequestError> {
    credentials
        .get(key)
        .map(|s| s.expose_secret())
        .ok_or_else(|| RequestError::MissingCredential(key.to_owned()))
}

/// The auth headers: templates filled from the credential, then the kind's `Authorization`
/// unless a template set one. Every value is checked for line breaks: a credential is data
/// from outside too.
fn auth_headers(
    auth: &AuthType,
    templates: &BTreeMap<String, String>,
    credentials: &Credentials,
) -> Result<Vec<(String, SecretString)>, RequestError> {
    let mut out = Vec::new();
    for (name, template) in templates {
        let value = rules::fill(template, |key| credential(credentials, key).map(str::to_owned))?;
        out.push((name.clone(), value));
    }
    if !templates.keys().any(|h| h.eq_ignore_ascii_case("authorization"))
        && let Some(value) = authorization(auth, credentials)?
    {
        out.push(("Authorization".into(), value));
    }
    out.into_iter()
        .map(|(name, value)| {
            if headers::is_header_value(&value) {
                Ok((name, SecretString::from(value)))
            } else {
                Err(RequestError::InvalidHeaderValue(name))
            }
        })
        .collect()
}

fn authorization(auth: &AuthType, credentials: &Credentials) -> Result<Option<String>, RequestError> {
    Ok(match auth.kind {
        AuthKind::ApiKey => None,
        AuthKind::Bearer => Some(format!("Bearer {}", credential(credentials, auth.token_field())?)),
        AuthKind::OAuth2 => Some(format!("Bearer {}", credential(credentials, ACCESS_TOKEN_FIELD)?)),
        AuthKind::Basic => {
            let user = credential(credentials, auth.username_field())?;
            if user.contains(':') {
                return Err(RequestError::InvalidCredential(
                    auth.username_field().to_owned(),
                    "basic auth user names cannot contain `:`",
                ));
            }
            let password = credential(credentials, auth.password_field())?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(format!("Basic {encoded}"))
        }
    })
}

#[cfg(test)]
mod tests;
