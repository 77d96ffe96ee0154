use secrecy::ExposeSecret as _;
use serde_json::json;

use super::*;
use crate::rest::descriptor::{AuthKind, FieldType};
use crate::rest::schema::{self, RestTool};
use crate::rest::testdata::ticket_system;

fn key() -> Credentials {
    [("api_key".to_string(), SecretString::from("k-123"))].into()
}

fn tool(descriptor: &Descriptor, index: usize) -> RestTool {
    schema::tools(descriptor).remove(index)
}

/// Builds the call of tool `index` of `descriptor` with `arguments`.
fn call(
    descriptor: &Descriptor,
    index: usize,
    arguments: Value,
    credentials: &Credentials,
) -> Result<OutboundRequest, RequestError> {
    let tool = tool(descriptor, index);
    let operation = descriptor.operation(&tool.operation_id).unwrap();
    let auth = operation.auth_type_ref.as_deref().and_then(|r| descriptor.auth_type(r));
    let arguments = arguments.as_object().unwrap().clone();
    build(&Call { operation, auth, credentials, arguments: &arguments, argument_map: &tool.arguments })
}

fn secret_headers(request: &OutboundRequest) -> Vec<(String, String)> {
    request.auth_headers.iter().map(|(n, v)| (n.clone(), v.expose_secret().to_owned())).collect()
}

#[test]
fn query_parameters_get_their_defaults_and_the_key_its_header() {
    let request =
        call(&ticket_system(), 0, json!({"status": "open", "assignee": "a b&c@x.com"}), &key()).unwrap();
    assert_eq!(request.method, HttpMethod::Get);
    assert_eq!(
        request.url.as_str(),
        "https://tickets.internal.com/api/v1/tickets?status=open&assignee=a+b%26c%40x.com&limit=25"
    );
    assert_eq!(secret_headers(&request), [("X-API-Key".to_string(), "k-123".to_string())]);
    assert_eq!(request.headers, [("Accept".to_string(), "application/json".to_string())]);
    assert!(request.body.is_none());
}

#[test]
fn path_values_are_encoded_as_one_segment() {
    let d = ticket_system();
    let request = call(&d, 1, json!({"ticket_id": "a/b?c#d e"}), &key()).unwrap();
    assert_eq!(request.url.as_str(), "https://tickets.internal.com/api/v1/tickets/a%2Fb%3Fc%23d%20e");
    let request = call(&d, 1, json!({"ticket_id": "%2e%2e"}), &key()).unwrap();
    assert_eq!(request.url.path(), "/api/v1/tickets/%252e%252e");
    for bad in ["..", ".", ""] {
        let err = call(&d, 1, json!({"ticket_id": bad}), &key()).unwrap_err();
        assert!(matches!(err, RequestError::InvalidArgument { .. }), "{bad}: {err}");
    }
}

#[test]
fn body_parameters_make_a_json_object_with_defaults() {
    let request = call(&ticket_system(), 2, json!({"title": "Printer on fire"}), &key()).unwrap();
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.body, Some(json!({"title": "Printer on fire", "priority": "medium"})));
    assert!(request.headers.contains(&("Content-Type".into(), "application/json".into())));
}

#[test]
fn mapped_arguments_go_back_to_their_parameters() {
    let mut d = ticket_system();
    d.mcp_config.route_mappings[1].parameter_mappings.insert("ticket_id".into(), "id".into());
    let request = call(&d, 1, json!({"id": "T-7"}), &key()).unwrap();
    assert_eq!(request.url.path(), "/api/v1/tickets/T-7");
    assert_eq!(
        call(&d, 1, json!({"ticket_id": "T-7"}), &key()).unwrap_err(),
        RequestError::UnknownArgument("ticket_id".into())
    );
}

#[test]
fn missing_required_arguments_and_credentials_are_errors() {
    let d = ticket_system();
    assert_eq!(
        call(&d, 1, json!({}), &key()).unwrap_err(),
        RequestError::MissingArgument("ticket_id".into())
    );
    assert_eq!(
        call(&d, 1, json!({"ticket_id": null}), &key()).unwrap_err(),
        RequestError::MissingArgument("ticket_id".into())
    );
    assert_eq!(
        call(&d, 0, json!({}), &Credentials::new()).unwrap_err(),
        RequestError::MissingCredential("api_key".into())
    );
}

#[test]
fn arrays_repeat_in_the_query_and_join_in_paths_and_headers() {
    let mut d = ticket_system();
    d.operations[0].parameters[0].field_type = FieldType::Array;
    let mut trace = d.operations[0].parameters[1].clone();
    (trace.name, trace.location, trace.field_type) = ("X-Tags".into(), Location::Header, FieldType::Array);
    d.operations[0].parameters.push(trace);
    let request =
        call(&d, 0, json!({"status": ["open", "closed"], "X-Tags": ["a", 1, true]}), &key()).unwrap();
    assert_eq!(request.url.query(), Some("status=open&status=closed&limit=25"));
    assert!(request.headers.contains(&("X-Tags".into(), "a,1,true".into())));
}

