use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::rest::descriptor::{AuthKind, FieldType, HttpMethod, Location, OAuth2Grant};
use crate::rest::schema;
use crate::rest::validate::validate;

const PETSTORE_30: &str = include_str!("../../../tests/fixtures/openapi/petstore-3.0.json");
const PETSTORE_SIMPLE_31: &str = include_str!("../../../tests/fixtures/openapi/petstore-simple-3.1.json");
const SECURITY_31: &str = include_str!("../../../tests/fixtures/openapi/security-3.1.yaml");

fn import_json(doc: Value) -> Result<Imported, ImportError> {
    import(&doc.to_string(), &ImportOptions::default())
}

/// A 3.0 document with `paths`, `components` and a server.
fn doc(paths: Value, components: Value) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Test API", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": paths,
        "components": components,
    })
}

fn ok() -> Value {
    json!({"200": {"description": "OK"}})
}

#[test]
fn the_petstore_30_imports_with_every_operation_as_a_valid_tool() {
    let imported = import(PETSTORE_30, &ImportOptions::default()).unwrap();
    let d = &imported.descriptor;
    assert_eq!(validate(d), Ok(()));
    assert_eq!(d.metadata.name, "Swagger Petstore");
    assert_eq!(d.operations.len(), 20);
    assert_eq!(schema::tools(d).len(), 20);
    let find = d.operation("findPetsByStatus").unwrap();
    assert_eq!(find.endpoint, "http://petstore.swagger.io/v2/pet/findByStatus");
    assert_eq!(
        (find.parameters[0].name.as_str(), find.parameters[0].field_type),
        ("status", FieldType::Array)
    );
    let get = d.operation("getPetById").unwrap();
    assert_eq!(get.auth_type_ref.as_deref(), Some("api_key"));
    assert_eq!(get.auth_headers.get("api_key").map(String::as_str), Some("{api_key}"));
    let add = d.operation("addPet").unwrap();
    let body: Vec<&str> =
        add.parameters.iter().filter(|p| p.location == Location::Body).map(|p| p.name.as_str()).collect();
    // `id` is read-only (the server's to set); JSON objects are read with sorted keys.
    assert_eq!(body, ["category", "name", "photoUrls", "status", "tags"]);
    // The Petstore's OAuth 2 has only the implicit flow, which Switchboard does not run.
    assert_eq!(add.auth_type_ref, None);
    assert!(imported.warnings.iter().any(|w| w.message.contains("`petstore_auth` (OAuth 2 without")));
}

#[test]
fn the_petstore_31_imports_from_json_and_yaml_security_schemes_from_31() {
    let imported = import(PETSTORE_SIMPLE_31, &ImportOptions::default()).unwrap();
    assert_eq!(validate(&imported.descriptor), Ok(()));
    let put = &imported.descriptor.operations[1];
    assert_eq!((put.method, put.endpoint.as_str()), (HttpMethod::Put, "https://httpbin.org/pet/{id}"));
    assert_eq!(put.parameters[0].field_type, FieldType::Integer);

    let imported = import(SECURITY_31, &ImportOptions::default()).unwrap();
    let d = &imported.descriptor;
    assert_eq!(validate(d), Ok(()));
    let kinds: Vec<AuthKind> = d.authentication.iter().map(|a| a.kind).collect();
    assert!(
        kinds.contains(&AuthKind::ApiKey)
            && kinds.contains(&AuthKind::Basic)
            && kinds.contains(&AuthKind::Bearer)
    );
    let oauth = d.auth_type("oauth2").unwrap();
    assert_eq!((oauth.kind, oauth.grant_type), (AuthKind::OAuth2, Some(OAuth2Grant::AuthorizationCode)));
    assert_eq!(oauth.authorization_url.as_deref(), Some("http://example.com/oauth/dialog"));
    assert_eq!(oauth.scopes, ["write:things"]);
    let warned = |needle: &str| imported.warnings.iter().any(|w| w.message.contains(needle));
    assert!(warned("a query or cookie"), "{:#?}", imported.warnings);
    assert!(warned("mutual TLS") && warned("OpenID Connect"));
}

