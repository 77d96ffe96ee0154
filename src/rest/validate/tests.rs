//! One test per rule, each starting from the seed's valid example and breaking one thing.

use serde_json::json;

use super::validate;
use crate::rest::FieldError;
use crate::rest::descriptor::*;
use crate::rest::testdata::ticket_system;

fn errors(descriptor: &Descriptor) -> Vec<FieldError> {
    validate(descriptor).err().unwrap_or_default()
}

/// Asserts that validation reports `field` with a message containing `needle`.
#[track_caller]
fn assert_error(descriptor: &Descriptor, field: &str, needle: &str) {
    let errors = errors(descriptor);
    assert!(
        errors.iter().any(|e| e.field == field && e.message.contains(needle)),
        "expected {field}: …{needle}…, got {errors:#?}"
    );
}

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

#[test]
fn the_seed_example_is_valid() {
    assert_eq!(errors(&ticket_system()), []);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut d = ticket_system();
    d.metadata.name = String::new();
    d.mcp_config.server_name = None;
    d.mcp_config.route_mappings[0].operation_id = "nope".into();
    d.operations[1].endpoint = "https://tickets.internal.com/api/v1/tickets/{id}".into();
    assert_eq!(errors(&d).len(), 5, "{:#?}", errors(&d)); // the endpoint counts twice: both directions
}

#[test]
fn a_route_mapping_names_an_existing_operation() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[2].operation_id = "delete_ticket".into();
    assert_error(&d, "mcp_config.route_mappings[2].operation_id", "no operation `delete_ticket`");
}

#[test]
fn tool_names_are_unique() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[2].mcp_tool_name = "get_ticket".into();
    assert_error(
        &d,
        "mcp_config.route_mappings[2].mcp_tool_name",
        "already used at mcp_config.route_mappings[1]",
    );
}

#[test]
fn tool_names_follow_the_mcp_rule() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[0].mcp_tool_name = "search tickets".into();
    d.mcp_config.route_mappings[1].mcp_tool_name = "a".repeat(65);
    d.mcp_config.route_mappings[2].mcp_tool_name = "a".repeat(101);
    assert_error(&d, "mcp_config.route_mappings[0].mcp_tool_name", "MCP tool name rule");
    assert_error(&d, "mcp_config.route_mappings[1].mcp_tool_name", "MCP tool name rule");
    assert_error(&d, "mcp_config.route_mappings[2].mcp_tool_name", "1–100 characters");
}

#[test]
fn server_name_and_description_are_required_when_enabled() {
    let mut d = ticket_system();
    d.mcp_config.server_name = None;
    d.mcp_config.server_description = None;
    assert_error(&d, "mcp_config.server_name", "required when `enabled`");
    assert_error(&d, "mcp_config.server_description", "required when `enabled`");
    d.mcp_config.enabled = false;
    assert_eq!(errors(&d), []);
}

#[test]
fn names_are_1_to_100_and_descriptions_1_to_500_characters() {
    let mut d = ticket_system();
    d.metadata.name = "n".repeat(101);
    d.mcp_config.server_name = Some(String::new());
    d.mcp_config.server_description = Some("d".repeat(501));
    d.mcp_config.route_mappings[0].mcp_tool_description = String::new();
    d.operations[0].summary = Some("s".repeat(501));
    d.operations[0].parameters[0].description = Some(String::new());
    d.operations[0].operation_id = "o".repeat(101);
    d.operations[0].parameters[1].name = "line\nbreak".into();
    assert_error(&d, "metadata.name", "1–100 characters");
    assert_error(&d, "mcp_config.server_name", "1–100 characters");
    assert_error(&d, "mcp_config.server_description", "1–500 characters");
    assert_error(&d, "mcp_config.route_mappings[0].mcp_tool_description", "1–500 characters");
    assert_error(&d, "operations[0].summary", "1–500 characters");
    assert_error(&d, "operations[0].parameters[0].description", "1–500 characters");
    assert_error(&d, "operations[0].operation_id", "1–100 characters");
    assert_error(&d, "operations[0].parameters[1].name", "control characters");
}