#[test]
fn header_values_with_line_breaks_are_refused() {
    let mut d = ticket_system();
    let mut header = d.operations[0].parameters[1].clone();
    (header.name, header.location) = ("X-Request-Id".into(), Location::Header);
    d.operations[0].parameters.push(header);
    let err = call(&d, 0, json!({"X-Request-Id": "1\r\nX-Evil: yes"}), &key()).unwrap_err();
    assert_eq!(err, RequestError::InvalidHeaderValue("X-Request-Id".into()));
    let evil_key: Credentials = [("api_key".to_string(), SecretString::from("k\nX-Evil: 1"))].into();
    assert_eq!(
        call(&d, 0, json!({}), &evil_key).unwrap_err(),
        RequestError::InvalidHeaderValue("X-API-Key".into())
    );
}

#[test]
fn header_parameters_off_the_allow_list_are_refused_even_unvalidated() {
    let mut d = ticket_system();
    let mut host = d.operations[0].parameters[1].clone();
    (host.name, host.location) = ("Host".into(), Location::Header);
    d.operations[0].parameters.push(host);
    assert_eq!(
        call(&d, 0, json!({"Host": "evil"}), &key()).unwrap_err(),
        RequestError::HeaderNotAllowed("Host".into())
    );
}

/// The seed's descriptor with its operations authenticating by `auth` instead.
fn with_auth(auth: AuthType) -> Descriptor {
    let mut d = ticket_system();
    let reference = auth.reference().to_owned();
    d.authentication = vec![auth];
    for op in &mut d.operations {
        op.auth_type_ref = Some(reference.clone());
        op.auth_headers.clear();
    }
    d
}

#[test]
fn bearer_basic_and_oauth2_set_authorization() {
    let bearer = with_auth(AuthType::new(AuthKind::Bearer));
    let token: Credentials = [("token".to_string(), SecretString::from("t0k"))].into();
    let request = call(&bearer, 0, json!({}), &token).unwrap();
    assert_eq!(secret_headers(&request), [("Authorization".to_string(), "Bearer t0k".to_string())]);

    let basic = with_auth(AuthType::new(AuthKind::Basic));
    let login: Credentials = [
        ("username".to_string(), SecretString::from("Aladdin")),
        ("password".to_string(), SecretString::from("open sesame")),
    ]
    .into();
    let request = call(&basic, 0, json!({}), &login).unwrap();
    assert_eq!(
        secret_headers(&request),
        [("Authorization".to_string(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string())]
    );
    let colon: Credentials = [
        ("username".to_string(), SecretString::from("a:b")),
        ("password".to_string(), SecretString::from("p")),
    ]
    .into();
    assert!(matches!(call(&basic, 0, json!({}), &colon).unwrap_err(), RequestError::InvalidCredential(..)));

    let oauth = with_auth(AuthType::new(AuthKind::OAuth2));
    let access: Credentials = [("access_token".to_string(), SecretString::from("at"))].into();
    assert_eq!(
        secret_headers(&call(&oauth, 0, json!({}), &access).unwrap()),
        [("Authorization".to_string(), "Bearer at".to_string())]
    );
}

#[test]
fn an_authorization_template_wins_over_the_kind() {
    let mut d = with_auth(AuthType::new(AuthKind::Bearer));
    d.operations[0].auth_headers.insert("Authorization".into(), "Token {token}".into());
    let token: Credentials = [("token".to_string(), SecretString::from("t0k"))].into();
    assert_eq!(
        secret_headers(&call(&d, 0, json!({}), &token).unwrap()),
        [("Authorization".to_string(), "Token t0k".to_string())]
    );
}

#[test]
fn an_unauthenticated_operation_sends_no_credential_and_a_missing_auth_type_is_an_error() {
    let mut d = ticket_system();
    d.operations[0].auth_type_ref = None;
    d.operations[0].auth_headers.clear();
    assert!(call(&d, 0, json!({}), &Credentials::new()).unwrap().auth_headers.is_empty());
    let tool = tool(&ticket_system(), 0);
    let d = ticket_system();
    let arguments = Map::new();
    let call = Call {
        operation: &d.operations[0],
        auth: None,
        credentials: &key(),
        arguments: &arguments,
        argument_map: &tool.arguments,
    };
    assert_eq!(build(&call).unwrap_err(), RequestError::MissingAuthType("api_key".into()));
}

#[test]
fn the_test_endpoint_borrows_the_auth_headers_of_an_operation() {
    let d = ticket_system();
    let request = build_test(&d, &d.authentication[0], &key()).unwrap().unwrap();
    assert_eq!(request.url.as_str(), "https://tickets.internal.com/api/v1/me");
    assert_eq!(secret_headers(&request), [("X-API-Key".to_string(), "k-123".to_string())]);
    let mut none = d.authentication[0].clone();
    none.test_endpoint = None;
    assert!(build_test(&d, &none, &key()).is_none());
}

#[test]
fn debug_output_never_shows_the_credential() {
    let request = call(&ticket_system(), 0, json!({}), &key()).unwrap();
    assert!(!format!("{request:?}").contains("k-123"));
}

#[test]
fn a_repeated_placeholder_takes_the_same_value_each_time() {
    let mut d = ticket_system();
    d.operations[1].endpoint =
        "https://tickets.internal.com/api/v1/tickets/{ticket_id}/links/{ticket_id}".into();
    let request = call(&d, 1, json!({"ticket_id": "T 1"}), &key()).unwrap();
    assert_eq!(request.url.path(), "/api/v1/tickets/T%201/links/T%201");
}