#[test]
fn an_operation_without_an_id_gets_a_slug_of_method_and_path() {
    let imported = import_json(doc(
        json!({"/pets/{petId}/toys": {"get": {"parameters": [
        {"name": "petId", "in": "path", "required": true, "schema": {"type": "string"}}
    ], "responses": ok()}}}),
        json!({}),
    ))
    .unwrap();
    let d = imported.descriptor;
    assert_eq!(d.operations[0].operation_id, "get_pets_petId_toys");
    assert_eq!(d.mcp_config.route_mappings[0].mcp_tool_name, "get_pets_petId_toys");
    assert_eq!(d.mcp_config.route_mappings[0].mcp_tool_description, "Calls GET /pets/{petId}/toys.");
}

#[test]
fn tool_descriptions_come_from_the_summary_else_the_description_and_are_cut_to_500() {
    let long = "word ".repeat(200);
    let imported = import_json(doc(
        json!({"/a": {
            "get": {"operationId": "a", "summary": "Lists As", "description": "ignored", "responses": ok()},
            "post": {"operationId": "b", "description": long, "responses": ok()},
        }}),
        json!({}),
    ))
    .unwrap();
    let mappings = &imported.descriptor.mcp_config.route_mappings;
    assert_eq!(mappings[0].mcp_tool_description, "Lists As");
    assert_eq!(mappings[1].mcp_tool_description.chars().count(), 500);
    assert!(mappings[1].mcp_tool_description.ends_with('…'));
}

#[test]
fn include_and_exclude_filter_by_tag_or_operation_id() {
    let paths = json!({"/a": {
        "get": {"operationId": "listA", "tags": ["read"], "responses": ok()},
        "post": {"operationId": "createA", "tags": ["write"], "responses": ok()},
        "delete": {"operationId": "deleteA", "tags": ["write"], "responses": ok()},
    }});
    let ids = |options: ImportOptions| -> Vec<String> {
        let imported = import(&doc(paths.clone(), json!({})).to_string(), &options).unwrap();
        imported.descriptor.operations.into_iter().map(|o| o.operation_id).collect()
    };
    assert_eq!(
        ids(ImportOptions { include: vec!["write".into()], ..Default::default() }),
        ["createA", "deleteA"]
    );
    assert_eq!(
        ids(ImportOptions { exclude: vec!["deleteA".into()], ..Default::default() }),
        ["listA", "createA"]
    );
    let none = ImportOptions { include: vec!["nothing".into()], ..Default::default() };
    let err = import(&doc(paths, json!({})).to_string(), &none).unwrap_err();
    assert_eq!(err.to_string(), "no operation to import after `include` / `exclude`");
}

#[test]
fn a_relative_server_needs_a_base_url_and_a_base_url_overrides_an_absolute_one() {
    let mut relative = doc(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}), json!({}));
    relative["servers"] = json!([{"url": "/api/v2"}]);
    let err = import_json(relative.clone()).unwrap_err();
    assert!(matches!(err, ImportError::RelativeServer(ref s) if s == "/api/v2"), "{err}");
    let options = ImportOptions { base_url: Some("http://127.0.0.1:4010/".into()), ..Default::default() };
    let imported = import(&relative.to_string(), &options).unwrap();
    assert_eq!(imported.descriptor.operations[0].endpoint, "http://127.0.0.1:4010/api/v2/a");
    let absolute = doc(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}), json!({}));
    let imported = import(&absolute.to_string(), &options).unwrap();
    assert_eq!(imported.descriptor.operations[0].endpoint, "http://127.0.0.1:4010/a");
    let bad = ImportOptions { base_url: Some("ftp://x".into()), ..Default::default() };
    assert!(matches!(import(&absolute.to_string(), &bad).unwrap_err(), ImportError::BadBaseUrl(_)));
}

#[test]
fn server_variables_take_their_defaults() {
    let mut d = doc(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}), json!({}));
    d["servers"] =
        json!([{"url": "https://{region}.example.com", "variables": {"region": {"default": "eu"}}}]);
    assert_eq!(import_json(d).unwrap().descriptor.operations[0].endpoint, "https://eu.example.com/a");
}