#[test]
fn operation_ids_are_unique() {
    let mut d = ticket_system();
    d.operations[2].operation_id = "search_tickets".into();
    assert_error(
        &d,
        "operations[2].operation_id",
        "operation_id `search_tickets` is already used at operations[0]",
    );
}

#[test]
fn endpoint_placeholders_match_path_parameters_both_ways() {
    let mut d = ticket_system();
    d.operations[1].endpoint = "https://tickets.internal.com/api/v1/tickets/{id}".into();
    assert_error(&d, "operations[1].endpoint", "`{id}` has no path parameter `id`");
    assert_error(&d, "operations[1].parameters[0].name", "path parameter `ticket_id` has no `{ticket_id}`");
}

#[test]
fn placeholders_stay_in_the_path_and_are_well_formed() {
    let mut d = ticket_system();
    d.operations[1].endpoint = "https://{ticket_id}.internal.com/api/v1/tickets".into();
    assert_error(&d, "operations[1].endpoint", "must be in the URL's path");
    d.operations[1].endpoint = "https://tickets.internal.com/api?id={ticket_id}".into();
    assert_error(&d, "operations[1].endpoint", "must be in the URL's path");
    d.operations[1].endpoint = "https://tickets.internal.com/{ticket_id".into();
    assert_error(&d, "operations[1].endpoint", "never closed");
    d.operations[1].endpoint = "https://tickets.internal.com/{ticket_id}/copy/{ticket_id}".into();
    assert_eq!(errors(&d), [], "a placeholder may repeat");
}

#[test]
fn urls_are_absolute_http() {
    let mut d = ticket_system();
    d.operations[0].endpoint = "/api/v1/tickets".into();
    d.operations[2].endpoint = "ftp://tickets.internal.com/x".into();
    d.authentication[0].test_endpoint.as_mut().unwrap().url = "tickets.internal.com/me".into();
    assert_error(&d, "operations[0].endpoint", "absolute http(s) URL");
    assert_error(&d, "operations[2].endpoint", "http or https");
    assert_error(&d, "authentication[0].test_endpoint.url", "absolute http(s) URL");
}

#[test]
fn auth_header_fields_exist_in_the_referenced_auth_type() {
    let mut d = ticket_system();
    d.operations[0].auth_headers.insert("X-API-Key".into(), "{apikey}".into());
    assert_error(
        &d,
        "operations[0].auth_headers.X-API-Key",
        "`{apikey}` is not a field of auth type `api_key`",
    );
}

#[test]
fn the_auth_type_ref_exists_and_auth_headers_need_one() {
    let mut d = ticket_system();
    d.operations[0].auth_type_ref = Some("oauth".into());
    d.operations[1].auth_type_ref = None;
    assert_error(&d, "operations[0].auth_type_ref", "no auth type `oauth` (known: api_key)");
    assert_error(&d, "operations[1].auth_headers", "needs an `auth_type_ref`");
}

#[test]
fn auth_headers_may_not_frame_the_request_nor_break_lines() {
    let mut d = ticket_system();
    d.operations[0].auth_headers.insert("Host".into(), "{api_key}".into());
    d.operations[1].auth_headers.insert("X-Extra".into(), "a\r\nInjected: 1".into());
    assert_error(&d, "operations[0].auth_headers.Host", "not a header an auth header may set");
    assert_error(&d, "operations[1].auth_headers.X-Extra", "line breaks");
}

#[test]
fn parameter_names_are_unique_per_location() {
    let mut d = ticket_system();
    d.operations[0].parameters.push(param("status", Location::Query));
    d.operations[0].parameters.push(param("X-Trace", Location::Header));
    d.operations[0].parameters.push(param("x-trace", Location::Header));
    assert_error(
        &d,
        "operations[0].parameters[3].name",
        "parameter `query status` is already used at operations[0].parameters[0].name",
    );
    assert_error(&d, "operations[0].parameters[5].name", "already used");
}

