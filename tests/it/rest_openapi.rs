//! OpenAPI import (issue 15) over HTTP: every 3.0/3.1 document of npm `@readme/oas-examples`
//! answers a draft or a problem, never a 500; the Petstore's draft becomes a connector whose
//! tools are called against Stoplight Prism mocking the same document with `--errors`, so a
//! request that breaks the spec is an error.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::node::{NodeServer, free_port, interop_packages};
use crate::support::{TestApp, expect_json, expect_problem};

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

async fn import(app: &TestApp, key: &str, file: &Path, query: &str) -> reqwest::Response {
    let yaml = file.extension().is_some_and(|e| e != "json");
    let content_type = if yaml { "application/yaml" } else { "application/json" };
    app.request(Method::POST, &format!("/api/v1/descriptors/from-openapi{query}"), Some(key))
        .header("content-type", content_type)
        .body(std::fs::read(file).unwrap())
        .send()
        .await
        .unwrap()
}

#[sqlx::test]
async fn every_oas_example_imports_without_a_500(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let dir = packages.join("@readme/oas-examples");
    let mut files = Vec::new();
    for version in ["3.0", "3.1"] {
        documents(&dir.join(version), &mut files);
    }
    assert!(files.len() > 100, "{} documents in {}", files.len(), dir.display());
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    // More documents than the default API burst: a fast machine would see 429s, not drafts.
    expect_json(app.patch_limits(&tenant, json!({"api_rps": 0})).await, 200).await;
    let (mut drafts, mut tools) = (0, 0);
    for file in &files {
        let res = import(&app, &tenant.key, file, "?base_url=https://api.example.com").await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert!(status == 200 || status == 422, "{}: {status} {body}", file.display());
        if status == 200 {
            drafts += 1;
            tools += body["descriptor"]["mcp_config"]["route_mappings"].as_array().map_or(0, Vec::len);
        } else {
            assert_eq!(body["code"], "openapi_not_importable", "{}: {body}", file.display());
        }
    }
    eprintln!("oas-examples over HTTP: {} documents, {drafts} drafts, {tools} tools", files.len());
    assert!(drafts * 10 >= files.len() * 9, "most documents import: {drafts} of {}", files.len());
    let bad = app
        .request(Method::POST, "/api/v1/descriptors/from-openapi", Some(&tenant.key))
        .header("content-type", "application/yaml")
        .body("openapi: [")
        .send()
        .await
        .unwrap();
    expect_problem(bad, 400, "invalid_document").await;
}

#[sqlx::test]
async fn the_petstore_draft_calls_prism_without_a_validation_error(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let document = packages.join("@readme/oas-examples/3.0/json/petstore.json");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let prism = packages.join("@stoplight/prism-cli/dist/index.js");
    let args = ["mock", "--errors", "-h", "127.0.0.1", "-p", &port.to_string(), document.to_str().unwrap()];
    let _prism = NodeServer::start(&prism, &args, &[], &format!("{base}/store/order/1")).await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;

    let res =
        import(&app, &tenant.key, &document, &format!("?base_url={base}&include=store,user,getPetById"))
            .await;
    let draft = expect_json(res, 200).await;
    let descriptor = draft["descriptor"].clone();
    let fields: Vec<String> = descriptor["authentication"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["fields"].as_array().cloned().unwrap_or_default())
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    let credentials: serde_json::Map<String, Value> =
        fields.iter().map(|k| (k.clone(), json!("special-key"))).collect();
    let body = json!({"kind": "rest", "descriptor": descriptor, "credentials": credentials});
    let created = expect_json(app.post_json("/api/v1/connectors", &tenant.key, body).await, 201).await;
    let id = created["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &tenant.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");

    let calls = [
        ("getPetById", json!({"petId": 1})),
        ("getInventory", json!({})),
        ("placeOrder", json!({"id": 7, "petId": 1, "quantity": 2, "status": "placed", "complete": false})),
        ("getOrderById", json!({"orderId": 5})),
        ("createUser", json!({"id": 1, "username": "ada", "email": "ada@example.com"})),
        ("loginUser", json!({"username": "ada", "password": "pw"})),
        ("getUserByName", json!({"username": "ada"})),
        ("logoutUser", json!({})),
    ];
    for (tool, arguments) in calls {
        let path = format!("/api/v1/connectors/{id}/tools/{tool}/call");
        let result =
            expect_json(app.post_json(&path, &tenant.key, json!({"arguments": arguments})).await, 200).await;
        assert_eq!(result["isError"], false, "{tool}: Prism found a problem: {result}");
    }
}

/// A document whose draft breaks a rule no operation can be left out for — here an OAuth 2
/// token URL with a NUL in it, which a 3.0 parser keeps as text — is the author's problem: 422
/// naming the draft's broken fields, not a 500.
#[sqlx::test]
async fn a_document_whose_draft_does_not_validate_is_unprocessable_with_its_fields(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let document = json!({
        "openapi": "3.0.3",
        "info": {"title": "Machines", "version": "1.0.0"},
        "servers": [{"url": "https://api.example.com"}],
        "security": [{"machine": []}],
        "components": {"securitySchemes": {"machine": {"type": "oauth2", "flows": {
            "clientCredentials": {"tokenUrl": "https://auth.example.com/to\u{0}ken", "scopes": {}}
        }}}},
        "paths": {"/machines": {"get": {"operationId": "listMachines", "responses": {"200": {"description": "ok"}}}}}
    });
    let res = app
        .request(Method::POST, "/api/v1/descriptors/from-openapi", Some(&tenant.key))
        .header("content-type", "application/json")
        .body(document.to_string())
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, 422, "openapi_not_importable").await;
    let errors = problem["errors"].as_array().expect("the draft's field errors");
    assert_eq!(errors[0]["field"], "descriptor.authentication[0].token_url", "{problem}");
    assert!(errors[0]["message"].as_str().unwrap().contains("NUL"), "{problem}");
}