#[test]
fn local_refs_are_resolved_and_remote_or_cyclic_ones_are_not_followed() {
    let components = json!({
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"$ref": "#/components/schemas/Count"}}},
        "schemas": {
            "Count": {"type": "integer", "default": 10},
            "Loop": {"$ref": "#/components/schemas/Loop2"},
            "Loop2": {"$ref": "#/components/schemas/Loop"},
        },
        "requestBodies": {"Thing": {"required": true, "content": {"application/json": {"schema": {
            "allOf": [{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                      {"type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "loop": {"$ref": "#/components/schemas/Loop"}}}]
        }}}}},
    });
    let paths = json!({"/things": {"post": {
        "operationId": "create",
        "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "https://example.com/params.json#/Remote"}],
        "requestBody": {"$ref": "#/components/requestBodies/Thing"},
        "responses": ok(),
    }}});
    let imported = import_json(doc(paths, components)).unwrap();
    let op = &imported.descriptor.operations[0];
    let described: Vec<(&str, FieldType, bool)> =
        op.parameters.iter().map(|p| (p.name.as_str(), p.field_type, p.required)).collect();
    assert_eq!(
        described,
        [
            ("limit", FieldType::Integer, false),
            ("name", FieldType::String, true),
            ("loop", FieldType::String, false)
        ]
    );
    assert_eq!(op.parameters[0].default_value, Some(json!(10)));
    assert!(imported.warnings.iter().any(|w| w.message.contains("could not be resolved")));
}

#[test]
fn api_key_bearer_and_basic_schemes_become_auth_types() {
    let components = json!({"securitySchemes": {
        "key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "token": {"type": "http", "scheme": "bearer"},
        "login": {"type": "http", "scheme": "Basic"},
        "query_key": {"type": "apiKey", "in": "query", "name": "api_key"},
    }});
    let paths = json!({"/a": {
        "get": {"operationId": "a", "security": [{"key": []}], "responses": ok()},
        "put": {"operationId": "b", "security": [{"query_key": []}, {"token": []}], "responses": ok()},
        "post": {"operationId": "c", "security": [{"login": []}], "responses": ok()},
        "delete": {"operationId": "d", "security": [{"key": [], "token": []}], "responses": ok()},
        "patch": {"operationId": "e", "security": [], "responses": ok()},
    }});
    let mut document = doc(paths, components);
    document["security"] = json!([{"key": []}]);
    let imported = import_json(document).unwrap();
    let d = &imported.descriptor;
    let op = |id: &str| d.operation(id).unwrap();
    assert_eq!(op("a").auth_headers.get("X-API-Key").map(String::as_str), Some("{key}"));
    assert_eq!(op("b").auth_type_ref.as_deref(), Some("token"));
    assert_eq!(d.auth_type("token").unwrap().token_field.as_deref(), Some("token"));
    let login = d.auth_type("login").unwrap();
    assert_eq!((login.kind, login.username_field.as_deref()), (AuthKind::Basic, Some("login_username")));
    assert_eq!(op("d").auth_type_ref, None, "two schemes together cannot be expressed");
    assert_eq!(op("e").auth_type_ref, None, "an empty `security` means no authentication");
    assert!(
        imported.warnings.iter().any(|w| w.at == "DELETE /a" && w.message.contains("without authentication"))
    );
    assert_eq!(validate(d), Ok(()));
}

#[test]
fn oauth2_client_credentials_become_an_oauth2_auth_type_with_the_scopes_used() {
    let components = json!({"securitySchemes": {"oauth": {"type": "oauth2", "flows": {"clientCredentials": {
        "tokenUrl": "https://auth.example.com/token", "scopes": {"read": "", "write": "", "admin": ""}
    }}}}});
    let paths = json!({"/a": {
        "get": {"operationId": "a", "security": [{"oauth": ["read"]}], "responses": ok()},
        "post": {"operationId": "b", "security": [{"oauth": ["write", "read"]}], "responses": ok()},
    }});
    let d = import_json(doc(paths, components)).unwrap().descriptor;
    let oauth = d.auth_type("oauth").unwrap();
    assert_eq!(
        (oauth.grant_type, oauth.token_url.as_deref()),
        (Some(OAuth2Grant::ClientCredentials), Some("https://auth.example.com/token"))
    );
    assert_eq!(oauth.scopes, ["read", "write"]);
    assert_eq!(oauth.client_id_field.as_deref(), Some("oauth_client_id"));
}