#[test]
fn header_parameters_come_from_the_allow_list_and_never_override_auth() {
    let mut d = ticket_system();
    d.operations[0].parameters.push(param("Authorization", Location::Header));
    d.operations[0].parameters.push(param("X-API-Key", Location::Header));
    assert_error(&d, "operations[0].parameters[3].name", "allow-list");
    assert_error(&d, "operations[0].parameters[4].name", "must not override the credential");
}

#[test]
fn objects_only_in_the_body_and_no_body_on_get() {
    let mut d = ticket_system();
    d.operations[0].parameters[0].field_type = FieldType::Object;
    d.operations[0].parameters.push(param("title", Location::Body));
    assert_error(&d, "operations[0].parameters[0].field_type", "only for body parameters");
    assert_error(&d, "operations[0].parameters[3].location", "a GET request has no body");
}

#[test]
fn default_values_match_the_field_type() {
    let mut d = ticket_system();
    d.operations[0].parameters[2].default_value = Some(json!("25"));
    d.operations[2].parameters[2].default_value = Some(json!(3));
    assert_error(&d, "operations[0].parameters[2].default_value", "must be of field_type `integer`");
    assert_error(&d, "operations[2].parameters[2].default_value", "must be of field_type `string`");
}

#[test]
fn parameter_mappings_name_real_parameters() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[1].parameter_mappings.insert("ticket".into(), "id".into());
    assert_error(&d, "mcp_config.route_mappings[1].parameter_mappings.ticket", "has no parameter `ticket`");
}

#[test]
fn mapped_names_do_not_collide_with_each_other_or_unmapped_ones() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[0].parameter_mappings.insert("status".into(), "assignee".into());
    assert_error(
        &d,
        "mcp_config.route_mappings[0].parameter_mappings.status",
        "would name both query `status` and query `assignee`",
    );
    let mut d = ticket_system();
    let mappings = &mut d.mcp_config.route_mappings[2].parameter_mappings;
    mappings.insert("title".into(), "text".into());
    mappings.insert("description".into(), "text".into());
    assert_error(
        &d,
        "mcp_config.route_mappings[2].parameter_mappings.description",
        "argument `text` would name both body `title` and body `description`",
    );
}

#[test]
fn mapped_names_are_valid_argument_names() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[0].parameter_mappings.insert("status".into(), "the status".into());
    assert_error(&d, "mcp_config.route_mappings[0].parameter_mappings.status", "MCP tool name rule");
}

#[test]
fn auth_type_references_and_field_keys_are_unique_and_well_formed() {
    let mut d = ticket_system();
    d.authentication.push(d.authentication[0].clone());
    let field = d.authentication[0].fields[0].clone();
    d.authentication[0].fields.push(field);
    d.authentication[1].fields[0].key = "api-key".into();
    assert_error(
        &d,
        "authentication[1]",
        "auth type reference (its `id`, else its `type`) `api_key` is already used",
    );
    assert_error(&d, "authentication[0].fields[1].key", "field key `api_key` is already used");
    assert_error(&d, "authentication[1].fields[0].key", "1–64 characters of A–Z");
}

fn oauth2(grant: Option<OAuth2Grant>) -> AuthType {
    let mut auth = AuthType::new(AuthKind::OAuth2);
    auth.id = Some("oauth".into());
    auth.grant_type = grant;
    auth
}

#[test]
fn oauth2_needs_a_grant_and_its_endpoints() {
    let mut d = ticket_system();
    d.authentication.push(oauth2(None));
    d.authentication.push(oauth2(Some(OAuth2Grant::AuthorizationCode)));
    d.authentication[2].id = Some("oauth_code".into());
    d.authentication[2].token_url = Some("/token".into());
    d.authentication[2].scopes = vec!["read write".into()];
    assert_error(&d, "authentication[1].grant_type", "required for oauth2");
    assert_error(&d, "authentication[1].token_url", "required for oauth2");
    assert_error(&d, "authentication[2].authorization_url", "required for the authorization_code grant");
    assert_error(&d, "authentication[2].token_url", "absolute http(s) URL");
    assert_error(&d, "authentication[2].scopes[0]", "scope token");
    let mut ok = oauth2(Some(OAuth2Grant::ClientCredentials));
    ok.token_url = Some("https://auth.example.com/token".into());
    let mut d = ticket_system();
    d.authentication.push(ok);
    assert_eq!(errors(&d), []);
}

