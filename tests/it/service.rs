//! Health, readiness, docs, and the error shape of routes that do not exist.

use reqwest::Method;
use sqlx::PgPool;

use crate::support::{TestApp, expect_json, expect_problem};

#[sqlx::test]
async fn health_and_readiness_need_no_key(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let health = expect_json(app.request(Method::GET, "/healthz", None).send().await.unwrap(), 200).await;
    assert_eq!(health["status"], "ok");
    let ready = expect_json(app.request(Method::GET, "/readyz", None).send().await.unwrap(), 200).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["cache_invalidation"], "listening");
}

#[sqlx::test]
async fn readiness_fails_when_the_database_is_gone(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    db.close().await;
    let res = app.request(Method::GET, "/readyz", None).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "5");
    expect_problem(res, 503, "database_unavailable").await;
}

#[sqlx::test]
async fn openapi_document_describes_the_api(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let doc =
        expect_json(app.request(Method::GET, "/api/v1/openapi.json", None).send().await.unwrap(), 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/connectors",
        "/api/v1/connectors/{id}",
        "/api/v1/connectors/presets",
        "/api/v1/admin/tenants",
        "/api/v1/connectors/{id}/sync",
        "/api/v1/connectors/{id}/tools",
        "/api/v1/connectors/{id}/tools/{name}",
        "/api/v1/connectors/{id}/tools/{name}/call",
        "/api/v1/connectors/{id}/tool-calls",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let limited = |path: &str, method: &str| doc["paths"][path][method]["responses"]["429"].is_object();
    assert!(limited("/api/v1/connectors", "get"), "API-key endpoints declare the rate limit");
    assert!(!limited("/api/v1/admin/tenants", "post"), "operator endpoints are not limited");

    let page = app.request(Method::GET, "/api/v1/docs/", None).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("swagger-ui"), "{html}");
    let script = app.request(Method::GET, "/api/v1/docs/swagger-ui-bundle.js", None).send().await.unwrap();
    assert_eq!(script.status(), 200, "the page's assets are served from the binary");
}

#[sqlx::test]
async fn unknown_routes_and_methods_are_problems(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app.request(Method::GET, "/api/v1/nothing-here", None).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let res = app.request(Method::PUT, "/api/v1/connectors", None).send().await.unwrap();
    expect_problem(res, 405, "method_not_allowed").await;
}

#[sqlx::test]
async fn request_ids_are_returned_and_honoured(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app.request(Method::GET, "/healthz", None).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());
    let res = app
        .request(Method::GET, "/healthz", None)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
}