#[test]
fn colliding_or_invalid_argument_names_get_parameter_mappings() {
    let paths = json!({"/items/{id}": {"put": {
        "operationId": "update",
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "filter[status]", "in": "query", "schema": {"type": "string"}},
            {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
            {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
            {"name": "session", "in": "cookie", "schema": {"type": "string"}},
        ],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}
        }}}}},
        "responses": ok(),
    }}});
    let imported = import_json(doc(paths, json!({}))).unwrap();
    let d = &imported.descriptor;
    let mappings = &d.mcp_config.route_mappings[0].parameter_mappings;
    assert_eq!(mappings.get("filter[status]").map(String::as_str), Some("filter_status"));
    assert_eq!(mappings.get("body:id").map(String::as_str), Some("body_id"));
    let names: Vec<&str> = d.operations[0].parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["id", "filter[status]", "X-Request-Id", "id", "name"]);
    assert!(imported.warnings.iter().any(|w| w.message.contains("`Authorization` not imported")));
    assert!(imported.warnings.iter().any(|w| w.message.contains("cookie parameter `session`")));
    let tool = schema::tools(d).remove(0);
    let properties: Vec<&String> = tool.input_schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(properties, ["X-Request-Id", "body_id", "filter_status", "id", "name"]);
    assert_eq!(validate(d), Ok(()));
}

#[test]
fn undeclared_path_placeholders_are_added_and_stray_path_parameters_dropped() {
    let paths = json!({"/a/{x}": {"get": {"operationId": "a", "parameters": [
        {"name": "y", "in": "path", "required": true, "schema": {"type": "string"}}
    ], "responses": ok()}}});
    let imported = import_json(doc(paths, json!({}))).unwrap();
    let names: Vec<&str> =
        imported.descriptor.operations[0].parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["x"]);
    assert_eq!(imported.warnings.len(), 2, "{:#?}", imported.warnings);
}

#[test]
fn non_json_bodies_and_bodies_on_get_are_left_out_with_a_warning() {
    let form = json!({"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string"}}}}}});
    let paths = json!({"/a": {"post": {"operationId": "upload", "requestBody": form, "responses": ok()}}});
    let imported = import_json(doc(paths, json!({}))).unwrap();
    assert!(imported.descriptor.operations[0].parameters.is_empty());
    assert!(imported.warnings[0].message.contains("multipart/form-data"));
}

#[test]
fn yaml_documents_import_like_json() {
    let yaml = "openapi: 3.0.0\ninfo: {title: Y, version: '1'}\nservers: [{url: 'https://y.example.com'}]\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses:\n        200: {description: OK}\n";
    let imported = import(yaml, &ImportOptions::default()).unwrap();
    assert_eq!(imported.descriptor.operations[0].endpoint, "https://y.example.com/ping");
}

#[test]
fn what_is_not_openapi_3_is_a_clear_error() {
    let swagger = json!({"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}});
    assert_eq!(
        import_json(swagger).unwrap_err().to_string(),
        "OpenAPI 2.0 (Swagger) is not supported; 3.0 and 3.1 are"
    );
    assert!(matches!(import_json(json!({"a": 1})).unwrap_err(), ImportError::NotOpenApi(_)));
    assert!(matches!(
        import_json(json!({"openapi": "3.2.0"})).unwrap_err(),
        ImportError::UnsupportedVersion(_)
    ));
    let broken = json!({"openapi": "3.0.0", "info": {"title": "x"}, "paths": {}});
    let err = import_json(broken).unwrap_err();
    assert!(err.to_string().contains("not a valid OpenAPI 3.0 document: missing field `version`"), "{err}");
    assert!(matches!(import("a: [", &ImportOptions::default()).unwrap_err(), ImportError::Parse(_)));
    let empty = json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "servers": [{"url": "https://x.example"}], "paths": {}});
    assert_eq!(import_json(empty).unwrap_err().to_string(), "no operation to import");
}

#[test]
fn a_yaml_bomb_is_refused() {
    let mut bomb = String::from("openapi: 3.0.0\na: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h"].iter().zip(["a", "b", "c", "d", "e", "f", "g"]) {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(",")));
    }
    assert!(matches!(import(&bomb, &ImportOptions::default()).unwrap_err(), ImportError::Parse(_)));
}

// --- the whole @readme/oas-examples package, when installed ------------------------------