#[test]
fn settings_of_another_kind_are_errors() {
    let mut d = ticket_system();
    d.authentication[0].token_url = Some("https://auth.example.com/token".into());
    d.authentication[0].username_field = Some("user".into());
    let mut cc = oauth2(Some(OAuth2Grant::ClientCredentials));
    cc.token_url = Some("https://auth.example.com/token".into());
    cc.authorization_url = Some("https://auth.example.com/authorize".into());
    d.authentication.push(cc);
    assert_error(&d, "authentication[0].token_url", "does not apply to a `api_key` auth type");
    assert_error(&d, "authentication[0].username_field", "does not apply");
    assert_error(&d, "authentication[1].authorization_url", "does not apply to a `oauth2` auth type");
}

#[test]
fn test_endpoints_have_a_status_and_a_way_to_send_the_key() {
    let mut d = ticket_system();
    d.authentication[0].test_endpoint.as_mut().unwrap().expected_status = 42;
    assert_error(&d, "authentication[0].test_endpoint.expected_status", "100–599");
    let mut d = ticket_system();
    for op in &mut d.operations {
        op.auth_type_ref = None;
        op.auth_headers.clear();
    }
    assert_error(&d, "authentication[0].test_endpoint.auth_headers", "no operation uses this auth type");
    let test = d.authentication[0].test_endpoint.as_mut().unwrap();
    test.auth_headers = Some([("X-API-Key".to_string(), "{api_key}".to_string())].into());
    assert_eq!(errors(&d), []);
}

#[test]
fn bearer_and_basic_fields_are_usable_in_templates() {
    let mut d = ticket_system();
    let mut bearer = AuthType::new(AuthKind::Bearer);
    bearer.token_field = Some("pat".into());
    d.authentication.push(bearer);
    d.operations[0].auth_type_ref = Some("bearer".into());
    d.operations[0].auth_headers = [("X-Token".to_string(), "{pat}".to_string())].into();
    assert_eq!(errors(&d), []);
}

#[test]
fn metadata_slug_rate_limits_and_sla_are_checked() {
    let mut d = ticket_system();
    d.metadata.slug = Some("Ticket System".into());
    d.rate_limits[0].limit = 0;
    d.rate_limits[0].interval_seconds = 0;
    d.rate_limits.push(d.rate_limits[0].clone());
    d.sla = Some(Sla { availability_percentage: Some(101.0), latency_ms_p95: Some(0) });
    assert_error(&d, "metadata.slug", "lowercase letters");
    assert_error(&d, "rate_limits[0].limit", "at least 1");
    assert_error(&d, "rate_limits[0].interval_seconds", "1–86400");
    assert_error(&d, "rate_limits", "at most one limit per scope");
    assert_error(&d, "sla.availability_percentage", "0–100");
    assert_error(&d, "sla.latency_ms_p95", "at least 1");
}

#[test]
fn nul_characters_anywhere_are_errors() {
    let mut d = ticket_system();
    d.operations[0].parameters[0].description = Some("a\u{0}".into());
    d.mcp_config.route_mappings[0].parameter_mappings.insert("status".into(), "s\u{0}".into());
    assert_error(&d, "operations[0].parameters[0].description", "NUL");
    assert_error(&d, "mcp_config.route_mappings[0].parameter_mappings.status", "NUL");
}

#[test]
fn size_limits_bound_the_work() {
    let mut d = ticket_system();
    d.operations[0].parameters =
        (0..=super::MAX_PARAMETERS).map(|i| param(&format!("p{i}"), Location::Query)).collect();
    assert_error(&d, "operations[0].parameters", "at most 200 parameters");
}
