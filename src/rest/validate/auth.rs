//! `authentication`: unique references, well-formed fields, the settings each kind needs and
//! none it does not, test endpoints.

use std::collections::BTreeMap;

use super::{Errors, MAX_AUTH_FIELDS, MAX_AUTH_TYPES};
use crate::rest::descriptor::{AuthField, AuthKind, AuthType, OAuth2Grant, Operation};
use crate::rest::headers;
use crate::rest::rules::{self, MAX_NAME};

pub(super) fn check(errors: &mut Errors, auth_types: &[AuthType], operations: &[Operation]) {
    if auth_types.len() > MAX_AUTH_TYPES {
        errors.add("authentication", format!("at most {MAX_AUTH_TYPES} auth types"));
    }
    let references =
        auth_types.iter().enumerate().map(|(i, a)| (format!("authentication[{i}]"), a.reference()));
    errors.unique(references, "auth type reference (its `id`, else its `type`)");
    for (i, auth) in auth_types.iter().enumerate() {
        let at = format!("authentication[{i}]");
        if let Some(id) = &auth.id
            && !rules::is_field_key(id)
        {
            errors.add(format!("{at}.id"), rules::FIELD_KEY_RULE);
        }
        errors.optional_name(format!("{at}.label"), auth.label.as_deref(), MAX_NAME);
        fields(errors, &at, &auth.fields);
        kind_settings(errors, &at, auth);
        if let Some(test) = &auth.test_endpoint {
            let at = format!("{at}.test_endpoint");
            errors.url(format!("{at}.url"), &test.url);
            if !(100..=599).contains(&test.expected_status) {
                errors.add(format!("{at}.expected_status"), "must be an HTTP status, 100–599");
            }
            if let Some(templates) = &test.auth_headers {
                header_templates(errors, &format!("{at}.auth_headers"), templates, auth);
            } else if auth.kind == AuthKind::ApiKey
                && !operations.iter().any(|o| o.auth_type_ref.as_deref() == Some(auth.reference()))
            {
                errors.add(
                    format!("{at}.auth_headers"),
                    "needed: no operation uses this auth type, so none lends its `auth_headers`",
                );
            }
        }
    }
}

fn fields(errors: &mut Errors, at: &str, fields: &[AuthField]) {
    if fields.len() > MAX_AUTH_FIELDS {
        errors.add(format!("{at}.fields"), format!("at most {MAX_AUTH_FIELDS} fields"));
    }
    for (j, field) in fields.iter().enumerate() {
        if !rules::is_field_key(&field.key) {
            errors.add(format!("{at}.fields[{j}].key"), rules::FIELD_KEY_RULE);
        }
        errors.optional_name(format!("{at}.fields[{j}].label"), field.label.as_deref(), MAX_NAME);
    }
    errors.unique(
        fields.iter().enumerate().map(|(j, f)| (format!("{at}.fields[{j}].key"), f.key.as_str())),
        "field key",
    );
}

/// Which settings each kind takes; a setting of another kind is a mistake worth naming.
fn kind_settings(errors: &mut Errors, at: &str, auth: &AuthType) {
    let is = |kind| auth.kind == kind;
    let settings: [(&str, bool, bool); 9] = [
        ("token_field", auth.token_field.is_some(), is(AuthKind::Bearer)),
        ("username_field", auth.username_field.is_some(), is(AuthKind::Basic)),
        ("password_field", auth.password_field.is_some(), is(AuthKind::Basic)),
        ("grant_type", auth.grant_type.is_some(), is(AuthKind::OAuth2)),
        ("token_url", auth.token_url.is_some(), is(AuthKind::OAuth2)),
        (
            "authorization_url",
            auth.authorization_url.is_some(),
            auth.grant_type == Some(OAuth2Grant::AuthorizationCode),
        ),
        ("scopes", !auth.scopes.is_empty(), is(AuthKind::OAuth2)),
        ("client_id_field", auth.client_id_field.is_some(), is(AuthKind::OAuth2)),
        ("client_secret_field", auth.client_secret_field.is_some(), is(AuthKind::OAuth2)),
    ];
    for (name, present, applies) in settings {
        if present && !applies {
            errors.add(
                format!("{at}.{name}"),
                format!("does not apply to a `{}` auth type", auth.kind.as_str()),
            );
        }
    }
    let selectors = [
        &auth.token_field,
        &auth.username_field,
        &auth.password_field,
        &auth.client_id_field,
        &auth.client_secret_field,
    ];
    for key in selectors.into_iter().flatten() {
        if !rules::is_field_key(key) {
            errors.add(format!("{at}.fields"), format!("`{key}`: {}", rules::FIELD_KEY_RULE));
        }
    }
    if auth.kind == AuthKind::OAuth2 {
        oauth2(errors, at, auth);
    }
}

fn oauth2(errors: &mut Errors, at: &str, auth: &AuthType) {
    match auth.grant_type {
        None => errors.add(
            format!("{at}.grant_type"),
            "required for oauth2: `client_credentials` or `authorization_code`",
        ),
        Some(OAuth2Grant::AuthorizationCode) if auth.authorization_url.is_none() => {
            errors.add(format!("{at}.authorization_url"), "required for the authorization_code grant");
        }
        Some(_) => {}
    }
    match &auth.token_url {
        Some(url) => errors.url(format!("{at}.token_url"), url),
        None => errors.add(format!("{at}.token_url"), "required for oauth2"),
    }
    if let Some(url) = &auth.authorization_url {
        errors.url(format!("{at}.authorization_url"), url);
    }
    // RFC 6749 §3.3: a scope token is printable ASCII without space, `"` or `\`.
    let scope_char = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    for (k, scope) in auth.scopes.iter().enumerate() {
        if scope.is_empty() || !scope.chars().all(scope_char) {
            errors.add(
                format!("{at}.scopes[{k}]"),
                "must be a scope token (printable ASCII, no spaces, quotes or backslashes)",
            );
        }
    }
}

/// Header templates: allowed names, no line breaks, and every `{field}` one of the auth
/// type's fields.
pub(super) fn header_templates(
    errors: &mut Errors,
    at: &str,
    templates: &BTreeMap<String, String>,
    auth: &AuthType,
) {
    let keys = auth.placeholder_keys();
    for (name, template) in templates {
        let field = format!("{at}.{name}");
        if !headers::auth_header_allowed(name) {
            errors.add(
                field.clone(),
                "is not a header an auth header may set (framing and routing headers are refused)",
            );
        }
        if !headers::is_header_value(template) {
            errors.add(field.clone(), "must not contain line breaks or control characters");
        }
        match rules::placeholders(template) {
            Err(why) => errors.add(field, why),
            Ok(found) => {
                for p in found.iter().filter(|p| !keys.contains(&p.name)) {
                    let known = keys.join(", ");
                    errors.add(
                        field.clone(),
                        format!(
                            "`{{{}}}` is not a field of auth type `{}` (fields: {known})",
                            p.name,
                            auth.reference()
                        ),
                    );
                }
            }
        }
    }
}