/// `OAS_EXAMPLES_DIR`, else the interop install; with `SWITCHBOARD_INTEROP=1` a missing
/// package is a failure, not a skip.
fn examples_dir() -> Option<PathBuf> {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules/@readme/oas-examples");
    let dir = std::env::var_os("OAS_EXAMPLES_DIR").map(PathBuf::from).unwrap_or(installed);
    let required = std::env::var("SWITCHBOARD_INTEROP").is_ok_and(|v| v == "1");
    assert!(dir.is_dir() || !required, "SWITCHBOARD_INTEROP=1 but {} is missing", dir.display());
    dir.is_dir().then_some(dir)
}

fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            documents(&path, out);
        } else if path.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Imports every 3.0 and 3.1 document of `@readme/oas-examples` (skipped when the package is
/// not installed). None may panic; every draft must validate; the results are printed
/// (`cargo test --lib every_oas_example -- --nocapture`).
#[test]
fn every_oas_example_imports_without_a_panic() {
    let Some(dir) = examples_dir() else {
        eprintln!("@readme/oas-examples is not installed; skipped");
        return;
    };
    let mut files = Vec::new();
    for version in ["3.0", "3.1"] {
        documents(&dir.join(version), &mut files);
    }
    assert!(files.len() > 100, "only {} documents found in {}", files.len(), dir.display());
    let (mut imported, mut tools, mut failed, mut with_base_url) = (0, 0, Vec::new(), Vec::new());
    let (mut warnings, mut left_out) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(&dir).unwrap().display().to_string();
        let outcome = std::panic::catch_unwind(|| import(&text, &ImportOptions::default()));
        match outcome {
            Err(_) => panic!("{name}: the import panicked"),
            Ok(Ok(result)) => {
                assert_eq!(validate(&result.descriptor), Ok(()), "{name}: the draft does not validate");
                imported += 1;
                tools += schema::tools(&result.descriptor).len();
                warnings += result.warnings.len();
                for w in result.warnings.iter().filter(|w| w.message.starts_with("left out")) {
                    left_out.push(format!("{name}: {}: {}", w.at, w.message));
                }
            }
            Ok(Err(ImportError::RelativeServer(_))) => {
                let options =
                    ImportOptions { base_url: Some("https://api.example.com".into()), ..Default::default() };
                let result =
                    import(&text, &options).unwrap_or_else(|e| panic!("{name} with a base_url: {e}"));
                assert_eq!(validate(&result.descriptor), Ok(()), "{name}: the draft does not validate");
                with_base_url.push(name);
                tools += schema::tools(&result.descriptor).len();
            }
            Ok(Err(e)) => failed.push(format!("{name}: {e}")),
        }
    }
    eprintln!(
        "oas-examples: {} documents, {imported} imported as they are, {} more with a base_url ({}), {tools} tools, {} failed:",
        files.len(),
        with_base_url.len(),
        with_base_url.join(", "),
        failed.len()
    );
    eprintln!("  {warnings} warnings; {} operations left out:", left_out.len());
    for line in &left_out {
        eprintln!("    {line}");
    }
    for failure in &failed {
        eprintln!("  {failure}");
    }
}

#[test]
fn odd_text_in_titles_ids_and_scheme_names_still_makes_a_valid_draft() {
    let components =
        json!({"securitySchemes": {"key\tname": {"type": "apiKey", "in": "header", "name": "X-Key"}}});
    let paths = json!({"/a": {"get": {
        "operationId": "list\nall\u{0}", "summary": "  ", "security": [{"key\tname": []}], "responses": ok(),
    }}});
    let mut document = doc(paths, components);
    document["info"]["title"] = json!("Line\none ".repeat(30));
    let imported = import_json(document).unwrap();
    let d = &imported.descriptor;
    assert_eq!(validate(d), Ok(()));
    assert_eq!(d.operations[0].operation_id, "list all");
    assert_eq!(d.mcp_config.route_mappings[0].mcp_tool_name, "list_all");
    assert!(d.metadata.name.chars().count() <= 100 && d.metadata.name.ends_with('…'));
    assert_eq!(d.authentication[0].label.as_deref(), Some("key name"));
}

#[test]
fn any_prefix_of_a_document_is_an_answer_not_a_panic() {
    for text in [PETSTORE_30, SECURITY_31] {
        for cut in (0..text.len()).step_by(89).filter(|&i| text.is_char_boundary(i)) {
            let _ = import(&text[..cut], &ImportOptions::default());
        }
    }
}
